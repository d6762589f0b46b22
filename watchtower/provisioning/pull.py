"""Live dashboards back to files in the shape of dashboards/*.json; pure.

The file a pull writes is the live model normalised (``normalise_dashboard``: no ``id`` or
``version``, references to the configured Prometheus turned back into ``${datasource}``, the
``cluster`` variable and every other variable kept) with its keys in the order of the file it
replaces (``order_like``; new keys after them, sorted), written as that file is written: two-space
indent, UTF-8 as is, a final newline. So the git diff of a pulled file is the person's edit
and nothing else, and provisioning the pulled file finds nothing to write. A dashboard that
is not in code keeps sorted keys and is named ``<uid>.json``.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Mapping, Sequence
from typing import Any

from watchtower.core.settings import parse_duration
from watchtower.provisioning.live import LiveDashboard, LiveState
from watchtower.provisioning.normalise import file_text, normalise_dashboard, order_like


@dataclasses.dataclass(frozen=True)
class PulledFile:
    """One file to write: ``name`` inside the output directory, its text, and whether it differs
    from the code's file (``changed`` False: pulling would write the same bytes)."""

    name: str
    text: str
    changed: bool
    note: str = ""


def dashboard_file(live_model: Mapping[str, Any], code_source: str | None, code_text: str | None,
                   datasource_uids: tuple[str, ...]) -> PulledFile:
    """The file for one live dashboard; ``code_source``/``code_text`` are its file in code, if any."""
    model = normalise_dashboard(live_model, datasource_uids)
    reference: Any = None
    if code_text is not None:
        try:
            reference = json.loads(code_text)
        except ValueError:
            reference = None
    text = file_text(order_like(model, reference) if reference is not None else model)
    uid = str(live_model.get("uid") or "dashboard")
    name = os.path.basename(code_source) if code_source else f"{uid}.json"
    return PulledFile(name, text, text != code_text)


def live_from_backups(docs: Sequence[Mapping[str, Any]], folder_uid: str) -> tuple[LiveState, list[str]]:
    """What watchtower's backup files (``backup_dir``, written before it restored code's version)
    held, as if it were live: a ``dashboard`` backup is its dashboard, a ``rule-group`` backup
    its rules and interval. Contact points are not pulled (their secrets are not in a backup);
    the second value says so, and names any other file it cannot use."""
    dashboards: dict[str, LiveDashboard | None] = {}
    rules: dict[str, Mapping[str, Any]] = {}
    intervals: dict[str, int | None] = {}
    notes: list[str] = []
    for doc in docs:
        kind, uid, model = doc.get("kind"), str(doc.get("uid")), doc.get("model")
        if kind == "dashboard" and isinstance(model, Mapping):
            version = doc.get("grafana_version")
            dashboards[uid] = LiveDashboard(uid, model, folder_uid, version if isinstance(version, int) else None,
                                            str(doc.get("updated") or ""), str(doc.get("updated_by") or ""))
        elif kind == "rule-group" and isinstance(model, Mapping):
            for rule in model.get("rules") or []:
                if isinstance(rule, Mapping) and isinstance(rule.get("uid"), str):
                    rules[rule["uid"]] = rule
            interval = model.get("interval")
            intervals[uid] = int(parse_duration(interval)) if isinstance(interval, str) else None
        elif kind == "contact-point":
            notes.append(f"contact-point {uid}: not pulled (a backup holds no secrets); change the config instead")
        else:
            notes.append(f"{kind} {uid}: not a backup this command can pull")
    return LiveState(dashboards, rules, intervals, {}), notes


__all__ = ["PulledFile", "dashboard_file", "live_from_backups"]
