"""Every alert in alerts/*.rules.yaml follows the project's conventions.

Each alert has a ``severity`` label (critical|warning|info), a ``summary``, a ``description``
with concrete facts (``$labels``/``$value``) and a ``runbook_url`` naming an existing
docs/runbooks/<file>.md that talks about the alert; a promtool unit test that loads the alert's
rule file shows it firing (non-empty ``exp_alerts``) and staying quiet (empty ``exp_alerts``);
every ``watchtower_*`` metric a rule uses is documented in docs/metrics.md.

The checks are pure functions over parsed YAML and text, so they are themselves tested below
against deliberately broken inputs.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.promql_names import documented, metric_names

ROOT = Path(__file__).resolve().parents[2]
ALERTS = ROOT / "alerts"
RUNBOOKS = ROOT / "docs" / "runbooks"
METRICS_DOC = ROOT / "docs" / "metrics.md"

SEVERITIES = frozenset({"critical", "warning", "info"})
# Alerts that fire by design all the time; they cannot have a "stays quiet" test.
ALWAYS_FIRING = frozenset({"Watchdog"})
RUNBOOK_URL = re.compile(r"(?:^|/)docs/runbooks/([A-Za-z0-9_.-]+\.md)$")


@dataclasses.dataclass(frozen=True)
class Alert:
    rule_file: Path
    name: str
    rule: Mapping[str, Any]

    @property
    def id(self) -> str:
        return f"{self.rule_file.name}:{self.name}"


@dataclasses.dataclass(frozen=True)
class Coverage:
    """Which (rule file, alert) pairs promtool tests show firing, and which staying quiet."""

    fires: frozenset[tuple[Path, str]]
    quiet: frozenset[tuple[Path, str]]


def alerts_in(rule_file: Path, doc: Any) -> list[Alert]:
    groups = (doc or {}).get("groups") or []
    return [
        Alert(rule_file, rule["alert"], rule)
        for group in groups
        for rule in group.get("rules") or []
        if "alert" in rule
    ]


def exprs_in(doc: Any) -> list[str]:
    """Every expr (alerting and recording rules) of one rule file."""
    return [str(rule.get("expr", "")) for group in (doc or {}).get("groups") or [] for rule in group.get("rules") or []]


def alert_problems(alert: Alert, runbook_dir: Path) -> list[str]:
    """What is wrong with one alert's labels and annotations; empty when it is fine."""
    problems = []
    labels = alert.rule.get("labels") or {}
    annotations = alert.rule.get("annotations") or {}
    if labels.get("severity") not in SEVERITIES:
        problems.append(f"severity label {labels.get('severity')!r} is not one of {sorted(SEVERITIES)}")
    for key in ("summary", "description", "runbook_url"):
        if not str(annotations.get(key, "")).strip():
            problems.append(f"annotation {key!r} is missing or empty")
    description = str(annotations.get("description", ""))
    if alert.name not in ALWAYS_FIRING and "$labels" not in description and "$value" not in description:
        problems.append("description states no concrete facts (uses neither $labels nor $value)")
    url = str(annotations.get("runbook_url", ""))
    match = RUNBOOK_URL.search(url)
    if url and not match:
        problems.append(f"runbook_url {url!r} does not point to docs/runbooks/<file>.md")
    elif match:
        runbook = runbook_dir / match.group(1)
        if not runbook.is_file():
            problems.append(f"runbook {runbook} does not exist")
        elif alert.name not in runbook.read_text(encoding="utf-8"):
            problems.append(f"runbook {runbook.name} never mentions {alert.name}")
    return problems


def promtool_coverage(test_files: Mapping[Path, Any]) -> Coverage:
    """From parsed promtool test files: (rule file, alertname) pairs seen firing and seen quiet."""
    fires: set[tuple[Path, str]] = set()
    quiet: set[tuple[Path, str]] = set()
    for test_file, doc in test_files.items():
        rule_files = [(test_file.parent / f).resolve() for f in (doc or {}).get("rule_files") or []]
        for group in (doc or {}).get("tests") or []:
            for case in group.get("alert_rule_test") or []:
                target = fires if case.get("exp_alerts") else quiet
                target.update((rule_file, case["alertname"]) for rule_file in rule_files)
    return Coverage(frozenset(fires), frozenset(quiet))


