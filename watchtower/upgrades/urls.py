"""Where release and end-of-life data come from by default: the settings' defaults name them
without importing the fetching and parsing code (``releases``, ``lifecycle``)."""

DEFAULT_DL_BASE_URL = "https://dl.k8s.io/release"
DEFAULT_ENDOFLIFE_API = "https://endoflife.date/api"
