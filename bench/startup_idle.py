"""Start-up time against importing prometheus_client, and idle RSS with zero config and the node role.

- ``startup_to_metrics_vs_import_prometheus_client``: from spawning ``watchtower run`` (zero
  config, no kubeconfig) to the first ``/metrics`` answer holding ``watchtower_build_info``, vs
  spawning ``python -c 'import prometheus_client'`` and waiting for it to exit; medians of 5
  rounds, interleaved. Target ratio <= 4.
- ``idle_rss_zero_config``: VmRSS of that zero-config daemon a second after it is ready (every
  collector it runs has had its first run). Target <= 35 MB; baseline: the bare interpreter
  after importing prometheus_client (context).
- ``idle_rss_node_role``: the same for the Helm chart's node-role preset (kubeadm certificates of
  a generated kubeadm tree, vip, etcd on kubeadm's metrics port, haproxy auto; cluster-wide
  collectors off) after the certs collector's first run. Target <= 45 MB. Nothing answers at its
  apiserver endpoint, so kubeadm's served-vs-disk check builds no TLS context.
- ``idle_rss_node_role_live_apiserver``: the same daemon while a TLS server presenting the tree's
  apiserver certificate answers at that endpoint, as on a real control-plane node (the check's
  first TLS context and handshake, about 1 MB). Context only, no target: on a real node this is the
  figure to expect.
"""

from __future__ import annotations

import contextlib
import os
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from bench import daemon
from bench.harness import Line
from bench.startup import _time_to_metrics

ROUNDS = 5


def _import_prometheus_client(env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import prometheus_client"], check=True, env=env)
    return time.perf_counter() - start


def _bare_rss_mb(env: dict[str, str]) -> float:
    code = ("import prometheus_client\n"
            "for line in open('/proc/self/status'):\n"
            "    if line.startswith('VmRSS:'): print(int(line.split()[1]) / 1024)\n")
    return float(subprocess.run([sys.executable, "-c", code], check=True, env=env, capture_output=True,
                                text=True).stdout)


@contextlib.contextmanager
def _apiserver(pki_dir: Path) -> Iterator[int]:
    """A loopback TLS server presenting ``pki_dir``'s apiserver certificate; yields its port."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pki_dir / "apiserver.crt", pki_dir / "apiserver.key")
    stop = threading.Event()
    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.settimeout(0.2)

        def serve() -> None:
            while not stop.is_set():  # bounded by the stop event, set on exit
                try:
                    conn, _ = listener.accept()
                except OSError:
                    continue
                with contextlib.suppress(OSError), context.wrap_socket(conn, server_side=True) as tls:
                    tls.settimeout(2)
                    tls.recv(1)  # the check closes after the handshake

        thread = threading.Thread(target=serve, name="bench-apiserver", daemon=True)
        thread.start()
        try:
            yield listener.getsockname()[1]
        finally:
            stop.set()
            thread.join(timeout=5)


def _node_pki(work: Path) -> tuple[Path, Path]:
    """A generated kubeadm tree: its root (``/etc/kubernetes`` layout) and the kubelet's PKI directory."""
    sys.path.insert(0, str(daemon.ROOT))
    from tests.support.kubeadm_pki import KubeadmPKI

    pki = KubeadmPKI.build(work / "node")
    return pki.root, pki.kubelet_dir


def _node_config(work: Path, tree: tuple[Path, Path], apiserver_port: int | None = None) -> Path:
    """The Helm node-role preset over the tree at ``root``; kubeadm's served check dials ``apiserver_port``
    on loopback when given (else the default 127.0.0.1:6443, where nothing answers here)."""
    from watchtower.collectors import REGISTRY

    collectors: dict[str, object] = {name: {"enabled": False} for name in REGISTRY}
    root, kubelet_dir = tree
    certs: dict[str, object] = {"enabled": True, "kubeadm": True, "kubeadm_root": str(root),
                                "kubelet_pki_dir": str(kubelet_dir)}
    if apiserver_port is not None:
        certs["apiserver_endpoints"] = [f"127.0.0.1:{apiserver_port}"]
    collectors.update({"certs": certs, "vip": {}, "etcd": {"endpoints": ["http://127.0.0.1:9"]}, "haproxy": {}})
    data = {"log": {"level": "warning"}, "control_plane": {"vips": ["198.51.100.100"]}, "collectors": collectors}
    return daemon.write_config(work / f"node-{apiserver_port or 'none'}.yaml", data)


def run() -> list[Line]:
    with tempfile.TemporaryDirectory(prefix="wt-bench-startup-") as empty:
        env = {k: v for k, v in os.environ.items() if k not in {"WATCHTOWER_CONFIG", "KUBECONFIG"}}
        env["HOME"] = empty  # zero-config start: no kubeconfig to find
        env["PYTHONPATH"] = str(daemon.ROOT)
        imports, starts = [], []
        for _ in range(ROUNDS):
            imports.append(_import_prometheus_client(env))
            starts.append(_time_to_metrics(empty, env))
        bare = _bare_rss_mb(env)
        zero = daemon.measure(None, env=env)
        tree = _node_pki(Path(empty))
        node = daemon.measure(_node_config(Path(empty), tree), collector="certs", runs=1, env=env)
        with _apiserver(tree[0] / "pki") as port:
            live = daemon.measure(_node_config(Path(empty), tree, port), collector="certs", runs=1, env=env)
    return [
        Line("startup_to_metrics_vs_import_prometheus_client", statistics.median(starts), "s",
             statistics.median(imports), "s", "<= 4"),
        Line("idle_rss_zero_config", zero["rss"], "MB", bare, "MB", "<= 35", target_on_value=True),
        Line("idle_rss_node_role", node["rss"], "MB", bare, "MB", "<= 45", target_on_value=True),
        Line("idle_rss_node_role_live_apiserver", live["rss"], "MB", bare, "MB"),
    ]


if __name__ == "__main__":
    for line in run():
        print(line.render(), flush=True)