def coverage_problems(alert: Alert, coverage: Coverage) -> list[str]:
    key = (alert.rule_file.resolve(), alert.name)
    problems = []
    if key not in coverage.fires:
        problems.append(f"no promtool test loading {alert.rule_file.name} expects {alert.name} to fire")
    if alert.name not in ALWAYS_FIRING and key not in coverage.quiet:
        problems.append(f"no promtool test loading {alert.rule_file.name} expects {alert.name} to stay quiet")
    return problems


ALERTNAME_MATCHER = re.compile(r'^\s*alertname\s*(=~|=)\s*"(.*)"\s*$')


def alertmanager_alertname_patterns(config: Any) -> list[str]:
    """Every alertname an Alertmanager config matches on (routes and inhibit rules), as regexes."""
    matchers: list[str] = []

    def walk(route: Mapping[str, Any]) -> None:
        matchers.extend(route.get("matchers") or [])
        for child in route.get("routes") or []:
            walk(child)

    walk(config.get("route") or {})
    for rule in config.get("inhibit_rules") or []:
        matchers.extend(rule.get("source_matchers") or [])
        matchers.extend(rule.get("target_matchers") or [])
    patterns = []
    for matcher in matchers:
        found = ALERTNAME_MATCHER.match(matcher)
        if found:
            op, value = found.groups()
            patterns.extend(value.split("|") if op == "=~" else [re.escape(value)])
    return patterns


def unknown_alertname_patterns(patterns: Iterable[str], alert_names: Iterable[str]) -> list[str]:
    """Patterns (one alternative of a regex each) that match no alert at all: a typo or a rename."""
    names = list(alert_names)
    return [p for p in patterns if not any(re.fullmatch(p, name) for name in names)]


def undocumented_metrics(exprs: Iterable[str], metrics_doc: str) -> list[str]:
    used = {m for expr in exprs for m in metric_names(expr) if m.startswith("watchtower_")}
    return sorted(m for m in used if not documented(m, metrics_doc))


# --- the real repository --------------------------------------------------------------------

def _load(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


RULE_DOCS = {p: _load(p) for p in sorted(ALERTS.glob("*.rules.yaml"))}
TEST_DOCS = {p: _load(p) for p in sorted((ALERTS / "tests").glob("*.test.yaml"))}
ALERTS_FOUND = [a for path, doc in RULE_DOCS.items() for a in alerts_in(path, doc)]


def test_there_are_alerts() -> None:
    assert {"Watchdog", "WatchtowerCollectorFailing", "WatchtowerDown"} <= {a.name for a in ALERTS_FOUND}


@pytest.mark.parametrize("alert", ALERTS_FOUND, ids=lambda a: a.id)
def test_alert_labels_annotations_and_runbook(alert: Alert) -> None:
    assert alert_problems(alert, RUNBOOKS) == []


@pytest.mark.parametrize("alert", ALERTS_FOUND, ids=lambda a: a.id)
def test_alert_fires_and_stays_quiet_in_promtool_tests(alert: Alert) -> None:
    assert coverage_problems(alert, promtool_coverage(TEST_DOCS)) == []


@pytest.mark.parametrize("rule_file", sorted(RULE_DOCS), ids=lambda p: p.name)
def test_rule_metrics_are_documented(rule_file: Path) -> None:
    assert undocumented_metrics(exprs_in(RULE_DOCS[rule_file]), METRICS_DOC.read_text(encoding="utf-8")) == []


def test_alertmanager_config_names_existing_alerts() -> None:
    config = _load(ALERTS / "alertmanager.yaml")
    assert unknown_alertname_patterns(alertmanager_alertname_patterns(config), [a.name for a in ALERTS_FOUND]) == []


# --- the checks catch what they should --------------------------------------------------------

GOOD_RULE = {
    "alert": "ThingBroken",
    "expr": "watchtower_thing_up == 0",
    "labels": {"severity": "warning"},
    "annotations": {
        "summary": "Thing broken",
        "description": "Thing {{ $labels.name }} is broken",
        "runbook_url": "https://example.org/repo/blob/main/docs/runbooks/ThingBroken.md",
    },
}


def _alert(tmp_path: Path, **changes: Any) -> Alert:
    rule = {**GOOD_RULE, **changes}
    return Alert(tmp_path / "thing.rules.yaml", rule["alert"], rule)


@pytest.fixture
def runbooks(tmp_path: Path) -> Path:
    (tmp_path / "ThingBroken.md").write_text("# ThingBroken\nfix it\n")
    (tmp_path / "Other.md").write_text("# Other\n")
    return tmp_path


def test_good_alert_passes(tmp_path: Path, runbooks: Path) -> None:
    assert alert_problems(_alert(tmp_path), runbooks) == []
    relative = _alert(tmp_path, annotations={**GOOD_RULE["annotations"], "runbook_url": "docs/runbooks/ThingBroken.md"})
    assert alert_problems(relative, runbooks) == []


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"labels": {"severity": "page"}}, "severity label 'page'"),
        ({"labels": {}}, "severity label None"),
        ({"annotations": {**GOOD_RULE["annotations"], "summary": " "}}, "'summary' is missing"),
        ({"annotations": {**GOOD_RULE["annotations"], "description": "It is broken"}}, "no concrete facts"),
        ({"annotations": {k: v for k, v in GOOD_RULE["annotations"].items() if k != "runbook_url"}}, "'runbook_url' is missing"),
        ({"annotations": {**GOOD_RULE["annotations"], "runbook_url": "https://wiki/ThingBroken"}}, "does not point to docs/runbooks"),
        ({"annotations": {**GOOD_RULE["annotations"], "runbook_url": "docs/runbooks/Missing.md"}}, "does not exist"),
        ({"annotations": {**GOOD_RULE["annotations"], "runbook_url": "docs/runbooks/Other.md"}}, "never mentions ThingBroken"),
    ],
)
def test_bad_alerts_are_caught(tmp_path: Path, runbooks: Path, changes: dict[str, Any], expected: str) -> None:
    problems = alert_problems(_alert(tmp_path, **changes), runbooks)
    assert len(problems) == 1 and expected in problems[0], problems


