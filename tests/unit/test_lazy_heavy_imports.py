"""Heavy client libraries are imported by the collectors that run, not by starting the program.

cryptography's Rust extension (~8 MB), requests/urllib3 (~10 MB) and the kubernetes client cost
memory and start-up time in every process that imports them; importing the CLI, the daemon and
the collector registry (what a zero-config ``watchtower run`` does) must not. Checked in a fresh
interpreter, as a start-up sees it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.support.certs import REPO
from tests.support.kubeadm_pki import KubeadmPKI

HEAVY = ("cryptography.hazmat.bindings._rust", "requests", "urllib3", "kubernetes", "grafana_client")


def _loaded_after(code: str, watched: tuple[str, ...] = HEAVY) -> list[str]:
    probe = f"{code}\nimport json, sys\nprint(json.dumps(sorted(m for m in {watched!r} if m in sys.modules)))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, cwd=REPO,
                          env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_starting_the_daemon_imports_no_heavy_client() -> None:
    assert _loaded_after("import watchtower.app.cli, watchtower.app.daemon, watchtower.app.registry") == []


def test_reading_a_certificate_loads_cryptography_then() -> None:
    code = ("from watchtower.pki import parse_certificates\n"
            "assert parse_certificates(b'-----BEGIN CERTIFICATE-----\\nAA==\\n-----END CERTIFICATE-----\\n').errors")
    assert _loaded_after(code) == ["cryptography.hazmat.bindings._rust"]


def test_a_probe_loads_no_http_library() -> None:
    """The bounded GET (etcd, HAProxy, apiserver probes) is the standard library's http.client + ssl."""
    code = ("import socket\n"
            "from watchtower.io.netprobe import ProbeError, TLSClientConfig, http_get\n"
            "import watchtower.collectors.apiserver, watchtower.collectors.etcd, watchtower.collectors.haproxy\n"
            "with socket.socket() as s:\n"
            "    s.bind(('127.0.0.1', 0)); port = s.getsockname()[1]\n"
            "for url in (f'http://127.0.0.1:{port}/health', f'https://127.0.0.1:{port}/health'):\n"
            "    try:\n"
            "        http_get(url, 1.0, TLSClientConfig())\n"
            "    except ProbeError as exc:\n"
            "        assert exc.reason == 'connection_refused', exc\n")
    assert _loaded_after(code) == []


def test_binding_and_dialling_numeric_or_ascii_hosts_loads_no_idna_codec() -> None:
    """getaddrinfo and ssl's server_hostname run a str through the idna codec, whose first use
    imports encodings.idna, stringprep and unicodedata (0.44 MB): watchtower hands ASCII names over
    as bytes (``core.formatting.resolver_host``)."""
    code = ("import socket, ssl\n"
            "from watchtower.app.httpserver import _bind\n"
            "from watchtower.io.netprobe import ProbeError, TLSClientConfig, http_get\n"
            "from watchtower.collectors.certsources.endpoints import Endpoint, EndpointFailure, fetch_presented\n"
            "listener = _bind('127.0.0.1', 0, 5)\n"
            "with socket.socket() as s:\n"
            "    s.bind(('127.0.0.1', 0)); port = s.getsockname()[1]\n"
            "for url in (f'http://127.0.0.1:{port}/health', f'https://localhost:{port}/health'):\n"
            "    try:\n"
            "        http_get(url, 1.0, TLSClientConfig())\n"
            "    except ProbeError as exc:\n"
            "        assert exc.reason == 'connection_refused', exc\n"
            "try:\n"
            "    fetch_presented(Endpoint('localhost', port), 1.0)\n"
            "except EndpointFailure as exc:\n"
            "    assert exc.reason == 'connect_error', exc\n"
            "listener.close()\n")
    assert _loaded_after(code, ("encodings.idna", "stringprep", "unicodedata")) == []


def test_checking_an_ecdsa_signature_loads_no_openssl_backend(tmp_path: Path) -> None:
    """``ec.ECDSA()`` imports cryptography's OpenSSL backend (its cffi library copied name by name,
    ~0.35 MB) for a signing option; the chain check verifies with a subclass that skips it."""
    pki = KubeadmPKI.build(tmp_path)  # ECDSA P-256 keys, as kubeadm can make them
    code = ("from pathlib import Path\n"
            "from watchtower.pki import IssuerIndex, parse_certificates\n"
            f"pki = Path({str(pki.root)!r}) / 'pki'\n"
            "ca, leaf = (parse_certificates((pki / n).read_bytes()).certificates[0] for n in ('ca.crt', 'apiserver.crt'))\n"
            "assert IssuerIndex().signed_by(leaf, ca) is True\n")
    assert _loaded_after(code, ("cryptography.hazmat.bindings._rust", "cryptography.hazmat.backends.openssl.backend")) \
        == ["cryptography.hazmat.bindings._rust"]


