"""Pure outputs: the policy assessment → metric families, findings, details and the check table."""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Mapping
from typing import Any

from prometheus_client.core import Metric

from watchtower.collectors.upgrade import families as fam
from watchtower.collectors.upgrade.settings import DAY
from watchtower.core.details import Details, json_field
from watchtower.core.families import Family
from watchtower.core.formatting import rfc3339
from watchtower.core.results import Finding, Severity
from watchtower.core.settings import format_duration
from watchtower.upgrades import releases
from watchtower.upgrades.kubeversion import KubeVersion
from watchtower.upgrades.policy import Assessment
from watchtower.upgrades.state import UpgradeState

SOURCE_APISERVER = "apiserver"
# -------------------------------------------------------------------- pure: outputs


def _date(timestamp: float | None, with_time: bool = False) -> str:
    if timestamp is None:
        return "unknown"
    moment = datetime.datetime.fromtimestamp(timestamp, datetime.UTC)
    return moment.strftime("%Y-%m-%d %H:%M UTC" if with_time else "%Y-%m-%d")




def build_metrics(
    a: Assessment, by_source: Mapping[str, KubeVersion], facts: releases.ReleaseFacts, lead_seconds: float,
) -> tuple[Metric, ...]:
    version_info = fam.KUBERNETES_VERSION.info()
    for source, version in sorted(by_source.items()):
        version_info.add_metric((str(version), version.minor_text, source), {})
    latest_info = fam.KUBERNETES_LATEST_VERSION.info()
    if a.latest is not None:
        latest_info.add_metric((str(a.latest), a.latest.minor_text, "stable"), {})
    if a.latest_patch_of_current_minor is not None:
        v = a.latest_patch_of_current_minor
        latest_info.add_metric((str(v), v.minor_text, f"stable-{v.minor_text}"), {})
    out: list[Metric] = [version_info, latest_info]

    def gauge(family: Family, value: float | None, labels: Mapping[str, str] | None = None) -> None:
        metric = family.gauge()
        if value is not None:
            metric.add_metric(list((labels or {}).values()), value)
        out.append(metric)

    gauge(fam.KUBERNETES_MINORS_BEHIND, a.minors_behind)
    gauge(fam.KUBERNETES_UPGRADES_NEEDED, a.upgrades_needed)
    eol_labels = {'minor': a.current.minor_text} if a.current is not None else {'minor': ''}
    gauge(fam.KUBERNETES_MINOR_EOL_TIMESTAMP_SECONDS, a.current_minor_eol if a.current is not None else None, eol_labels)
    last_value = a.last_upgrade.at if a.last_upgrade.at is not None else 0.0
    gauge(fam.UPGRADE_LAST_TIMESTAMP_SECONDS, last_value, {'evidence': a.last_upgrade.evidence})
    gauge(fam.UPGRADE_NEXT_DUE_TIMESTAMP_SECONDS, a.next_due)
    gauge(fam.UPGRADE_POLICY_INTERVAL_SECONDS, a.interval_seconds)
    gauge(fam.UPGRADE_REMINDER_LEAD_SECONDS, lead_seconds)
    deadline = a.cert_deadline
    gauge(fam.UPGRADE_CERT_DEADLINE_TIMESTAMP_SECONDS, deadline.not_after if deadline else None, {'certificate': deadline.certificate if deadline else ''})
    after = a.due_after_cert_deadline
    gauge(fam.UPGRADE_DUE_AFTER_CERT_DEADLINE, None if after is None else float(after))
    gauge(fam.KUBERNETES_RELEASE_FETCH_TIMESTAMP_SECONDS, facts.fetched_at)
    return tuple(out)


