"""The apiserver collector's pure parts: /readyz and /version parsing, endpoints, judging probes."""

from __future__ import annotations

import ssl

import pytest
import requests

from watchtower.app.config import from_mapping
from watchtower.collectors.apiserver.export import apiserver_findings, apiserver_metrics
from watchtower.collectors.apiserver.parse import (
    FormatError,
    Probe,
    ReadyzCheck,
    Target,
    classify_error,
    endpoint_host,
    http_error_reason,
    judge,
    normalize_endpoint,
    parse_readyz_verbose,
    parse_version,
    plan_targets,
)
from watchtower.core.results import Severity
from watchtower.core.settings import ConfigError

# kube-apiserver 1.30 /readyz?verbose with etcd down (shortened), as the apiserver prints it
READYZ_ETCD_DOWN = """[+]ping ok
[+]log ok
[-]etcd failed: reason withheld
[+]etcd-readiness excluded: ok
[+]informer-sync ok
[+]poststarthook/start-apiserver-admission-initializer ok
[-]poststarthook/rbac/bootstrap-roles failed: not finished
[+]shutdown ok
readyz check failed
"""


def test_parse_readyz_verbose_lists_each_check() -> None:
    checks = parse_readyz_verbose(READYZ_ETCD_DOWN)
    assert [c.name for c in checks] == [
        "ping", "log", "etcd", "etcd-readiness", "informer-sync",
        "poststarthook/start-apiserver-admission-initializer", "poststarthook/rbac/bootstrap-roles", "shutdown",
    ]
    assert checks[2] == ReadyzCheck("etcd", ok=False, detail="failed: reason withheld")
    assert checks[3] == ReadyzCheck("etcd-readiness", ok=True, detail="excluded: ok")
    assert [c.name for c in checks if not c.ok] == ["etcd", "poststarthook/rbac/bootstrap-roles"]


@pytest.mark.parametrize("text", ["ok", "", "readyz check passed\n", "<html>502 Bad Gateway</html>", "[x]ping ok"])
def test_parse_readyz_without_check_lines_is_empty(text: str) -> None:
    assert parse_readyz_verbose(text) == ()


def test_parse_version() -> None:
    assert parse_version('{"major": "1", "minor": "30", "gitVersion": "v1.30.2"}') == ("v1.30.2", "30")
    assert parse_version('{"major": "1", "minor": "28+", "gitVersion": "v1.28.9-eks-036c24b"}') == ("v1.28.9-eks-036c24b", "28")
    assert parse_version('{"gitVersion": "v1.31.0"}') == ("v1.31.0", "31")


@pytest.mark.parametrize("text, message", [
    ("<html>", "not JSON"),
    ('{"minor": "30"}', "no gitVersion"),
    ('{"gitVersion": "devel"}', "name no minor version"),
])
def test_parse_version_rejects_garbage(text: str, message: str) -> None:
    with pytest.raises(FormatError, match=message):
        parse_version(text)


@pytest.mark.parametrize("text, expected", [
    ("10.0.0.11", "10.0.0.11:6443"),
    ("10.0.0.11:443", "10.0.0.11:443"),
    ("https://k8s-api.example.org:8443/", "k8s-api.example.org:8443"),
    ("k8s-api.example.org", "k8s-api.example.org:6443"),
    ("::1", "[::1]:6443"),
    ("[2001:db8::1]:7443", "[2001:db8::1]:7443"),
    ("[2001:db8::1]", "[2001:db8::1]:6443"),
])
def test_normalize_endpoint(text: str, expected: str) -> None:
    assert normalize_endpoint(text, 6443) == expected


@pytest.mark.parametrize("text", ["", "host:", "host:99999", "host:port", "a b", "https://h/path", "[::1", "1:2:3:zz"])
def test_normalize_endpoint_rejects_garbage(text: str) -> None:
    with pytest.raises(ValueError):
        normalize_endpoint(text, 6443)


def test_endpoint_host() -> None:
    assert endpoint_host("198.51.100.100:6443") == "198.51.100.100"
    assert endpoint_host("[2001:db8::1]:6443") == "2001:db8::1"


def test_plan_targets_probes_each_endpoint_once_under_its_first_role() -> None:
    targets = plan_targets(["10.0.0.11:6443", "10.0.0.12"], ["198.51.100.100"], "198.51.100.100:6443", 6443)
    assert targets == (
        Target("10.0.0.11:6443", "apiserver"), Target("10.0.0.12:6443", "apiserver"),
        Target("198.51.100.100:6443", "vip"),
    )
    assert plan_targets([], [], "k8s-api.example.org", 443) == (Target("k8s-api.example.org:443", "endpoint"),)


def test_http_error_reason_treats_a_readyz_check_list_as_an_answer() -> None:
    assert http_error_reason("readyz", 200, "ok") is None
    assert http_error_reason("readyz", 500, READYZ_ETCD_DOWN) is None
    assert http_error_reason("readyz", 500, "internal error") == "http_500"
    assert http_error_reason("livez", 401, '{"kind":"Status","code":401}') == "http_401"
    assert http_error_reason("version", 403, "") == "http_403"


def _wrapped(inner: BaseException, outer: type[Exception] = requests.exceptions.ConnectionError) -> Exception:
    try:
        try:
            raise inner
        except BaseException as exc:
            raise outer("wrapped") from exc
    except Exception as exc:  # noqa: BLE001 - we want the wrapped exception object
        return exc


