"""A tiny TLS HTTP server standing in for one kube-apiserver behind HAProxy.

Run as ``python -m tests.support.healthserver PORT CERT_PEM NAME``: answers ``GET /healthz``
with 200 ``ok`` and every other path with 200 and its NAME (so a test can see round-robin),
until killed. A separate process so that a test can kill it like a crashed apiserver.
"""

from __future__ import annotations

import http.server
import ssl
import sys


class _Handler(http.server.BaseHTTPRequestHandler):
    server_name_text = "backend"

    def do_GET(self) -> None:
        body = b"ok" if self.path == "/healthz" else self.server_name_text.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # HAProxy's health checks hang up early; not worth a traceback


def main(argv: list[str]) -> None:
    port, cert_pem, name = int(argv[0]), argv[1], argv[2]
    _Handler.server_name_text = name
    server = _Server(("127.0.0.1", port), _Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_pem)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    print("ready", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main(sys.argv[1:])
