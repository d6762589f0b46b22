"""Pure judgement: bindings and VRRP instances → metric families, findings and the typed details."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

from prometheus_client.core import Metric

from watchtower.collectors.vip import families as fam
from watchtower.collectors.vip.parse import SECTION, VRRP_STATES, VrrpInstance
from watchtower.collectors.vip.read import ProcessState
from watchtower.core.details import Details
from watchtower.core.formatting import format_table
from watchtower.core.results import Finding, Severity


def vip_metrics(
    node: str, bindings: Mapping[str, str | None] | None, instances: Sequence[VrrpInstance],
    process: ProcessState | None,
) -> list[Metric]:
    """Metric families for one node's view. ``bindings`` None means addresses could not be read."""
    held = fam.VIP_HELD.gauge()
    for vip, interface in sorted((bindings or {}).items()):
        held.add_metric([vip, node, interface or ""], 1.0 if interface else 0.0)
    state = fam.KEEPALIVED_STATE.gauge()
    priority = fam.KEEPALIVED_PRIORITY.gauge()
    become_master = fam.KEEPALIVED_BECOME_MASTER.counter()
    transition = fam.KEEPALIVED_LAST_TRANSITION_TIMESTAMP_SECONDS.gauge()
    for inst in instances:
        for name in VRRP_STATES:
            state.add_metric([inst.name, node, name], 1.0 if inst.state == name else 0.0)
        if inst.priority is not None:
            priority.add_metric([inst.name, node], float(inst.priority))
        if inst.become_master is not None:
            become_master.add_metric([inst.name, node], float(inst.become_master))
        if inst.last_transition is not None:
            transition.add_metric([inst.name, node], inst.last_transition)
    out: list[Metric] = [held, state, priority, become_master, transition]
    if process is not None:
        running = fam.KEEPALIVED_RUNNING.gauge()
        running.add_metric([node], 1.0 if process.running else 0.0)
        out.append(running)
    return out


def vip_findings(
    node: str, bindings: Mapping[str, str | None] | None, instances: Sequence[VrrpInstance],
    process: ProcessState | None,
) -> list[Finding]:
    """What one node can judge alone: a VIP held while keepalived is dead, FAULT, MASTER without VIP."""
    out: list[Finding] = []
    dead = process is not None and not process.running
    held_vips = [v for v, i in (bindings or {}).items() if i]
    for vip, interface in sorted((bindings or {}).items()):
        if interface and dead:
            out.append(Finding(SECTION, vip, Severity.CRITICAL,
                               f"bound on {node}/{interface} but keepalived is not running: a stale VIP"))
        elif interface:
            out.append(Finding(SECTION, vip, Severity.OK, f"held by {node} on {interface}"))
        else:
            out.append(Finding(SECTION, vip, Severity.OK, f"not held by {node}"))
    if dead:
        assert process is not None
        out.append(Finding(SECTION, "keepalived", Severity.WARNING,
                           f"not running on {node} (pid file {process.pid_file}, pid {process.pid or '-'})"))
    for inst in instances:
        subject = f"keepalived {inst.name}"
        if inst.state == "fault":
            out.append(Finding(SECTION, subject, Severity.WARNING, f"FAULT on {node}"))
        elif inst.state == "master" and bindings is not None and not held_vips:
            out.append(Finding(SECTION, subject, Severity.WARNING, f"MASTER on {node} but no configured VIP is bound here"))
        else:
            out.append(Finding(SECTION, subject, Severity.OK, f"{inst.state.upper()} on {node}"))
    return out


@dataclasses.dataclass(frozen=True, slots=True)
class VipHolding:
    """Whether one configured VIP is bound here, and on which interface."""

    vip: str
    held: bool
    interface: str | None


@dataclasses.dataclass(frozen=True, slots=True)
class VipDetails(Details):
    """One node's view for ``check`` and the status page: its VIPs and keepalived's instances."""

    node: str
    vips: tuple[VipHolding, ...]
    keepalived: tuple[VrrpInstance, ...]
    keepalived_running: bool | None  # None: no pid file configured

    @classmethod
    def build(cls, node: str, bindings: Mapping[str, str | None] | None, instances: Sequence[VrrpInstance],
              process: ProcessState | None) -> VipDetails:
        return cls(node, tuple(VipHolding(v, i is not None, i) for v, i in (bindings or {}).items()),
                   tuple(instances), None if process is None else process.running)

    def check_table(self, color: bool = False) -> list[str] | None:
        rows = [(v.vip, "held" if v.held else "not held", v.interface or "-") for v in self.vips]
        rows += [(f"keepalived {k.name}", k.state.upper(), f"priority {k.priority}") for k in self.keepalived]
        if not rows:
            return None
        return [f"VIP on node {self.node}:"] + format_table(("VIP", "STATE", "WHERE"), rows)