@pytest.mark.parametrize("exc, reason", [
    (_wrapped(ConnectionRefusedError(111, "Connection refused")), "connection_refused"),
    (requests.exceptions.ConnectTimeout("timed out"), "timeout"),
    (requests.exceptions.ReadTimeout("read timed out"), "timeout"),
    (_wrapped(ssl.SSLCertVerificationError(1, "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed"),
              requests.exceptions.SSLError), "tls_verify"),
    (_wrapped(ssl.SSLError(1, "[SSL: TLSV1_ALERT_UNKNOWN_CA] tlsv1 alert unknown ca"), requests.exceptions.SSLError),
     "tls_bad_certificate"),
    (_wrapped(ssl.SSLError(1, "[SSL: WRONG_VERSION_NUMBER] wrong version number"), requests.exceptions.SSLError), "tls_error"),
    (OSError("Could not find the TLS certificate file, invalid path: /nope"), "client_cert_unreadable"),
    (OSError("Could not find a suitable TLS CA certificate bundle, invalid path: /nope"), "ca_unreadable"),
    (requests.exceptions.ConnectionError("Failed to resolve 'k8s-api.invalid' ([Errno -2] Name or service not known)"),
     "dns_error"),
    (_wrapped(OSError(113, "No route to host")), "unreachable"),
    (requests.exceptions.ConnectionError("Connection aborted."), "connection_error"),
])
def test_classify_error(exc: BaseException, reason: str) -> None:
    assert classify_error(exc) == reason


def _probes(target: Target, livez: int | None, readyz: tuple[int, str] | None, version: str | None) -> dict[str, Probe]:
    return {
        "livez": Probe(target, "livez", 0.01, status=livez, body="ok",
                       error_reason=None if livez == 200 else "connection_refused"),
        "readyz": Probe(target, "readyz", 0.02, status=readyz[0] if readyz else None, body=readyz[1] if readyz else "",
                        error_reason=None if readyz else "connection_refused"),
        "version": Probe(target, "version", 0.03, status=200 if version else None, body=version or "",
                         error_reason=None if version else "connection_refused"),
    }


def test_judge_and_metrics_for_ready_not_ready_down_and_vip() -> None:
    a, b, c, vip = (Target("10.0.0.11:6443", "apiserver"), Target("10.0.0.12:6443", "apiserver"),
                    Target("10.0.0.13:6443", "apiserver"), Target("198.51.100.100:6443", "vip"))
    ok_body = READYZ_ETCD_DOWN.replace("[-]", "[+]").replace("failed: reason withheld", "ok")
    statuses = [
        judge(a, _probes(a, 200, (200, ok_body), '{"minor": "30", "gitVersion": "v1.30.2"}')),
        judge(b, _probes(b, 200, (500, READYZ_ETCD_DOWN), '{"minor": "29", "gitVersion": "v1.29.4"}')),
        judge(c, _probes(c, None, None, None)),
        judge(vip, _probes(vip, 200, (200, "ok"), '{"minor": "30", "gitVersion": "v1.30.2"}')),
    ]
    assert [len(s.errors) for s in statuses] == [0, 0, 3, 0]
    families = {f.name: f for f in apiserver_metrics(statuses, {("10.0.0.13:6443", "livez", "connection_refused"): 2})}
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value for f in families.values() for s in f.samples}
    assert samples[("watchtower_apiserver_up", (("endpoint", "10.0.0.13:6443"), ("role", "apiserver")))] == 0
    assert samples[("watchtower_apiserver_ready", (("endpoint", "10.0.0.12:6443"), ("role", "apiserver")))] == 0
    assert samples[("watchtower_apiserver_check_failed", (("check", "etcd"), ("endpoint", "10.0.0.12:6443")))] == 1
    assert samples[("watchtower_apiserver_check_failed", (("check", "etcd"), ("endpoint", "10.0.0.11:6443")))] == 0
    assert samples[("watchtower_apiserver_version_info",
                    (("endpoint", "10.0.0.12:6443"), ("git_version", "v1.29.4"), ("minor", "29")))] == 1
    assert samples[("watchtower_vip_reachable", (("vip", "198.51.100.100"),))] == 1
    assert samples[("watchtower_apiserver_probe_errors_total",
                    (("endpoint", "10.0.0.13:6443"), ("path", "livez"), ("reason", "connection_refused")))] == 2
    findings = {f.subject: f for f in apiserver_findings(statuses)}
    assert findings["apiserver 10.0.0.12:6443"].severity == Severity.WARNING
    assert "etcd, poststarthook/rbac/bootstrap-roles" in findings["apiserver 10.0.0.12:6443"].message
    assert findings["apiserver 10.0.0.13:6443"].message == "down: /livez connection_refused"
    assert findings["versions"].severity == Severity.WARNING and "10.0.0.12:6443 v1.29.4" in findings["versions"].message


def test_settings_validation() -> None:
    def bind(**section: object) -> None:
        from_mapping({"collectors": {"apiserver": section}})

    bind(token_env="KUBE_TOKEN", probe_timeout="2s")
    with pytest.raises(ConfigError, match="client_key_file"):
        bind(client_cert_file="/c.crt")
    with pytest.raises(ConfigError, match="either a token or a client certificate"):
        bind(token_file="/t", client_cert_file="/c.crt", client_key_file="/c.key")
    with pytest.raises(ConfigError, match="probe_timeout"):
        bind(probe_timeout="30s", timeout="20s")
    with pytest.raises(ConfigError, match="no inline secret"):
        bind(token="abc")
    with pytest.raises(ConfigError, match="port"):
        bind(port=0)
