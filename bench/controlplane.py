"""Control-plane collectors: what one run costs, against baselines measured in the same run.

- ``vip_addresses_netlink``: the vip collector's address read over rtnetlink, against running
  ``ip -j addr show`` (what the collector would otherwise spawn every interval).
- ``apiserver_run_5_servers_50ms``: one apiserver-collector run over 5 test API servers that
  each answer after 50 ms (15 HTTPS probes), against the same run with one probe at a time
  (``max_concurrency: 1``): what the bounded concurrent pool buys.
- ``apiserver_run_5_one_slow``: one server answering after 3 s, against the probe timeout
  (1 s): a run stays within about one timeout instead of adding up per probe.
"""

from __future__ import annotations

import contextlib
import subprocess
import tempfile
import time
from pathlib import Path

from bench.harness import Line, median_seconds
from tests.kubeapi import KubeAPIServer
from watchtower.app.config import from_mapping
from watchtower.collectors.apiserver import ApiserverCollector
from watchtower.collectors.apiserver.parse import PATHS
from watchtower.collectors.apiserver.settings import ApiserverSettings
from watchtower.collectors.base import CollectorContext
from watchtower.core.settings import Seconds
from watchtower.io.kube import KubeClientFactory
from watchtower.io.netlink import dump_addresses

SERVERS = 5
PROBE_TIMEOUT = 1.0


def _collector(apis: list[KubeAPIServer], bundle: Path, concurrency: int) -> ApiserverCollector:
    config = from_mapping({"control_plane": {"apiservers": [f"127.0.0.1:{a.port}" for a in apis]}})
    context = CollectorContext(config=config, kube=KubeClientFactory(config.kubernetes), node_name="bench")
    settings = ApiserverSettings(ca_file=str(bundle), probe_timeout=Seconds(PROBE_TIMEOUT), max_concurrency=concurrency)
    return ApiserverCollector(settings, context)


def _apiserver_lines() -> list[Line]:
    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        apis = [stack.enter_context(KubeAPIServer(Path(tmp) / f"api{i}")) for i in range(SERVERS)]
        bundle = Path(tmp) / "ca.crt"
        bundle.write_text("".join(Path(a.ca_file).read_text() for a in apis))
        for api in apis:
            api.knobs.delay_seconds = 0.05
        concurrent, sequential = _collector(apis, bundle, 16), _collector(apis, bundle, 1)
        for collector in (concurrent, sequential):
            assert not collector.collect().errors  # warms each session's kept-alive connections
        one_at_a_time = median_seconds(sequential.collect, repeat=3)
        pooled = median_seconds(concurrent.collect, repeat=5)

        apis[-1].knobs.delay_seconds = 3.0
        start = time.monotonic()
        result = concurrent.collect()
        slow = time.monotonic() - start
        assert {e.reason for e in result.errors} == {"timeout"} and len(result.errors) == len(PATHS)
    return [
        Line("apiserver_run_5_servers_50ms", pooled * 1000, "ms", one_at_a_time * 1000, "ms (one probe at a time)",
             "<= 0.25"),
        Line("apiserver_run_5_one_slow", slow, "s", PROBE_TIMEOUT, "s (probe timeout)", "<= 2"),
    ]


def run() -> list[Line]:
    ip_cmd = median_seconds(lambda: subprocess.run(["ip", "-j", "addr", "show"], capture_output=True, check=True), repeat=7)
    netlink = median_seconds(lambda: dump_addresses(timeout=2), repeat=7)
    return [
        Line("vip_addresses_netlink", netlink * 1000, "ms", ip_cmd * 1000, "ms (ip -j addr show)", "<= 0.5"),
        *_apiserver_lines(),
    ]
