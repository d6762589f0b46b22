"""Finding and building a Kubernetes API client, lazily and once.

Collectors ask the factory for an ``ApiClient``; if none can be had (no kubeconfig, not in a
pod) they get ``KubeUnavailable`` with a reason people can act on, and ``enabled: auto``
collectors use that same reason to explain why they do not run.

They read the API through ``get_json``/``list_json_pages`` (plain JSON over that client's own
request plumbing) rather than the generated API classes, whose modules cost the daemon tens of
MB of memory to import (tests/integration/test_kube_json.py keeps the two in step).
"""

from __future__ import annotations

import dataclasses
import json
import os
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from watchtower.core.regularfile import NotRegularFile, open_regular, read_regular_text
from watchtower.core.sections import KubernetesConfig

SERVICE_ACCOUNT_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")


class KubeUnavailable(RuntimeError):
    """No Kubernetes API client can be built here; the message says why."""


class KubeClientFactory:
    """Builds one ``kubernetes.client.ApiClient`` on first use and hands out the same one."""

    def __init__(
        self,
        settings: KubernetesConfig,
        environ: Mapping[str, str] | None = None,
        service_account_dir: Path = SERVICE_ACCOUNT_DIR,
    ) -> None:
        self.settings = settings
        self._environ = os.environ if environ is None else environ
        self._service_account_dir = service_account_dir
        self._client: Any = None
        self._lock = threading.Lock()

    def source(self) -> str:
        """Where the client configuration comes from; raises KubeUnavailable if nowhere."""
        if self.settings.kubeconfig:
            if not Path(self.settings.kubeconfig).is_file():
                raise KubeUnavailable(f"kubernetes.kubeconfig {self.settings.kubeconfig} does not exist")
            return f"kubeconfig {self.settings.kubeconfig}"
        if self._environ.get("KUBERNETES_SERVICE_HOST") and (self._service_account_dir / "token").is_file():
            return "in-cluster service account"
        candidates = [p for p in self._environ.get("KUBECONFIG", "").split(os.pathsep) if p]
        candidates.append(str(Path(self._environ.get("HOME", "~")).expanduser() / ".kube" / "config"))
        for candidate in candidates:
            if Path(candidate).is_file():
                return f"kubeconfig {candidate}"
        raise KubeUnavailable(
            "no kubeconfig found (not in a pod; looked at kubernetes.kubeconfig, $KUBECONFIG, "
            + ", ".join(candidates) + ")"
        )

    def api_client(self) -> Any:
        """The shared ``kubernetes.client.ApiClient``."""
        with self._lock:
            if self._client is None:
                self._client = self._build()
            return self._client

    def _build(self) -> Any:
        from kubernetes import client, config  # heavy import, only when a collector needs it

        source = self.source()
        configuration = client.Configuration()
        try:
            if source == "in-cluster service account":
                config.load_incluster_config(client_configuration=configuration)
            else:
                path = source.removeprefix("kubeconfig ")
                refuse_special_files(path)
                config.load_kube_config(
                    config_file=path, context=self.settings.context, client_configuration=configuration
                )
        except config.ConfigException as exc:
            raise KubeUnavailable(f"{source}: {exc}") from None
        # request_timeout is the whole budget of one request: urllib3's default Retry(3) would
        # turn a 2 s timeout into four attempts (8 s) against a black-holed apiserver.
        configuration.retries = False
        return client.ApiClient(configuration)


KUBECONFIG_FILE_FIELDS = (("clusters", "cluster", ("certificate-authority",)),
                          ("users", "user", ("client-certificate", "client-key", "tokenFile")))


