"""``watchtower plan upgrade``: the kubeadm path to the latest release and the deadlines it must beat.

Runs the ``upgrade`` collector (and ``nodes``, for the OS end-of-life dates, and ``removed_apis``,
for the removed APIs still in use that block a hop, where they can run) once, builds the plan with ``watchtower.app.planning`` and prints it. Exit status: 0 on schedule,
1 due soon (or a deadline passed, or a hop has blockers), 2 overdue, a certificate deadline before
the last hop could finish, or no plan possible (the running version or the latest is unknown).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from watchtower.app import config as config_mod
from watchtower.app.daemon import make_context, select_collectors
from watchtower.app.logsetup import setup_logging
from watchtower.app.planning import plan_from_details, render_plan
from watchtower.app.registry import REGISTRY
from watchtower.app.report import latest_results
from watchtower.app.store import StoreView
from watchtower.collectors.base import Collector
from watchtower.core.lazy import lazy_module
from watchtower.core.settings import ConfigError

if TYPE_CHECKING:
    from watchtower.collectors.nodes import export as nodes_export
    from watchtower.collectors.removed_apis import export as removed_export
    from watchtower.collectors.upgrade import export as upgrade_export
else:  # loaded when `plan upgrade` runs: other commands never import them
    nodes_export = lazy_module("watchtower.collectors.nodes.export")
    removed_export = lazy_module("watchtower.collectors.removed_apis.export")
    upgrade_export = lazy_module("watchtower.collectors.upgrade.export")

EXIT_CRITICAL = 2


def add_commands(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser,
    run_once: Callable[[Sequence[Collector]], StoreView],
) -> None:
    """``plan upgrade``; ``run_once`` is the one-shot collector runner ``check`` uses."""
    plan = sub.add_parser("plan", help="plan work that must happen before a deadline",
                          description="Plan work that must happen before a deadline.")
    plan_sub = plan.add_subparsers(dest="plan_command", metavar="WHAT", required=True)
    upgrade = plan_sub.add_parser(
        "upgrade", parents=[common], help="the kubeadm upgrade path and the deadlines it must beat",
        description="The kubeadm hops (one minor at a time, each to its newest patch) from the running version to "
                    "the latest release, and the deadlines they must beat (policy due date, kubeadm certificate "
                    "expiry, the running minor's end of life, the nodes' OS end of life). Exit 0 on schedule, 1 due "
                    "soon, 2 overdue, certificates expiring before the last hop could finish, or no plan possible.")
    upgrade.add_argument("--output", "-o", choices=["table", "json"], default="table",
                         help="table for people (default), json for scripts")
    upgrade.add_argument("--days-per-hop", type=float, metavar="DAYS",
                         help="how long one hop takes the team (default: collectors.upgrade.days_per_hop, 7)")
    upgrade.set_defaults(func=cmd_plan_upgrade, run_once=run_once)


def cmd_plan_upgrade(args: argparse.Namespace) -> int:
    config = config_mod.load(args.config, REGISTRY)
    setup_logging(args.log_level or "warning", "text")
    if args.days_per_hop is not None and not 0 < args.days_per_hop <= 365:
        raise ConfigError("--days-per-hop", args.days_per_hop, "a number of days above 0, at most 365")
    context = make_context(config)
    wanted = ("upgrade", "nodes", "removed_apis")
    selection = select_collectors(config, REGISTRY, context, only=wanted)
    collectors = [c for c in selection.enabled if c.name in wanted]
    view = args.run_once(collectors)
    upgrade_state = view.states.get("upgrade")
    if upgrade_state is None or upgrade_state.result is None:
        why = dict(selection.skipped).get("upgrade") or (upgrade_state.failure_detail if upgrade_state else None)
        print(f"watchtower: no plan: the upgrade collector did not run ({why or 'disabled'})", file=sys.stderr)
        return EXIT_CRITICAL
    upgrade = upgrade_state.result.details
    if not isinstance(upgrade, upgrade_export.UpgradeDetails):
        raise TypeError("the upgrade collector's details are UpgradeDetails")
    if args.days_per_hop is not None:
        upgrade = dataclasses.replace(upgrade, days_per_hop=args.days_per_hop)
    results = latest_results(view)
    nodes = results["nodes"].details if "nodes" in results else None
    removed = results["removed_apis"].details if "removed_apis" in results else None
    plan = plan_from_details(upgrade, nodes if isinstance(nodes, nodes_export.NodesDetails) else None, context.clock(),
                             removed if isinstance(removed, removed_export.RemovedApisDetails) else None)
    errors = [f"{name}: {e.location}: {e.reason}: {e.detail}" for name in wanted
              if (state := view.states.get(name)) is not None and state.result is not None for e in state.result.errors]
    if args.output == "json":
        doc = plan.to_dict()
        doc["errors"] = errors
        doc["os_data"] = isinstance(nodes, nodes_export.NodesDetails)
        doc["removed_api_data"] = isinstance(removed, removed_export.RemovedApisDetails)
        json.dump(doc, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        lines = render_plan(plan)
        if nodes is None:
            lines.append("  (the nodes collector did not run here: OS end-of-life dates are not included)")
        if removed is None:
            lines.append("  (the removed_apis collector did not run here: hops list no removed-API blockers)")
        lines += [f"  error: {e}" for e in errors]
        sys.stdout.write("\n".join(lines) + "\n")
    return plan.exit_code


__all__ = ["add_commands", "cmd_plan_upgrade"]
