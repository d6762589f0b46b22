"""Real keepalived (VRRPv3) in three network namespaces, watched by a real ``watchtower run`` in each.

Topology (names prefixed per test run): a bridge namespace ``<p>-br`` with ``br0``; namespaces
``<p>-n1..n3`` joined to it by veth pairs (198.51.100.11-13/24); VIP 198.51.100.100/24;
priorities 150/100/50, all ``state BACKUP``, advert_int 0.1. n1 and n3 report keepalived's state
through its JSON dump (opt-in signalling; each keepalived runs under ``unshare -m`` with a
private /tmp because the dump path is fixed) and read addresses over netlink; n2 uses a
notify-script state file and `ip -j addr`.

Every assertion reads watchtower's own /metrics, scraped inside each namespace (or, in the
second test, a real Prometheus in the bridge namespace evaluating alerts/controlplane.rules.yaml). Each fault's
detection latency (event → visible in /metrics) is printed and must stay within one collection
interval plus 1 s.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support.netns import Namespaces, NetnsClient, in_netns, ip, unique_prefix
from tests.support.promstack import Prometheus, rules_without_for
from tests.support.services import require_binary, require_root

pytestmark = [pytest.mark.keepalived, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
VIP = "198.51.100.100"
INTERVAL = 0.5  # the vip collector's interval in these daemons
LATENCY_BUDGET = INTERVAL + 1.0
PRIORITIES = {"n1": 150, "n2": 100, "n3": 50}
JSON_NODES = {"n1", "n3"}  # the others use a notify-script state file
WATCHTOWER_PORT = 9847  # each namespace has its own loopback


@dataclasses.dataclass
class Node:
    """One namespace: its keepalived and its watchtower daemon."""

    name: str  # n1..n3, also watchtower's node_name
    netns: str
    workdir: Path
    keepalived: subprocess.Popen | None = None
    watchtower: subprocess.Popen | None = None
    client: NetnsClient | None = None

    @property
    def ka_pid_file(self) -> Path:
        return self.workdir / "ka.pid"

    @property
    def vrrp_pid_file(self) -> Path:
        return self.workdir / "vrrp.pid"


def _pid_from(path: Path) -> int | None:
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def _is_keepalived(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip() == "keepalived"
    except OSError:
        return False


def _keepalived_conf(node: Node) -> str:
    return f"""global_defs {{
  enable_script_security
  script_user root
}}
vrrp_instance VI_api {{
  state BACKUP
  interface eth0
  virtual_router_id 51
  priority {PRIORITIES[node.name]}
  advert_int 0.1
  version 3
  virtual_ipaddress {{
    {VIP}/24
  }}
  notify "{node.workdir}/notify.sh"
}}
"""


def _watchtower_conf(node: Node) -> str:
    lines = [
        f"node_name: {node.name}",
        "control_plane:",
        f"  vips: ['{VIP}']",
        "scheduling: {min_interval: 100ms}",
        "collectors:",
        "  vip:",
        "    enabled: true",
        f"    interval: {int(INTERVAL * 1000)}ms",
        f"    timeout: {int(INTERVAL * 900)}ms",
        f"    keepalived_pid_file: {node.ka_pid_file}",
    ]
    if node.name in JSON_NODES:
        lines += [
            f"    keepalived_json_file: {node.workdir}/priv/keepalived.json",
            "    keepalived_json_signal: true",
        ]
    else:  # and addresses from `ip -j addr` instead of netlink
        lines += [
            "    keepalived_json_file: null",
            f"    keepalived_notify_files: ['{node.workdir}/VI_api.state']",
            "    address_source: ip_command",
        ]
    return "\n".join(lines) + "\n"


class Lab:
    """The namespaces, processes and files of one test; ``close()`` removes all of them."""

    def __init__(self, base: Path) -> None:
        self.prefix = unique_prefix("wtka")
        self.base = base / self.prefix
        self.namespaces = Namespaces()
        self.nodes: dict[str, Node] = {}
        self.latencies: dict[str, float] = {}
        self.bridge_ns = ""
        self.prometheus: NetnsPrometheus | None = None

    def build(self) -> None:
        bridge_ns = self.namespaces.add(f"{self.prefix}-br")
        ip("-n", bridge_ns, "link", "add", "br0", "type", "bridge")
        ip("-n", bridge_ns, "link", "set", "br0", "up")
        ip("-n", bridge_ns, "addr", "add", "198.51.100.1/24", "dev", "br0")  # where Prometheus scrapes from
        self.bridge_ns = bridge_ns
        for index, name in enumerate(("n1", "n2", "n3"), start=1):
            netns = self.namespaces.add(f"{self.prefix}-{name}")
            workdir = self.base / name
            (workdir / "priv").mkdir(parents=True)
            node = Node(name=name, netns=netns, workdir=workdir)
            self.nodes[name] = node
            ip("-n", netns, "link", "add", "eth0", "type", "veth", "peer", "name", f"vb{index}", "netns", bridge_ns)
            ip("-n", bridge_ns, "link", "set", f"vb{index}", "master", "br0")
            ip("-n", bridge_ns, "link", "set", f"vb{index}", "up")
            ip("-n", netns, "addr", "add", f"198.51.100.{10 + index}/24", "dev", "eth0")
            ip("-n", netns, "link", "set", "eth0", "up")
            notify = workdir / "notify.sh"
            notify.write_text(f'#!/bin/sh\necho "$@" > {workdir}/VI_api.tmp && mv {workdir}/VI_api.tmp {workdir}/VI_api.state\n')
            notify.chmod(0o755)
            (workdir / "keepalived.conf").write_text(_keepalived_conf(node))
            (workdir / "watchtower.yaml").write_text(_watchtower_conf(node))
            node.client = NetnsClient(netns)

    # -- processes ------------------------------------------------------------------------

    def start_keepalived(self, node: Node) -> None:
        for stale in (node.ka_pid_file, node.vrrp_pid_file, node.workdir / "chk.pid"):
            stale.unlink(missing_ok=True)
        w = node.workdir
        script = (
            f"mount --bind {w}/priv /tmp && exec ip netns exec {node.netns} keepalived -n -l -D -P "
            f"-f {w}/keepalived.conf -p {w}/ka.pid -r {w}/vrrp.pid -c {w}/chk.pid"
        )
        with open(w / "keepalived.log", "ab") as log:
            node.keepalived = subprocess.Popen(["unshare", "-m", "sh", "-c", script], stdout=log,
                                               stderr=subprocess.STDOUT, start_new_session=True)
        wait_until(lambda: _pid_from(node.vrrp_pid_file) and _is_keepalived(_pid_from(node.vrrp_pid_file) or 0),
                   10, f"keepalived in {node.name} to start")

    def stop_keepalived(self, node: Node, sig: signal.Signals = signal.SIGTERM) -> None:
        """SIGTERM: a clean stop (VIP released). SIGKILL: parent stopped first so it cannot
        respawn the VRRP child, then both killed, so the VIP stays behind like after a crash."""
        parent, child = _pid_from(node.ka_pid_file), _pid_from(node.vrrp_pid_file)
        if sig == signal.SIGKILL:
            for pid, s in ((parent, signal.SIGSTOP), (child, signal.SIGKILL), (parent, signal.SIGKILL)):
                if pid and _is_keepalived(pid):
                    os.kill(pid, s)
        elif parent and _is_keepalived(parent):
            os.kill(parent, sig)

    def reap_keepalived(self, node: Node) -> None:
        if node.keepalived is not None:
            try:
                node.keepalived.wait(timeout=5)
            except subprocess.TimeoutExpired:
                node.keepalived.kill()
                node.keepalived.wait(timeout=5)
        child = _pid_from(node.vrrp_pid_file)
        if child and _is_keepalived(child):
            os.kill(child, signal.SIGKILL)
        wait_until(lambda: not (child and _is_keepalived(child)), 5, f"old keepalived in {node.name} to exit")

    def start_watchtower(self, node: Node) -> None:
        env = dict(os.environ, PYTHONPATH=str(REPO))
        with open(node.workdir / "watchtower.log", "ab") as log:
            node.watchtower = subprocess.Popen(
                ["ip", "netns", "exec", node.netns, sys.executable, "-m", "watchtower", "run",
                 "--config", str(node.workdir / "watchtower.yaml"), "--listen", f"0.0.0.0:{WATCHTOWER_PORT}"],
                cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )

    def close(self) -> None:
        problems = []
        if self.prometheus is not None:
            self.prometheus.stop()
            self.prometheus.client.close()
        for node in self.nodes.values():
            for proc in (node.watchtower, node.keepalived):
                if proc is not None and proc.poll() is None:
                    proc.terminate()
            child = _pid_from(node.vrrp_pid_file)
            if child and _is_keepalived(child):
                os.kill(child, signal.SIGTERM)
        for node in self.nodes.values():
            for proc in (node.watchtower, node.keepalived):
                if proc is None:
                    continue
                try:
                    proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=5)
            child = _pid_from(node.vrrp_pid_file)
            if child and _is_keepalived(child):
                os.kill(child, signal.SIGKILL)
            if node.client is not None:
                node.client.close()
        problems += self.namespaces.close()
        shutil.rmtree(self.base, ignore_errors=True)
        assert not problems, f"namespaces left behind: {problems}"

    # -- watchtower's view ----------------------------------------------------------------

    def scrape(self, node: Node) -> dict[tuple[str, tuple[tuple[str, str], ...]], float] | None:
        assert node.client is not None
        try:
            text = node.client.get(f"http://127.0.0.1:{WATCHTOWER_PORT}/metrics", timeout=1.0)
        except OSError:
            return None
        return {
            (s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples
        }

    def view(self) -> dict[str, dict[str, object]]:
        """Per node: holds the VIP?, keepalived master?, keepalived running? (None = not exported)."""
        out: dict[str, dict[str, object]] = {}
        for name, node in self.nodes.items():
            samples = self.scrape(node)
            if samples is None:
                out[name] = {"up": False}
                continue
            held = [v for (metric, labels), v in samples.items()
                    if metric == "watchtower_vip_held" and dict(labels).get("vip") == VIP]
            master = [v for (metric, labels), v in samples.items()
                      if metric == "watchtower_keepalived_state" and dict(labels).get("state") == "master"]
            running = [v for (metric, _), v in samples.items() if metric == "watchtower_keepalived_running"]
            out[name] = {
                "up": True,
                "held": held[0] == 1.0 if held else None,
                "master": master[0] == 1.0 if master else None,
                "running": running[0] == 1.0 if running else None,
            }
        return out

    def holders(self, view: dict[str, dict[str, object]]) -> set[str]:
        return {n for n, v in view.items() if v.get("held")}

    def masters(self, view: dict[str, dict[str, object]]) -> set[str]:
        return {n for n, v in view.items() if v.get("master")}

    def detect(self, event: str, action: Callable[[], None], predicate: Callable[[dict], bool],
               timeout: float = 10.0) -> dict[str, dict[str, object]]:
        """Do ``action``; poll watchtower until ``predicate(view)``; record and return."""
        start = time.monotonic()
        action()
        deadline = start + timeout
        last: dict[str, dict[str, object]] = {}
        while time.monotonic() < deadline:
            last = self.view()
            if predicate(last):
                self.latencies[event] = time.monotonic() - start
                return last
            time.sleep(0.03)
        raise AssertionError(f"{event}: watchtower never showed the expected state within {timeout}s; last view {last}")


class NetnsPrometheus(Prometheus):
    """The project's real Prometheus, run inside the bridge namespace (it scrapes the nodes'
    watchtowers at 198.51.100.11-13) and queried through that namespace's loopback."""

    def __init__(self, netns: str, workdir: Path, targets: list[str], rule_files: list[Path]) -> None:
        super().__init__(workdir, {"watchtower": targets}, rule_files=rule_files)
        self.argv = ["ip", "netns", "exec", netns, *self.argv]
        self.client = NetnsClient(netns)

    def _get_json(self, path: str, **params: str) -> Any:
        return json.loads(self.client.get(f"{self.url}{path}" + (f"?{urlencode(params)}" if params else ""), timeout=5))

    def start_and_wait(self, timeout: float = 20.0) -> None:
        self.start()
        self.wait_until(lambda: self.client.get(f"{self.url}/-/ready", timeout=1), timeout, "prometheus /-/ready")

    def query(self, expr: str, time_: float | None = None) -> list[dict[str, Any]]:
        answer = self._get_json("/api/v1/query", query=expr)
        if answer.get("status") != "success":
            raise AssertionError(f"query {expr!r} failed: {answer}")
        return answer["data"]["result"]

    def alerts(self) -> list[dict[str, Any]]:
        return self._get_json("/api/v1/alerts")["data"]["alerts"]

    def firing(self, name: str) -> list[dict[str, Any]]:
        return [a for a in self.alerts() if a["labels"].get("alertname") == name and a["state"] == "firing"]


