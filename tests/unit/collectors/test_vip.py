"""The vip collector's pure parts, and the collector driven through real files and processes.

keepalived-2.2.7.json and ip-addr.json were captured from keepalived 2.2.7 and iproute2 in a
network namespace on this machine (see tests/integration/test_keepalived.py for the live run).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from watchtower.app.config import from_mapping
from watchtower.collectors.base import CollectorContext
from watchtower.collectors.vip import VipCollector
from watchtower.collectors.vip.parse import (
    FormatError,
    VrrpInstance,
    merge_instances,
    parse_ip_addr_json,
    parse_keepalived_json,
    parse_notify_state,
    vip_bindings,
)
from watchtower.collectors.vip.read import read_process_state
from watchtower.collectors.vip.settings import VipSettings
from watchtower.core.results import Severity
from watchtower.core.settings import ConfigError, Seconds
from watchtower.io.kube import KubeClientFactory

DATA = Path(__file__).parent / "data"
KEEPALIVED_JSON = (DATA / "keepalived-2.2.7.json").read_text()
IP_ADDR_JSON = (DATA / "ip-addr.json").read_text()


# -- ip -j addr --------------------------------------------------------------------------------


def test_parse_ip_addr_lists_every_address_with_its_interface() -> None:
    addresses = parse_ip_addr_json(IP_ADDR_JSON)
    by_address = {a.address: a.interface for a in addresses}
    assert by_address["198.51.100.100"] == "v0"
    assert by_address["127.0.0.1"] == "lo"
    assert by_address["2001:db8::10"] == "v0"
    assert "eth9" not in {a.interface for a in addresses}  # the {} placeholder is skipped


@pytest.mark.parametrize("text, message", [
    ("", "not JSON"),
    ('{"ifname": "lo"}', "expected a JSON list"),
    ('[{"addr_info": []}]', "interface 0: no ifname"),
])
def test_parse_ip_addr_rejects_garbage_with_a_reason(text: str, message: str) -> None:
    with pytest.raises(FormatError, match=message):
        parse_ip_addr_json(text)


def test_vip_bindings_compare_addresses_not_spellings() -> None:
    addresses = parse_ip_addr_json(IP_ADDR_JSON)
    found = vip_bindings(addresses, ["198.51.100.100", "198.51.100.101", "2001:db8:0::10"])
    assert found == {"198.51.100.100": "v0", "198.51.100.101": None, "2001:db8:0::10": "v0"}


# -- keepalived JSON dump ----------------------------------------------------------------------


def test_parse_keepalived_json_from_2_2_7() -> None:
    (inst,) = parse_keepalived_json(KEEPALIVED_JSON, "/tmp/keepalived.json")
    assert inst == VrrpInstance(
        name="VI_1", state="master", source="/tmp/keepalived.json", priority=150,
        last_transition=1795691485.33347, become_master=1, vips=("198.51.100.100/24",),
    )


def _mutated(change) -> str:  # type: ignore[no-untyped-def]
    doc = json.loads(KEEPALIVED_JSON)
    change(doc)
    return json.dumps(doc)


@pytest.mark.parametrize("text, message", [
    ("{not json", "not JSON"),
    ('{"vrrp": []}', "expected a JSON list of VRRP instances, got dict"),
    ('["VI_1"]', r"\[0\] is a str"),
    (_mutated(lambda d: d[0].pop("stats")), r"\[0\]\.stats is missing"),
    (_mutated(lambda d: d[0]["data"].update(state="MASTER")), r"\[0\]\.data\.state is a str"),
    (_mutated(lambda d: d[0]["data"].update(state=7)), r"\[0\]\.data\.state is 7"),
    (_mutated(lambda d: d[0]["data"].pop("effective_priority")), "effective_priority is missing"),
    (_mutated(lambda d: d[0]["data"].update(last_transition=True)), "last_transition is a bool"),
    (_mutated(lambda d: d[0]["data"].update(vips="198.51.100.100")), "vips is a str"),
])
def test_parse_keepalived_json_from_another_version_names_the_field(text: str, message: str) -> None:
    with pytest.raises(FormatError, match=message):
        parse_keepalived_json(text, "x")


# -- notify-script state files -----------------------------------------------------------------


def test_parse_notify_state_with_keepalived_arguments() -> None:
    inst = parse_notify_state("INSTANCE VI_1 MASTER 150\n", "/run/ka/state", mtime=12.5)
    assert (inst.name, inst.state, inst.priority, inst.last_transition) == ("VI_1", "master", 150, 12.5)
    assert parse_notify_state("INSTANCE VI_2 DELETED\n", "f").state == "stop"


def test_parse_notify_state_with_a_bare_state_word_is_named_after_the_file() -> None:
    inst = parse_notify_state("backup\n", "/run/keepalived/VI_api.state")
    assert (inst.name, inst.state, inst.priority) == ("VI_api", "backup", None)


@pytest.mark.parametrize("text, message", [
    ("", "expected 'INSTANCE NAME STATE"),
    ("INSTANCE VI_1 SLEEPING 100", "unknown state 'SLEEPING'"),
    ("INSTANCE VI_1 MASTER high", "priority 'high' is not a number"),
])
def test_parse_notify_state_rejects_garbage(text: str, message: str) -> None:
    with pytest.raises(FormatError, match=message):
        parse_notify_state(text, "f")


def test_merge_prefers_the_first_source() -> None:
    dump = VrrpInstance("VI_1", "master", "dump", priority=150)
    notify = [VrrpInstance("VI_1", "backup", "notify"), VrrpInstance("VI_0", "fault", "notify")]
    assert [(i.name, i.source) for i in merge_instances([dump], notify)] == [("VI_0", "notify"), ("VI_1", "dump")]


# -- settings ----------------------------------------------------------------------------------


def test_settings_validate_vips_and_signal_needs_a_pid_file() -> None:
    with pytest.raises(ConfigError, match=r"collectors\.vip\.vips\[0\]"):
        from_mapping({"collectors": {"vip": {"vips": ["not-an-ip"]}}})
    with pytest.raises(ConfigError, match="keepalived_pid_file"):
        from_mapping({"collectors": {"vip": {"keepalived_json_signal": True, "keepalived_pid_file": None}}})
    config = from_mapping({"scheduling": {"min_interval": "500ms"},
                           "collectors": {"vip": {"interval": "500ms", "keepalived_notify_files": ["/a"]}}})
    settings = config.collectors["vip"]
    assert isinstance(settings, VipSettings)
    assert settings.interval == 0.5 and settings.keepalived_notify_files == ("/a",)


# -- the collector through real files and processes --------------------------------------------


def _collector(tmp_path: Path, now: float | None = None, vips: tuple[str, ...] = ("198.51.100.100",), **settings: object) -> VipCollector:
    ip_out = tmp_path / "ip.json"
    if not ip_out.exists():
        ip_out.write_text(IP_ADDR_JSON)
    config = from_mapping({"control_plane": {"vips": list(vips)}})
    defaults: dict[str, object] = {
        "address_source": "ip_command",
        "ip_command": ("cat", str(ip_out)),
        "keepalived_json_file": str(tmp_path / "keepalived.json"),
        "timeout": Seconds(2),
    }
    defaults.update(settings)
    context = CollectorContext(config=config, kube=KubeClientFactory(config.kubernetes),
                               clock=(lambda: now) if now is not None else time.time, node_name="cp1")
    return VipCollector(VipSettings(**defaults), context)  # type: ignore[arg-type]


def _samples(result, name: str) -> dict[tuple[tuple[str, str], ...], float]:  # type: ignore[no-untyped-def]
    return {
        tuple(sorted(s.labels.items())): s.value
        for family in result.metrics for s in family.samples if s.name == name
    }


def test_collector_reports_held_and_not_held_vips(tmp_path: Path) -> None:
    result = _collector(tmp_path, vips=("198.51.100.100", "198.51.100.200")).collect()
    assert result.errors == ()
    held = _samples(result, "watchtower_vip_held")
    assert held == {
        (("interface", "v0"), ("node", "cp1"), ("vip", "198.51.100.100")): 1.0,
        (("interface", ""), ("node", "cp1"), ("vip", "198.51.100.200")): 0.0,
    }
    assert result.details.to_json()["vips"][0] == {"vip": "198.51.100.100", "held": True, "interface": "v0"}


def test_collector_exports_keepalived_json_state(tmp_path: Path) -> None:
    (tmp_path / "keepalived.json").write_text(KEEPALIVED_JSON)
    result = _collector(tmp_path).collect()
    assert result.errors == ()
    states = _samples(result, "watchtower_keepalived_state")
    assert states[(("node", "cp1"), ("state", "master"), ("vrrp_instance", "VI_1"))] == 1.0
    assert sum(states.values()) == 1.0 and len(states) == 5
    assert _samples(result, "watchtower_keepalived_priority") == {(("node", "cp1"), ("vrrp_instance", "VI_1")): 150.0}
    assert _samples(result, "watchtower_keepalived_become_master_total") == {
        (("node", "cp1"), ("vrrp_instance", "VI_1")): 1.0}
    assert list(_samples(result, "watchtower_keepalived_last_transition_timestamp_seconds").values()) == [1795691485.33347]
    assert _samples(result, "watchtower_keepalived_running") == {}  # no pid file: nothing claimed


def test_collector_reports_a_json_dump_from_another_version_and_keeps_the_rest(tmp_path: Path) -> None:
    (tmp_path / "keepalived.json").write_text('{"instances": [{"name": "VI_1", "state": "MASTER"}]}')
    result = _collector(tmp_path).collect()
    (error,) = result.errors
    assert (error.location, error.reason) == (str(tmp_path / "keepalived.json"), "unsupported_format")
    assert "expected a JSON list" in error.detail
    assert _samples(result, "watchtower_vip_held")  # the VIP view is unaffected
    assert _samples(result, "watchtower_keepalived_state") == {}


def test_collector_ignores_a_stale_dump(tmp_path: Path) -> None:
    dump = tmp_path / "keepalived.json"
    dump.write_text(KEEPALIVED_JSON)
    os.utime(dump, (1000.0, 1000.0))
    result = _collector(tmp_path, now=1000.0 + 3600).collect()
    assert [(e.reason, "3600s ago" in e.detail) for e in result.errors] == [("stale_dump", True)]
    assert _samples(result, "watchtower_keepalived_state") == {}


def test_collector_reports_ip_command_failures(tmp_path: Path) -> None:
    result = _collector(tmp_path, ip_command=("cat", str(tmp_path / "missing"))).collect()
    assert [e.reason for e in result.errors] == ["ip_command_failed"]
    assert _samples(result, "watchtower_vip_held") == {}
    result = _collector(tmp_path, ip_command=("/nonexistent/ip", "-j", "addr")).collect()
    assert [e.reason for e in result.errors] == ["ip_command_missing"]
    (tmp_path / "garbage").write_text("Object \"addr\" is unknown")
    result = _collector(tmp_path, ip_command=("cat", str(tmp_path / "garbage"))).collect()
    assert [e.reason for e in result.errors] == ["parse_error"]


def test_collector_times_out_a_hanging_ip_command(tmp_path: Path) -> None:
    start = time.monotonic()
    result = _collector(tmp_path, ip_command=("sleep", "10"), timeout=Seconds(1)).collect()
    assert time.monotonic() - start < 2
    assert [e.reason for e in result.errors] == ["timeout"]


@pytest.fixture
def fake_keepalived(tmp_path: Path):  # type: ignore[no-untyped-def]
    """A real process whose name is ``keepalived`` (a copy of sleep), killed afterwards by PID."""
    binary = tmp_path / "keepalived"
    shutil.copy(shutil.which("sleep") or "/bin/sleep", binary)
    proc = subprocess.Popen([str(binary), "30"])
    (tmp_path / "keepalived.pid").write_text(f"{proc.pid}\n")
    try:
        yield proc
    finally:
        proc.kill()
        proc.wait(timeout=5)


def test_read_process_state_checks_the_process_name(tmp_path: Path, fake_keepalived: subprocess.Popen) -> None:
    pid_file = str(tmp_path / "keepalived.pid")
    assert read_process_state(pid_file).running
    (tmp_path / "other.pid").write_text(str(os.getpid()))
    other = read_process_state(str(tmp_path / "other.pid"))
    assert other.pid == os.getpid() and not other.running  # pid reuse by python: not keepalived
    assert not read_process_state(str(tmp_path / "absent.pid")).running
    fake_keepalived.kill()  # not reaped yet: a zombie still has /proc/PID/comm "keepalived"
    wait_for_zombie = time.monotonic() + 5
    while Path(f"/proc/{fake_keepalived.pid}/stat").read_text().split(") ")[1][0] != "Z":
        assert time.monotonic() < wait_for_zombie
        time.sleep(0.01)
    assert not read_process_state(pid_file).running


def test_notify_state_is_reported_while_keepalived_runs_and_ignored_once_it_died(
    tmp_path: Path, fake_keepalived: subprocess.Popen,
) -> None:
    (tmp_path / "VI_1.state").write_text("INSTANCE VI_1 MASTER 150\n")
    collector = _collector(tmp_path, keepalived_notify_files=(str(tmp_path / "VI_1.state"),),
                           keepalived_pid_file=str(tmp_path / "keepalived.pid"))
    result = collector.collect()
    assert result.errors == ()
    assert _samples(result, "watchtower_keepalived_running") == {(("node", "cp1"),): 1.0}
    assert _samples(result, "watchtower_keepalived_state")[
        (("node", "cp1"), ("state", "master"), ("vrrp_instance", "VI_1"))] == 1.0
    assert all(f.severity == Severity.OK for f in result.findings)

    fake_keepalived.kill()
    fake_keepalived.wait(timeout=5)
    result = collector.collect()
    assert _samples(result, "watchtower_keepalived_running") == {(("node", "cp1"),): 0.0}
    assert _samples(result, "watchtower_keepalived_state") == {}  # the file's MASTER is history
    assert result.errors == ()
    assert [f.subject for f in result.findings if f.severity == Severity.WARNING] == ["keepalived"]
    stale = [f for f in result.findings if f.severity == Severity.CRITICAL]
    assert [f.subject for f in stale] == ["198.51.100.100"] and "stale VIP" in stale[0].message


def test_signalling_refuses_a_process_that_is_not_keepalived(tmp_path: Path) -> None:
    """Never signal a pid that was reused by something else: here, the test process itself."""
    (tmp_path / "keepalived.pid").write_text(str(os.getpid()))
    result = _collector(tmp_path, keepalived_json_signal=True,
                        keepalived_pid_file=str(tmp_path / "keepalived.pid")).collect()
    # we are still alive to assert this: SIGRTMIN+2 would have killed pytest
    assert result.errors == ()
    assert _samples(result, "watchtower_keepalived_running") == {(("node", "cp1"),): 0.0}


def test_signalled_dump_that_never_arrives_is_a_bounded_timeout(tmp_path: Path, fake_keepalived: subprocess.Popen) -> None:
    # the fake (sleep) ignores SIGWINCH and never writes a dump
    start = time.monotonic()
    result = _collector(tmp_path, keepalived_json_signal=True, keepalived_json_signum=int(signal.SIGWINCH),
                        keepalived_pid_file=str(tmp_path / "keepalived.pid")).collect()
    assert time.monotonic() - start < 1.5
    assert [e.reason for e in result.errors] == ["dump_timeout"]
    assert fake_keepalived.poll() is None


def test_a_keepalived_exiting_instead_of_dumping_ends_the_wait(tmp_path: Path, fake_keepalived: subprocess.Popen) -> None:
    # the fake (sleep) dies of SIGUSR1: nothing current to report, no error, no full wait
    start = time.monotonic()
    result = _collector(tmp_path, keepalived_json_signal=True, keepalived_json_signum=int(signal.SIGUSR1),
                        keepalived_pid_file=str(tmp_path / "keepalived.pid")).collect()
    assert time.monotonic() - start < 0.5
    assert result.errors == ()
    assert _samples(result, "watchtower_keepalived_state") == {}


def test_check_table_lists_vips_and_instances(tmp_path: Path) -> None:
    (tmp_path / "keepalived.json").write_text(KEEPALIVED_JSON)
    lines = VipCollector.check_table(_collector(tmp_path).collect().details) or []
    text = "\n".join(lines)
    rows = [line.split() for line in lines[2:]]
    assert rows == [["198.51.100.100", "held", "v0"], ["keepalived", "VI_1", "MASTER", "priority", "150"]], text


def test_unavailable_without_vips() -> None:
    config = from_mapping({})
    context = CollectorContext(config=config, kube=KubeClientFactory(config.kubernetes), node_name="x")
    assert VipCollector.unavailable_reason(VipSettings(), context) == "no VIPs configured (control_plane.vips)"
