"""When the next upgrade is due, and how that relates to the certificate deadline.

The team's rule: upgrade at least every four months, so that kubeadm (which renews the control
plane's one-year leaf certificates on every ``kubeadm upgrade``) never lets them expire, and the
cluster never falls minors behind. The interval is written either in calendar months (``4mo``,
the default: an upgrade on 15 January is due on 15 May) or as a fixed duration (``120d``).
"""

from __future__ import annotations

import calendar
import dataclasses
import datetime
import re

from watchtower.core.settings import format_duration, parse_duration
from watchtower.upgrades.kubeversion import KubeVersion, minor_distance, upgrades_needed

_MONTHS_RE = re.compile(r"^\s*(\d+)\s*(?:mo|month|months)\s*$")
MIN_INTERVAL_SECONDS = 7 * 86400.0

EVIDENCE_OBSERVED = "observed"
EVIDENCE_KUBEADM_BACKUP = "kubeadm_backup"
EVIDENCE_APISERVER_CERT = "apiserver_cert"
EVIDENCE_UNKNOWN = "unknown"
EVIDENCE_KINDS = (EVIDENCE_OBSERVED, EVIDENCE_KUBEADM_BACKUP, EVIDENCE_APISERVER_CERT, EVIDENCE_UNKNOWN)
"""In order of trust: a version change watchtower saw itself; the timestamped backup directories
``kubeadm upgrade`` writes; the apiserver certificate's renewal (also done by ``kubeadm certs
renew`` without an upgrade); nothing."""


@dataclasses.dataclass(frozen=True)
class UpgradeInterval:
    """``months`` calendar months, or a fixed number of ``seconds`` (exactly one is set)."""

    months: int = 0
    seconds: float = 0.0

    def due_after(self, timestamp: float) -> float:
        if self.months:
            return add_months(timestamp, self.months)
        return timestamp + self.seconds

    def __str__(self) -> str:
        return f"{self.months}mo" if self.months else format_duration(self.seconds)


def parse_interval(text: str) -> UpgradeInterval:
    """``4mo`` / ``4 months`` → calendar months; ``120d`` / ``17w`` → a fixed duration.

    Anything under a week is refused: ``4m`` is four minutes, almost surely meant as ``4mo``.
    """
    match = _MONTHS_RE.match(text) if isinstance(text, str) else None
    if match:
        months = int(match.group(1))
        if months < 1:
            raise ValueError("at least 1mo")
        return UpgradeInterval(months=months)
    seconds = float(parse_duration(text))
    if seconds < MIN_INTERVAL_SECONDS:
        raise ValueError(f"{text!r} is under a week (write months as '4mo', not '4m')")
    return UpgradeInterval(seconds=seconds)


def add_months(timestamp: float, months: int) -> float:
    """The same UTC wall time ``months`` calendar months later, the day clamped to the month's end."""
    moment = datetime.datetime.fromtimestamp(timestamp, datetime.UTC)
    index = moment.month - 1 + months
    year, month = moment.year + index // 12, index % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day).timestamp()


@dataclasses.dataclass(frozen=True)
class LastUpgrade:
    """When the control plane was last upgraded, and what that belief rests on."""

    at: float | None
    evidence: str
    detail: str = ""


def choose_last_upgrade(
    observed: LastUpgrade | None,
    kubeadm_backup: LastUpgrade | None,
    apiserver_cert: LastUpgrade | None,
) -> LastUpgrade:
    """The most trustworthy evidence available (see ``EVIDENCE_KINDS``), else ``unknown``."""
    for candidate in (observed, kubeadm_backup, apiserver_cert):
        if candidate is not None and candidate.at is not None:
            return candidate
    return LastUpgrade(None, EVIDENCE_UNKNOWN, "no version change observed yet, no kubeadm backups, "
                                               "no readable apiserver certificate")


@dataclasses.dataclass(frozen=True)
class CertDeadline:
    """The earliest not-after among the kubeadm leaf certificates: the hard upgrade deadline."""

    not_after: float
    certificate: str  # e.g. "pki/apiserver.crt" or "admin.conf", relative to the kubeadm root


@dataclasses.dataclass(frozen=True)
class Assessment:
    """Every policy fact the collector exports and ``watchtower check`` prints."""

    current: KubeVersion | None
    latest: KubeVersion | None
    latest_patch_of_current_minor: KubeVersion | None
    minors_behind: int | None
    upgrades_needed: int | None
    last_upgrade: LastUpgrade
    interval: UpgradeInterval
    next_due: float | None
    current_minor_eol: float | None
    cert_deadline: CertDeadline | None

    @property
    def interval_seconds(self) -> float:
        """The interval in seconds; for calendar months, as it applies to the last upgrade."""
        if self.interval.seconds:
            return self.interval.seconds
        if self.last_upgrade.at is not None and self.next_due is not None:
            return self.next_due - self.last_upgrade.at
        return self.interval.months * 30.436875 * 86400  # a mean month until a last upgrade is known

    @property
    def due_after_cert_deadline(self) -> bool | None:
        """True when following the policy to the letter would still let certificates expire."""
        if self.next_due is None or self.cert_deadline is None:
            return None
        return self.next_due > self.cert_deadline.not_after


def assess(
    *,
    current: KubeVersion | None,
    latest: KubeVersion | None,
    latest_patch_of_current_minor: KubeVersion | None,
    last_upgrade: LastUpgrade,
    interval: UpgradeInterval,
    current_minor_eol: float | None,
    cert_deadline: CertDeadline | None,
) -> Assessment:
    behind = needed = None
    if current is not None and latest is not None:
        behind = max(0, minor_distance(latest, current))
        needed = upgrades_needed(current, latest)
    next_due = interval.due_after(last_upgrade.at) if last_upgrade.at is not None else None
    return Assessment(
        current=current, latest=latest, latest_patch_of_current_minor=latest_patch_of_current_minor,
        minors_behind=behind, upgrades_needed=needed, last_upgrade=last_upgrade, interval=interval,
        next_due=next_due, current_minor_eol=current_minor_eol, cert_deadline=cert_deadline,
    )
