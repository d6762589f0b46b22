"""The Prometheus → Grafana condition conversion, evaluated by Prometheus' own engine (promtool).

Prometheus fires for every series an alert expression returns, including value 0, negative
values and NaN. Grafana fires when its threshold holds. These tests take the condition query
and the threshold from the generated rules and check, with real PromQL evaluation, that every
series Prometheus would alert on passes Grafana's threshold — and that the naive conversion
(query the expression itself) would have missed the zero-valued ones.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from tests.support.services import require_binary
from watchtower.provisioning import desired
from watchtower.provisioning.settings import GrafanaSettings

pytestmark = pytest.mark.promtool

INPUT_SERIES = [
    {"series": 'x{job="a",instance="zero"}', "values": "0 0 0"},
    {"series": 'x{job="a",instance="negative"}', "values": "-3 -3 -3"},
    {"series": 'x{job="a",instance="nan"}', "values": "NaN NaN NaN"},
    {"series": 'x{job="a",instance="five"}', "values": "5 5 5"},
    {"series": 'up{job="wt",instance="w1"}', "values": "0 0 0"},
]

# (alert expression, the label sets Prometheus alerts on at t=2m)
CASES = [
    ("x == 0", ['{instance="zero", job="a"}']),
    ("x < 1", ['{instance="zero", job="a"}', '{instance="negative", job="a"}']),
    ("x != x", ['{instance="nan", job="a"}']),
    ('absent(missing{job="a"})', ['{job="a"}']),
    ("vector(1)", ["{}"]),
    ('up{job="wt"} == 0 or absent(up{job="wt"})', ['{instance="w1", job="wt"}']),
    ("x == 0 # a trailing comment", ['{instance="zero", job="a"}']),
]


def converted_rules() -> list[dict[str, object]]:
    rules = "groups:\n- name: g\n  rules:\n" + "".join(
        f"  - alert: Case{i}\n    expr: {yaml.safe_dump(expr, default_style=chr(39)).strip()}\n"
        "    annotations: {summary: 'value {{ $value }}'}\n"
        for i, (expr, _) in enumerate(CASES)
    )
    state = desired.build(GrafanaSettings(), [], [("cases.rules.yaml", rules)])
    assert state.problems == ()
    return [r.body() for r in state.rules]


def threshold_fires(rule: dict[str, object], value: float) -> bool:
    """Grafana's threshold expression of this rule, applied to one reduced value."""
    data = {d["refId"]: d for d in rule["data"]}  # type: ignore[index, union-attr]
    condition = data[rule["condition"]]["model"]  # type: ignore[index]
    evaluator = condition["conditions"][0]["evaluator"]
    ops = {"gt": lambda v, p: v > p[0], "lt": lambda v, p: v < p[0]}
    return bool(ops[evaluator["type"]](value, evaluator["params"]))


def run_promtool(tmp_path: Path, tests: list[dict[str, object]]) -> subprocess.CompletedProcess[str]:
    test_file = tmp_path / "conversion.test.yaml"
    test_file.write_text(yaml.safe_dump({
        "rule_files": [], "evaluation_interval": "1m",
        "tests": [{"interval": "1m", "input_series": INPUT_SERIES, "promql_expr_test": tests}],
    }, sort_keys=False))
    return subprocess.run([require_binary("promtool"), "test", "rules", str(test_file)],
                          capture_output=True, text=True, timeout=60, cwd=tmp_path)


def test_condition_query_returns_one_for_every_alerting_series(tmp_path: Path) -> None:
    tests = []
    for rule, (_, label_sets) in zip(converted_rules(), CASES):
        query = rule["data"][0]["model"]["expr"]  # type: ignore[index]
        tests.append({"expr": query, "eval_time": "2m",
                      "exp_samples": [{"labels": labels, "value": 1} for labels in label_sets]})
        assert threshold_fires(rule, 1.0), "the threshold must pass for the condition value 1"
    done = run_promtool(tmp_path, tests)
    assert done.returncode == 0, done.stdout + done.stderr


def test_value_query_keeps_the_original_value_with_the_same_labels(tmp_path: Path) -> None:
    rules = converted_rules()
    values = {"x == 0": 0, "x < 1": None, "vector(1)": 1}
    tests = []
    for rule, (expr, label_sets) in zip(rules, CASES):
        if values.get(expr) is None:
            continue
        value_query = next(d for d in rule["data"] if d["refId"] == "V")["model"]["expr"]  # type: ignore[union-attr, index]
        tests.append({"expr": value_query, "eval_time": "2m",
                      "exp_samples": [{"labels": labels, "value": values[expr]} for labels in label_sets]})
    done = run_promtool(tmp_path, tests)
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_naive_conversion_would_miss_zero_values(tmp_path: Path) -> None:
    """Guard for the test above: querying ``x == 0`` itself gives 0, which ``> 0`` rejects."""
    rule = converted_rules()[0]
    done = run_promtool(tmp_path, [{"expr": "x == 0", "eval_time": "2m",
                                    "exp_samples": [{"labels": 'x{instance="zero", job="a"}', "value": 0}]}])
    assert done.returncode == 0, done.stdout + done.stderr
    assert not threshold_fires(rule, 0.0)
