"""Where test notifications land: a real SMTP server and an HTTP server recording POSTs.

``MailSink`` is aiosmtpd on 127.0.0.1 (optionally demanding SMTP AUTH with one password, so a
test proves the sender read its password file); ``WebhookSink`` records every POST (Slack
incoming webhooks, Alertmanager webhooks) with its path, headers, JSON body and arrival time.
Both keep what they received in memory and are thread-safe to read while running.
"""

from __future__ import annotations

import dataclasses
import email
import email.policy
import json
import threading
import time
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from tests.support.services import free_port


@dataclasses.dataclass(frozen=True)
class ReceivedMail:
    arrived: float  # time.time() at arrival
    mail_from: str
    rcpt_tos: tuple[str, ...]
    message: EmailMessage
    authenticated_as: str | None

    @property
    def subject(self) -> str:
        return str(self.message["Subject"] or "")

    @property
    def text(self) -> str:
        """The text/plain body (Alertmanager's ``text:``), decoded."""
        part = self.message.get_body(preferencelist=("plain",))
        return part.get_content() if part is not None else ""


class _MailHandler:
    def __init__(self, sink: MailSink) -> None:
        self.sink = sink

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
        auth = session.auth_data if session.authenticated else None
        login = auth.login.decode() if isinstance(auth, LoginPassword) else None
        self.sink._add(ReceivedMail(
            arrived=time.time(), mail_from=envelope.mail_from, rcpt_tos=tuple(envelope.rcpt_tos),
            message=message,  # type: ignore[arg-type]
            authenticated_as=login,
        ))
        return "250 OK"


class MailSink:
    """An SMTP server on 127.0.0.1:<free port>; with ``password`` set, AUTH (PLAIN/LOGIN) is required."""

    def __init__(self, username: str | None = None, password: str | None = None) -> None:
        self.port = free_port()
        self._credentials = (username, password)
        self._lock = threading.Lock()
        self._messages: list[ReceivedMail] = []
        self.failed_logins = 0
        kwargs: dict[str, Any] = {}
        if password is not None:
            # PLAIN only: aiosmtpd's LOGIN prompts ("User Name") are not the "Username:" Go clients expect.
            kwargs = {
                "authenticator": self._authenticate, "auth_require_tls": False, "auth_required": True,
                "auth_exclude_mechanism": ["LOGIN"],
            }
        self._controller = Controller(_MailHandler(self), hostname="127.0.0.1", port=self.port, **kwargs)

    def _authenticate(self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
        ok = isinstance(auth_data, LoginPassword) and (
            auth_data.login.decode(), auth_data.password.decode()
        ) == self._credentials
        if not ok:
            with self._lock:
                self.failed_logins += 1
        return AuthResult(success=ok, handled=False, auth_data=auth_data)

    def _add(self, mail: ReceivedMail) -> None:
        with self._lock:
            self._messages.append(mail)

    @property
    def messages(self) -> list[ReceivedMail]:
        with self._lock:
            return list(self._messages)

    def __enter__(self) -> Self:
        self._controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._controller.stop()


@dataclasses.dataclass(frozen=True)
class ReceivedPost:
    arrived: float
    path: str
    headers: dict[str, str]
    body: Any  # parsed JSON, or the raw text when it is not JSON


class WebhookSink:
    """An HTTP server on 127.0.0.1:<free port> answering 200 to every POST and recording it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._posts: list[ReceivedPost] = []
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode("utf-8", "replace")
                try:
                    body: Any = json.loads(raw)
                except ValueError:
                    body = raw
                with sink._lock:
                    sink._posts.append(ReceivedPost(time.time(), self.path, dict(self.headers.items()), body))
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, name="webhook-sink", daemon=True)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def posts(self, path: str | None = None) -> list[ReceivedPost]:
        with self._lock:
            return [p for p in self._posts if path is None or p.path == path]

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
