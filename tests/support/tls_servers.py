"""Real TLS servers on loopback for certificate tests: present a chain, or accept and stay silent.

``TLSServer(directory, chain_pem, key_pem)`` listens on 127.0.0.1 (a free port), completes TLS
handshakes presenting exactly ``chain_pem`` (leaf first, then whatever intermediates the test
wants sent) and hangs up. ``SilentServer`` accepts TCP connections but never speaks, like a
filtered or wedged endpoint. Both are context managers and stop their thread on exit.
"""

from __future__ import annotations

import socket
import ssl
import threading
from pathlib import Path
from types import TracebackType
from typing import Self


class TLSServer:
    """Completes handshakes with the given chain until stopped."""

    def __init__(self, directory: Path, chain_pem: bytes, key_pem: bytes, name: str = "server") -> None:
        directory.mkdir(parents=True, exist_ok=True)
        cert_file, key_file = directory / f"{name}-chain.pem", directory / f"{name}.key"
        cert_file.write_bytes(chain_pem)
        key_file.write_bytes(key_pem)
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(cert_file, key_file)
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.handshakes = 0
        self.connections = 0  # accepted TCP connections (a client that rejects the chain still dialled)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name=f"tls-{name}", daemon=True)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections += 1
            conn.settimeout(5)
            try:
                with self.context.wrap_socket(conn, server_side=True):
                    self.handshakes += 1
            except (ssl.SSLError, OSError):
                pass  # the client rejected our certificate: that is the point of some tests
            finally:
                conn.close()

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.sock.close()


class SilentServer:
    """Listens (the kernel completes TCP handshakes from the backlog) but never answers."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0), backlog=16)
        self.port = self.sock.getsockname()[1]

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.sock.close()