def refuse_special_files(kubeconfig: str) -> None:
    """KubeUnavailable if the kubeconfig, or a file it names (CA, client certificate and key, token),
    is a FIFO, socket or device: the client library would block on a FIFO for ever."""
    import yaml

    try:
        doc = yaml.safe_load(read_regular_text(kubeconfig, 1 << 20))
    except NotRegularFile as exc:
        raise KubeUnavailable(f"kubeconfig {kubeconfig}: {exc.strerror}") from None
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return  # the client library reports these in its own words
    if not isinstance(doc, dict):
        return
    base = os.path.dirname(os.path.abspath(kubeconfig))
    for section, inner, fields in KUBECONFIG_FILE_FIELDS:
        for item in doc.get(section) or ():
            entry = item.get(inner) if isinstance(item, dict) else None
            for field in fields:
                named = entry.get(field) if isinstance(entry, dict) else None
                if not isinstance(named, str) or not named:
                    continue
                path = os.path.join(base, os.path.expanduser(named))
                try:
                    fd, _info = open_regular(path)
                    os.close(fd)
                except NotRegularFile as exc:
                    raise KubeUnavailable(f"kubeconfig {kubeconfig}: {field} {path}: {exc.strerror}") from None
                except OSError:
                    continue  # missing or unreadable: the client library says so


Query = Mapping[str, str | int]
"""Query parameters by the API's own names (``fieldSelector``, ``limit``, ``continue``)."""


def get_json(api_client: Any, path: str, query: Query | None = None, timeout: float | None = None) -> dict[str, Any]:
    """GET ``path`` from the API server and return its JSON object.

    This is what a generated method such as ``CoreV1Api.list_node`` does, minus the module:
    ``core_v1_api`` alone costs the daemon about 22 MB of RSS for a few GETs. The client's own
    plumbing still does the work (``param_serialize``: host, default headers, bearer token and
    its refresh hook; the urllib3 pool: CA, client certificate, timeouts), and a non-2xx status
    raises the client's ``ApiException`` subclass built the same way, so callers' ``status``,
    ``reason`` and ``body`` are unchanged. ValueError if the body is not a JSON object.
    """
    from kubernetes.client.exceptions import ApiException

    method, url, headers, body, post_params = api_client.param_serialize(
        method="GET", resource_path=path, query_params=list((query or {}).items()),
        header_params={"Accept": "application/json"}, auth_settings=["BearerToken"],
    )
    response = api_client.call_api(method, url, headers, body, post_params, _request_timeout=timeout)
    try:
        data = response.read()
    finally:
        response.response.release_conn()
    if not 200 <= response.status <= 299:
        raise ApiException.from_response(http_resp=response, body=None, data=None)
    doc = json.loads(data)
    if not isinstance(doc, dict):
        raise ValueError(f"GET {path}: the response is not a JSON object")
    return doc


@dataclasses.dataclass(frozen=True)
class ServerVersion:
    """What ``/version`` says, the fields watchtower reads, as served (None where absent or not a string)."""

    git_version: str | None  # "v1.30.2"
    major: str | None  # "1"
    minor: str | None  # "30", or "28+" from some distributions


def server_version(api_client: Any, timeout: float | None = None) -> ServerVersion:
    """GET ``/version`` through the client: the one place collectors ask the API server its version.

    Raises what ``get_json`` raises; each collector keeps its own error reasons (label values).
    """
    doc = get_json(api_client, "/version", timeout=timeout)
    fields = [doc.get(key) for key in ("gitVersion", "major", "minor")]
    git_version, major, minor = (value if isinstance(value, str) else None for value in fields)
    return ServerVersion(git_version, major, minor)


def list_json_pages(
    api_client: Any, path: str, page_size: int, timeout: float | None = None, **query: str | int,
) -> Iterator[dict[str, Any]]:
    """Yield the items of a Kubernetes list (``/api/v1/nodes``...) as JSON, one page in memory at a time.

    ``continue`` tokens are followed until the server stops returning one; ``query`` adds
    selectors (``fieldSelector="type=kubernetes.io/tls"``). Items stay plain dicts: callers keep a
    few fields of each, so building the client's validated models for every field of thousands of
    objects would be wasted time and memory. An expired token raises ``ApiException`` 410.
    """
    token: str | None = None
    while True:
        params: dict[str, str | int] = {**query, "limit": page_size}
        if token:
            params["continue"] = token
        page = get_json(api_client, path, params, timeout)
        items = page.get("items")
        if not isinstance(items, list):
            raise ValueError(f"GET {path}: the response is not a Kubernetes list (no items)")
        metadata = page.get("metadata")
        token = (metadata.get("continue") if isinstance(metadata, dict) else None) or None
        del page, metadata  # only this page's items stay referenced while they are consumed
        yield from items
        del items  # and none of them while the next page is fetched
        if not token:
            return
