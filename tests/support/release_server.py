"""A local stand-in for dl.k8s.io/release and endoflife.date: real HTTP on 127.0.0.1.

``files`` maps paths to bodies; ``mode`` switches behaviour between requests: ``ok``,
``garbage`` (an HTML error page with status 200, as captive portals and proxies send),
``slow`` (waits ``slow_seconds`` before answering), ``trickle`` (sends the body one byte every
``slow_seconds``), ``error`` (HTTP 503). ``stop()`` makes it unreachable (connection refused).
"""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Self


class ReleaseServer:
    def __init__(self, files: dict[str, bytes]) -> None:
        self.files = dict(files)
        self.mode = "ok"
        self.slow_seconds = 5.0
        self.requests: list[str] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                owner.requests.append(self.path)
                mode = owner.mode
                if mode == "slow":
                    time.sleep(owner.slow_seconds)
                body = owner.files.get(self.path)
                status = 200 if body is not None else 404
                if mode == "garbage":
                    body, status = b"<html><body>Proxy says hello</body></html>", 200
                elif mode == "error":
                    body, status = b"unavailable", 503
                body = body if body is not None else b"404 page not found\n"
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "text/plain")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    if mode == "trickle":
                        for i in range(len(body)):
                            self.wfile.write(body[i:i + 1])
                            self.wfile.flush()
                            time.sleep(owner.slow_seconds)
                    else:
                        self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (its timeout): expected in the slow modes

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="release-server", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> ReleaseServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        if self._thread.is_alive():
            self.stop()
