"""Which rule files a pull rewrites, with what text, and which live rules cannot come back; pure.

Input: the rule files as (source, text), the desired state built from them, and the live
rules and group intervals. Every live rule of watchtower's folder that differs from code is
either an edit of its file (``rulemap.map_back`` then ``ruleedit.apply``) or a ``RulePull``
with the reason it does not map back; so are rules that exist only in Grafana. A changed
group evaluation interval is written as the group's ``interval``. Files are rewritten only where
an edit applied.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping, Sequence
from typing import Any

from watchtower.provisioning.model import DesiredState, go_duration
from watchtower.provisioning.normalise import normalise_rule
from watchtower.provisioning.ruleedit import EditError, apply, set_group_interval
from watchtower.provisioning.rulemap import RulePull, map_back, occurrences
from watchtower.provisioning.rules import PromAlert, parse_rule_file, rule_uid


@dataclasses.dataclass(frozen=True)
class RulePullResult:
    files: Mapping[str, str]  # file name (no directory) → new text
    pulled: tuple[RulePull, ...]  # edits that applied
    not_pulled: tuple[RulePull, ...]  # with the reason
    intervals: tuple[tuple[str, str, str], ...] = ()  # (group, rule file, new interval) written


def pull_rules(rule_files: Sequence[tuple[str, str]], desired: DesiredState, live_rules: Mapping[str, Mapping[str, Any]],
               live_intervals: Mapping[str, int | None], datasource_uid: str) -> RulePullResult:
    texts = dict(rule_files)
    alerts: list[PromAlert] = []
    for source, text in rule_files:
        alerts += parse_rule_file(text, source)[1]
    code = {r.uid: r for r in desired.rules}
    folder = desired.folder.uid
    pulled: list[RulePull] = []
    not_pulled: list[RulePull] = []
    for alert, occurrence in zip(alerts, occurrences(alerts), strict=True):
        uid = rule_uid(alert.group, alert.alert, occurrence)
        live, mine = live_rules.get(uid), code.get(uid)
        if live is None or mine is None or normalise_rule(live) == normalise_rule(mine.body()):
            continue
        result = map_back(alert, occurrence, alerts, live, folder, datasource_uid)
        if result.edit is None:
            not_pulled.append(result)
            continue
        try:
            texts[alert.source] = apply(texts[alert.source], result.edit)
        except EditError as exc:
            not_pulled.append(dataclasses.replace(result, edit=None, reason=str(exc)))
            continue
        pulled.append(result)
    for uid, live in live_rules.items():
        if uid not in code and live.get("folderUID") == folder:
            not_pulled.append(RulePull(uid, str(live.get("title")), "", reason="exists only in Grafana: no rule file "
                                       "holds it (write it as a Prometheus rule in alerts/ to keep it)"))
    intervals: list[tuple[str, str, str]] = []
    for group in desired.rule_groups:
        have = live_intervals.get(group.name)
        source = group.rules[0].source if group.rules else ""
        if have is None or group.interval_seconds is None or have == int(group.interval_seconds) or source not in texts:
            continue
        try:
            texts[source] = set_group_interval(texts[source], group.name, go_duration(have))
        except EditError as exc:
            not_pulled.append(RulePull(group.name, group.name, source, reason=f"rule group interval: {exc}"))
            continue
        intervals.append((group.name, source, go_duration(have)))
    changed = {p.source for p in pulled} | {source for _, source, _ in intervals}
    files = {os.path.basename(source): texts[source] for source in texts if source in changed}
    return RulePullResult(files, tuple(pulled), tuple(not_pulled), tuple(intervals))


__all__ = ["RulePullResult", "pull_rules"]