def build_findings(a: Assessment, now: float, lead_seconds: float) -> tuple[Finding, ...]:
    section = "upgrade"
    out: list[Finding] = []
    current = str(a.current) if a.current else "unknown version"
    last = (f"last upgrade {_date(a.last_upgrade.at)} ({a.last_upgrade.evidence})"
            if a.last_upgrade.at is not None else "last upgrade unknown")
    if a.next_due is None:
        out.append(Finding(section, "policy", Severity.WARNING,
                           f"{current}: {last}; cannot tell when the next upgrade is due"))
    elif now >= a.next_due:
        out.append(Finding(section, "policy", Severity.WARNING,
                           f"{current}: upgrade overdue since {_date(a.next_due)}; {last}"))
    elif now >= a.next_due - lead_seconds:
        out.append(Finding(section, "policy", Severity.WARNING,
                           f"{current}: upgrade due {_date(a.next_due)} (in {format_duration(round((a.next_due - now) / DAY) * DAY)}); {last}"))
    else:
        out.append(Finding(section, "policy", Severity.OK, f"{current}: next upgrade due {_date(a.next_due)}; {last}"))
    if a.cert_deadline is not None:
        d = a.cert_deadline
        if now >= d.not_after:
            out.append(Finding(section, "certificates", Severity.CRITICAL,
                               f"{d.certificate} expired {_date(d.not_after)}: renew now (kubeadm certs renew) or upgrade"))
        elif now + lead_seconds >= d.not_after:
            out.append(Finding(section, "certificates", Severity.CRITICAL,
                               f"{d.certificate} expires {_date(d.not_after)} (in {max(0, round((d.not_after - now) / DAY))} days): "
                               "upgrade now (it renews the kubeadm certificates) or run kubeadm certs renew"))
        elif a.due_after_cert_deadline:
            out.append(Finding(section, "certificates", Severity.CRITICAL,
                               f"{d.certificate} expires {_date(d.not_after)}, before the next upgrade is due "
                               f"({_date(a.next_due)}): upgrade or renew before then"))
    if a.minors_behind is not None and a.minors_behind >= 2:
        out.append(Finding(section, "version", Severity.WARNING,
                           f"{current} is {a.minors_behind} minors behind {a.latest}: {a.upgrades_needed} upgrades needed"))
    if a.current_minor_eol is not None and a.current is not None and now >= a.current_minor_eol:
        out.append(Finding(section, "version", Severity.WARNING,
                           f"Kubernetes {a.current.minor_text} reached end of life on {_date(a.current_minor_eol)}"))
    return tuple(out)


def _minors_json(minors: Mapping[str, releases.Cycle]) -> dict[str, Any]:
    return {m: {"latest": str(c.latest) if c.latest else None, "eol": rfc3339(c.eol, whole_seconds=True)}
            for m, c in minors.items()}


def _versions_json(versions: Mapping[str, KubeVersion]) -> dict[str, str]:
    return {k: str(v) for k, v in sorted(versions.items())}


@dataclasses.dataclass(frozen=True, slots=True)
class UpgradeDetails(Details):
    """The assessment as ``check``, the status page and the upgrade plan read it.

    Versions stay ``KubeVersion`` and times Unix seconds; the JSON writes them as ``v1.30.2`` and
    RFC 3339 (whole seconds). ``watchtower.app.planning`` plans from these fields directly.
    """

    minors: Mapping[str, releases.Cycle] = json_field(default_factory=dict, convert=_minors_json)
    days_per_hop: float = 7.0
    reminder_lead_seconds: float = 14 * DAY
    current: KubeVersion | None = json_field(default=None, convert=str)
    versions: Mapping[str, KubeVersion] = json_field(default_factory=dict, convert=_versions_json)
    latest: KubeVersion | None = json_field(default=None, convert=str)
    latest_patch_of_current_minor: KubeVersion | None = json_field(default=None, convert=str)
    release_source: str = ""
    release_fetched_at: float | None = json_field(default=None, time="rfc3339_seconds")
    release_error: str | None = None
    minors_behind: int | None = None
    upgrades_needed: int | None = None
    current_minor_eol: float | None = json_field(default=None, time="rfc3339_seconds")
    last_upgrade: float | None = json_field(default=None, time="rfc3339_seconds")
    last_upgrade_evidence: str = "unknown"
    last_upgrade_detail: str = ""
    upgrade_every: str = ""
    reminder_lead: float = json_field(default=14 * DAY, convert=format_duration)  # = reminder_lead_seconds, for people
    next_due: float | None = json_field(default=None, time="rfc3339_seconds")
    cert_deadline: float | None = json_field(default=None, time="rfc3339_seconds")
    cert_deadline_certificate: str | None = None
    due_after_cert_deadline: bool | None = None
    observed_since: float | None = json_field(default=None, time="rfc3339_seconds")
    now: float = json_field(default=0.0, time="rfc3339_seconds")

    @classmethod
    def build(cls, a: Assessment, by_source: Mapping[str, KubeVersion], facts: releases.ReleaseFacts, source: str,
              lead_seconds: float, now: float, state: UpgradeState | None, days_per_hop: float = 7.0) -> UpgradeDetails:
        return cls(
            minors=dict(facts.minors), days_per_hop=days_per_hop, reminder_lead_seconds=lead_seconds,
            current=a.current, versions=dict(by_source), latest=a.latest,
            latest_patch_of_current_minor=a.latest_patch_of_current_minor, release_source=source,
            release_fetched_at=facts.fetched_at, release_error=facts.error.detail if facts.error else None,
            minors_behind=a.minors_behind, upgrades_needed=a.upgrades_needed, current_minor_eol=a.current_minor_eol,
            last_upgrade=a.last_upgrade.at, last_upgrade_evidence=a.last_upgrade.evidence,
            last_upgrade_detail=a.last_upgrade.detail, upgrade_every=str(a.interval), reminder_lead=lead_seconds,
            next_due=a.next_due,
            cert_deadline=a.cert_deadline.not_after if a.cert_deadline else None,
            cert_deadline_certificate=a.cert_deadline.certificate if a.cert_deadline else None,
            due_after_cert_deadline=a.due_after_cert_deadline,
            observed_since=state.first_seen_at if state else None, now=now,
        )

    def check_table(self, color: bool = False) -> list[str] | None:
        return render_check(self)


