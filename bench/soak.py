"""Soak: ``watchtower run`` for an hour at 1 s intervals with every collector that can run here.

Against the lab services: the test kube-apiserver (nodes, upgrade, apiserver probes, TLS Secrets),
a real HAProxy and a real etcd, 500 certificate files plus a kubeconfig and a TLS endpoint, and
the vip collector over netlink. A scraper reads ``/metrics`` (gzip) and ``/api/status`` every
second, as a busy Prometheus and a status page would. RSS, threads and open fds of the child are
sampled every ``SAMPLE_SECONDS``.

Lines: the RSS slope over the second half (MB per hour, least squares; target <= 1), and the
change in threads and in fds from the first sample after warm-up to the last (target 0).
The grafana collector is left out: it changes external state and needs a Grafana server.

``BENCH_SOAK_SECONDS`` sets the duration (default 3600); ``python -m bench`` runs this only when
named (``python -m bench soak``).
"""

from __future__ import annotations

import collections
import contextlib
import datetime
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import yaml

from bench import soak_debug
from bench.harness import Line

SECONDS = float(os.environ.get("BENCH_SOAK_SECONDS", "3600"))
SAMPLE_SECONDS = float(os.environ.get("BENCH_SOAK_SAMPLE_SECONDS", "10"))
WARMUP_SECONDS = min(60.0, SECONDS / 10)
CERTIFICATES = 500
REPO = Path(__file__).resolve().parents[1]


def _proc_sample(pid: int) -> tuple[float, int, int]:
    """(RSS in MB, threads, open fds) of ``pid`` from /proc."""
    status = Path(f"/proc/{pid}/status").read_text()
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    rss_kib = int(fields["VmRSS"].split()[0])
    threads = int(fields["Threads"].strip())
    fds = len(os.listdir(f"/proc/{pid}/fd"))
    return rss_kib / 1024, threads, fds


