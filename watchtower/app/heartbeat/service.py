"""``watchtower heartbeat-check`` at work: the webhook receiver, the check loop and the senders.

Alertmanager POSTs its Watchdog notifications to ``/heartbeat`` with a bearer token; every
``check_interval`` the tracker (watchtower.app.heartbeat.check) says what to send, and this module
sends it straight to SMTP and Slack, never through Alertmanager, which may be what is down.
``/metrics`` and ``/api/status`` show each source's last heartbeat. Requests are small and
few (two Alertmanagers and a scraper), so a threading server with a socket timeout, a body-size
cap and a cap on connections held at once (the excess is closed at once) is enough; the bounded
server of watchtower.app.httpserver takes no request bodies.
"""

from __future__ import annotations

import hmac
import json
import logging
import smtplib
import ssl
import threading
import time
from collections.abc import Callable
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import requests
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.registry import Collector

from watchtower.app.config import parse_listen
from watchtower.app.heartbeat import families as fam
from watchtower.app.heartbeat.check import (
    EmailSettings,
    HeartbeatSettings,
    HeartbeatTracker,
    Notice,
    PayloadError,
    SlackSettings,
    heartbeat_sources,
    message,
)
from watchtower.core.formatting import rfc3339

log = logging.getLogger("watchtower.app.heartbeat")

MAX_BODY = 1 << 20  # Alertmanager's Watchdog notifications are a few kB
SOCKET_TIMEOUT = 10.0
MAX_CONNECTIONS = 32  # two Alertmanagers and a scraper need a handful



class Sender:
    """Sends one notice on one channel; raises on failure (the tracker asks again later)."""

    def __init__(self, settings: HeartbeatSettings) -> None:
        self.settings = settings
        # secrets are read once, at start: a missing file is a start-up error (exit 2)
        self._smtp_password = settings.email.password.read() if settings.email and settings.email.password else None
        self._slack_url = settings.slack.webhook_url.read() if settings.slack else None
        self._session = requests.Session()

    def send(self, notice: Notice) -> None:
        title, text = message(notice, self.settings, rfc3339(notice.last_seen, whole_seconds=True))
        if notice.channel == "email":
            assert self.settings.email is not None
            self._email(self.settings.email, title, text)
        else:
            assert self.settings.slack is not None
            self._slack(self.settings.slack, title, text, notice.kind)

    def _email(self, email: EmailSettings, title: str, text: str) -> None:
        host, port = parse_listen(email.smarthost)
        msg = EmailMessage()
        msg["Subject"], msg["From"], msg["To"] = title, email.sender, ", ".join(email.to)
        msg.set_content(text)
        with smtplib.SMTP(host, port, timeout=email.timeout) as smtp:
            if email.require_tls:
                smtp.starttls(context=ssl.create_default_context())
            if email.username is not None and self._smtp_password is not None:
                smtp.login(email.username, self._smtp_password)
            smtp.send_message(msg)

    def _slack(self, slack: SlackSettings, title: str, text: str, kind: str) -> None:
        assert self._slack_url is not None
        body: dict[str, Any] = {"text": title, "attachments": [
            {"title": title, "text": text, "color": "danger" if kind == "silent" else "good"}]}
        if slack.channel:
            body["channel"] = slack.channel
        answer = self._session.post(self._slack_url, json=body, timeout=slack.timeout)
        if answer.status_code >= 300:
            raise RuntimeError(f"Slack answered HTTP {answer.status_code}")  # never the URL: it is the secret


