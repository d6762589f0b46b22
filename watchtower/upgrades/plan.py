"""The upgrade plan: the kubeadm hops to the latest release and the deadlines they must beat.

Pure: takes the facts the collectors gathered (versions, release data, due date, certificate
deadline, node lifecycle dates) and a ``now``; no I/O. ``watchtower plan upgrade``, ``watchtower
check`` and the status page render the same ``Plan``.

kubeadm upgrades one minor at a time (``kubeadm upgrade apply`` refuses to skip a minor), so a
cluster on 1.12 with 1.18 out needs six hops, each best taken to the newest patch of its minor.
A hop takes a team some days (read the changelog, back up etcd, upgrade the control-plane nodes,
drain and upgrade each kubelet); ``days_per_hop`` turns the hop count into a finish date that the
deadlines are compared with. Each hop carries a list of ``Blocker`` objects so that checks of
what a minor removes (removed APIs, dockershim) attach to the hop that would break.
"""

from __future__ import annotations

import dataclasses
import datetime
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from watchtower.core.formatting import rfc3339
from watchtower.upgrades.kubeversion import KubeVersion, minor_distance
from watchtower.upgrades.releases import Cycle as MinorRelease

DAY = 86400.0

EXIT_ON_SCHEDULE, EXIT_DUE_SOON, EXIT_CRITICAL = 0, 1, 2

DEADLINE_POLICY = "policy_due"
DEADLINE_CERT = "cert_expiry"
DEADLINE_MINOR_EOL = "minor_eol"
DEADLINE_OS_EOL = "os_eol"

DOCKERSHIM_REMOVED_MINOR = 24
"""The kubelet lost dockershim in 1.24: nodes whose runtime is docker:// cannot take that hop."""


@dataclasses.dataclass(frozen=True)
class Blocker:
    """Something that must be fixed before a hop can be taken (e.g. a removed API still in use).

    Checks that know what a minor breaks turn their findings into these and attach them with
    ``Plan.with_blockers({"1.16": [Blocker("removed_api", "...", "...")]})``."""

    kind: str  # a token: removed_api, runtime, ...
    summary: str  # one line for people
    detail: str = ""


@dataclasses.dataclass(frozen=True)
class Hop:
    """One ``kubeadm upgrade``: to the newest patch of the next minor."""

    number: int  # 1-based
    from_version: str  # "v1.12.7", or the previous hop's target
    minor: str  # "1.13"
    target: KubeVersion | None  # newest patch of the minor; None when the release data lacks it
    eol: float | None  # end of life of ``minor``
    finish_by: float  # when this hop is done at ``days_per_hop`` per hop, starting now
    notes: tuple[str, ...]
    blockers: tuple[Blocker, ...] = ()

    @property
    def target_text(self) -> str:
        return str(self.target) if self.target else f"v{self.minor}.x (newest patch unknown)"


@dataclasses.dataclass(frozen=True)
class Deadline:
    """A date the plan must beat."""

    kind: str  # DEADLINE_* token
    at: float
    what: str
    days_left: int  # whole days from now, negative when passed
    before_finish: bool  # falls before the last hop could finish


@dataclasses.dataclass(frozen=True)
class NodeLifecycle:
    """One node's OS release and its support ends, as the nodes collector found them."""

    node: str
    distribution: str
    release: str
    eol: float | None
    extended: float | None = None
    control_plane: bool = False


