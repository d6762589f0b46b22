"""The upgrade plan from collector details, as text (plan upgrade, check) and on the status page."""

from __future__ import annotations

import datetime
from html.parser import HTMLParser

from watchtower.app.planning import os_deadlines, plan_from_details, render_plan
from watchtower.app.statuspage import render_page
from watchtower.collectors.node_lifecycle import LifecycleDetails, OSReleaseRow
from watchtower.collectors.nodes.export import NodesDetails
from watchtower.collectors.upgrade.export import UpgradeDetails
from watchtower.upgrades.kubeversion import try_parse_version
from watchtower.upgrades.releases import Cycle

UTC = datetime.UTC


def day(text: str) -> float:
    return datetime.datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


NOW = day("2020-06-01T09:00:00")


def minor(name: str, latest: str | None, eol: str | None) -> tuple[str, Cycle]:
    return name, Cycle(name, try_parse_version(latest), day(eol) if eol else None)


UPGRADE = UpgradeDetails(
    current=try_parse_version("v1.12.7"), latest=try_parse_version("v1.18.3"), next_due=day("2019-10-21T12:00:00"),
    cert_deadline=day("2020-06-20T12:00:00"), cert_deadline_certificate="pki/apiserver.crt",
    current_minor_eol=day("2019-07-08T00:00:00"), days_per_hop=7.0, reminder_lead_seconds=14 * 86400.0,
    minors=dict([
        minor("1.13", "v1.13.12", "2019-10-15T00:00:00"), minor("1.14", "v1.14.10", None), minor("1.15", None, None),
        minor("1.16", "v1.16.10", None), minor("1.17", "v1.17.6", None), minor("1.18", "v1.18.3", "2021-06-18T00:00:00"),
    ]),
)
NODES = NodesDetails(lifecycle=LifecycleDetails(os=(
    OSReleaseRow("ubuntu", "16.04", 12, 3, tuple(f"n-{i}" for i in range(10)), day("2021-04-30T00:00:00")),
    OSReleaseRow("unknown", "unknown", 1, 0, ("x",), None),
)))


def test_plan_from_details_and_text() -> None:
    plan = plan_from_details(UPGRADE, NODES, NOW)
    assert [h.target_text for h in plan.hops] == ["v1.13.12", "v1.14.10", "v1.15.x (newest patch unknown)",
                                                  "v1.16.10", "v1.17.6", "v1.18.3"]
    assert plan.exit_code == 2
    lines = render_plan(plan)
    assert lines[0].startswith("UPGRADE PLAN  v1.12.7 → v1.18.3: 6 hop(s)")
    assert lines[1].startswith("  CRITICAL: kubeadm certificate pki/apiserver.crt expires 2020-06-20 (19 days)")
    assert any("ubuntu 16.04 standard support ends (n-0, n-1" in line and "and 2 more)" in line for line in lines)
    assert os_deadlines(None) == [] and os_deadlines(NodesDetails()) == []


def test_without_versions_there_is_no_plan_and_it_says_why() -> None:
    plan = plan_from_details(UpgradeDetails(latest=try_parse_version("v1.18.3")), None, NOW)
    assert plan.exit_code == 2 and render_plan(plan) == ["UPGRADE PLAN  unknown", "  cannot plan: the running version is unknown"]


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def test_status_page_plan_section() -> None:
    doc = {"status": "critical", "findings": [], "details": {}, "collectors": [],
           "plan": plan_from_details(UPGRADE, NODES, NOW).to_dict()}
    page = render_page(doc)
    assert "<section id='plan'><h2>Upgrade plan</h2>" in page
    parser = _Text()
    parser.feed(page[page.index("<section id='plan'>"):])
    text = " ".join(parser.parts)
    assert "v1.12.7 → v1.18.3: 6 hop(s)" in text and "v1.15.x (newest patch unknown)" in text
    assert "kubeadm certificate pki/apiserver.crt expires" in text
    assert "<section id='plan'>" not in render_page({**doc, "plan": None})
