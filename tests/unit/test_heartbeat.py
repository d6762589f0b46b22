"""heartbeat-check's pure part: settings, webhook bodies, when to alarm, what the message says."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from watchtower.app.heartbeat.check import HeartbeatSettings, HeartbeatTracker, PayloadError, heartbeat_sources, message
from watchtower.app.heartbeat.commands import load_settings
from watchtower.core.settings import ConfigError, bind

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "deploy" / "ha" / "heartbeat-check.example.yaml"
SLACK = {"webhook_url_file": "/run/slack"}


def settings(**overrides: Any) -> HeartbeatSettings:
    data = {"window": "60s", "check_interval": "5s", "repeat_interval": "0s", "slack": SLACK,
            "email": {"smarthost": "127.0.0.1:25", "sender": "hb@example.org", "to": ["oncall@example.org"]}}
    data.update(overrides)
    result: HeartbeatSettings = bind(HeartbeatSettings, data)
    return result


def watchdog(**labels: str) -> dict[str, Any]:
    return {"status": "firing", "labels": {"alertname": "Watchdog", **labels}}


def test_the_example_config_binds() -> None:
    example = load_settings(str(EXAMPLE))
    assert example.source_label == "prometheus_replica" and example.sources == ("oob-a", "oob-b")
    assert example.window == 900 and example.channels() == ("email", "slack")
    assert example.token is not None and example.token.file


@pytest.mark.parametrize(("overrides", "path"), [
    ({"window": "10s", "check_interval": "10s"}, "check_interval"),
    ({"repeat_interval": "30s"}, "repeat_interval"),
    ({"sources": ["a"]}, "sources"),
    ({"email": None, "slack": None}, "email"),
    ({"listen": "nowhere"}, "listen"),
    ({"email": {"smarthost": "smtp", "sender": "a@b", "to": ["c@d"]}}, "email.smarthost"),
    ({"email": {"smarthost": "smtp:25", "sender": "a@b", "to": []}}, "email.to"),
    ({"slack": {"webhook_url": "https://hooks.slack.com/services/SECRET"}}, "slack.webhook_url"),
    ({"windw": "1m"}, "windw"),
])
def test_bad_settings_name_the_field(overrides: dict[str, Any], path: str) -> None:
    with pytest.raises(ConfigError) as caught:
        settings(**overrides)
    assert caught.value.path == path
    assert "SECRET" not in str(caught.value)


def test_sources_from_an_alertmanager_body() -> None:
    by_replica = settings(source_label="prometheus_replica")
    body = {"version": "4", "status": "firing", "alerts": [
        watchdog(prometheus_replica="oob-a"), watchdog(prometheus_replica="oob-b"),
        {"status": "firing", "labels": {"alertname": "CertificateExpired", "prometheus_replica": "oob-c"}},
        {"status": "resolved", "labels": {"alertname": "Watchdog", "prometheus_replica": "oob-d"}},
        watchdog(),  # no replica label: not a source of this check
    ]}
    assert heartbeat_sources(body, by_replica) == {"oob-a", "oob-b"}
    assert heartbeat_sources(body, settings()) == {""}
    assert heartbeat_sources({"alerts": []}, settings()) == set()
    for bad in ([], {"alerts": "x"}, {"status": "firing"}, None):
        with pytest.raises(PayloadError):
            heartbeat_sources(bad, settings())


def test_alarm_after_the_window_once_then_resolved_once() -> None:
    tracker = HeartbeatTracker(settings(), started_at=1000.0)
    tracker.record({""}, 1000.0)
    assert tracker.due(1060.0) == []  # exactly the window: not yet
    due = tracker.due(1060.5)
    assert [(n.channel, n.kind) for n in due] == [("email", "silent"), ("slack", "silent")]
    for notice in due:
        tracker.sent(notice, 1060.5)
    assert tracker.due(1200.0) == []  # told once; repeat_interval 0s: never again
    tracker.record({""}, 1300.0)
    back = tracker.due(1300.1)
    assert [(n.channel, n.kind) for n in back] == [("email", "back"), ("slack", "back")]
    for notice in back:
        tracker.sent(notice, 1300.1)
    assert tracker.due(1300.2) == []


def test_a_failed_channel_is_asked_again_and_the_other_is_not() -> None:
    tracker = HeartbeatTracker(settings(), started_at=0.0)
    first = tracker.due(61.0)
    tracker.sent(next(n for n in first if n.channel == "slack"), 61.0)  # email failed
    assert [(n.channel, n.kind) for n in tracker.due(66.0)] == [("email", "silent")]


def test_repeat_interval_repeats_the_alarm_while_silent() -> None:
    tracker = HeartbeatTracker(settings(repeat_interval="2m", slack=None, email={
        "smarthost": "127.0.0.1:25", "sender": "a@b", "to": ["c@d"]}), started_at=0.0)
    (first,) = tracker.due(61.0)
    tracker.sent(first, 61.0)
    assert tracker.due(180.0) == []
    (again,) = tracker.due(181.0)
    assert again.kind == "silent" and again.quiet_for == 181.0


def test_a_source_never_heard_from_alarms_from_the_start() -> None:
    tracker = HeartbeatTracker(settings(source_label="prometheus_replica", sources=["oob-a", "oob-b"]), started_at=0.0)
    tracker.record({"oob-a"}, 50.0)
    due = tracker.due(61.0)
    assert {(n.source, n.last_seen) for n in due} == {("oob-b", None)}
    title, text = message(due[0], tracker.settings, None)
    assert title == "[FIRING] Heartbeat missing: prometheus_replica=oob-b (watchtower)"
    assert "none received yet" in text and "Runbook: docs/runbooks/Watchdog.md" in text
    assert tracker.status(61.0)["sources"]["oob-a"]["silent"] is False


def test_learned_sources_are_watched_once_seen() -> None:
    tracker = HeartbeatTracker(settings(source_label="prometheus_replica"), started_at=0.0)
    assert tracker.due(500.0) == []  # nothing expected, nothing learned
    tracker.record({"oob-c"}, 500.0)
    assert {n.source for n in tracker.due(561.0)} == {"oob-c"}


def test_example_yaml_is_the_documented_file() -> None:
    text = EXAMPLE.read_text()
    assert "watchtower heartbeat-check --config /etc/watchtower/heartbeat-check.yaml --check" in text
    assert yaml.safe_load(text)["source_label"] == "prometheus_replica"
