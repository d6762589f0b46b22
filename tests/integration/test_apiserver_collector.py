"""The apiserver collector against several test Kubernetes API servers (HTTPS on 127.0.0.1).

Each test server has its own CA; the "cluster CA" given to watchtower is a bundle of the CAs of
the servers that belong to the cluster, so a server outside it is a wrong-CA endpoint.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from tests.kubeapi import KubeAPIServer
from tests.support.services import free_port
from watchtower.app.config import from_mapping
from watchtower.collectors.apiserver import ApiserverCollector
from watchtower.collectors.apiserver.settings import ApiserverSettings
from watchtower.collectors.base import CollectorContext
from watchtower.core.results import CollectResult, Severity
from watchtower.core.settings import Seconds, SecretRef
from watchtower.io.kube import KubeClientFactory

SHARED_TOKEN = "wt-probe-token-0123456789abcdef"  # accepted by every cluster server


def hostport(api: KubeAPIServer) -> str:
    return f"127.0.0.1:{api.port}"


@contextlib.contextmanager
def servers(tmp_path: Path, count: int) -> Iterator[list[KubeAPIServer]]:
    with contextlib.ExitStack() as stack:
        apis = [stack.enter_context(KubeAPIServer(tmp_path / f"api{i}")) for i in range(count)]
        for api in apis:
            api.add_token(SHARED_TOKEN, "watchtower-probe", ["system:monitoring"])
        yield apis


def ca_bundle(tmp_path: Path, apis: list[KubeAPIServer]) -> Path:
    bundle = tmp_path / "cluster-ca.crt"
    bundle.write_text("".join(Path(a.ca_file).read_text() for a in apis))
    return bundle


def collector(control_plane: dict[str, object], **settings: object) -> ApiserverCollector:
    config = from_mapping({"control_plane": control_plane})
    context = CollectorContext(config=config, kube=KubeClientFactory(config.kubernetes), node_name="wt")
    return ApiserverCollector(ApiserverSettings(**settings), context)  # type: ignore[arg-type]


def samples(result: CollectResult) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Through the real exposition and parser, as Prometheus would see it."""
    registry = CollectorRegistry()

    class Fixed:
        def collect(self):  # type: ignore[no-untyped-def]
            return list(result.metrics)

    registry.register(Fixed())  # type: ignore[arg-type]
    text = generate_latest(registry).decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for f in text_string_to_metric_families(text) for s in f.samples}


def value(found: dict, name: str, **labels: str) -> float | None:
    return found.get((name, tuple(sorted(labels.items()))))


