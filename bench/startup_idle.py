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
  collectors off) after the certs collector's first run. Target <= 45 MB.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
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


def _node_config(work: Path) -> Path:
    sys.path.insert(0, str(daemon.ROOT))
    from tests.support.kubeadm_pki import KubeadmPKI
    from watchtower.collectors import REGISTRY

    pki = KubeadmPKI.build(work / "node")
    collectors: dict[str, object] = {name: {"enabled": False} for name in REGISTRY}
    collectors.update({
        "certs": {"enabled": True, "kubeadm": True, "kubeadm_root": str(pki.root),
                  "kubelet_pki_dir": str(pki.kubelet_dir)},
        "vip": {}, "etcd": {"endpoints": ["http://127.0.0.1:9"]}, "haproxy": {},
    })
    data = {"log": {"level": "warning"}, "control_plane": {"vips": ["198.51.100.100"]}, "collectors": collectors}
    return daemon.write_config(work / "node.yaml", data)


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
        node = daemon.measure(_node_config(Path(empty)), collector="certs", runs=1, env=env)
    return [
        Line("startup_to_metrics_vs_import_prometheus_client", statistics.median(starts), "s",
             statistics.median(imports), "s", "<= 4"),
        Line("idle_rss_zero_config", zero["rss"], "MB", bare, "MB", "<= 35", target_on_value=True),
        Line("idle_rss_node_role", node["rss"], "MB", bare, "MB", "<= 45", target_on_value=True),
    ]


if __name__ == "__main__":
    for line in run():
        print(line.render(), flush=True)
