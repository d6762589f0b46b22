from __future__ import annotations

import datetime

import pytest

from watchtower.upgrades.kubeversion import parse_version
from watchtower.upgrades.policy import (
    CertDeadline,
    LastUpgrade,
    add_months,
    assess,
    choose_last_upgrade,
    parse_interval,
)

DAY = 86400.0


def ts(text: str) -> float:
    return datetime.datetime.fromisoformat(text).replace(tzinfo=datetime.UTC).timestamp()


def test_calendar_months_clamp_to_the_month_end() -> None:
    assert add_months(ts("2026-01-15T10:00:00"), 4) == ts("2026-05-15T10:00:00")
    assert add_months(ts("2025-10-31T00:00:00"), 4) == ts("2026-02-28T00:00:00")
    assert add_months(ts("2027-10-31T00:00:00"), 4) == ts("2028-02-29T00:00:00")  # leap year
    assert add_months(ts("2026-11-30T00:00:00"), 3) == ts("2027-02-28T00:00:00")  # across the year


def test_interval_spellings() -> None:
    assert parse_interval("4mo").months == 4
    assert parse_interval("4 months").months == 4
    assert parse_interval("120d").seconds == 120 * DAY
    assert str(parse_interval("4mo")) == "4mo" and str(parse_interval("17w")) == "119d"


@pytest.mark.parametrize("text", ["4m", "0mo", "3d", "soon", ""])
def test_interval_mistakes_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_interval(text)


def test_evidence_order_of_trust() -> None:
    observed = LastUpgrade(ts("2026-03-01T00:00:00"), "observed")
    backup = LastUpgrade(ts("2026-03-02T00:00:00"), "kubeadm_backup")
    cert = LastUpgrade(ts("2026-04-01T00:00:00"), "apiserver_cert")
    assert choose_last_upgrade(observed, backup, cert) is observed
    assert choose_last_upgrade(None, backup, cert) is backup
    assert choose_last_upgrade(None, None, cert) is cert
    unknown = choose_last_upgrade(None, None, None)
    assert unknown.at is None and unknown.evidence == "unknown"


def test_assessment_due_date_behind_and_deadline() -> None:
    last = LastUpgrade(ts("2026-01-15T00:00:00"), "observed")
    a = assess(
        current=parse_version("v1.29.5"), latest=parse_version("v1.31.4"),
        latest_patch_of_current_minor=parse_version("v1.29.14"), last_upgrade=last,
        interval=parse_interval("4mo"), current_minor_eol=None,
        cert_deadline=CertDeadline(ts("2026-04-01T00:00:00"), "admin.conf"),
    )
    assert a.next_due == ts("2026-05-15T00:00:00")
    assert a.interval_seconds == a.next_due - last.at == 120 * DAY
    assert (a.minors_behind, a.upgrades_needed) == (2, 2)
    assert a.due_after_cert_deadline is True  # certificates expire 6 weeks before the due date


def test_assessment_without_last_upgrade_has_no_due_date() -> None:
    a = assess(current=parse_version("v1.31.4"), latest=parse_version("v1.31.4"), latest_patch_of_current_minor=None,
               last_upgrade=choose_last_upgrade(None, None, None), interval=parse_interval("120d"),
               current_minor_eol=None, cert_deadline=CertDeadline(ts("2027-01-01T00:00:00"), "pki/apiserver.crt"))
    assert a.next_due is None and a.due_after_cert_deadline is None
    assert (a.minors_behind, a.upgrades_needed) == (0, 0)
    assert a.interval_seconds == 120 * DAY
