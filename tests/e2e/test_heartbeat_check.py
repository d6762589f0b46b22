"""The dead man's switch end to end: Prometheus stops, the heartbeat stops, the alarm fires.

Real processes on loopback: Prometheus (deploy/ha/prometheus.yml for replica oob-a, evaluating
the Watchdog rule), Alertmanager running alerts/alertmanager.yaml whose heartbeat receiver
points at a real `watchtower heartbeat-check` (window 3 s instead of 15 m, Watchdog repeated
every 500 ms instead of 5 m), which sends its alarm by its own SMTP and Slack settings to an
SMTP server and a Slack stand-in. Stopping Prometheus must stop the heartbeats and bring one
email and one Slack message within the bound the example config documents; starting it again
must bring one "resolved" of each.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.alert_sinks import MailSink, ReceivedMail, ReceivedPost, WebhookSink
from tests.support.amconfig import SinkSecrets, alertmanager_config_for_test
from tests.support.processes import http_get_direct, python_env
from tests.support.promstack import (
    ALERTS,
    Alertmanager,
    ManagedProcess,
    Prometheus,
    ha_prometheus_config,
    rules_without_for,
)
from tests.support.services import free_port, wait_for

pytestmark = [
    pytest.mark.prometheus, pytest.mark.alertmanager, pytest.mark.slow,
    pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS"),
]

ROOT = Path(__file__).resolve().parents[2]
SECRETS = SinkSecrets("smtp-secret-hb-8d21", "/services/T000/B000/slack-secret-am-77aa", "heartbeat-secret-hb-c4e0")
HB_SLACK_PATH = "/services/T000/B000/slack-secret-hb-19fe"  # heartbeat-check's own Slack webhook
SMTP_USER = "watchtower@example.org"
WINDOW = 3.0
CHECK_INTERVAL = 0.25
WATCHDOG_REPEAT = 0.5
RESEND_DELAY = 1.0  # Prometheus --rules.alert.resend-delay in tests.support.promstack
# The bound of heartbeat-check.example.yaml: Prometheus keeps the last alert alive for 4 resend
# delays, Alertmanager repeats Watchdog, then the window runs out and the next check notices.
ALARM_BOUND = 4 * RESEND_DELAY + WATCHDOG_REPEAT + WINDOW + CHECK_INTERVAL
SLACK_MARGIN = 1.5  # a loaded 2-core CI machine


@dataclasses.dataclass
class Lab:
    prometheus: Prometheus
    alertmanager: Alertmanager
    heartbeat: ManagedProcess
    port: int
    mail: MailSink
    webhooks: WebhookSink

    def status(self) -> dict[str, Any]:
        code, body = http_get_direct(f"http://127.0.0.1:{self.port}/api/status", timeout=2)
        assert code == 200, body
        return json.loads(body)["sources"]["oob-a"]

    def alarms(self, kind: str) -> tuple[list[ReceivedMail], list[ReceivedPost]]:
        title = "[FIRING] Heartbeat missing" if kind == "silent" else "[RESOLVED] Heartbeat back"
        mails = [m for m in self.mail.messages if m.subject.startswith(title)]
        posts = [p for p in self.webhooks.posts(HB_SLACK_PATH) if str(p.body.get("text", "")).startswith(title)]
        return mails, posts

    def wait_alarm(self, kind: str, timeout: float) -> tuple[ReceivedMail, ReceivedPost]:
        def both() -> tuple[list[ReceivedMail], list[ReceivedPost]] | None:
            mails, posts = self.alarms(kind)
            return (mails, posts) if mails and posts else None

        try:
            mails, posts = wait_for(both, timeout, interval=0.02, what=f"heartbeat-check {kind} email and Slack")
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n--- heartbeat-check ---\n{self.heartbeat.log_tail(20)}") from None
        return mails[0], posts[0]


def heartbeat_config(workdir: Path, port: int, smtp_port: int, webhooks: WebhookSink) -> Path:
    """deploy/ha/heartbeat-check.example.yaml with local sinks, secret files and test timers."""
    doc = yaml.safe_load((ROOT / "deploy" / "ha" / "heartbeat-check.example.yaml").read_text())
    secrets = workdir / "hb-secrets"
    secrets.mkdir()
    (secrets / "token").write_text(SECRETS.heartbeat_token + "\n")
    (secrets / "smtp").write_text(SECRETS.smtp_password)
    (secrets / "slack").write_text(webhooks.url(HB_SLACK_PATH) + "\n")
    doc.update(listen=f"127.0.0.1:{port}", token_file=str(secrets / "token"), window=f"{WINDOW:g}s",
               check_interval=f"{CHECK_INTERVAL * 1000:g}ms", repeat_interval="0s", sources=["oob-a"], name="lab")
    doc["email"].update(smarthost=f"127.0.0.1:{smtp_port}", require_tls=False, password_file=str(secrets / "smtp"),
                        username=SMTP_USER)
    doc["slack"]["webhook_url_file"] = str(secrets / "slack")
    path = workdir / "heartbeat-check.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    workdir = tmp_path_factory.mktemp("heartbeat")
    with contextlib.ExitStack() as started:
        mail = started.enter_context(MailSink(username=SMTP_USER, password=SECRETS.smtp_password))
        webhooks = started.enter_context(WebhookSink())
        port = free_port()
        am_config = alertmanager_config_for_test(workdir / "am", mail.port, webhooks, SECRETS,
                                                 heartbeat_urls=[f"http://127.0.0.1:{port}/heartbeat"],
                                                 watchdog_repeat=f"{WATCHDOG_REPEAT * 1000:g}ms")
        alertmanager = Alertmanager(workdir / "am", am_config)
        started.callback(alertmanager.stop)
        alertmanager.start_and_wait()
        rules = rules_without_for(workdir / "rules", [ALERTS / "watchtower.rules.yaml"])
        prometheus = Prometheus(workdir / "prom", {}, config=ha_prometheus_config(
            "oob-a", [], [alertmanager.address], rules, cluster="hb-lab"))
        started.callback(prometheus.stop)
        prometheus.start_and_wait()
        # the Watchdog reached Alertmanager (target discovery takes seconds) before the
        # heartbeat-check's window starts counting
        alertmanager.wait_until(lambda: alertmanager.alerts('alertname="Watchdog"'), 30, "Watchdog in Alertmanager")
        env = {**python_env(), "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost"}
        heartbeat = ManagedProcess(
            [sys.executable, "-m", "watchtower", "heartbeat-check", "--config",
             str(heartbeat_config(workdir, port, mail.port, webhooks))],
            workdir / "heartbeat-check.log", cwd=ROOT, env=env)
        started.callback(heartbeat.stop)
        heartbeat.start()
        yield Lab(prometheus, alertmanager, heartbeat, port, mail, webhooks)


def test_stopping_prometheus_fires_the_alarm_within_the_window_then_resolves(lab: Lab) -> None:
    first = lab.heartbeat.wait_until(lambda: lab.status()["received"] >= 2 and lab.status(), 15, "heartbeats flowing")
    print(f"\n[heartbeat] flowing: {first['received']} received")
    time.sleep(WINDOW + 2 * CHECK_INTERVAL)  # a whole window of heartbeats: no false alarm
    assert lab.alarms("silent") == ([], []), "alarm while the heartbeats flow"

    stopped_at = time.time()
    lab.prometheus.stop()
    mail, post = lab.wait_alarm("silent", ALARM_BOUND + SLACK_MARGIN + 5)
    last = lab.status()["last_seen"]
    print(f"[heartbeat] Prometheus stopped → last heartbeat {last - stopped_at:.2f}s later; "
          f"alarm email {mail.arrived - stopped_at:.2f}s, Slack {post.arrived - stopped_at:.2f}s after the stop "
          f"({mail.arrived - last:.2f}s after the last heartbeat; window {WINDOW:g}s, bound {ALARM_BOUND:g}s)")
    for arrived in (mail.arrived, post.arrived):
        assert WINDOW <= arrived - last <= WINDOW + CHECK_INTERVAL + SLACK_MARGIN
        assert arrived - stopped_at <= ALARM_BOUND + SLACK_MARGIN
    assert mail.rcpt_tos == ("k8s-oncall@example.org",) and mail.authenticated_as == SMTP_USER
    assert "prometheus_replica=oob-a" in mail.subject and "Runbook: docs/runbooks/Watchdog.md" in mail.text
    assert post.body["channel"] == "#k8s-oncall" and post.body["attachments"][0]["color"] == "danger"

    restarted_at = time.time()
    lab.prometheus.start_and_wait()
    mail, post = lab.wait_alarm("back", 30)
    print(f"[heartbeat] Prometheus restarted → resolved email {mail.arrived - restarted_at:.2f}s, "
          f"Slack {post.arrived - restarted_at:.2f}s later")
    time.sleep(3 * CHECK_INTERVAL)
    counts = {kind: tuple(len(x) for x in lab.alarms(kind)) for kind in ("silent", "back")}
    print(f"[heartbeat] messages (email, Slack): {counts}")
    assert counts == {"silent": (1, 1), "back": (1, 1)}


def post(port: int, body: bytes, headers: dict[str, str]) -> int:
    import urllib.error
    import urllib.request

    request = urllib.request.Request(f"http://127.0.0.1:{port}/heartbeat", data=body, headers=headers, method="POST")
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=5) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def test_receiver_refuses_what_is_not_an_authorized_heartbeat(lab: Lab) -> None:
    good = json.dumps({"alerts": []}).encode()
    auth = {"Authorization": f"Bearer {SECRETS.heartbeat_token}", "Content-Type": "application/json"}
    assert post(lab.port, good, {}) == 401
    assert post(lab.port, good, {"Authorization": "Bearer wrong"}) == 401
    assert post(lab.port, b"not json", auth) == 400
    assert post(lab.port, good, auth) == 200
    code, metrics = http_get_direct(f"http://127.0.0.1:{lab.port}/metrics", timeout=2)
    text = metrics.decode()
    assert code == 200
    for line in ('watchtower_heartbeat_rejected_requests_total{reason="unauthorized"} 2.0',
                 'watchtower_heartbeat_rejected_requests_total{reason="payload"} 1.0',
                 'watchtower_heartbeat_silent{source="oob-a"}', "watchtower_heartbeat_window_seconds 3.0"):
        assert line in text, text


def test_no_secret_in_any_log(lab: Lab) -> None:
    for log in (lab.heartbeat.log_file, lab.alertmanager.log_file, lab.prometheus.log_file):
        text = log.read_text(errors="replace")
        for secret in (SECRETS.smtp_password, SECRETS.heartbeat_token, HB_SLACK_PATH, SECRETS.slack_path):
            assert secret not in text, f"{secret!r} in {log}"