@dataclasses.dataclass(frozen=True)
class Plan:
    """The hops, the sorted deadlines, and the verdict (``exit_code``: 0, 1 or 2)."""

    now: float
    current: KubeVersion | None
    latest: KubeVersion | None
    hops: tuple[Hop, ...]
    deadlines: tuple[Deadline, ...]
    days_per_hop: float
    finish: float | None  # when the last hop is done; None when no plan could be made
    status: str  # on_schedule, due_soon, overdue, cert_before_finish, unknown
    exit_code: int
    reasons: tuple[str, ...]  # why the status is what it is, most severe first

    def with_blockers(self, by_minor: Mapping[str, Iterable[Blocker]]) -> Plan:
        """A copy with ``by_minor[hop.minor]`` added to each hop's blockers."""
        hops = tuple(dataclasses.replace(h, blockers=h.blockers + tuple(by_minor.get(h.minor, ()))) for h in self.hops)
        plan = dataclasses.replace(self, hops=hops)
        added = [h for h, old in zip(hops, self.hops) if len(h.blockers) > len(old.blockers)]
        if not added:
            return plan
        reason = "hops have blockers: " + ", ".join(f"{h.minor} ({len(h.blockers)})" for h in hops if h.blockers)
        reasons = tuple(r for r in self.reasons if not r.startswith("hops have blockers: "))
        if self.exit_code < EXIT_DUE_SOON:
            return dataclasses.replace(plan, status="due_soon", exit_code=EXIT_DUE_SOON, reasons=(reason,))
        return dataclasses.replace(plan, reasons=reasons + (reason,))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (``--output json``, ``/api/status``): RFC 3339 times, versions as text."""
        return {
            "now": rfc3339(self.now, whole_seconds=True),
            "current": str(self.current) if self.current else None,
            "latest": str(self.latest) if self.latest else None,
            "status": self.status,
            "exit_code": self.exit_code,
            "reasons": list(self.reasons),
            "days_per_hop": self.days_per_hop,
            "finish": rfc3339(self.finish, whole_seconds=True),
            "hops": [{
                "number": h.number, "from": h.from_version, "minor": h.minor,
                "target": str(h.target) if h.target else None, "eol": rfc3339(h.eol, whole_seconds=True), "finish_by": rfc3339(h.finish_by, whole_seconds=True),
                "notes": list(h.notes),
                "blockers": [dataclasses.asdict(b) for b in h.blockers],
            } for h in self.hops],
            "deadlines": [{
                "kind": d.kind, "at": rfc3339(d.at, whole_seconds=True), "what": d.what, "days_left": d.days_left,
                "before_finish": d.before_finish,
            } for d in self.deadlines],
        }




def date_text(timestamp: float | None) -> str:
    if timestamp is None:
        return "unknown"
    return datetime.datetime.fromtimestamp(timestamp, datetime.UTC).strftime("%Y-%m-%d")


def days_left(at: float, now: float) -> int:
    """Whole days until ``at`` (floored: 20.9 days left is 20), negative once passed."""
    return math.floor((at - now) / DAY)


def kubelet_max_skew(minor: int) -> int:
    """How many minors a kubelet may trail the apiserver: 2 before 1.28, 3 from 1.28 on."""
    return 3 if minor >= 28 else 2


def hop_notes(major: int, minor: int, target: KubeVersion | None, first: bool) -> tuple[str, ...]:
    """What matters on a kubeadm cluster for the hop to ``major.minor``."""
    version = str(target) if target else f"v{major}.{minor}.x"
    skew = kubelet_max_skew(minor)
    notes = [
        (f"install kubeadm {version}; `kubeadm upgrade plan`, then `kubeadm upgrade apply {version}` on one "
        "control-plane node and `kubeadm upgrade node` on the others"),
        (f"kubelets may trail by up to {skew} minors during the hop (oldest allowed: {major}.{minor - skew}), never "
        "newer than the apiserver: control plane first, then drain, upgrade and uncordon each node"),
        ("`kubeadm upgrade apply` renews the kubeadm control-plane certificates (unless "
        "--certificate-renewal=false): one more year from the day of the hop"),
    ]
    if first:
        notes.append("back up etcd and /etc/kubernetes before starting")
    return tuple(notes)


def node_deadlines(nodes: Iterable[NodeLifecycle]) -> list[tuple[float, str]]:
    """OS end-of-life dates grouped by release: [(eol, "ubuntu 18.04 standard support ends (cp-1, cp-2)")]."""
    groups: dict[tuple[str, str, float], list[str]] = {}
    for n in nodes:
        if n.eol is not None:
            groups.setdefault((n.distribution, n.release, n.eol), []).append(n.node)
    out = []
    for (distribution, release, eol), names in groups.items():
        shown = ", ".join(sorted(names)[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
        out.append((eol, f"{distribution} {release} standard support ends ({shown})"))
    return out


def plan_upgrade(
    *,
    now: float,
    current: KubeVersion | None,
    latest: KubeVersion | None,
    releases: Mapping[str, MinorRelease],
    days_per_hop: float,
    reminder_lead: float,
    next_due: float | None = None,
    cert_deadline: tuple[float, str] | None = None,  # (not_after, certificate)
    current_minor_eol: float | None = None,
    os_deadlines: Sequence[tuple[float, str]] = (),  # (eol, "ubuntu 18.04 standard support ends (cp-1)"): node_deadlines()
    docker_nodes: Sequence[str] = (),
) -> Plan:
    """The hops from ``current`` to ``latest``, the deadlines, and the verdict."""
    if current is None or latest is None:
        missing = "the running version" if current is None else "the latest release"
        return Plan(now, current, latest, (), (), days_per_hop, None, "unknown", EXIT_CRITICAL,
                    (f"cannot plan: {missing} is unknown",))
    hops: list[Hop] = []
    step = days_per_hop * DAY
    previous = str(current)
    distance = minor_distance(latest, current)
    if distance > 0:
        for i in range(1, distance + 1):
            minor = current.minor + i
            minor_text = f"{current.major}.{minor}"
            release = releases.get(minor_text)
            target = release.latest if release else None
            if minor_text == latest.minor_text and (target is None or target < latest):
                target = latest
            blockers: tuple[Blocker, ...] = ()
            if minor == DOCKERSHIM_REMOVED_MINOR and docker_nodes:
                blockers = (Blocker("runtime", f"{len(docker_nodes)} node(s) run docker, which the kubelet no longer "
                                    f"supports from 1.24 (dockershim removed): move them to containerd or CRI-O first",
                                    ", ".join(sorted(docker_nodes))),)
            hop = Hop(i, previous, minor_text, target, release.eol if release else None, now + i * step,
                      hop_notes(current.major, minor, target, first=i == 1), blockers)
            hops.append(hop)
            previous = hop.target_text
    elif current < latest:  # same minor, newer patch: one hop
        release = releases.get(current.minor_text)
        hops.append(Hop(1, previous, current.minor_text, latest, release.eol if release else current_minor_eol,
                        now + step, hop_notes(current.major, current.minor, latest, first=True)))
    finish = now + len(hops) * step

    raw: list[tuple[str, float, str]] = []
    if next_due is not None:
        raw.append((DEADLINE_POLICY, next_due, "next upgrade due under the upgrade policy"))
    if cert_deadline is not None:
        raw.append((DEADLINE_CERT, cert_deadline[0], f"kubeadm certificate {cert_deadline[1]} expires"))
    if current_minor_eol is not None:
        raw.append((DEADLINE_MINOR_EOL, current_minor_eol, f"Kubernetes {current.minor_text} end of life"))
    for eol, what in os_deadlines:
        raw.append((DEADLINE_OS_EOL, eol, what))
    deadlines = tuple(sorted(
        (Deadline(kind, at, what, days_left(at, now), hops != [] and at < finish) for kind, at, what in raw),
        key=lambda d: (d.at, d.kind, d.what)))

    reasons: list[tuple[int, str, str]] = []  # (exit code, status, text)
    if cert_deadline is not None:
        at, name = cert_deadline
        if at <= now:
            reasons.append((EXIT_CRITICAL, "cert_before_finish", (f"kubeadm certificate {name} expired on {date_text(at)}: "
                            "run `kubeadm certs renew all` now, then upgrade")))
        elif hops and at < finish:
            reasons.append((EXIT_CRITICAL, "cert_before_finish",
                            (f"kubeadm certificate {name} expires {date_text(at)} ({days_left(at, now)} days), before the "
                            f"last of {len(hops)} hops can finish ({date_text(finish)} at {days_per_hop:g} days per hop): "
                            "take the first hop now (it renews the certificates) or run `kubeadm certs renew all`")))
    if next_due is not None and hops:
        if now >= next_due:
            reasons.append((EXIT_CRITICAL, "overdue", f"upgrade overdue since {date_text(next_due)}"))
        elif now >= next_due - reminder_lead:
            reasons.append((EXIT_DUE_SOON, "due_soon", f"upgrade due {date_text(next_due)} ({days_left(next_due, now)} days)"))
    elif next_due is None and hops:
        reasons.append((EXIT_DUE_SOON, "due_soon", "when the next upgrade is due is unknown (last upgrade unknown)"))
    if current_minor_eol is not None and current_minor_eol <= now:
        reasons.append((EXIT_DUE_SOON, "due_soon", (f"Kubernetes {current.minor_text} reached end of life on "
                        f"{date_text(current_minor_eol)}")))
    for d in deadlines:
        if d.kind == DEADLINE_OS_EOL and d.at <= now:
            reasons.append((EXIT_DUE_SOON, "due_soon", f"{d.what}: passed on {date_text(d.at)}"))
    if any(h.blockers for h in hops):
        reasons.append((EXIT_DUE_SOON, "due_soon", "hops have blockers: " + ", ".join(
            f"{h.minor} ({len(h.blockers)})" for h in hops if h.blockers)))
    reasons.sort(key=lambda r: -r[0])
    if reasons:
        code, status = reasons[0][0], reasons[0][1]
    else:
        code, status = EXIT_ON_SCHEDULE, "on_schedule"
    texts = tuple(r[2] for r in reasons) or ((f"{len(hops)} hop(s) to {latest}, on schedule",) if hops else
                                             (f"{current} is the latest release",))
    return Plan(now, current, latest, tuple(hops), deadlines, days_per_hop, finish, status, code, texts)


__all__ = [
    "Blocker", "Deadline", "Hop", "MinorRelease", "NodeLifecycle", "Plan", "hop_notes", "kubelet_max_skew",
    "node_deadlines", "plan_upgrade",
]