def test_coverage_needs_firing_and_quiet_cases_for_the_right_rule_file(tmp_path: Path) -> None:
    alert = _alert(tmp_path)
    test_file = tmp_path / "tests" / "thing.test.yaml"

    def case(alertname: str, fires: bool) -> dict[str, Any]:
        return {"eval_time": "1m", "alertname": alertname, "exp_alerts": [{"exp_labels": {}}] if fires else []}

    def doc(rule_file: str, *cases: dict[str, Any]) -> dict[str, Any]:
        return {"rule_files": [rule_file], "tests": [{"alert_rule_test": list(cases)}]}

    both = doc("../thing.rules.yaml", case("ThingBroken", True), case("ThingBroken", False))
    assert coverage_problems(alert, promtool_coverage({test_file: both})) == []
    only_fires = doc("../thing.rules.yaml", case("ThingBroken", True))
    assert coverage_problems(alert, promtool_coverage({test_file: only_fires})) == [
        "no promtool test loading thing.rules.yaml expects ThingBroken to stay quiet"
    ]
    only_quiet = {**both, "tests": [{"alert_rule_test": [{"eval_time": "1m", "alertname": "ThingBroken"}]}]}
    assert coverage_problems(alert, promtool_coverage({test_file: only_quiet})) == [
        "no promtool test loading thing.rules.yaml expects ThingBroken to fire"
    ]
    other_file = doc("../other.rules.yaml", case("ThingBroken", True), case("ThingBroken", False))
    assert len(coverage_problems(alert, promtool_coverage({test_file: other_file}))) == 2


def test_undocumented_metrics_are_caught() -> None:
    doc = "| `watchtower_thing_up` | gauge |\n| `watchtower_thing_errors_total` | counter |\n| `watchtower_req_seconds` | histogram |"
    exprs = [
        "watchtower_thing_up == 0 and rate(watchtower_thing_errors_total[5m]) > 0",
        "histogram_quantile(0.9, rate(watchtower_req_seconds_bucket[5m]))",
        "watchtower_thing_upp > 0 or watchtower_thing == 1 or other_watchtower_x",
    ]
    assert undocumented_metrics(exprs, doc) == ["watchtower_thing", "watchtower_thing_upp"]


def test_alertname_patterns_in_routes_and_inhibit_rules_are_checked() -> None:
    config = {
        "route": {"routes": [{"matchers": ['alertname="Watchdog"', 'severity="info"']}]},
        "inhibit_rules": [{"source_matchers": ['alertname=~"KubeVIPLost|Typo"'], "target_matchers": ['alertname=~"KubeNode.*"']}],
    }
    patterns = alertmanager_alertname_patterns(config)
    assert patterns == ["Watchdog", "KubeVIPLost", "Typo", "KubeNode.*"]
    assert unknown_alertname_patterns(patterns, ["Watchdog", "KubeVIPLost", "KubeNodeNotReady"]) == ["Typo"]
    assert unknown_alertname_patterns(patterns, ["Watchdog", "KubeVIPLost"]) == ["Typo", "KubeNode.*"]
