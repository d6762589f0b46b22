"""The small persisted memory of observed control-plane versions, so restarts lose no history.

The state is the highest version watchtower has seen and the last time it saw that version go
up (an upgrade), plus a short history. Transitions are decided by the pure ``observe``; the file
is written only when something changed, atomically (temporary file in the same directory,
fsync, rename), so a crash mid-write leaves the previous state intact.
"""

from __future__ import annotations

import dataclasses
import glob
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from watchtower.core.regularfile import read_regular_text
from watchtower.upgrades.kubeversion import KubeVersion, try_parse_version

SCHEMA = 1
HISTORY_LIMIT = 20
MAX_STATE_BYTES = 1 << 20


@dataclasses.dataclass(frozen=True)
class Transition:
    at: float
    from_version: str
    to_version: str


@dataclasses.dataclass(frozen=True)
class UpgradeState:
    highest_version: str
    first_seen_at: float  # when watchtower first saw any version (the start of its watch)
    last_upgrade: Transition | None = None
    history: tuple[Transition, ...] = ()


def observe(
    state: UpgradeState | None, version: KubeVersion, now: float, happened_at: float | None = None,
) -> tuple[UpgradeState, bool]:
    """Fold one observed control-plane version into the state; (new state, changed?).

    Only a version higher than any seen before counts as an upgrade: during a rolling upgrade
    behind a VIP, ``/version`` alternates between old and new, and the old one must not count.
    The upgrade is dated ``now`` unless ``happened_at`` (a kubeadm backup directory's time) lies
    between the previous observation and now: then watchtower was not running when it happened.
    """
    if state is None:
        return UpgradeState(str(version), now), True
    highest = try_parse_version(state.highest_version)
    if highest is not None and version <= highest:
        return state, False
    since = state.last_upgrade.at if state.last_upgrade else state.first_seen_at
    at = happened_at if happened_at is not None and since < happened_at <= now else now
    transition = Transition(at, state.highest_version, str(version))
    history = (*state.history, transition)[-HISTORY_LIMIT:]
    return dataclasses.replace(state, highest_version=str(version), last_upgrade=transition, history=history), True


def to_json(state: UpgradeState) -> str:
    def transition(t: Transition | None) -> dict[str, Any] | None:
        return None if t is None else {"at": t.at, "from": t.from_version, "to": t.to_version}

    return json.dumps({
        "schema": SCHEMA,
        "highest_version": state.highest_version,
        "first_seen_at": state.first_seen_at,
        "last_upgrade": transition(state.last_upgrade),
        "history": [transition(t) for t in state.history],
    }, indent=2) + "\n"


def _transition(data: Any, where: str) -> Transition:
    if not isinstance(data, dict):
        raise ValueError(f"{where}: expected an object")
    at, old, new = data.get("at"), data.get("from"), data.get("to")
    if not isinstance(at, (int, float)) or isinstance(at, bool) or not isinstance(old, str) or not isinstance(new, str):
        raise ValueError(f"{where}: expected at (number), from and to (strings)")
    return Transition(float(at), old, new)


def from_json(text: str) -> UpgradeState:
    """Parse a state file's text; ValueError naming the bad field."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not JSON (line {exc.lineno})") from None
    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        raise ValueError(f"not a watchtower upgrade state (schema {SCHEMA})")
    highest, first = data.get("highest_version"), data.get("first_seen_at")
    if not isinstance(highest, str) or try_parse_version(highest) is None:
        raise ValueError(f"highest_version: not a version: {highest!r}")
    if not isinstance(first, (int, float)) or isinstance(first, bool):
        raise ValueError("first_seen_at: expected a number")
    last = data.get("last_upgrade")
    history = data.get("history") or []
    if not isinstance(history, list):
        raise ValueError("history: expected a list")
    return UpgradeState(
        highest_version=highest,
        first_seen_at=float(first),
        last_upgrade=_transition(last, "last_upgrade") if last is not None else None,
        history=tuple(_transition(t, f"history[{i}]") for i, t in enumerate(history)),
    )


class StateFile:
    """Load/save ``UpgradeState`` at ``path``; a corrupt file is moved aside, never silently lost."""

    STALE_TMP_SECONDS = 60.0  # older temporaries are left by a kill mid-write, not by a writer now

    def __init__(self, path: Path) -> None:
        self.path = path
        self._swept = False

    def remove_stale_temporaries(self, now: float | None = None) -> list[Path]:
        """Remove ``.<name>.*.tmp`` files that a process killed mid-``save`` left behind."""
        now = time.time() if now is None else now
        removed = []
        for candidate in self.path.parent.glob(f".{glob.escape(self.path.name)}.*.tmp"):
            try:
                if candidate.is_file() and now - candidate.stat().st_mtime > self.STALE_TMP_SECONDS:
                    candidate.unlink()
                    removed.append(candidate)
            except OSError:
                continue  # gone meanwhile, or not ours to remove: never fail a load for it
        return removed

    def load(self) -> UpgradeState | None:
        """The saved state, None if there is none. ValueError (after moving a corrupt file to
        ``<path>.corrupt``) or OSError if it cannot be read. The first load also sweeps stale
        temporaries of interrupted saves."""
        if not self._swept:
            self._swept = True
            self.remove_stale_temporaries()
        try:
            text = read_regular_text(str(self.path), MAX_STATE_BYTES)
        except FileNotFoundError:
            return None
        except UnicodeDecodeError:
            text = "\ufffd"  # not JSON either: handled below as a corrupt file
        try:
            return from_json(text)
        except ValueError as exc:
            aside = self.path.with_name(self.path.name + ".corrupt")
            os.replace(self.path, aside)
            raise ValueError(f"{exc}; moved to {aside.name}, starting afresh") from None

    def save(self, state: UpgradeState) -> None:
        """Write atomically: a reader sees the old or the new file, never half of one."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".tmp", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(to_json(state))
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
