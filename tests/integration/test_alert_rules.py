"""Every rule file in alerts/ passes `promtool check rules`; every unit test file `promtool test rules`.

Rule files are ``alerts/*.rules.yaml``; their promtool unit tests are ``alerts/tests/*.test.yaml``
(each names the rule files it loads, relative to itself). Debian's promtool is the real one.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.support.services import require_binary

ALERTS = Path(__file__).resolve().parents[2] / "alerts"
RULE_FILES = sorted(ALERTS.glob("*.rules.yaml"))
TEST_FILES = sorted((ALERTS / "tests").glob("*.test.yaml"))

pytestmark = pytest.mark.promtool


def _promtool(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([require_binary("promtool"), *args], cwd=cwd, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("rule_file", RULE_FILES, ids=lambda p: p.name)
def test_rules_check(rule_file: Path) -> None:
    done = _promtool("check", "rules", str(rule_file), cwd=ALERTS)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("test_file", TEST_FILES, ids=lambda p: p.name)
def test_rules_unit_tests(test_file: Path) -> None:
    done = _promtool("test", "rules", str(test_file), cwd=test_file.parent)
    assert done.returncode == 0, done.stdout + done.stderr


def test_every_rule_file_has_tests() -> None:
    """A rule file nobody tests is a rule file nobody knows fires."""
    tested = " ".join(p.read_text() for p in TEST_FILES)
    untested = [p.name for p in RULE_FILES if p.name not in tested]
    assert not untested, f"rule files without promtool tests: {untested}"


def test_promtool_fails_a_wrong_expectation(tmp_path: Path) -> None:
    """Guard against a runner that always passes: a deliberately wrong test must fail."""
    rules = tmp_path / "r.rules.yaml"
    rules.write_text(
        "groups:\n- name: g\n  rules:\n  - alert: AlwaysOne\n    expr: vector(1)\n    labels: {severity: info}\n"
    )
    test = tmp_path / "r.test.yaml"
    test.write_text(
        "rule_files: [r.rules.yaml]\nevaluation_interval: 1m\ntests:\n- interval: 1m\n  input_series: []\n"
        "  alert_rule_test:\n  - eval_time: 1m\n    alertname: AlwaysOne\n    exp_alerts: []\n"
    )
    done = _promtool("test", "rules", str(test), cwd=tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