def test_control_plane_view_with_failing_check_down_slow_wrong_ca_and_mixed_versions(tmp_path: Path) -> None:
    with servers(tmp_path, 4) as (healthy, unready, slow, stranger):
        unready.set_health(readyz_checks={"etcd": False})
        unready.set_version("v1.29.4")
        slow.knobs.delay_seconds = 5.0
        down = f"127.0.0.1:{free_port()}"
        token_file = tmp_path / "token"
        token_file.write_text(SHARED_TOKEN + "\n")
        c = collector(
            {"apiservers": [hostport(healthy), hostport(unready), hostport(slow), down, hostport(stranger)]},
            ca_file=str(ca_bundle(tmp_path, [healthy, unready, slow])),  # stranger's CA is not the cluster's
            token=SecretRef(file=str(token_file)), probe_timeout=Seconds(1), timeout=Seconds(10),
        )
        start = time.monotonic()
        result = c.collect()
        took = time.monotonic() - start
        found = samples(result)

        # the slow endpoint costs about one probe timeout (1 s; 2 s bound, slack for a loaded
        # machine), never its 5 s answer time, let alone 3 probes x 5 s
        assert took < 3.5, took
        up = {e: value(found, "watchtower_apiserver_up", endpoint=e, role="apiserver")
              for e in (hostport(healthy), hostport(unready), hostport(slow), down, hostport(stranger))}
        assert up == {hostport(healthy): 1, hostport(unready): 1, hostport(slow): 0, down: 0, hostport(stranger): 0}
        assert value(found, "watchtower_apiserver_ready", endpoint=hostport(healthy), role="apiserver") == 1
        assert value(found, "watchtower_apiserver_ready", endpoint=hostport(unready), role="apiserver") == 0
        # the failing check by name, the passing ones as 0
        assert value(found, "watchtower_apiserver_check_failed", endpoint=hostport(unready), check="etcd") == 1
        assert value(found, "watchtower_apiserver_check_failed", endpoint=hostport(unready), check="informer-sync") == 0
        assert value(found, "watchtower_apiserver_check_failed", endpoint=hostport(healthy), check="etcd") == 0
        # mixed versions are visible
        assert value(found, "watchtower_apiserver_version_info", endpoint=hostport(healthy), git_version="v1.30.2", minor="30") == 1
        assert value(found, "watchtower_apiserver_version_info", endpoint=hostport(unready), git_version="v1.29.4", minor="29") == 1
        # each failure with its reason
        reasons = {(e.location.split("/")[2], e.location.rsplit("/", 1)[1]): e.reason for e in result.errors}
        assert reasons == {
            **{(hostport(slow), p): "timeout" for p in ("livez", "readyz", "version")},
            **{(down, p): "connection_refused" for p in ("livez", "readyz", "version")},
            **{(hostport(stranger), p): "tls_verify" for p in ("livez", "readyz", "version")},
        }
        assert value(found, "watchtower_apiserver_probe_errors_total", endpoint=down, path="livez", reason="connection_refused") == 1
        assert 0.9 < (value(found, "watchtower_apiserver_probe_duration_seconds", endpoint=hostport(slow), path="livez") or 0) < 3.5
        findings = {f.subject: f for f in result.findings}
        assert findings[f"apiserver {hostport(unready)}"].message == "not ready: etcd"
        assert findings["versions"].severity == Severity.WARNING
        # authenticated with the token, verified TLS, and the token appears nowhere
        assert {r.auth for r in healthy.requests} == {"token"}
        assert {r.path for r in healthy.requests} == {"/livez", "/readyz", "/version"}
        assert SHARED_TOKEN not in repr(result)

        # the counter counts across runs
        slow.knobs.delay_seconds = 0
        found = samples(c.collect())
        assert value(found, "watchtower_apiserver_probe_errors_total", endpoint=down, path="livez", reason="connection_refused") == 2
        assert value(found, "watchtower_apiserver_up", endpoint=hostport(slow), role="apiserver") == 1


def test_vip_and_endpoint_roles_and_reachability_through_the_vip(tmp_path: Path) -> None:
    with servers(tmp_path, 1) as (api,):
        c = collector({"vips": ["127.0.0.1"], "endpoint": f"localhost:{api.port}"},
                      port=api.port, ca_file=str(api.ca_file), probe_timeout=Seconds(2))
        found = samples(c.collect())
        assert value(found, "watchtower_apiserver_up", endpoint=hostport(api), role="vip") == 1
        assert value(found, "watchtower_apiserver_up", endpoint=f"localhost:{api.port}", role="endpoint") == 1
        assert value(found, "watchtower_vip_reachable", vip="127.0.0.1") == 1
        assert {r.auth for r in api.requests} == {"anonymous"}

        api.set_health(readyz_checks={"informer-sync": False})
        found = samples(c.collect())
        assert value(found, "watchtower_vip_reachable", vip="127.0.0.1") == 0
        assert value(found, "watchtower_apiserver_check_failed", endpoint=hostport(api), check="informer-sync") == 1

    # the server is gone: unreachable through the VIP, with a reason
    result = c.collect()
    assert value(samples(result), "watchtower_vip_reachable", vip="127.0.0.1") == 0
    assert {e.reason for e in result.errors} == {"connection_refused"}


def test_client_certificate_auth(tmp_path: Path) -> None:
    with servers(tmp_path, 1) as (api,):
        c = collector({"apiservers": [hostport(api)]}, ca_file=str(api.ca_file),
                      client_cert_file=str(api.client_cert_file), client_key_file=str(api.client_key_file))
        result = c.collect()
        assert result.errors == ()
        assert {(r.auth, r.user) for r in api.requests} == {("cert", "watchtower")}

        missing = collector({"apiservers": [hostport(api)]}, ca_file=str(api.ca_file),
                            client_cert_file=str(tmp_path / "nope.crt"), client_key_file=str(tmp_path / "nope.key"))
        assert {e.reason for e in missing.collect().errors} == {"client_cert_unreadable"}

        # a certificate the server's client CA did not sign: the server drops the connection.
        # With TLS 1.3 the client learns it on its first read, as an alert or a plain reset.
        stranger_cert, stranger_key = api.issue_client_cert("intruder", trusted=False)
        rejected = collector({"apiservers": [hostport(api)]}, ca_file=str(api.ca_file),
                             client_cert_file=str(stranger_cert), client_key_file=str(stranger_key))
        result = rejected.collect()
        reasons = {e.reason for e in result.errors}
        assert len(result.errors) == 3 and reasons <= {"tls_bad_certificate", "tls_error", "connection_error", "connection_reset"}, reasons
        assert value(samples(result), "watchtower_apiserver_up", endpoint=hostport(api), role="apiserver") == 0