def slope_per_hour(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of (seconds, MB) points, in MB per hour."""
    n = len(points)
    if n < 2:
        return 0.0
    mean_t = sum(t for t, _ in points) / n
    mean_v = sum(v for _, v in points) / n
    var = sum((t - mean_t) ** 2 for t, _ in points)
    if var == 0:
        return 0.0
    return sum((t - mean_t) * (v - mean_v) for t, v in points) / var * 3600


def _scrape(port: int, path: str) -> None:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\nConnection: close\r\n\r\n".encode())
        while sock.recv(262144):
            pass


def _wait_listening(port: int, child: subprocess.Popen[bytes], seconds: float = 60.0) -> None:
    """Until the child accepts connections (its signal handlers are set before it binds)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and child.poll() is None:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
            return
        time.sleep(0.2)
    raise RuntimeError(f"watchtower did not listen on {port} within {seconds:g}s (exit {child.poll()})")


def _collector_health(port: int) -> dict[str, bool]:
    """Each collector's last-run success, from /api/status."""
    with urllib.request.build_opener(urllib.request.ProxyHandler({})).open(
            f"http://127.0.0.1:{port}/api/status", timeout=10) as response:
        doc = json.load(response)
    return {c["name"]: bool(c["success"]) for c in doc["collectors"]}


def _lab_config(stack: contextlib.ExitStack, tmp: Path) -> dict:
    from tests.kubeapi import KubeAPIServer
    from tests.support.etcd import EtcdMember
    from tests.support.haproxy import HAProxyLab
    from tests.support.kubeadm_tree import KubeadmTree

    now = datetime.datetime.now(datetime.UTC).replace(microsecond=0)
    tree = KubeadmTree(tmp / "etc-kubernetes", now - datetime.timedelta(days=200))
    certs_dir = tmp / "certs"
    for i in range(CERTIFICATES):
        tree.write(f"../certs/c{i // 100}/leaf-{i:03d}.crt",
                   tree.leaf_pem(f"leaf-{i}", now - datetime.timedelta(days=i % 300), kubeadm_style=False))
    kubeconfig = tree.kubeconfig("admin.conf", now - datetime.timedelta(days=100))
    for sub in ("api", "haproxy", "etcd"):
        (tmp / sub).mkdir()
    api = stack.enter_context(KubeAPIServer(tmp / "api"))
    api.set_version("v1.29.5")
    api.add_configmap("kube-system", "kubeadm-config", {"ClusterConfiguration": "kubernetesVersion: v1.29.5\n"})
    for i in range(3):
        api.add_node(f"cp-{i}", roles=["control-plane"], kubelet_version="v1.29.5")
    for i in range(20):
        api.add_secret("default", f"tls-{i}", data={"tls.crt": tree.leaf_pem(f"secret-{i}", now)})
    lab = stack.enter_context(HAProxyLab(tmp / "haproxy"))
    member = stack.enter_context(EtcdMember(tmp / "etcd"))
    second = {"interval": "1s", "timeout": "900ms"}
    return {
        "kubernetes": {"kubeconfig": str(api.write_kubeconfig(tmp / "kubeconfig")), "request_timeout": 0.8},
        "control_plane": {"apiservers": [f"127.0.0.1:{api.port}"], "vips": ["127.0.0.1"]},
        "collectors": {
            "certs": {**second, "paths": [str(certs_dir)], "kubeconfigs": [str(kubeconfig)],
                      "kubeadm_root": str(tree.root), "endpoints": [f"127.0.0.1:{api.port}"],
                      "endpoint_timeout": "500ms", "secrets": {"enabled": True}},
            "apiserver": {**second, "ca_file": str(api.ca_file), "probe_timeout": "500ms", "probe_vips": False},
            "nodes": {**second, "lifecycle": {"source": "snapshot", "timeout": "500ms"}},
            "upgrade": {**second, "kubeadm_root": str(tree.root), "release_source": "static",
                        "static_latest": "v1.31.4", "release_timeout": "500ms", "state_file": str(tmp / "state.json")},
            "vip": {**second, "keepalived_json_file": None},
            "haproxy": {**second, "stats_socket": str(lab.socket_path)},
            "etcd": {**second, "request_timeout": "500ms", "endpoints": [member.client_url],
                     "ca_file": member.certs.ca_file, "cert_file": member.certs.client_cert,
                     "key_file": member.certs.client_key},
            "grafana": {"enabled": False},
        },
    }


def run(seconds: float = SECONDS) -> list[Line]:
    with tempfile.TemporaryDirectory() as tmp_text, contextlib.ExitStack() as stack:
        tmp = Path(tmp_text)
        config = _lab_config(stack, tmp)
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        config["server"] = {"listen": f"127.0.0.1:{port}"}
        (tmp / "wt.yaml").write_text(yaml.safe_dump(config))
        log = (tmp / "wt.log").open("wb")
        child = subprocess.Popen([sys.executable, "-m", "watchtower", "run", "--config", str(tmp / "wt.yaml"),
                                  "--log-level", "warning"], cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
                                 stdin=subprocess.DEVNULL, env=soak_debug.child_env(tmp))
        dumps = soak_debug.Dumps(child.pid, tmp)
        stop = threading.Event()

        def scraper() -> None:
            while not stop.wait(1.0):
                _scrape(port, "/metrics")
                _scrape(port, "/api/status")

        thread = threading.Thread(target=scraper, daemon=True)
        try:
            _wait_listening(port, child)
            thread.start()
            start = time.monotonic()
            samples: list[tuple[float, float, int, int]] = []
            marks = [(WARMUP_SECONDS, "warm-up"), (seconds / 2, "half")]
            names_after_warmup: collections.Counter[str] | None = None
            while (elapsed := time.monotonic() - start) < seconds:
                if child.poll() is not None:
                    raise RuntimeError(f"watchtower exited {child.returncode}: {(tmp / 'wt.log').read_text()[-2000:]}")
                if marks and elapsed >= marks[0][0]:
                    dumps.take(marks.pop(0)[1])
                rss, threads, fds = _proc_sample(child.pid)
                samples.append((elapsed, rss, threads, fds))
                if names_after_warmup is None and elapsed >= WARMUP_SECONDS:
                    names_after_warmup = soak_debug.thread_names(child.pid)
                time.sleep(min(SAMPLE_SECONDS, max(0.1, seconds - elapsed)))
            rss, threads, fds = _proc_sample(child.pid)
            samples.append((time.monotonic() - start, rss, threads, fds))
            soak_debug.report_threads(names_after_warmup or collections.Counter(), soak_debug.thread_names(child.pid))
            dumps.take("end")
            dumps.report()
            collectors = _collector_health(port)
        finally:
            stop.set()
            thread.join(10)
            child.terminate()
            try:
                child.wait(10)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait(5)
            log.close()
    warm = [s for s in samples if s[0] >= WARMUP_SECONDS] or samples
    second_half = [(t, rss) for t, rss, _th, _fd in samples if t >= seconds / 2]
    first, last = warm[0], warm[-1]
    hours = f"{int(seconds)}s"
    return [
        Line(f"soak_rss_slope_second_half_{hours}", slope_per_hour(second_half), "MB/h", target="<= 1",
             target_on_value=True),
        Line(f"soak_rss_end_vs_after_warmup_{hours}", last[1], "MB", first[1], "MB"),
        Line(f"soak_threads_change_{hours}", last[2] - first[2], "threads", target="<= 0", target_on_value=True),
        Line(f"soak_fds_change_{hours}", last[3] - first[3], "fds", target="<= 0", target_on_value=True),
        Line(f"soak_collectors_succeeding_{hours}", sum(collectors.values()), "collectors", len(collectors),
             "collectors", ">= 1"),
    ]