def _relative(target: float | None, now: float | None) -> str:
    if target is None or now is None:
        return ""
    days = round((target - now) / DAY)
    if days > 0:
        return f" (in {days} days)"
    if days < 0:
        return f" ({-days} days ago)"
    return " (today)"


def render_check(d: UpgradeDetails) -> list[str]:
    """The ``watchtower check`` Upgrade section: current, latest, behind, last upgrade, due, deadline."""
    now = d.now
    versions = ", ".join(f"{k.replace('_', '-')} {v}" for k, v in sorted(d.versions.items()))
    latest = str(d.latest) if d.latest else "unknown"
    extra = []
    if d.latest_patch_of_current_minor:
        extra.append(f"newest patch of the running minor: {d.latest_patch_of_current_minor}")
    extra.append(f"from {d.release_source}")
    if d.release_error:
        extra.append(f"STALE, source failing: {d.release_error}")
    behind = d.minors_behind
    behind_text = "unknown" if behind is None else (
        f"{behind} minor{'s' if behind != 1 else ''}, {d.upgrades_needed} upgrade(s) needed (one minor at a time)")
    last_ts = d.last_upgrade
    last_text = (f"{_date(last_ts, with_time=True)}{_relative(last_ts, now)}" if last_ts else "unknown")
    last_text += f" — evidence: {d.last_upgrade_evidence}"
    if d.last_upgrade_detail:
        last_text += f" ({d.last_upgrade_detail})"
    due_ts = d.next_due
    due_text = (f"{_date(due_ts)}{_relative(due_ts, now)}" if due_ts else "unknown") + \
        f" — every {d.upgrade_every}, reminder {format_duration(d.reminder_lead)} before"
    deadline_ts = d.cert_deadline
    if deadline_ts:
        deadline_text = f"{_date(deadline_ts)}{_relative(deadline_ts, now)} ({d.cert_deadline_certificate})"
        if d.due_after_cert_deadline:
            deadline_text += " — BEFORE the due date: upgrade or renew certificates before then"
    else:
        deadline_text = "unknown (no kubeadm leaf certificates readable here)"
    eol_ts = d.current_minor_eol
    rows = [
        ("current", (str(d.current) if d.current else "unknown") + (f" ({versions})" if versions else "")),
        ("latest", f"{latest} ({'; '.join(extra)})"),
        ("behind", behind_text),
        ("last upgrade", last_text),
        ("due", due_text),
        ("end of life", f"{_date(eol_ts)}{_relative(eol_ts, now)}" if eol_ts else "unknown"),
        ("cert deadline", deadline_text),
    ]
    width = max(len(k) for k, _ in rows)
    return ["UPGRADE"] + [f"  {k.ljust(width)}  {v}" for k, v in rows]
