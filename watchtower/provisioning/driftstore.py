"""Where drift lives on disk: the state file (last writes, open drifts) and backup files.

Both are written atomically (a temporary file in the same directory, fsync, rename), so a
reader — or a watchtower killed mid-write — sees the old file or the new one, never half.
A corrupt state file is moved aside to ``<name>.corrupt`` and watchtower starts afresh
(every object then reads as ``unknown`` once), like the upgrade collector's state file.
Backups hold normalised models only: contact point secrets are ``[REDACTED]`` there.
"""

from __future__ import annotations

import datetime
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from watchtower.core.regularfile import read_regular_text
from watchtower.provisioning.drift import DriftState, Observed, from_json, to_json
from watchtower.provisioning.normalise import file_text

MAX_STATE_BYTES = 8 * 1024 * 1024
BACKUP_FORMAT = 1


def write_atomic(path: Path, text: str, mode: int = 0o640) -> None:
    """``text`` to ``path``: all of it or nothing."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class DriftMemory:
    """The drift state across runs: in memory, and in ``path`` when one is configured."""

    def __init__(self, path: str | None) -> None:
        self.path = Path(path) if path else None
        self.state = DriftState()
        self._loaded = False

    def load(self) -> str | None:
        """Read the file once per process; the problem as text (the state is then empty)."""
        if self._loaded or self.path is None:
            return None
        self._loaded = True
        try:
            text = read_regular_text(str(self.path), MAX_STATE_BYTES)
        except FileNotFoundError:
            return None
        except (OSError, UnicodeDecodeError) as exc:
            return f"cannot read: {getattr(exc, 'strerror', None) or exc}"
        try:
            self.state = from_json(text)
        except ValueError as exc:
            aside = self.path.with_name(self.path.name + ".corrupt")
            os.replace(self.path, aside)
            return f"{exc}; moved to {aside.name}, starting afresh"
        return None

    def save(self, state: DriftState) -> str | None:
        """Keep ``state`` (memory always, the file when configured); the problem as text."""
        changed = state != self.state
        self.state = state
        if self.path is None or not changed:
            return None
        try:
            write_atomic(self.path, to_json(state))
        except OSError as exc:
            return f"cannot write: {exc.strerror or exc}"
        return None


def _stamp(when: float) -> str:
    return datetime.datetime.fromtimestamp(when, datetime.UTC).strftime("%Y%m%dT%H%M%SZ")


def backup_path(directory: str, live: Observed, when: float) -> Path:
    """``<dir>/<kind>/<uid>/<UTC time>[-v<version>].json``: one file per backup, never reused."""
    version = f"-v{live.version}" if live.version is not None else ""
    return Path(directory) / live.kind / live.uid / f"{_stamp(when)}{version}.json"


def backup_document(live: Observed, when: float, reason: str) -> dict[str, Any]:
    """What a backup file holds: the normalised live model, who edited it and when."""
    return {
        "format": BACKUP_FORMAT, "kind": live.kind, "uid": live.uid, "title": live.title,
        "reason": reason, "backed_up_at": datetime.datetime.fromtimestamp(when, datetime.UTC).isoformat(),
        "grafana_version": live.version, "updated": live.updated, "updated_by": live.updated_by,
        "hash": live.hash, "model": live.model(),
    }


def write_backup(directory: str, live: Observed, when: float, reason: str) -> Path:
    """Save one live object; OSError when it cannot be saved (then nothing may be overwritten)."""
    path = backup_path(directory, live, when)
    write_atomic(path, file_text(backup_document(live, when, reason)), mode=0o600)
    return path


def read_backup(path: str | Path) -> dict[str, Any]:
    """A backup file back (to restore it, or to pull it into code)."""
    doc = json.loads(Path(path).read_text(encoding="utf-8"))
    if not isinstance(doc, dict) or doc.get("format") != BACKUP_FORMAT:
        raise ValueError(f"{path}: not a watchtower backup")
    return doc


__all__ = ["DriftMemory", "backup_document", "backup_path", "read_backup", "write_atomic", "write_backup"]