# Each collector's parse/read/export code, loaded by its first run (watchtower.core.lazy): the
# registry, the config and `enabled: auto` need only its class and settings.
IMPLEMENTATION = tuple(f"watchtower.collectors.{name}" for name in (
    "apiserver.export", "apiserver.parse", "etcd.export", "etcd.read", "haproxy.export", "haproxy.parse",
    "haproxy.read", "nodes.export", "nodes.parse", "removed_apis.export", "removed_apis.read", "upgrade.export",
    "vip.export", "vip.parse", "vip.read", "certs.accumulate", "certs.model", "certsources", "node_lifecycle",
)) + ("watchtower.pki", "watchtower.upgrades.plan", "watchtower.upgrades.removed_apis", "watchtower.upgrades.removal_data",
      "watchtower.upgrades.state", "watchtower.upgrades.evidence", "watchtower.upgrades.releases",
      "watchtower.upgrades.lifecycle", "watchtower.upgrades.nodeos", "watchtower.app.heartbeat.check")


def test_starting_the_daemon_imports_no_collector_implementation() -> None:
    code = ("import watchtower.app.cli, watchtower.app.daemon, watchtower.app.registry\n"
            "from watchtower.app import config\n"
            "config.with_defaults(config.from_mapping({}), watchtower.app.registry.REGISTRY)")
    assert _loaded_after(code, IMPLEMENTATION) == []


def test_the_debug_dump_loads_tracemalloc_only_when_it_dumps() -> None:
    """``app.memdebug`` (imported by every daemon) needs tracemalloc only for a dump."""
    code = "import watchtower.app.cli, watchtower.app.daemon, watchtower.app.memdebug"
    assert _loaded_after(code, ("tracemalloc",)) == []
    dumped = code + "\nimport tempfile, pathlib\nwatchtower.app.memdebug.dump(pathlib.Path(tempfile.mkdtemp()))"
    assert _loaded_after(dumped, ("tracemalloc",)) == ["tracemalloc"]


def test_a_zero_config_daemon_loads_only_what_its_collectors_need() -> None:
    """Selecting the collectors asks every ``enabled: auto`` one whether it can run here; only those
    that do may have loaded their code (none on a host without kubeadm, keepalived or a kubeconfig)."""
    code = ("import json, os, sys, tempfile\n"
            "os.environ['HOME'] = tempfile.mkdtemp()  # no kubeconfig\n"
            "from watchtower.app import config\n"
            "from watchtower.app.daemon import Daemon\n"
            "daemon = Daemon(config.from_mapping({}))\n"
            "print(json.dumps({'running': [c.name for c in daemon.selection.enabled],\n"
            f"                  'loaded': [m for m in {IMPLEMENTATION!r} if m in sys.modules]}}))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=REPO,
                          env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout)
    allowed = {"certs": ("watchtower.collectors.certs.", "watchtower.collectors.certsources", "watchtower.pki"),
               "vip": ("watchtower.collectors.vip.",), "etcd": ("watchtower.collectors.etcd.",),
               "haproxy": ("watchtower.collectors.haproxy.",)}
    prefixes = tuple(p for name in seen["running"] for p in allowed.get(name, ()))
    assert [m for m in seen["loaded"] if not m.startswith(prefixes)] == [], seen["running"]


def test_a_collector_loads_its_implementation_when_it_runs() -> None:
    code = ("from watchtower.app import config\n"
            "from watchtower.app.daemon import make_context\n"
            "from watchtower.collectors.etcd import EtcdCollector\n"
            "cfg = config.from_mapping({'collectors': {'etcd': {'endpoints': ['http://127.0.0.1:9']}}})\n"
            "result = EtcdCollector(cfg.collector_settings('etcd', config.REGISTRY), make_context(cfg)).collect()\n"
            "assert result.errors and result.errors[0].reason == 'connection_refused', result.errors")
    assert _loaded_after(code, IMPLEMENTATION) == ["watchtower.collectors.etcd.export", "watchtower.collectors.etcd.read"]
