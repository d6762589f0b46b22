"""How soon a certificate needs attention: lifetime-relative urgency (pure)."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from watchtower.pki.model import CertInfo


@dataclasses.dataclass(frozen=True)
class Thresholds:
    """Urgency bounds: warn below min(warning_seconds, warning_fraction × lifetime), likewise critical."""

    warning_seconds: float = 30 * 86400
    warning_fraction: float = 0.20
    critical_seconds: float = 7 * 86400
    critical_fraction: float = 0.05

    def warning_at(self, cert: CertInfo) -> float:
        return min(self.warning_seconds, self.warning_fraction * cert.lifetime_seconds)

    def critical_at(self, cert: CertInfo) -> float:
        return min(self.critical_seconds, self.critical_fraction * cert.lifetime_seconds)


def urgency(cert: CertInfo, now: float, thresholds: Thresholds = Thresholds()) -> str:
    """``expired``, ``not_yet_valid``, ``critical``, ``warning`` or ``ok`` — lifetime-relative."""
    return urgency_of(cert.not_before, cert.not_after, now, thresholds)


def urgency_of(not_before: float, not_after: float, now: float, thresholds: Thresholds = Thresholds()) -> str:
    """``urgency`` from the dates alone (Unix seconds): a report row judges it when it is read."""
    left = not_after - now
    if left <= 0:
        return "expired"
    if not_before > now:
        return "not_yet_valid"
    lifetime = not_after - not_before
    if left < min(thresholds.critical_seconds, thresholds.critical_fraction * lifetime):
        return "critical"
    if left < min(thresholds.warning_seconds, thresholds.warning_fraction * lifetime):
        return "warning"
    return "ok"
