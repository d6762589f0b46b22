"""A strict, in-process Kubernetes API server for tests (no kube-apiserver can run here).

It speaks the documented HTTP API closely enough that the official ``kubernetes`` client parses
every answer unchanged: typed lists with real ``limit``/``continue`` pagination, field and label
selectors, ``Status`` bodies for 400/401/403/404/410, bearer-token and client-certificate
authentication over TLS, ``/version`` and the health endpoints, API discovery and objects of
other API groups (``serve``, ``add_object``; see ``tests/kubeapi/discovery.py``), and the
apiserver's own ``/metrics`` text (``set_metrics``), a non-resource URL that RBAC guards. Knobs inject delay and failures,
and every request is recorded so tests can assert *how* the code under test used the API
(paging, selectors, credentials), not only what it concluded.
"""

from __future__ import annotations

import json
import secrets
import ssl
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any, Self
from urllib.parse import parse_qs, urlsplit

import trustme
import yaml

from tests.kubeapi import discovery, health, objects
from tests.kubeapi.errors import ApiError, forbidden, forbidden_path, injected, unknown_path
from tests.kubeapi.selectors import parse_field_selector, parse_label_selector
from tests.kubeapi.store import ListQuery, ResourceStore, Revisions
from tests.kubeapi.tls import TLSThreadingServer

DEFAULT_USER = "watchtower"
DEFAULT_GROUP = "system:monitoring"
PUBLIC_PATHS = frozenset({"/livez", "/readyz", "/version", "/healthz"})
HEALTH_ENDPOINTS = ("livez", "readyz", "healthz")
JSON = "application/json"
TEXT = "text/plain; charset=utf-8"
# what kube-apiserver's /metrics answers with (prometheus/common/expfmt FmtText, version 0.0.4)
METRICS_TEXT = "text/plain; version=0.0.4; charset=utf-8"

# resource -> (kind, namespaced)
RESOURCES: dict[str, tuple[str, bool]] = {
    "nodes": ("Node", False),
    "namespaces": ("Namespace", False),
    "secrets": ("Secret", True),
    "configmaps": ("ConfigMap", True),
}


@dataclass
class Knobs:
    """Fault injection, read on every request so a test can change it between two calls."""

    delay_seconds: float = 0.0
    fail_status: int | None = None
    flap: bool = False
    flap_status: int = 500
    anonymous_paths: set[str] = field(default_factory=lambda: set(PUBLIC_PATHS))
    # kubeadm's default --anonymous-auth=true: anonymous requests elsewhere get 403 instead of 401.
    anonymous_auth: bool = False


@dataclass(frozen=True)
class Identity:
    """Who a request authenticated as; ``auth`` is cert, token, anonymous or invalid."""

    auth: str
    user: str | None = None
    groups: tuple[str, ...] = ()


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the server saw it (last value of each query parameter)."""

    method: str
    path: str
    query: dict[str, str]
    auth: str
    user: str | None
    status: int


@dataclass(frozen=True)
class RequestInfo:
    """A resource request: verb (get/list), resource, and where."""

    verb: str
    resource: str
    namespace: str | None = None
    name: str | None = None
    group: str = ""
    version: str = "v1"

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version


@dataclass(frozen=True)
class Response:
    code: int
    body: bytes
    content_type: str = JSON
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class _Rule:
    resource: str
    verb: str
    user: str

    def matches(self, info: RequestInfo, user: str) -> bool:
        return self.resource in ("*", info.resource) and self.verb in ("*", info.verb) and self.user in ("*", user)


def _identity_from_cert(cert: Mapping[str, Any]) -> Identity:
    """CN is the user and each O a group, as kube-apiserver's x509 authenticator maps them."""
    attributes = [pair for rdn in cert.get("subject", ()) for pair in rdn]
    user = next((value for key, value in attributes if key == "commonName"), None)
    groups = tuple(value for key, value in attributes if key == "organizationName")
    return Identity("cert", user, groups)


