"""A strict Kubernetes API server for tests: ``with KubeAPIServer(tmp_path) as api: ...``.

See ``tests/kubeapi/server.py`` for what it serves and ``tests/integration/test_kubeapi_server.py``
for examples driven through the official ``kubernetes`` client.
"""

from tests.kubeapi.server import Identity, Knobs, KubeAPIServer, RecordedRequest

__all__ = ["Identity", "Knobs", "KubeAPIServer", "RecordedRequest"]
