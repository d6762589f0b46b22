"""5,000 nodes listed page by page from the test Kubernetes API server: time and memory.

Time: ``NodesCollector.collect()`` in this process vs the baseline of listing the same nodes
page by page with the official client's typed ``CoreV1Api.list_node`` and doing nothing with
them (what any client pays).

Memory: peak RSS (VmHWM) of a real ``watchtower run`` process whose nodes collector has listed
the 5,000 nodes three times and served /metrics once, vs baselines measured in the same run:

- ``nodes_daemon_rss_growth_5000`` (issue 5's line, target <= 60 MB): growth over the idle
  daemon *as it was when that target was set*, i.e. an idle ``watchtower run`` that has
  ``requests`` and ``urllib3`` imported. Why not the plain idle daemon: in issue 5 every daemon
  imported requests/urllib3 (and cryptography) at start-up, so they were part of the idle
  baseline (50.7 MB then) and the 60 MB covered the Kubernetes client's own modules plus the
  5,000 nodes (45.6 MB then). Issue 14 made those libraries load only when a collector uses
  them: the plain idle daemon fell to about 34 MB while the nodes daemon's peak did not change,
  so against the plain idle daemon about 9 MB of requests/urllib3 — which the Kubernetes client
  (kubernetes.config → requests_oauthlib → requests) loads in any cluster-role daemon —
  would count as the nodes' growth although no node costs a byte more. Only the libraries
  the nodes daemon itself loads are preloaded (not cryptography: it does not load it), so
  nothing it pays for is hidden.
- ``nodes_daemon_rss_growth_over_lean_idle_5000`` (context, no target): the same peak over the
  plain idle daemon of today, so the total cost of turning the nodes collector on is in view.
- ``nodes_daemon_rss_growth_over_0_nodes_5000`` (target <= 60 MB): over the same daemon
  listing an empty cluster (the Kubernetes client and its libraries loaded: about 26 MB,
  38 MB when the generated ``CoreV1Api`` was still imported; ``watchtower.io.kube.get_json``
  avoids it): the growth that the 5,000 nodes alone cause.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import yaml

from bench.harness import Line, median_seconds
from tests.kubeapi import KubeAPIServer

NODES = 5000
PAGE_SIZE = 500
CONTROL_PLANES = 3
ROOT = Path(__file__).resolve().parents[1]


def _populate(api: KubeAPIServer) -> None:
    api.set_version("v1.30.2")
    for i in range(CONTROL_PLANES):
        api.add_node(f"cp-{i + 1}", roles=["control-plane"], kubelet_version="v1.30.2")
    for i in range(NODES - CONTROL_PLANES):
        version = ("v1.30.2", "v1.29.6", "v1.28.11", "v1.27.16")[i % 4]
        api.add_node(f"worker-{i:05d}", roles=["worker"], kubelet_version=version, ready=(i % 97 != 0))


def _config(directory: Path, kubeconfig: Path | None, nodes_interval: str = "5s", name: str = "nodes") -> Path:
    from watchtower.app.registry import REGISTRY

    collectors: dict[str, object] = {name: {"enabled": False} for name in REGISTRY}
    data: dict[str, object] = {"collectors": collectors, "log": {"level": "warning"}}
    if kubeconfig is not None:
        collectors["nodes"] = {"enabled": True, "interval": nodes_interval, "timeout": "4500ms",
                               "lifecycle": {"source": "snapshot", "timeout": "4s"}}
        data["kubernetes"] = {"kubeconfig": str(kubeconfig), "page_size": PAGE_SIZE, "request_timeout": 60}
    path = directory / (f"{name}.yaml" if kubeconfig else "idle.yaml")
    path.write_text(yaml.safe_dump(data))
    return path


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _vm_hwm_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM")


def _get(url: str, timeout: float = 60) -> bytes:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return response.read()


def _successes(metrics: bytes) -> float | None:
    for line in metrics.decode().splitlines():
        if line.startswith('watchtower_collector_last_success_timestamp_seconds{collector="nodes"}'):
            return float(line.split()[-1])
    return None


ISSUE5_IDLE_IMPORTS = ("requests", "urllib3")  # what issue 5's idle daemon had loaded that a nodes daemon loads too


def _daemon_peak_mb(config: Path, runs: int, preload: tuple[str, ...] = ()) -> tuple[float, bytes, float]:
    """Start ``watchtower run`` (with the ``preload`` modules imported first); wait for ``runs``
    successful nodes collections (0: just ready); scrape /metrics once; return (VmHWM MB, the
    /metrics body, scrape seconds). Stopped by PID."""
    port = _free_port()
    start = ["-m", "watchtower"]
    if preload:
        start = ["-c", f"import {', '.join(preload)}, runpy; runpy.run_module('watchtower', run_name='__main__')"]
    proc = subprocess.Popen(
        [sys.executable, *start, "run", "--config", str(config), "--listen", f"127.0.0.1:{port}"],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 300
        seen: set[float] = set()
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"watchtower run exited: {proc.stderr.read().decode()[-2000:] if proc.stderr else ''}")
            try:
                if runs == 0:
                    _get(base + "/readyz", timeout=5)
                    break
                stamp = _successes(_get(base + "/metrics", timeout=60))
                if stamp is not None:
                    seen.add(stamp)
                if len(seen) >= runs:
                    break
            except OSError:
                pass
            time.sleep(0.5)
        else:
            raise RuntimeError("watchtower run did not get ready in 300s")
        time.sleep(1.0)  # let the idle process settle (imports, first heartbeat)
        started = time.perf_counter()
        body = _get(base + "/metrics")
        scrape = time.perf_counter() - started
        return _vm_hwm_mb(proc.pid), body, scrape
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)


def run() -> list[Line]:
    from kubernetes.client import CoreV1Api

    from watchtower.app import config as config_mod
    from watchtower.collectors.base import CollectorContext
    from watchtower.collectors.nodes import NodesCollector
    from watchtower.io.kube import KubeClientFactory

    with (tempfile.TemporaryDirectory(prefix="wt-bench-nodes-") as tmp, KubeAPIServer(Path(tmp) / "api") as api,
          KubeAPIServer(Path(tmp) / "empty") as empty):
        directory = Path(tmp)
        _populate(api)
        empty.set_version("v1.30.2")
        kubeconfig = api.write_kubeconfig(directory / "kubeconfig", auth="token")

        config = config_mod.load(_config(directory, kubeconfig))
        context = CollectorContext(config=config, kube=KubeClientFactory(config.kubernetes))
        collector = NodesCollector(config.collectors["nodes"], context)
        api_client = context.kube.api_client()

        def client_only() -> int:
            """The official client's typed listing, page by page, doing nothing with the nodes."""
            core, listed, token = CoreV1Api(api_client), 0, None
            while True:
                page = core.list_node(limit=PAGE_SIZE, _continue=token, _request_timeout=60)
                listed += len(page.items)
                token = page.metadata._continue
                if not token:
                    return listed

        assert client_only() == NODES
        baseline = median_seconds(client_only, repeat=5)
        collect = median_seconds(collector.collect, repeat=5)
        listed = collector.collect().details.to_json()["nodes_total"]
        assert listed == NODES, listed

        idle_mb, _, _ = _daemon_peak_mb(_config(directory, None), runs=0)
        issue5_idle_mb, _, _ = _daemon_peak_mb(_config(directory, None), runs=0, preload=ISSUE5_IDLE_IMPORTS)
        empty_config = _config(directory, empty.write_kubeconfig(directory / "empty.kubeconfig"), name="empty")
        empty_mb, _, _ = _daemon_peak_mb(empty_config, runs=3)
        peak_mb, body, scrape = _daemon_peak_mb(_config(directory, kubeconfig), runs=3)
        series = sum(1 for line in body.decode().splitlines() if line and not line.startswith("#"))

    return [
        Line("nodes_collect_5000", collect, "s", baseline, "s", "<= 1.5"),
        Line("nodes_daemon_peak_rss_5000", peak_mb, "MB", idle_mb, "MB"),
        Line("nodes_daemon_rss_growth_5000", peak_mb - issue5_idle_mb, "MB", target="<= 60", target_on_value=True),
        Line("nodes_daemon_rss_growth_over_lean_idle_5000", peak_mb - idle_mb, "MB"),
        Line("nodes_daemon_peak_rss_issue5_idle", issue5_idle_mb, "MB", idle_mb, "MB"),
        Line("nodes_daemon_rss_growth_over_0_nodes_5000", peak_mb - empty_mb, "MB", target="<= 60", target_on_value=True),
        Line("nodes_daemon_peak_rss_0_nodes", empty_mb, "MB", idle_mb, "MB"),
        Line("nodes_metrics_scrape_5000", scrape * 1000, "ms"),
        Line("nodes_metrics_series_5000", series, "series"),
    ]
