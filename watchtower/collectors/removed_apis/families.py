"""Metric families of this package, declared once (see ``watchtower.core.families``)."""

from __future__ import annotations

from watchtower.core.families import Family

REMOVED_API_OBJECTS = Family(
    "watchtower_removed_api_objects", "gauge",
    "Objects declared with an API version that a Kubernetes release removes, by that API and where they "
    "were found (live: last-applied-configuration, helm: a deployed release's manifest).",
    ("group", "version", "kind", "removed_in", "source"),
)
REMOVED_API_REQUESTS = Family(
    "watchtower_removed_api_requests", "gauge",
    "Apiservers whose apiserver_requested_deprecated_apis reports requests to an API version removed in "
    "removed_in since they started.",
    ("group", "version", "resource", "kind", "removed_in"),
)
REMOVED_API_MINORS_UNTIL_REMOVAL = Family(
    "watchtower_removed_api_minors_until_removal", "gauge",
    "For each removed API in use: the minor that removes it minus the running minor (1: the next upgrade "
    "removes it; 0 or less: already removed).",
    ("group", "version", "kind", "removed_in", "replacement"),
)
REMOVED_API_CHECKED = Family(
    "watchtower_removed_api_checked", "gauge",
    "What the last collection read, by source: live (objects listed through served removed API versions),"
    " helm (deployed releases), apiserver_metrics (apiservers).",
    ("source",),
)