class HeartbeatService:
    """The receiver and the check loop around one tracker; ``clock`` is injectable."""

    def __init__(self, settings: HeartbeatSettings, sender: Sender | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self.clock = clock
        self.sender = sender or Sender(settings)
        self.tracker = HeartbeatTracker(settings, clock())
        self._token = settings.token.read() if settings.token else None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self.notifications: dict[tuple[str, str], int] = {}  # (channel, result) → count
        self.rejected: dict[str, int] = {}  # reason → count

    # -- receiving ---------------------------------------------------------------------------

    def authorized(self, header: str | None) -> bool:
        if self._token is None:
            return True
        expected = f"Bearer {self._token}".encode()
        return hmac.compare_digest((header or "").encode(), expected)

    def receive(self, body: bytes) -> set[str]:
        try:
            sources = heartbeat_sources(json.loads(body), self.settings)
        except (ValueError, PayloadError):
            raise PayloadError("not an Alertmanager webhook body") from None
        with self._lock:
            self.tracker.record(sources, self.clock())
        return sources

    def reject(self, reason: str) -> None:
        with self._lock:
            self.rejected[reason] = self.rejected.get(reason, 0) + 1

    # -- checking ----------------------------------------------------------------------------

    def check_once(self) -> None:
        with self._lock:
            due = self.tracker.due(self.clock())
        for notice in due:
            try:
                self.sender.send(notice)
            except Exception as exc:  # noqa: BLE001 - any failure: count, log, retry next check
                result = "failed"
                log.error("heartbeat-check: sending the %s notice for %r by %s failed: %s",
                          notice.kind, notice.source, notice.channel, type(exc).__name__)
            else:
                result = "sent"
                with self._lock:
                    self.tracker.sent(notice, self.clock())
                log.warning("heartbeat-check: %s notice for %r sent by %s", notice.kind, notice.source, notice.channel)
            with self._lock:
                key = (notice.channel, result)
                self.notifications[key] = self.notifications.get(key, 0) + 1

    def run_checks(self) -> None:
        while not self._stop.wait(self.settings.check_interval):
            self.check_once()

    def stop(self) -> None:
        self._stop.set()

    def status(self) -> dict[str, Any]:
        with self._lock:
            return self.tracker.status(self.clock())

    # -- /metrics ----------------------------------------------------------------------------

    def collector(self) -> Collector:
        service = self

        class _Metrics(Collector):
            def collect(self) -> Any:
                now = service.clock()
                with service._lock:
                    status = service.tracker.status(now)
                    notifications = dict(service.notifications)
                    rejected = dict(service.rejected)
                last = fam.HEARTBEAT_LAST_RECEIVED_TIMESTAMP_SECONDS.gauge()
                silent = fam.HEARTBEAT_SILENT.gauge()
                received = fam.HEARTBEAT_RECEIVED.counter()
                for source, state in status["sources"].items():
                    if state["last_seen"] is not None:
                        last.add_metric([source], state["last_seen"])
                    silent.add_metric([source], 1.0 if state["silent"] else 0.0)
                    received.add_metric([source], state["received"])
                sent = fam.HEARTBEAT_NOTIFICATIONS.counter()
                for (channel, result), count in sorted(notifications.items()):
                    sent.add_metric([channel, result], count)
                bad = fam.HEARTBEAT_REJECTED_REQUESTS.counter()
                for reason, count in sorted(rejected.items()):
                    bad.add_metric([reason], count)
                window = fam.HEARTBEAT_WINDOW_SECONDS.gauge()
                window.add_metric([], service.settings.window)
                yield from (last, silent, received, sent, bad, window)

        return _Metrics()

    # -- HTTP --------------------------------------------------------------------------------

    def make_server(self, listen: str | None = None) -> ThreadingHTTPServer:
        host, port = parse_listen(listen or self.settings.listen)
        registry = CollectorRegistry()
        registry.register(self.collector())
        return _CappedServer((host, port), _handler(self, registry), self)


class _CappedServer(ThreadingHTTPServer):
    """At most MAX_CONNECTIONS handler threads; a connection beyond that is closed unanswered."""

    daemon_threads = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], service: HeartbeatService) -> None:
        self._slots = threading.BoundedSemaphore(MAX_CONNECTIONS)
        self._service = service
        super().__init__(address, handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):
            self._service.reject("busy")
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()


def _handler(service: HeartbeatService, registry: CollectorRegistry) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        timeout = SOCKET_TIMEOUT
        server_version = "watchtower-heartbeat"

        def log_message(self, format: str, *args: Any) -> None:
            log.debug("heartbeat-check: %s %s", self.address_string(), format % args)

        def _answer(self, status: int, body: bytes, content_type: str = "text/plain; charset=utf-8") -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self) -> None:
            if self.path != "/heartbeat":
                return self._answer(404, b"not found\n")
            if not service.authorized(self.headers.get("Authorization")):
                service.reject("unauthorized")
                return self._answer(401, b"unauthorized\n")
            length = self.headers.get("Content-Length")
            if length is None or not length.isdigit() or int(length) > MAX_BODY:
                service.reject("size")
                return self._answer(413, b"body missing or too large\n")
            try:
                sources = service.receive(self.rfile.read(int(length)))
            except PayloadError as exc:
                service.reject("payload")
                return self._answer(400, f"{exc}\n".encode())
            return self._answer(200, f"ok: {len(sources)} heartbeat(s)\n".encode())

        def do_GET(self) -> None:
            if self.path == "/healthz":
                return self._answer(200, b"ok\n")
            if self.path == "/metrics":
                return self._answer(200, generate_latest(registry), "text/plain; version=0.0.4; charset=utf-8")
            if self.path == "/api/status":
                return self._answer(200, json.dumps(service.status()).encode(), "application/json")
            return self._answer(404, b"not found\n")

    return Handler
