"""The upgrade plan from the collectors' results, and its text rendering.

``watchtower plan upgrade``, ``watchtower check`` and the status page all call
``plan_from_details`` with the latest ``upgrade`` (and, where it ran, ``nodes``) details, so the
three show the same plan; ``watchtower.upgrades.plan`` does the planning itself, purely.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any

from watchtower.collectors.removed_apis.export import plan_blockers
from watchtower.core.formatting import format_table
from watchtower.upgrades.kubeversion import try_parse_version
from watchtower.upgrades.plan import Plan, date_text, plan_upgrade
from watchtower.upgrades.releases import Cycle

DAY = 86400.0


def _ts(text: object) -> float | None:
    if not isinstance(text, str) or not text:
        return None
    return datetime.datetime.strptime(text[:20], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.UTC).timestamp()


def os_deadlines(nodes: Mapping[str, Any] | None) -> list[tuple[float, str]]:
    """(eol, what) per OS release from the nodes collector's ``lifecycle.os`` rows."""
    out = []
    for row in ((nodes or {}).get("lifecycle") or {}).get("os") or ():
        eol = _ts(row.get("eol"))
        if eol is None:
            continue
        names = ", ".join(row.get("nodes") or ())
        more = int(row.get("count") or 0) - len(row.get("nodes") or ())
        names += f" and {more} more" if more > 0 else ""
        out.append((eol, f"{row['distribution']} {row['release']} standard support ends ({names})"))
    return out


def plan_from_details(upgrade: Mapping[str, Any], nodes: Mapping[str, Any] | None, now: float,
                      removed_apis: Mapping[str, Any] | None = None) -> Plan:
    """The plan from the ``upgrade`` collector's details and, when present, the ``nodes`` collector's;
    the ``removed_apis`` collector's details attach each removed API still in use to the hop that
    stops serving it (``Plan.with_blockers``)."""
    releases = {
        minor: Cycle(minor, try_parse_version(info.get("latest")), _ts(info.get("eol")))
        for minor, info in (upgrade.get("minors") or {}).items()
    }
    cert_at = _ts(upgrade.get("cert_deadline"))
    plan = plan_upgrade(
        now=now,
        current=try_parse_version(upgrade.get("current")),
        latest=try_parse_version(upgrade.get("latest")),
        releases=releases,
        days_per_hop=float(upgrade.get("days_per_hop") or 7.0),
        reminder_lead=float(upgrade.get("reminder_lead_seconds") or 14 * DAY),
        next_due=_ts(upgrade.get("next_due")),
        cert_deadline=(cert_at, str(upgrade.get("cert_deadline_certificate") or "?")) if cert_at is not None else None,
        current_minor_eol=_ts(upgrade.get("current_minor_eol")),
        os_deadlines=os_deadlines(nodes),
        docker_nodes=tuple(((nodes or {}).get("lifecycle") or {}).get("docker_nodes") or ()),
    )
    return plan.with_blockers(plan_blockers(removed_apis)) if removed_apis else plan


VERDICT = {0: "ON SCHEDULE", 1: "DUE SOON", 2: "CRITICAL"}


def render_plan(plan: Plan) -> list[str]:
    """The plan as text: headline, verdict reasons, the hops, their notes, the sorted deadlines."""
    if plan.current is None or plan.latest is None:
        return ["UPGRADE PLAN  unknown", *(f"  {r}" for r in plan.reasons)]
    head = f"UPGRADE PLAN  {plan.current} → {plan.latest}: "
    if plan.hops:
        head += (f"{len(plan.hops)} hop(s), one minor at a time; about {len(plan.hops) * plan.days_per_hop:g} days at "
                 f"{plan.days_per_hop:g} days per hop (done {date_text(plan.finish)} if started today)")
    else:
        head += "up to date"
    lines = [head, f"  {VERDICT.get(plan.exit_code, '?')}: " + "; ".join(plan.reasons)]
    if plan.hops:
        rows: list[tuple[str, ...]] = []
        for h in plan.hops:
            eol = date_text(h.eol) + (" (passed)" if h.eol is not None and h.eol <= plan.now else "")
            blockers = "; ".join(b.summary for b in h.blockers) or "-"
            rows.append((str(h.number), h.from_version, h.target_text, eol, date_text(h.finish_by), blockers))
        lines += ["  " + line for line in format_table(("HOP", "FROM", "TO", "END OF LIFE", "DONE BY", "BLOCKERS"), rows)]
        lines.append("  kubeadm notes (every hop as the first, with its own version; --output json lists all):")
        for h in plan.hops:
            notes = h.notes if h.number == 1 else [n for n in h.notes if n.startswith("kubelets ")]
            lines.append(f"    hop {h.number} → {h.target_text}:")
            lines += [f"      - {note}" for note in notes]
            lines += [f"      - BLOCKER: {b.summary}" + (f" ({b.detail})" if b.detail else "") for b in h.blockers]
    if plan.deadlines:
        deadlines = [(d.what, date_text(d.at), str(d.days_left), "yes" if d.before_finish else "-") for d in plan.deadlines]
        lines += ["  " + line for line in format_table(("DEADLINE", "DATE", "DAYS LEFT", "BEFORE LAST HOP"), deadlines)]
    else:
        lines.append("  deadlines: none known (no due date, certificate, end-of-life or OS data)")
    return lines