class _Handler(BaseHTTPRequestHandler):
    """Hands every request to the owning ``KubeAPIServer``."""

    protocol_version = "HTTP/1.1"
    server: TLSThreadingServer

    def _serve(self) -> None:
        self.server.app.handle(self)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

    def log_message(self, format: str, *args: Any) -> None:
        """Silence: requests are in ``KubeAPIServer.requests``."""


class KubeAPIServer:
    """HTTPS Kubernetes API on 127.0.0.1 backed by in-memory objects; see the module docstring."""

    def __init__(self, directory: Path | str, *, port: int = 0) -> None:
        self.directory = Path(directory) / "kubeapi"
        self.directory.mkdir(parents=True, exist_ok=True)
        self.knobs = Knobs()
        self.requests: list[RecordedRequest] = []
        self.token = secrets.token_urlsafe(32)
        self._tokens: dict[str, tuple[str, tuple[str, ...]]] = {self.token: (DEFAULT_USER, (DEFAULT_GROUP,))}
        self._rules: list[_Rule] = []
        self._lock = threading.Lock()
        self._flap_count = 0
        self._port = port
        self._server: TLSThreadingServer | None = None
        self._thread: threading.Thread | None = None
        self._revisions = Revisions()
        self._stores = {name: ResourceStore(name, kind, namespaced, self._revisions) for name, (kind, namespaced) in RESOURCES.items()}
        self._node_args: dict[str, dict[str, Any]] = {}
        self._version = objects.version_info()
        self._health = health.Health()
        self._discovery = discovery.Discovery()
        self._metrics_text = ""
        self._forbidden_paths: list[tuple[str, str]] = []
        self._write_certificates()
        for name in objects.DEFAULT_NAMESPACES:
            self._stores["namespaces"].put(objects.namespace(name))

    # ----------------------------------------------------------------- certificates & kubeconfig
    def _write_certificates(self) -> None:
        """Server CA + serving cert for 127.0.0.1/localhost; a separate client CA, as kubeadm has."""
        self._server_ca = trustme.CA()
        self._client_ca = trustme.CA()
        self._serving = self._server_ca.issue_cert("127.0.0.1", "localhost", common_name="kube-apiserver")
        self.ca_file = self.directory / "ca.crt"
        self._server_ca.cert_pem.write_to_path(str(self.ca_file))
        self.client_ca_file = self.directory / "client-ca.crt"
        self._client_ca.cert_pem.write_to_path(str(self.client_ca_file))
        self.client_cert_file, self.client_key_file = self.issue_client_cert(DEFAULT_USER, DEFAULT_GROUP)

    def issue_client_cert(self, user: str, group: str | None = None, *, trusted: bool = True) -> tuple[Path, Path]:
        """(cert, key) paths for a client certificate; ``trusted=False`` signs it with a stranger CA."""
        ca = self._client_ca if trusted else trustme.CA()
        leaf = ca.issue_cert(user, common_name=user, organization_name=group)
        stem = self.directory / f"client-{user.replace(':', '_')}{'' if trusted else '-untrusted'}"
        cert_path, key_path = stem.with_suffix(".crt"), stem.with_suffix(".key")
        leaf.cert_chain_pems[0].write_to_path(str(cert_path))
        leaf.private_key_pem.write_to_path(str(key_path))
        return cert_path, key_path

    def add_token(self, token: str, user: str, groups: Iterable[str] = ()) -> None:
        """Accept another bearer token, e.g. to test a user RBAC forbids."""
        self._tokens[token] = (user, tuple(groups))

    def write_kubeconfig(self, path: Path | str, auth: str = "token") -> Path:
        """A kubeconfig for this server with token, client-cert or no credentials."""
        users: dict[str, Any] = {
            "token": {"token": self.token},
            "cert": {"client-certificate": str(self.client_cert_file), "client-key": str(self.client_key_file)},
            "none": {},
        }
        if auth not in users:
            raise ValueError(f"auth must be one of {sorted(users)}, not {auth!r}")
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "kubeapi-test", "cluster": {"server": self.url, "certificate-authority": str(self.ca_file)}}],
            "users": [{"name": f"watchtower-{auth}", "user": users[auth]}],
            "contexts": [{"name": "kubeapi-test", "context": {"cluster": "kubeapi-test", "user": f"watchtower-{auth}"}}],
            "current-context": "kubeapi-test",
        }
        path = Path(path)
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        return path

    # ----------------------------------------------------------------------------- lifecycle
    @property
    def port(self) -> int:
        if not self._port:
            raise RuntimeError("KubeAPIServer has no port before start()")
        return self._port

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def _ssl_context(self) -> ssl.SSLContext:
        """Requests but does not require a client certificate, verified against the client CA."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self._serving.configure_cert(context)
        context.verify_mode = ssl.CERT_OPTIONAL
        self._client_ca.configure_trust(context)
        return context

    def start(self) -> KubeAPIServer:
        """Listen (again, on the same port after a stop) and serve in a background thread."""
        if self._server is not None:
            return self
        self._server = TLSThreadingServer(("127.0.0.1", self._port), _Handler, self._ssl_context(), self)
        self._port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name=f"kubeapi-{self._port}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop listening, close every kept-alive connection, join the threads. Idempotent."""
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        server.close_all()
        if thread is not None:
            thread.join(5)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------------------- content
    def _store(self, resource: str) -> ResourceStore:
        return self._stores[resource]

    def _ensure_namespace(self, name: str) -> None:
        namespaces = self._stores["namespaces"]
        with self._lock:
            try:
                namespaces.raw(None, name)
            except ApiError:
                namespaces.put(objects.namespace(name))

    def add_node(self, name: str, **kwargs: Any) -> dict[str, Any]:
        """Create or replace a Node; keyword arguments are those of ``objects.node``."""
        self._node_args[name] = dict(kwargs)
        return self._stores["nodes"].put(objects.node(name, **kwargs))

    def update_node(self, name: str, **changes: Any) -> dict[str, Any]:
        """Rebuild a Node with some arguments changed (uid and creationTimestamp are kept)."""
        self._stores["nodes"].raw(None, name)  # 404-style error if it does not exist
        return self.add_node(name, **{**self._node_args.get(name, {}), **changes})

    def add_secret(self, namespace: str, name: str, *, type: str = "kubernetes.io/tls", data: Mapping[str, bytes | str] | None = None,
                   labels: Mapping[str, str] | None = None) -> dict[str, Any]:
        """Create or replace a Secret (raw ``data`` values; they are base64-encoded here)."""
        self._ensure_namespace(namespace)
        return self._stores["secrets"].put(objects.secret(namespace, name, type=type, data=data, labels=labels))

    def add_configmap(self, namespace: str, name: str, data: Mapping[str, str] | None = None) -> dict[str, Any]:
        """Create or replace a ConfigMap."""
        self._ensure_namespace(namespace)
        return self._stores["configmaps"].put(objects.configmap(namespace, name, data))

    def add_namespace(self, name: str) -> dict[str, Any]:
        return self._stores["namespaces"].put(objects.namespace(name))

    def serve(self, api_version: str, resource: str, kind: str, *, namespaced: bool = True,
              verbs: Iterable[str] = discovery.DEFAULT_VERBS) -> None:
        """Serve ``resource`` under ``api_version`` (e.g. ``extensions/v1beta1``), listed in discovery.

        Objects live per resource, as in etcd: a Deployment added under one version is listed under
        every version that serves ``deployments`` (the apiserver converts on the way out).
        """
        group, _, version = api_version.rpartition("/")
        if not group:
            raise ValueError("the core group (v1) serves a fixed set of resources here")
        self._discovery.serve(group, version, discovery.ServedResource(resource, kind, namespaced, tuple(verbs)))
        with self._lock:
            if resource not in self._stores:
                self._stores[resource] = ResourceStore(resource, kind, namespaced, self._revisions)

    def stop_serving(self, api_version: str) -> None:
        """Drop ``api_version`` from discovery and routing, as the release that removes it does."""
        group, _, version = api_version.rpartition("/")
        self._discovery.stop_serving(group, version)

    def add_object(self, resource: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """Create or replace an object of a ``serve``d resource (``body`` without kind/apiVersion)."""
        store = self._stores.get(resource)
        if store is None or resource in RESOURCES:
            raise ValueError(f"serve() {resource} first (core resources have their own add_* helpers)")
        namespace = body["metadata"].get("namespace")
        if namespace:
            self._ensure_namespace(namespace)
        return store.put(dict(body))

    def set_metrics(self, text: str) -> None:
        """The apiserver's own ``/metrics`` exposition text."""
        self._metrics_text = text

    def forbid_path(self, path: str, *, user: str = "*") -> None:
        """Deny ``get`` on a non-resource URL such as ``/metrics`` (RBAC ``nonResourceURLs``)."""
        self._forbidden_paths.append((path, user))

    def delete(self, resource: str, name: str, namespace: str | None = None) -> None:
        """Remove an object, e.g. a Secret between two collections."""
        self._store(resource).delete(namespace, name)

    def count(self, resource: str) -> int:
        return len(self._store(resource))

    def set_version(self, git_version: str = "v1.30.2", **overrides: str) -> None:
        """What ``/version`` reports; other fields (goVersion, platform...) can be overridden."""
        self._version = objects.version_info(git_version, **overrides)

    def set_health(self, livez: bool | Mapping[str, bool] = True, readyz_checks: Mapping[str, bool] | None = None) -> None:
        """Declare health from scratch: unnamed checks pass; a bool ``livez`` sets every livez check."""
        self._health = health.Health.build(livez, readyz_checks)

    def expire_continue_tokens(self) -> None:
        """Make every continue token handed out so far answer 410 Expired, as after a compaction."""
        self._revisions.compact()

    def forbid(self, resource: str = "*", *, verb: str = "*", user: str = "*") -> None:
        """Deny ``verb`` on ``resource`` to ``user`` ('*' = any), with RBAC's 403 message."""
        self._rules.append(_Rule(resource, verb, user))

    def allow_all(self) -> None:
        """Drop every ``forbid`` and ``forbid_path`` rule."""
        self._rules.clear()
        self._forbidden_paths.clear()

    def clear_requests(self) -> None:
        with self._lock:
            self.requests.clear()

    # ------------------------------------------------------------------------ request handling
    def handle(self, handler: BaseHTTPRequestHandler) -> None:
        """Answer one request; every outcome, failures included, is recorded."""
        url = urlsplit(handler.path)
        query = parse_qs(url.query, keep_blank_values=True)
        self._drain_body(handler)
        identity = Identity("anonymous")
        try:
            self._maybe_inject_failure()
            identity = self._authenticate(handler)
            response = self._dispatch(handler.command, url.path, query, identity)
        except ApiError as err:
            response = _error_response(err)
        except Exception as exc:  # noqa: BLE001 - a bug here must reach the test as a 500, not a hang-up
            response = _error_response(ApiError(500, f"Internal error occurred: {exc!r}"))
        if self.knobs.delay_seconds > 0:
            time.sleep(self.knobs.delay_seconds)
        self._send(handler, response)
        self._record(handler.command, url.path, query, identity, response.code)

    @staticmethod
    def _drain_body(handler: BaseHTTPRequestHandler) -> None:
        """Read any request body so the kept-alive connection stays in sync."""
        length = int(handler.headers.get("Content-Length") or 0)
        if length:
            handler.rfile.read(length)

    def _maybe_inject_failure(self) -> None:
        knobs = self.knobs
        if knobs.fail_status is not None:
            raise injected(knobs.fail_status)
        if knobs.flap:
            with self._lock:
                self._flap_count += 1
                failing = self._flap_count % 2 == 0
            if failing:
                raise injected(knobs.flap_status)

    def _authenticate(self, handler: BaseHTTPRequestHandler) -> Identity:
        """Client certificate first, then bearer token, like kube-apiserver's union authenticator."""
        connection = handler.connection
        cert = connection.getpeercert() if isinstance(connection, ssl.SSLSocket) else None
        if cert:
            return _identity_from_cert(cert)
        header = handler.headers.get("Authorization", "")
        if not header:
            return Identity("anonymous", "system:anonymous", ("system:unauthenticated",))
        scheme, _, token = header.partition(" ")
        known = self._tokens.get(token.strip()) if scheme.lower() == "bearer" else None
        if known is None:
            return Identity("invalid")
        return Identity("token", known[0], known[1])

    def _admit(self, identity: Identity, path: str) -> None:
        """401 for bad or (unless anonymous auth is on) missing credentials outside public paths."""
        if identity.auth == "invalid":
            raise ApiError(401, "Unauthorized")
        if identity.auth == "anonymous" and path.rstrip("/") not in self.knobs.anonymous_paths:
            if not self.knobs.anonymous_auth:
                raise ApiError(401, "Unauthorized")
            if not path.startswith("/api/"):
                raise forbidden_path(identity.user or "system:anonymous", path)

    def _authorize(self, identity: Identity, info: RequestInfo, path: str) -> None:
        """RBAC-ish: ``forbid`` rules, and anonymous users only on ``knobs.anonymous_paths``."""
        user = identity.user or ""
        anonymous_denied = identity.auth == "anonymous" and path.rstrip("/") not in self.knobs.anonymous_paths
        if anonymous_denied or any(rule.matches(info, user) for rule in self._rules):
            raise forbidden(user, info.verb, info.resource, info.namespace, info.name, info.group)

    def _dispatch(self, method: str, path: str, query: dict[str, list[str]], identity: Identity) -> Response:
        self._admit(identity, path)
        parts = [part for part in path.split("/") if part]
        if method != "GET":
            raise ApiError(405, "the server does not allow this method on the requested resource", details={})
        if parts in (["version"],):
            return Response(200, json.dumps(self._version, indent=2).encode())
        if parts and parts[0] in HEALTH_ENDPOINTS:
            return self._health_response(parts[0], "/".join(parts[1:]) or None, query)
        if parts == ["metrics"]:
            return self._metrics(identity)
        document = self._discovery_document(parts)
        if document is not None:
            return Response(200, json.dumps(document, separators=(",", ":")).encode())
        info = self._resource_request(parts)
        self._authorize(identity, info, path)
        if "watch" in query and query["watch"][-1] not in ("", "0", "false"):
            raise ApiError(405, "watch is not supported by the watchtower test API server")
        if info.verb == "get":
            return Response(200, self._store(info.resource).get_bytes(info.namespace, info.name or "", info.api_version))
        return self._list(info, query)

    def _metrics(self, identity: Identity) -> Response:
        """``GET /metrics``: a non-resource URL, allowed by ``nonResourceURLs: [/metrics]`` in RBAC."""
        user = identity.user or ""
        if any(path == "/metrics" and who in ("*", user) for path, who in self._forbidden_paths):
            raise forbidden_path(user, "/metrics")
        return Response(200, self._metrics_text.encode(), METRICS_TEXT)

    def _discovery_document(self, parts: list[str]) -> dict[str, Any] | None:
        """``/api``, ``/api/v1``, ``/apis``, ``/apis/<g>``, ``/apis/<g>/<v>``; None for other paths."""
        if parts == ["api"]:
            return discovery.api_versions(f"127.0.0.1:{self.port}")
        if parts == ["api", "v1"]:
            core = [discovery.ServedResource(name, kind, namespaced, ("get", "list", "watch"))
                    for name, (kind, namespaced) in RESOURCES.items()]
            return discovery.resource_list("v1", core)
        if parts == ["apis"]:
            return self._discovery.group_list()
        if len(parts) == 2 and parts[0] == "apis":
            return self._discovery.group(parts[1]) or _raise(unknown_path())
        if len(parts) == 3 and parts[0] == "apis":
            return self._discovery.resource_list(parts[1], parts[2]) or _raise(unknown_path())
        return None

    def _resource_request(self, parts: list[str]) -> RequestInfo:
        """Map ``/api/v1/...`` and ``/apis/<g>/<v>/...`` to a get or list of a served resource; else 404."""
        if parts[:1] != ["apis"] or len(parts) < 4:
            return _resource_request(parts)
        group, version, rest = parts[1], parts[2], parts[3:]
        namespace = None
        if len(rest) in (3, 4) and rest[0] == "namespaces":
            namespace, rest = rest[1], rest[2:]
        served = self._discovery.lookup(group, version, rest[0]) if len(rest) in (1, 2) else None
        if served is None or (namespace is not None and not served.namespaced) or (len(rest) == 2 and served.namespaced and namespace is None):
            raise unknown_path()
        verb = "list" if len(rest) == 1 else "get"
        if verb not in served.verbs:
            raise ApiError(405, "the server does not allow this method on the requested resource", details={})
        return RequestInfo(verb, rest[0], namespace, rest[1] if len(rest) == 2 else None, group, version)

    def _health_response(self, endpoint: str, check: str | None, query: dict[str, list[str]]) -> Response:
        code, text = health.render(endpoint, self._health.checks_for(endpoint), query, check)
        return Response(code, text.encode(), TEXT, (("X-Content-Type-Options", "nosniff"),))

    def _list(self, info: RequestInfo, query: dict[str, list[str]]) -> Response:
        store = self._store(info.resource)
        page = store.list(
            ListQuery(
                namespace=info.namespace,
                limit=_limit(query),
                continue_token=_last(query, "continue") or None,
                fields=parse_field_selector(info.resource, _last(query, "fieldSelector")),
                labels=parse_label_selector(_last(query, "labelSelector")),
            )
        )
        head = json.dumps({"kind": f"{store.kind}List", "apiVersion": info.api_version, "metadata": page.metadata()},
                          separators=(",", ":"))
        body = b"%s,\"items\":[%s]}" % (head[:-1].encode(), b",".join(page.items))
        return Response(200, body)

    @staticmethod
    def _send(handler: BaseHTTPRequestHandler, response: Response) -> None:
        handler.send_response(response.code)
        handler.send_header("Content-Type", response.content_type)
        handler.send_header("Content-Length", str(len(response.body)))
        handler.send_header("Cache-Control", "no-cache, private")
        for name, value in response.headers:
            handler.send_header(name, value)
        handler.end_headers()
        handler.wfile.write(response.body)

    def _record(self, method: str, path: str, query: dict[str, list[str]], identity: Identity, code: int) -> None:
        flat = {key: values[-1] for key, values in query.items()}
        with self._lock:
            self.requests.append(RecordedRequest(method, path, flat, identity.auth, identity.user, code))


def _raise(err: ApiError) -> Any:
    raise err


def _error_response(err: ApiError) -> Response:
    headers = (("Retry-After", "1"),) if err.code == 429 else ()
    return Response(err.code, err.body(), JSON, headers)


def _last(query: Mapping[str, list[str]], key: str) -> str | None:
    values = query.get(key)
    return values[-1] if values else None


def _limit(query: Mapping[str, list[str]]) -> int:
    text = _last(query, "limit") or "0"
    try:
        return max(int(text), 0)
    except ValueError:
        raise ApiError(400, f'limit: Invalid value: "{text}": strconv.ParseInt: parsing "{text}": invalid syntax') from None


def _resource_request(parts: list[str]) -> RequestInfo:
    """Map ``/api/v1/...`` path segments to a get or list of a known resource; else 404."""
    if parts[:2] != ["api", "v1"]:
        raise unknown_path()
    rest = parts[2:]
    if len(rest) in (1, 2) and rest[0] in RESOURCES and (len(rest) == 1 or not RESOURCES[rest[0]][1]):
        return RequestInfo("list" if len(rest) == 1 else "get", rest[0], None, rest[1] if len(rest) == 2 else None)
    if len(rest) in (3, 4) and rest[0] == "namespaces" and rest[2] in RESOURCES and RESOURCES[rest[2]][1]:
        return RequestInfo("list" if len(rest) == 3 else "get", rest[2], rest[1], rest[3] if len(rest) == 4 else None)
    raise unknown_path()
