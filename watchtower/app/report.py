"""Judging a store view: findings, collector health and the overall state, as plain data.

Pure functions over immutable snapshots, shared by ``watchtower check``, ``/api/status`` and
the status page so that all three always say the same thing. Every OK must be earned: a
collector that failed or has not run yet, an item it could not read, or no collector at all
("blind") makes the state UNKNOWN unless something seen is critical.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Collection, Mapping
from typing import Any

from watchtower import __version__
from watchtower.app.planning import plan_from_results
from watchtower.app.store import CollectorState, StoreView
from watchtower.core.formatting import rfc3339
from watchtower.core.results import CollectResult, Finding, Severity, Status


@dataclasses.dataclass(frozen=True)
class CollectorStatus:
    """One collector's health as people need it: did it run, when did it last work, why not."""

    name: str
    ran: bool
    success: bool
    last_success_at: float | None
    duration_seconds: float | None
    failure_reason: str | None
    failure_detail: str
    item_errors: tuple[tuple[str, str, str], ...]  # (location, reason, detail)

    @property
    def status(self) -> Status:
        """OK once it has succeeded; UNKNOWN while it has not run yet or when its last run failed."""
        return Status.OK if self.success else Status.UNKNOWN


def collector_status(state: CollectorState) -> CollectorStatus:
    run = state.last_run
    result = run.result if run is not None else None
    return CollectorStatus(
        name=state.name,
        ran=run is not None,
        success=bool(run and run.success),
        last_success_at=(
            state.last_success.started_at + state.last_success.duration_seconds if state.last_success else None
        ),
        duration_seconds=run.duration_seconds if run else None,
        failure_reason=run.failure_reason if run else None,
        failure_detail=run.failure_detail if run else "",
        item_errors=tuple((e.location, e.reason, e.detail) for e in (result.errors if result else ())),
    )


def findings(view: StoreView) -> list[Finding]:
    """Every finding of every collector's freshest good result, worst first."""
    out: list[Finding] = []
    for name in sorted(view.states):
        result = view.states[name].result
        if result is not None:
            out.extend(result.findings)
    return sorted(out, key=lambda f: (-f.severity, f.section, f.subject))


FIRST_COMMAND = "watchtower check certs --kubeadm"
FIRST_COMMAND_WHY = ("shows at once what the kubeadm PKI on this host holds, without a config file; "
                     "then point the collectors at what to watch (`watchtower config show` lists every setting)")


def blind(view: StoreView, skipped: Mapping[str, str] | None = None,
          passive: Collection[str] = ()) -> dict[str, Any] | None:
    """Why watchtower sees nothing, or None when some collector watches.

    Blind: no collector is enabled (``passive`` ones, which write rather than watch, do not
    count), or every enabled one failed its last run. The answer lists each collector with why
    it is not running or what its last failure was, and a first command to try.
    """
    watching = {n: s for n, s in view.states.items() if n not in passive}
    if watching and not all(s.last_run is not None and not s.last_run.success for s in watching.values()):
        return None
    why = {name: f"not running: {reason}" for name, reason in (skipped or {}).items()}
    for name, state in watching.items():
        run = state.last_run
        why[name] = f"failed ({run.failure_reason}): {run.failure_detail}" if run else "has not run yet"
    reason = ("every enabled collector failed its last run" if watching
              else "no collector is running: none is enabled or has anything to watch here")
    return {
        "reason": reason,
        "collectors": [{"name": n, "why": w} for n, w in sorted(why.items())],
        "first_command": FIRST_COMMAND,
        "first_command_why": FIRST_COMMAND_WHY,
    }


def overall(view: StoreView, skipped: Mapping[str, str] | None = None, passive: Collection[str] = ()) -> Status:
    """CRITICAL for a critical finding; else UNKNOWN when blind, when a collector failed or has not
    run yet, or when an item could not be read; else the worst finding (WARNING or OK)."""
    worst = max((f.severity for f in findings(view)), default=Severity.OK)
    unknown = blind(view, skipped, passive) is not None or any(
        collector_status(state).status is not Status.OK or collector_status(state).item_errors
        for state in view.states.values())
    return Status.judge(Severity(worst), unknown)


iso = rfc3339  # /api/status times: RFC 3339, fractional seconds kept


def status_document(view: StoreView, now: float | None = None, cluster: str = "",
                    skipped: Mapping[str, str] | None = None, passive: Collection[str] = ()) -> dict[str, Any]:
    """The JSON document behind ``/api/status``, the status page and ``check --output json``.

    ``skipped``: collectors not running and why; ``passive``: those that write rather than watch.
    """
    collectors = []
    for name in sorted(view.states):
        status = collector_status(view.states[name])
        collectors.append({
            "name": status.name,
            "ran": status.ran,
            "success": status.success,
            "severity": status.status.label,
            "last_success": iso(status.last_success_at),
            "duration_seconds": status.duration_seconds,
            "failure_reason": status.failure_reason,
            "failure_detail": status.failure_detail,
            "errors": [{"location": loc, "reason": r, "detail": d} for loc, r, d in status.item_errors],
        })
    details: dict[str, Mapping[str, Any]] = {}
    for name in sorted(view.states):
        result = view.states[name].result
        doc = result.details.to_json() if result is not None else None
        if doc:
            details[name] = doc
    return {
        "status": overall(view, skipped, passive).label,
        "cluster": cluster,
        "version": __version__,
        "generated_at": iso(time.time() if now is None else now),
        "collectors": collectors,
        "findings": [
            {"section": f.section, "subject": f.subject, "severity": f.severity.label, "message": f.message}
            for f in findings(view)
        ],
        "details": details,
        "skipped": dict(sorted((skipped or {}).items())),
        "blind": blind(view, skipped, passive),
        "plan": _plan(view, time.time() if now is None else now),
    }


def latest_results(view: StoreView) -> dict[str, CollectResult]:
    """Each collector's freshest good result, by name."""
    return {name: state.result for name, state in view.states.items() if state.result is not None}


def _plan(view: StoreView, now: float) -> dict[str, Any] | None:
    """The upgrade plan from the latest upgrade (and nodes) details; None before the upgrade collector ran."""
    plan = plan_from_results(latest_results(view), now)
    return plan.to_dict() if plan is not None else None
