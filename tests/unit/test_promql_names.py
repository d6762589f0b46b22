"""tests/support/promql_names.py finds the metric names in the project's PromQL, nothing else."""

from __future__ import annotations

import pytest

from tests.support.promql_names import documented, metric_names


@pytest.mark.parametrize(
    ("expr", "names"),
    [
        ('sum by (vip) (watchtower_vip_held{cluster=~"$cluster"})', {"watchtower_vip_held"}),
        ("min(watchtower_cert_not_after_timestamp_seconds{source=~\"${source}\"}) - time()",
         {"watchtower_cert_not_after_timestamp_seconds"}),
        ("sum((a_b - time()) < bool 2592000) or vector(0)", {"a_b"}),
        ('increase(watchtower_etcd_leader_changes_total{x="by (y)"}[1h]) > 3', {"watchtower_etcd_leader_changes_total"}),
        ("a * on(job, instance) group_left(check_status) b unless ignoring(x) c", {"a", "b", "c"}),
        ('sum(1 - up{job=~".*watchtower.*"}) + count(watchtower_x offset 5m)', {"up", "watchtower_x"}),
        ("histogram_quantile(0.9, sum by (le) (rate(h_bucket[5m]))) > 1e3", {"h_bucket"}),
    ],
)
def test_metric_names(expr: str, names: set[str]) -> None:
    assert metric_names(expr) == names


def test_documented_accepts_family_names_only_whole() -> None:
    doc = "| `watchtower_thing_errors_total` |\n| `watchtower_req_seconds` | histogram |\n| `watchtower_build_info` |"
    assert documented("watchtower_thing_errors_total", doc)
    assert documented("watchtower_req_seconds_bucket", doc)
    assert documented("watchtower_build_info", doc)
    assert not documented("watchtower_thing", doc)
    assert not documented("watchtower_req", doc)
