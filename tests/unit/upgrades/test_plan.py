"""The upgrade plan (pure): hops one minor at a time, deadlines, verdicts, blockers."""

from __future__ import annotations

import datetime

import pytest

from watchtower.upgrades.kubeversion import parse_version
from watchtower.upgrades.plan import (
    DEADLINE_CERT,
    DEADLINE_MINOR_EOL,
    DEADLINE_OS_EOL,
    DEADLINE_POLICY,
    Blocker,
    MinorRelease,
    NodeLifecycle,
    node_deadlines,
    plan_upgrade,
)

UTC = datetime.UTC
DAY = 86400.0


def day(text: str) -> float:
    return datetime.datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


# The seed team's situation: early summer 2020, cluster at v1.12, v1.18 the newest minor. The
# newest patch of each minor as of 2020-06-01 (kubernetes CHANGELOG-1.N.md), EOLs from endoflife.date.
NOW_2020 = day("2020-06-01T09:00:00")
RELEASES_2020 = {
    "1.12": MinorRelease("1.12", parse_version("v1.12.10"), day("2019-07-08")),
    "1.13": MinorRelease("1.13", parse_version("v1.13.12"), day("2019-10-15")),
    "1.14": MinorRelease("1.14", parse_version("v1.14.10"), day("2019-12-11")),
    "1.15": MinorRelease("1.15", parse_version("v1.15.12"), day("2020-05-06")),
    "1.16": MinorRelease("1.16", parse_version("v1.16.10"), day("2020-09-02")),
    "1.17": MinorRelease("1.17", parse_version("v1.17.6"), day("2021-01-13")),
    "1.18": MinorRelease("1.18", parse_version("v1.18.3"), day("2021-06-18")),
}


def seed_plan(cert_in_days: float = 20, days_per_hop: float = 7, **kw: object):
    args = {
        "now": NOW_2020, "current": parse_version("v1.12.7"), "latest": parse_version("v1.18.3"), "releases": RELEASES_2020,
        "days_per_hop": days_per_hop, "reminder_lead": 14 * DAY, "next_due": day("2019-03-01"),
        "cert_deadline": (NOW_2020 + cert_in_days * DAY, "pki/apiserver.crt"), "current_minor_eol": day("2019-07-08"),
        "os_deadlines": node_deadlines([NodeLifecycle("cp-1", "ubuntu", "16.04", day("2021-04-02"), day("2026-04-02"), True)]),
    }
    args.update(kw)
    return plan_upgrade(**args)  # type: ignore[arg-type]


def test_seed_team_six_hops_at_newest_patches_and_the_certificate_deadline_flagged() -> None:
    plan = seed_plan()
    assert [h.minor for h in plan.hops] == ["1.13", "1.14", "1.15", "1.16", "1.17", "1.18"]
    assert [str(h.target) for h in plan.hops] == ["v1.13.12", "v1.14.10", "v1.15.12", "v1.16.10", "v1.17.6", "v1.18.3"]
    assert plan.hops[0].from_version == "v1.12.7" and plan.hops[1].from_version == "v1.13.12"
    assert plan.hops[3].eol == day("2020-09-02")
    assert plan.exit_code == 2 and plan.status == "cert_before_finish"
    assert "pki/apiserver.crt" in plan.reasons[0] and "before the last of 6 hops" in plan.reasons[0]
    cert = next(d for d in plan.deadlines if d.kind == DEADLINE_CERT)
    assert cert.days_left == 20 and cert.before_finish
    # sorted by date, with days left (negative: passed)
    assert [d.kind for d in plan.deadlines] == [DEADLINE_POLICY, DEADLINE_MINOR_EOL, DEADLINE_CERT, DEADLINE_OS_EOL]
    assert plan.deadlines[0].days_left < 0
    assert plan.finish == NOW_2020 + 42 * DAY


def test_enough_time_for_the_hops_is_not_a_certificate_problem() -> None:
    plan = seed_plan(cert_in_days=60, next_due=NOW_2020 + 100 * DAY, current_minor_eol=None, os_deadlines=[])
    assert plan.exit_code == 0 and plan.status == "on_schedule"
    plan = seed_plan(cert_in_days=60, days_per_hop=14, next_due=NOW_2020 + 100 * DAY, current_minor_eol=None, os_deadlines=[])
    assert plan.exit_code == 2  # 6 × 14 days = 84 > 60