def wait_until(predicate: Callable[[], object], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


@pytest.fixture
def lab() -> Iterator[Lab]:
    require_root()
    for binary in ("keepalived", "nft", "ip", "unshare"):
        require_binary(binary)
    lab = Lab(Path("/run"))  # not under /tmp: each keepalived gets a private /tmp
    try:
        lab.build()
        yield lab
    finally:
        lab.close()


def test_vip_holder_failover_stale_vip_and_split_brain(lab: Lab, capsys: pytest.CaptureFixture[str]) -> None:
    n1, n2, n3 = lab.nodes["n1"], lab.nodes["n2"], lab.nodes["n3"]
    for node in (n1, n2, n3):
        lab.start_keepalived(node)
        lab.start_watchtower(node)

    # exactly one holder: the highest priority, n1; keepalived agrees (JSON dump and notify file)
    lab.detect("startup", lambda: None,
               lambda v: lab.holders(v) == {"n1"} and lab.masters(v) == {"n1"}
               and v["n2"].get("master") is False and v["n3"].get("master") is False, timeout=20)

    # SIGTERM the master: the VIP moves to n2 (prio 100)
    view = lab.detect("sigterm_master_holder_moves", lambda: lab.stop_keepalived(n1, signal.SIGTERM),
                      lambda v: lab.holders(v) == {"n2"})
    assert view["n1"]["held"] is False
    lab.reap_keepalived(n1)

    # SIGKILL the new master: its VIP stays (stale) while n3 takes over → two holders
    view = lab.detect("sigkill_master_stale_vip", lambda: lab.stop_keepalived(n2, signal.SIGKILL),
                      # keepalived adds the VIP before its notify script writes MASTER: wait for both
                      lambda v: lab.holders(v) == {"n2", "n3"} and v["n2"].get("running") is False
                      and v["n3"].get("master") is True)
    assert lab.masters(view) == {"n3"}, view  # the dead keepalived's notify file is not believed
    lab.reap_keepalived(n2)

    # repair: remove the stale VIP, restart n1 and n2 → n1 preempts, one holder again
    in_netns(n2.netns, "ip", "addr", "del", f"{VIP}/24", "dev", "eth0")
    lab.start_keepalived(n1)
    lab.start_keepalived(n2)
    lab.detect("restart_one_holder", lambda: None,
               lambda v: lab.holders(v) == {"n1"} and lab.masters(v) == {"n1"}
               and v["n2"].get("running") is True, timeout=15)

    # drop VRRP in the backup n3: it stops hearing n1 and becomes MASTER too → split-brain
    table = f"wtka{os.getpid()}"

    def drop_vrrp() -> None:
        in_netns(n3.netns, "nft", f"add table inet {table}; "
                 f"add chain inet {table} input {{ type filter hook input priority 0; }}; "
                 f"add rule inet {table} input ip protocol vrrp drop")

    view = lab.detect("vrrp_dropped_split_brain", drop_vrrp,
                      lambda v: lab.holders(v) == {"n1", "n3"} and lab.masters(v) == {"n1", "n3"})

    # rules removed: n3 hears n1's higher priority again and steps back → one holder
    lab.detect("vrrp_restored_one_holder", lambda: in_netns(n3.netns, "nft", "delete", "table", "inet", table),
               lambda v: lab.holders(v) == {"n1"} and lab.masters(v) == {"n1"})

    with capsys.disabled():
        print()
        for event, seconds in lab.latencies.items():
            print(f"keepalived detection latency {event}: {seconds:.2f}s")
    measured = {e: s for e, s in lab.latencies.items() if e not in ("startup", "restart_one_holder")}
    over = {e: round(s, 2) for e, s in measured.items() if s > LATENCY_BUDGET}
    assert not over, f"detection slower than interval + 1s ({LATENCY_BUDGET}s): {over}"


@pytest.mark.prometheus
def test_split_brain_alert_fires_in_prometheus_from_the_nodes_watchtowers(lab: Lab, capsys: pytest.CaptureFixture[str]) -> None:
    """The cluster view lives in the alert rules: a real Prometheus scraping the three nodes'
    watchtowers evaluates alerts/controlplane.rules.yaml (``for:`` set to 0s; promtool tests the
    real durations) and fires KubeVIPSplitBrain naming both holders."""
    require_binary("prometheus")
    for node in lab.nodes.values():
        lab.start_keepalived(node)
        lab.start_watchtower(node)
    rules = rules_without_for(lab.base / "rules", [REPO / "alerts" / "controlplane.rules.yaml"])
    lab.prometheus = NetnsPrometheus(lab.bridge_ns, lab.base / "prometheus",
                                     [f"198.51.100.{10 + i}:{WATCHTOWER_PORT}" for i in (1, 2, 3)], rules)
    prometheus = lab.prometheus
    prometheus.start_and_wait()
    prometheus.wait_for_up("watchtower", timeout=30)
    prometheus.wait_until(lambda: prometheus.query(f'sum by (vip) (watchtower_vip_held{{vip="{VIP}"}}) == 1'), 20,
                          "exactly one holder in Prometheus")
    assert prometheus.firing("KubeVIPSplitBrain") == []

    # SIGKILL the master: its VIP stays while n2 takes over → two holders → the alert fires
    start = time.monotonic()
    lab.stop_keepalived(lab.nodes["n1"], signal.SIGKILL)
    prometheus.wait_until(lambda: prometheus.firing("KubeVIPSplitBrain"), 15, "KubeVIPSplitBrain firing")
    fired_after = time.monotonic() - start
    (alert,) = prometheus.firing("KubeVIPSplitBrain")
    assert alert["labels"]["vip"] == VIP and alert["labels"]["severity"] == "critical"
    assert "bound on 2 nodes: n1 n2." in alert["annotations"]["description"], alert["annotations"]["description"]
    lab.reap_keepalived(lab.nodes["n1"])

    # the stale address removed by hand: one holder, the alert resolves
    in_netns(lab.nodes["n1"].netns, "ip", "addr", "del", f"{VIP}/24", "dev", "eth0")
    prometheus.wait_until(lambda: not prometheus.firing("KubeVIPSplitBrain"), 15, "KubeVIPSplitBrain resolved")

    # KubeVIPFlapping's count of moves works on the real series, whose interface label changes
    # with the value (n2 0→1 and n1 1→0 here); a plain changes() over them would see nothing
    # (polled: the subquery's steps are aligned to absolute time, so n1's 1→0 can reach it up to
    # one evaluation interval after the alert's own evaluation saw it)
    moves_query = f'sum by (vip) (changes((max without (interface) (watchtower_vip_held{{vip="{VIP}"}}))[10m:]))'
    prometheus.wait_until(lambda: (moves := prometheus.query(moves_query)) and float(moves[0]["value"][1]) >= 2,
                          10, f"two VIP moves counted by {moves_query}")
    naive = prometheus.query(f'sum by (vip) (changes(watchtower_vip_held{{vip="{VIP}"}}[10m]))')
    assert float(naive[0]["value"][1]) == 0, naive
    with capsys.disabled():
        print(f"\nkeepalived SIGKILL → KubeVIPSplitBrain firing in Prometheus: {fired_after:.2f}s")
