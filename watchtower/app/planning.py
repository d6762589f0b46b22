"""The upgrade plan from the collectors' results, and its text rendering.

``watchtower plan upgrade``, ``watchtower check`` and the status page all call
``plan_from_details`` with the latest ``upgrade`` (and, where it ran, ``nodes``) typed details, so
the three show the same plan; ``watchtower.upgrades.plan`` does the planning itself, purely.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from watchtower.core.formatting import format_table
from watchtower.core.lazy import lazy_module
from watchtower.core.results import CollectResult

if TYPE_CHECKING:
    from watchtower.collectors.nodes import export as nodes_export
    from watchtower.collectors.removed_apis import export as removed_export
    from watchtower.collectors.upgrade import export as upgrade_export
    from watchtower.upgrades import plan as upgrade_plan
else:  # loaded with the first upgrade result: a daemon without the upgrade collector never imports them
    nodes_export = lazy_module("watchtower.collectors.nodes.export")
    removed_export = lazy_module("watchtower.collectors.removed_apis.export")
    upgrade_export = lazy_module("watchtower.collectors.upgrade.export")
    upgrade_plan = lazy_module("watchtower.upgrades.plan")

DAY = 86400.0

def os_deadlines(nodes: nodes_export.NodesDetails | None) -> list[tuple[float, str]]:
    """(eol, what) per OS release from the nodes collector's lifecycle rows."""
    out = []
    for row in nodes.lifecycle.os if nodes is not None and nodes.lifecycle is not None else ():
        if row.eol is None:
            continue
        names = ", ".join(row.nodes)
        more = row.count - len(row.nodes)
        names += f" and {more} more" if more > 0 else ""
        out.append((row.eol, f"{row.distribution} {row.release} standard support ends ({names})"))
    return out


def plan_from_details(upgrade: upgrade_export.UpgradeDetails, nodes: nodes_export.NodesDetails | None, now: float,
                      removed_apis: removed_export.RemovedApisDetails | None = None) -> upgrade_plan.Plan:
    """The plan from the ``upgrade`` collector's details and, when present, the ``nodes`` collector's;
    the ``removed_apis`` collector's details attach each removed API still in use to the hop that
    stops serving it (``Plan.with_blockers``)."""
    cert_at = upgrade.cert_deadline
    plan = upgrade_plan.plan_upgrade(
        now=now,
        current=upgrade.current,
        latest=upgrade.latest,
        releases=dict(upgrade.minors),
        days_per_hop=upgrade.days_per_hop or 7.0,
        reminder_lead=upgrade.reminder_lead_seconds or 14 * DAY,
        next_due=upgrade.next_due,
        cert_deadline=(cert_at, upgrade.cert_deadline_certificate or "?") if cert_at is not None else None,
        current_minor_eol=upgrade.current_minor_eol,
        os_deadlines=os_deadlines(nodes),
        docker_nodes=nodes.lifecycle.docker_nodes if nodes is not None and nodes.lifecycle is not None else (),
    )
    return plan.with_blockers(removed_export.plan_blockers(removed_apis)) if removed_apis is not None else plan


def plan_from_results(results: Mapping[str, CollectResult], now: float) -> upgrade_plan.Plan | None:
    """The plan from the latest results by collector name; None until the upgrade collector has a result."""
    upgrade = results.get("upgrade")
    if upgrade is None or not isinstance(upgrade.details, upgrade_export.UpgradeDetails):
        return None
    nodes = results.get("nodes")
    removed = results.get("removed_apis")
    return plan_from_details(
        upgrade.details, nodes.details if nodes is not None and isinstance(nodes.details, nodes_export.NodesDetails) else None,
        now, removed.details if removed is not None and isinstance(removed.details, removed_export.RemovedApisDetails) else None)


VERDICT = {0: "ON SCHEDULE", 1: "DUE SOON", 2: "CRITICAL"}


def render_plan(plan: upgrade_plan.Plan) -> list[str]:
    """The plan as text: headline, verdict reasons, the hops, their notes, the sorted deadlines."""
    if plan.current is None or plan.latest is None:
        return ["UPGRADE PLAN  unknown", *(f"  {r}" for r in plan.reasons)]
    head = f"UPGRADE PLAN  {plan.current} → {plan.latest}: "
    if plan.hops:
        head += (f"{len(plan.hops)} hop(s), one minor at a time; about {len(plan.hops) * plan.days_per_hop:g} days at "
                 f"{plan.days_per_hop:g} days per hop (done {upgrade_plan.date_text(plan.finish)} if started today)")
    else:
        head += "up to date"
    lines = [head, f"  {VERDICT.get(plan.exit_code, '?')}: " + "; ".join(plan.reasons)]
    if plan.hops:
        rows: list[tuple[str, ...]] = []
        for h in plan.hops:
            eol = upgrade_plan.date_text(h.eol) + (" (passed)" if h.eol is not None and h.eol <= plan.now else "")
            blockers = "; ".join(b.summary for b in h.blockers) or "-"
            rows.append((str(h.number), h.from_version, h.target_text, eol, upgrade_plan.date_text(h.finish_by), blockers))
        lines += ["  " + line for line in format_table(("HOP", "FROM", "TO", "END OF LIFE", "DONE BY", "BLOCKERS"), rows)]
        lines.append("  kubeadm notes (every hop as the first, with its own version; --output json lists all):")
        for h in plan.hops:
            notes = h.notes if h.number == 1 else [n for n in h.notes if n.startswith("kubelets ")]
            lines.append(f"    hop {h.number} → {h.target_text}:")
            lines += [f"      - {note}" for note in notes]
            lines += [f"      - BLOCKER: {b.summary}" + (f" ({b.detail})" if b.detail else "") for b in h.blockers]
    if plan.deadlines:
        deadlines = [(d.what, upgrade_plan.date_text(d.at), str(d.days_left), "yes" if d.before_finish else "-") for d in plan.deadlines]
        lines += ["  " + line for line in format_table(("DEADLINE", "DATE", "DAYS LEFT", "BEFORE LAST HOP"), deadlines)]
    else:
        lines.append("  deadlines: none known (no due date, certificate, end-of-life or OS data)")
    return lines