def test_due_soon_overdue_and_unknown() -> None:
    ok = {"cert_deadline": None, "current_minor_eol": None, "os_deadlines": []}
    assert seed_plan(next_due=NOW_2020 + 10 * DAY, **ok).exit_code == 1
    assert seed_plan(next_due=NOW_2020 + 10 * DAY, **ok).status == "due_soon"
    assert seed_plan(next_due=NOW_2020 - DAY, **ok).status == "overdue"
    assert seed_plan(next_due=NOW_2020 - DAY, **ok).exit_code == 2
    assert seed_plan(next_due=None, **ok).exit_code == 1
    unknown = seed_plan(current=None)
    assert unknown.exit_code == 2 and unknown.status == "unknown" and unknown.hops == ()


def test_expired_certificate_is_critical_even_when_up_to_date() -> None:
    plan = seed_plan(current=parse_version("v1.18.3"), cert_in_days=-1, next_due=NOW_2020 + 90 * DAY)
    assert plan.hops == () and plan.exit_code == 2 and "expired" in plan.reasons[0]


def test_patch_only_hop_and_up_to_date() -> None:
    plan = seed_plan(current=parse_version("v1.18.1"), cert_in_days=300, next_due=NOW_2020 + 90 * DAY)
    assert [(h.minor, str(h.target)) for h in plan.hops] == [("1.18", "v1.18.3")]
    plan = seed_plan(current=parse_version("v1.18.3"), cert_in_days=300, next_due=NOW_2020 + 90 * DAY, os_deadlines=[],
                     current_minor_eol=None)
    assert plan.hops == () and plan.exit_code == 0


def test_missing_release_data_leaves_the_target_unknown_not_guessed() -> None:
    releases = {k: v for k, v in RELEASES_2020.items() if k != "1.15"}
    plan = seed_plan(releases=releases)
    hop = plan.hops[2]
    assert hop.minor == "1.15" and hop.target is None and "unknown" in hop.target_text
    assert plan.hops[3].from_version == hop.target_text


def test_notes_carry_kubelet_skew_and_certificate_renewal() -> None:
    plan = seed_plan()
    notes = " ".join(plan.hops[0].notes)
    assert "kubeadm upgrade apply v1.13.12" in notes and "oldest allowed: 1.11" in notes
    assert "renews the kubeadm control-plane certificates" in notes
    later = seed_plan(current=parse_version("v1.28.4"), latest=parse_version("v1.29.1"), releases={})
    assert "up to 3 minors" in " ".join(later.hops[0].notes)


def test_docker_nodes_block_the_1_24_hop_and_blockers_can_be_attached() -> None:
    plan = seed_plan(current=parse_version("v1.22.3"), latest=parse_version("v1.25.0"), releases={},
                     docker_nodes=["w-2", "w-1"], cert_deadline=None, next_due=NOW_2020 + 90 * DAY, os_deadlines=[],
                     current_minor_eol=None)
    assert [len(h.blockers) for h in plan.hops] == [0, 1, 0]
    assert plan.hops[1].blockers[0].kind == "runtime" and plan.hops[1].blockers[0].detail == "w-1, w-2"
    assert plan.exit_code == 1
    clean = seed_plan(current=parse_version("v1.15.1"), latest=parse_version("v1.16.10"), cert_deadline=None,
                      next_due=NOW_2020 + 90 * DAY, os_deadlines=[], current_minor_eol=None)
    assert clean.exit_code == 0
    blocked = clean.with_blockers({"1.16": [Blocker("removed_api", "Deployment extensions/v1beta1 in use", "default/web")]})
    assert blocked.hops[0].blockers[0].summary.startswith("Deployment") and blocked.exit_code == 1
    assert blocked.to_dict()["hops"][0]["blockers"][0]["kind"] == "removed_api"


@pytest.mark.parametrize("days, expected", [(0.5, 0), (20.9, 20), (-0.1, -1)])
def test_days_left_floors(days: float, expected: int) -> None:
    plan = seed_plan(cert_in_days=days)
    assert next(d for d in plan.deadlines if d.kind == DEADLINE_CERT).days_left == expected


def test_json_shape() -> None:
    d = seed_plan().to_dict()
    assert d["current"] == "v1.12.7" and d["exit_code"] == 2 and len(d["hops"]) == 6
    assert d["hops"][5]["target"] == "v1.18.3" and d["deadlines"][0]["kind"] == "policy_due"
    assert d["now"] == "2020-06-01T09:00:00Z"


def test_node_deadlines_group_by_release() -> None:
    nodes = [NodeLifecycle(f"w-{i}", "ubuntu", "18.04", 1.0) for i in range(7)] + [
        NodeLifecycle("cp-1", "debian", "12", 2.0), NodeLifecycle("x", "unknown", "unknown", None)]
    assert sorted(node_deadlines(nodes)) == [
        (1.0, "ubuntu 18.04 standard support ends (w-0, w-1, w-2, w-3, w-4 and 2 more)"),
        (2.0, "debian 12 standard support ends (cp-1)")]
