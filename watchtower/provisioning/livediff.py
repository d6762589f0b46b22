"""Code against live Grafana, field by field, in words a person reads; pure.

Both sides are normalised first (``normalise.py``), so only real differences remain. A list
of objects that all carry an identity (panels and their ``id``, template variables and their
``name``, queries and their ``refId``) is compared item by item by that identity, so a panel
moved in the list is one change and not a change of every panel after it. Contact point
secrets are ``[REDACTED]`` on both sides: a difference in a secret cannot be seen and is
never shown.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from typing import Any

_IDENTITIES = ("id", "name", "refId", "uid")
VALUE_WIDTH = 100


class _Missing:
    """The side where a field does not exist."""

    def __repr__(self) -> str:
        return "(absent)"


MISSING: Any = _Missing()


@dataclasses.dataclass(frozen=True)
class FieldChange:
    """One differing field: ``path`` are readable segments (``panels``, ``[id=2]``, ``title``)."""

    path: tuple[str, ...]
    code: Any
    live: Any

    def line(self) -> str:
        return f"{'.'.join(self.path).replace('.[', '[') or '(whole object)'}: {show(self.code)} -> {show(self.live)}"


@dataclasses.dataclass(frozen=True)
class ObjectDiff:
    """One object watchtower owns, compared. ``state``: same | differs | missing (not in Grafana)
    | extra (in Grafana, watchtower's uid prefix, no longer in code)."""

    kind: str
    uid: str
    title: str
    state: str
    changes: tuple[FieldChange, ...] = ()
    who: str = ""  # "version 7, updated 2026-12-02T01:02:03Z by oncall" when Grafana says so

    @property
    def drifted(self) -> bool:
        return self.state != "same"


def show(value: Any) -> str:
    """A value in one short line (JSON, cut at VALUE_WIDTH characters)."""
    if value is MISSING:
        return "(absent)"
    text = json.dumps(value, ensure_ascii=False, sort_keys=True)
    return text if len(text) <= VALUE_WIDTH else text[:VALUE_WIDTH - 3] + "..."


def _unique_key(items: Sequence[Any], key: str) -> bool:
    values = [i.get(key) if isinstance(i, Mapping) else None for i in items]
    return all(isinstance(v, (str, int)) and not isinstance(v, bool) for v in values) and len(set(values)) == len(values)


def _identity(code: Sequence[Any], live: Sequence[Any]) -> str | None:
    """The key every item on each side carries, unique on that side, if there is one."""
    if not code or not live:
        return None
    return next((k for k in _IDENTITIES if _unique_key(code, k) and _unique_key(live, k)), None)


def _label(key: str, item: Mapping[str, Any]) -> str:
    title = item.get("title")
    suffix = f" {json.dumps(title, ensure_ascii=False)}" if isinstance(title, str) and key != "title" else ""
    return f"[{key}={item[key]}{suffix}]"


def diff_values(code: Any, live: Any, path: tuple[str, ...] = ()) -> list[FieldChange]:
    """Every leaf-most place where ``code`` and ``live`` differ."""
    if code == live:
        return []
    if isinstance(code, Mapping) and isinstance(live, Mapping):
        out: list[FieldChange] = []
        for key in [*code, *(k for k in live if k not in code)]:
            out += diff_values(code.get(key, MISSING), live.get(key, MISSING), (*path, str(key)))
        return out
    if isinstance(code, list) and isinstance(live, list):
        return _diff_lists(code, live, path)
    return [FieldChange(path, code, live)]


def _diff_lists(code: list[Any], live: list[Any], path: tuple[str, ...]) -> list[FieldChange]:
    key = _identity(code, live)
    if key is None:
        if len(code) == len(live) and all(isinstance(v, (Mapping, list)) for v in code + live):
            out: list[FieldChange] = []
            for i, (c, v) in enumerate(zip(code, live, strict=True)):
                out += diff_values(c, v, (*path, f"[{i}]"))
            return out
        return [FieldChange(path, code, live)]
    by_code = {c[key]: c for c in code}
    by_live = {v[key]: v for v in live}
    out = []
    for ident in [*by_code, *(i for i in by_live if i not in by_code)]:
        c, v = by_code.get(ident, MISSING), by_live.get(ident, MISSING)
        out += diff_values(c, v, (*path, _label(key, c if c is not MISSING else v)))
    code_order = [i for i in by_code if i in by_live]
    live_order = [i for i in by_live if i in by_code]
    if code_order != live_order:
        out.append(FieldChange((*path, f"(order by {key})"), code_order, live_order))
    return out


def compare(kind: str, uid: str, title: str, code: Any, live: Any, who: str = "") -> ObjectDiff:
    """One object: ``code``/``live`` normalised models, ``None`` where the object does not exist."""
    if live is None:
        return ObjectDiff(kind, uid, title, "missing" if code is not None else "same")
    if code is None:
        return ObjectDiff(kind, uid, title, "extra", who=who)
    changes = tuple(diff_values(code, live))
    return ObjectDiff(kind, uid, title, "differs" if changes else "same", changes, who)


_STATE_WORDS = {"differs": "differs from code", "missing": "missing in Grafana",
                "extra": "only in Grafana (no longer in code)", "same": "same as code"}


def render(diffs: Sequence[ObjectDiff], show_same: bool = False) -> str:
    """The report: each drifted object, its changes grouped per panel, and a summary line."""
    lines: list[str] = []
    for d in diffs:
        if not d.drifted and not show_same:
            continue
        who = f" ({d.who})" if d.who else ""
        lines.append(f"{d.kind} {d.uid} {json.dumps(d.title, ensure_ascii=False)}: {_STATE_WORDS[d.state]}{who}")
        group = None
        for change in d.changes:
            if len(change.path) > 2 and change.path[0] == "panels":  # "panels[id=2 \"title\"]" as a heading
                heading = f"panel {change.path[1][1:-1]}"
                if heading != group:
                    lines.append(f"  {heading}:")
                    group = heading
                lines.append("    " + FieldChange(change.path[2:], change.code, change.live).line())
            elif len(change.path) == 2 and change.path[0] == "panels" and MISSING in (change.code, change.live):
                group = None
                side = change.live if change.code is MISSING else change.code
                what = f" ({side.get('type')})" if isinstance(side, Mapping) and side.get("type") else ""
                done = "added in Grafana" if change.code is MISSING else "removed in Grafana"
                lines.append(f"  panel {change.path[1][1:-1]}{what}: {done}")
            else:
                group = None
                lines.append("  " + change.line())
    counts: dict[str, int] = {}
    for d in diffs:
        counts[d.state] = counts.get(d.state, 0) + 1
    summary = ", ".join(f"{counts[s]} {s}" for s in ("differs", "missing", "extra", "same") if counts.get(s))
    lines.append(f"diff: {summary or 'nothing to compare'}")
    return "\n".join(lines) + "\n"


__all__ = ["MISSING", "FieldChange", "ObjectDiff", "compare", "diff_values", "render", "show"]
