"""heartbeat-check's receiver in-process, against a real SMTP server and a Slack stand-in:
connection cap, body limits, and an alarm driven by an injected clock (no waiting)."""

from __future__ import annotations

import dataclasses
import json
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.alert_sinks import MailSink, WebhookSink
from tests.support.processes import http_get_direct
from tests.support.services import wait_for
from watchtower.app.heartbeat.check import HeartbeatSettings
from watchtower.app.heartbeat.service import MAX_CONNECTIONS, HeartbeatService
from watchtower.core.settings import bind

TOKEN = "hb-token-5b3e"


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def receiver(tmp_path: Path) -> Iterator[tuple[HeartbeatService, int, MailSink, WebhookSink, Clock]]:
    (tmp_path / "token").write_text(TOKEN)
    with MailSink() as mail, WebhookSink() as slack:
        (tmp_path / "slack").write_text(slack.url("/hook"))
        settings = bind(HeartbeatSettings, {
            "listen": "127.0.0.1:0", "token_file": str(tmp_path / "token"), "window": "1m", "check_interval": "5s",
            "repeat_interval": "0s", "name": "unit",
            "email": {"smarthost": f"127.0.0.1:{mail.port}", "sender": "hb@example.org", "to": ["oncall@example.org"],
                      "require_tls": False},
            "slack": {"webhook_url_file": str(tmp_path / "slack")},
        })
        clock = Clock()
        service = HeartbeatService(settings, clock=clock)
        server = service.make_server()
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield service, server.server_address[1], mail, slack, clock
        finally:
            server.shutdown()
            server.server_close()
            thread.join(5)


def _post(port: int, body: bytes, token: str = TOKEN) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(b"POST /heartbeat HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + token.encode()
                     + f"\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode() + body)
        return sock.recv(4096)


def test_silence_then_return_by_the_injected_clock(receiver: tuple) -> None:
    service, port, mail, slack, clock = receiver
    assert _post(port, json.dumps({"alerts": [{"status": "firing", "labels": {"alertname": "Watchdog"}}]}).encode()
                 ).startswith(b"HTTP/1.0 200")
    clock.now += 61
    service.check_once()
    assert [m.subject for m in mail.messages] == ["[FIRING] Heartbeat missing: alert Watchdog (unit)"]
    assert slack.posts("/hook")[0].body["attachments"][0]["color"] == "danger"
    service.check_once()  # told once
    assert len(mail.messages) == 1 and len(slack.posts("/hook")) == 1
    _post(port, json.dumps({"alerts": [{"status": "firing", "labels": {"alertname": "Watchdog"}}]}).encode())
    service.check_once()
    assert mail.messages[-1].subject == "[RESOLVED] Heartbeat back: alert Watchdog (unit)"
    assert len(slack.posts("/hook")) == 2


def test_a_failed_channel_is_retried_at_the_next_check(receiver: tuple) -> None:
    service, _port, mail, slack, clock = receiver
    good = service.settings
    assert good.email is not None
    # nothing listens on port 1: the email fails, Slack does not
    service.sender.settings = dataclasses.replace(good, email=dataclasses.replace(good.email, smarthost="127.0.0.1:1"))
    clock.now += 61
    service.check_once()
    assert service.notifications == {("email", "failed"): 1, ("slack", "sent"): 1}
    service.sender.settings = good
    service.check_once()
    assert service.notifications[("email", "sent")] == 1 and len(mail.messages) == 1
    assert len(slack.posts("/hook")) == 1  # Slack was not told twice


def test_oversized_and_unauthorized_posts_are_refused(receiver: tuple) -> None:
    _service, port, _mail, _slack, _clock = receiver
    assert _post(port, b"{}", token="wrong").startswith(b"HTTP/1.0 401")
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(f"POST /heartbeat HTTP/1.1\r\nAuthorization: Bearer {TOKEN}\r\nContent-Length: {2 << 20}\r\n\r\n".encode())
        assert sock.recv(4096).startswith(b"HTTP/1.0 413")


def test_idle_connections_beyond_the_cap_are_closed_and_the_slots_come_back(receiver: tuple) -> None:
    service, port, *_ = receiver
    idle = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(MAX_CONNECTIONS)]
    try:
        wait_for(lambda: service.rejected.get("busy", 0) == 0 and len(idle) == MAX_CONNECTIONS, 2)
        extra = socket.create_connection(("127.0.0.1", port), timeout=5)
        assert extra.recv(100) == b""  # closed unanswered
        extra.close()
        wait_for(lambda: service.rejected.get("busy", 0) >= 1, 5, what="busy counted")
    finally:
        for sock in idle:
            sock.close()
    wait_for(lambda: http_get_direct(f"http://127.0.0.1:{port}/healthz", timeout=2)[0] == 200, 5, what="a free slot")