def test_401_when_credentials_are_wrong_or_anonymous_is_not_allowed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with servers(tmp_path, 1) as (api,):
        monkeypatch.setenv("WT_BAD_TOKEN", "not-a-valid-token")
        bad = collector({"apiservers": [hostport(api)]}, ca_file=str(api.ca_file), token=SecretRef(env="WT_BAD_TOKEN"))
        result = bad.collect()
        assert {e.reason for e in result.errors} == {"http_401"}
        assert value(samples(result), "watchtower_apiserver_up", endpoint=hostport(api), role="apiserver") == 0
        assert "not-a-valid-token" not in repr(result)

        api.knobs.anonymous_paths = set()
        anonymous = collector({"apiservers": [hostport(api)]}, ca_file=str(api.ca_file))
        assert {e.reason for e in anonymous.collect().errors} == {"http_401"}

        monkeypatch.delenv("WT_BAD_TOKEN")
        unset = bad.collect()  # the secret is gone: said so, and probed anonymously (401 here)
        assert [e.reason for e in unset.errors][:1] == ["secret_unavailable"]


def test_watchtower_check_prints_the_endpoints_and_exits_with_a_warning(tmp_path: Path) -> None:
    with servers(tmp_path, 2) as (healthy, unready):
        unready.set_health(readyz_checks={"etcd": False})
        config = tmp_path / "watchtower.yaml"
        config.write_text(
            f"control_plane:\n  apiservers: ['{hostport(healthy)}', '{hostport(unready)}']\n"
            f"collectors:\n  apiserver:\n    ca_file: {ca_bundle(tmp_path, [healthy, unready])}\n    probe_timeout: 2s\n"
        )
        done = subprocess.run(
            [sys.executable, "-m", "watchtower", "check", "--collector", "apiserver", "--config", str(config)],
            capture_output=True, text=True, timeout=60,
        )
        assert done.returncode == 1, done.stdout + done.stderr
        table = [line.split() for line in done.stdout.splitlines()]
        assert [hostport(unready), "apiserver", "yes", "NO", "etcd", "v1.30.2"] in [row[:6] for row in table]
        assert "not ready: etcd" in done.stdout


@contextlib.contextmanager
def trickling_server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """HTTPS on 127.0.0.1 that answers 200 with a 1000-byte body sent one byte every 0.1 s:
    each read succeeds well within any read timeout, only a total deadline stops it."""
    import socket
    import ssl
    import threading

    import trustme

    ca = trustme.CA()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    ca_file = tmp_path / "trickle-ca.crt"
    ca.cert_pem.write_to_path(str(ca_file))
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve(conn: socket.socket) -> None:
        with contextlib.suppress(OSError), context.wrap_socket(conn, server_side=True) as tls:
            tls.recv(65536)
            tls.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 1000\r\n\r\n")
            for _ in range(1000):
                if stop.wait(0.1):
                    return
                tls.sendall(b"x")

    def accept() -> None:
        with contextlib.suppress(OSError):
            while not stop.is_set():
                conn, _ = listener.accept()
                threading.Thread(target=serve, args=(conn,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    try:
        yield f"127.0.0.1:{listener.getsockname()[1]}", ca_file
    finally:
        stop.set()
        listener.close()


def test_a_trickling_endpoint_is_cut_off_at_the_deadline(tmp_path: Path) -> None:
    with trickling_server(tmp_path) as (endpoint, ca_file):
        c = collector({"apiservers": [endpoint]}, ca_file=str(ca_file), probe_timeout=Seconds(0.5), timeout=Seconds(5))
        start = time.monotonic()
        result = c.collect()
        took = time.monotonic() - start
    assert took < 3.0, took  # about 2 x probe timeout (slack for a loaded machine), not 1000 x 0.1 s
    assert {e.reason for e in result.errors} == {"timeout"} and len(result.errors) == 3
    assert value(samples(result), "watchtower_apiserver_up", endpoint=endpoint, role="apiserver") == 0
