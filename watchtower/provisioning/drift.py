"""Drift: was a Grafana object edited outside code, or did only the code change? Pure.

Per object watchtower owns (dashboard, rule group, contact point) it remembers what it last
wrote (``Written``: the hash of the normalised model and, for dashboards, Grafana's version
number). A run compares three hashes — code's (desired), live Grafana's and the last written:

=================  =====================  ==========================================
live == desired    ``in_sync``            nothing to do
live == written    ``code_changed``       the code moved on; write it
live != both       ``edited``             someone changed it in Grafana: the policy
no record          ``unknown``            watchtower cannot tell (state lost); written,
                                          with a file backup first when there is a place
object missing     ``missing``            created
=================  =====================  ==========================================

A version bump with identical content (a save without changes) is not an edit. An open
``Drift`` stays open while the edit exists somewhere but not in code: in Grafana (``keep``),
in a backup nobody has pulled or discarded (``backup``); with ``overwrite`` the edit is gone
and the drift closes at the next run.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterable, Mapping
from typing import Any

VERDICTS = ("in_sync", "code_changed", "edited", "unknown", "missing")
ACTIONS = ("kept", "backed_up", "overwritten", "backup_failed")
STATE_FORMAT = 1


@dataclasses.dataclass(frozen=True)
class Observed:
    """One object as live Grafana holds it, normalised; ``raw_json`` is Grafana's own form."""

    kind: str
    uid: str
    title: str
    hash: str
    model_json: str
    version: int | None = None
    updated: str = ""
    updated_by: str = ""
    raw_json: str = "null"

    def model(self) -> Any:
        return json.loads(self.model_json)

    def raw(self) -> Any:
        return json.loads(self.raw_json)


@dataclasses.dataclass(frozen=True)
class Written:
    """What watchtower last wrote (or found equal to code) for one object."""

    kind: str
    uid: str
    hash: str
    version: int | None = None
    at: float = 0.0


@dataclasses.dataclass(frozen=True)
class Drift:
    """An edit made outside code that code does not contain yet."""

    kind: str
    uid: str
    title: str
    since: float  # when the edit was made (Grafana's ``updated``), else when it was first seen
    by: str  # Grafana's ``updatedBy``; "" when Grafana does not say
    hash: str  # of the edited, normalised model
    action: str  # kept | backed_up | overwritten | backup_failed
    backup: str = ""  # the backup file, "" when none
    copy_uid: str = ""  # the copy dashboard in Grafana, "" when none

    @property
    def key(self) -> tuple[str, str]:
        return (self.kind, self.uid)


@dataclasses.dataclass(frozen=True)
class DriftState:
    """What the state file holds: last writes and open drifts."""

    written: tuple[Written, ...] = ()
    drifts: tuple[Drift, ...] = ()

    def written_for(self, kind: str, uid: str) -> Written | None:
        return next((w for w in self.written if w.kind == kind and w.uid == uid), None)

    def drift_for(self, kind: str, uid: str) -> Drift | None:
        return next((d for d in self.drifts if d.kind == kind and d.uid == uid), None)


def classify(desired_hash: str, live: Observed | None, written: Written | None) -> str:
    """One of VERDICTS; see the table in the module docstring."""
    if live is None:
        return "missing"
    if live.hash == desired_hash:
        return "in_sync"
    if written is None:
        return "unknown"
    if live.hash == written.hash:
        return "code_changed"
    return "edited"


def still_open(drift: Drift, verdict: str, desired_hash: str | None,
               backup_exists: Callable[[Drift], bool]) -> bool:
    """Whether a drift found earlier is still unresolved this run (``desired_hash`` None: no
    longer in code, so nothing left to reconcile). ``backup_exists``: is its backup file or its
    copy dashboard still there (deleting both is how a human discards the edit)."""
    if desired_hash is None or drift.hash == desired_hash:
        return False  # removed from code, or pulled into code
    if drift.action in ("kept", "backup_failed"):
        return verdict == "edited"
    if drift.action == "backed_up":
        return backup_exists(drift)
    return False  # overwritten: the edit is gone, it was reported once


def merge_drifts(previous: Iterable[Drift], current: Iterable[Drift]) -> tuple[Drift, ...]:
    """Open drifts: this run's, keeping the first ``since`` of one already open."""
    before = {d.key: d for d in previous}
    out = []
    for drift in current:
        old = before.get(drift.key)
        if old is not None and old.hash == drift.hash:
            drift = dataclasses.replace(drift, since=min(old.since, drift.since), by=drift.by or old.by)
        out.append(drift)
    return tuple(sorted(out, key=lambda d: d.key))


# --------------------------------------------------------------------------------------------
# The state file's JSON


def to_json(state: DriftState) -> str:
    return json.dumps({"format": STATE_FORMAT,
                       "written": [dataclasses.asdict(w) for w in state.written],
                       "drifts": [dataclasses.asdict(d) for d in state.drifts]}, indent=1, sort_keys=True) + "\n"


def _record(cls: type[Any], item: object, where: str) -> Any:
    if not isinstance(item, Mapping):
        raise ValueError(f"{where}: expected an object")
    names = {f.name for f in dataclasses.fields(cls)}
    try:
        return cls(**{k: v for k, v in item.items() if k in names})
    except TypeError as exc:
        raise ValueError(f"{where}: {exc}") from None


def from_json(text: str) -> DriftState:
    """The state back; ValueError naming the field when the file is not one of ours."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not JSON: {exc.msg} at line {exc.lineno}") from None
    if not isinstance(data, Mapping) or data.get("format") != STATE_FORMAT:
        raise ValueError(f"format: expected {STATE_FORMAT}")
    written, drifts = data.get("written") or [], data.get("drifts") or []
    if not isinstance(written, list) or not isinstance(drifts, list):
        raise ValueError("written/drifts: expected lists")
    return DriftState(tuple(_record(Written, w, f"written[{i}]") for i, w in enumerate(written)),
                      tuple(_record(Drift, d, f"drifts[{i}]") for i, d in enumerate(drifts)))


__all__ = ["ACTIONS", "VERDICTS", "Drift", "DriftState", "Observed", "Written", "classify", "from_json",
           "merge_drifts", "still_open", "to_json"]
