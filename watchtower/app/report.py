"""Judging a store view: findings, collector health and the overall state, as plain data.

Pure functions over immutable snapshots, shared by ``watchtower check``, ``/api/status`` and
the status page so that all three always say the same thing.
"""

from __future__ import annotations

import dataclasses
import datetime
import time
from collections.abc import Mapping
from typing import Any

from watchtower import __version__
from watchtower.app.store import CollectorState, StoreView
from watchtower.core.results import Finding, Severity


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
    def severity(self) -> Severity:
        return Severity.OK if (self.success or not self.ran) else Severity.CRITICAL


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


def overall(view: StoreView) -> Severity:
    """The worst of all findings and collector failures (a failing collector is critical)."""
    worst = max((f.severity for f in findings(view)), default=Severity.OK)
    for state in view.states.values():
        worst = max(worst, collector_status(state).severity)
    return Severity(worst)


def iso(timestamp: float | None) -> str | None:
    if timestamp is None:
        return None
    return datetime.datetime.fromtimestamp(timestamp, datetime.UTC).isoformat().replace("+00:00", "Z")


def status_document(view: StoreView, now: float | None = None, cluster: str = "") -> dict[str, Any]:
    """The JSON document behind ``/api/status``, the status page and ``check --output json``."""
    collectors = []
    for name in sorted(view.states):
        status = collector_status(view.states[name])
        collectors.append({
            "name": status.name,
            "ran": status.ran,
            "success": status.success,
            "severity": status.severity.label,
            "last_success": iso(status.last_success_at),
            "duration_seconds": status.duration_seconds,
            "failure_reason": status.failure_reason,
            "failure_detail": status.failure_detail,
            "errors": [{"location": loc, "reason": r, "detail": d} for loc, r, d in status.item_errors],
        })
    details: dict[str, Mapping[str, Any]] = {}
    for name in sorted(view.states):
        result = view.states[name].result
        if result is not None and result.details:
            details[name] = dict(result.details)
    return {
        "status": overall(view).label,
        "cluster": cluster,
        "version": __version__,
        "generated_at": iso(time.time() if now is None else now),
        "collectors": collectors,
        "findings": [
            {"section": f.section, "subject": f.subject, "severity": f.severity.label, "message": f.message}
            for f in findings(view)
        ],
        "details": details,
    }
