"""A real HAProxy round-robin in front of three TLS health backends, for integration tests.

Everything is a child process of the test (HAProxy in the foreground with ``-db``), stopped
by PID. The stats socket lives in a fresh world-traversable directory, so its own mode
(``600``) is the only thing standing between a non-root reader and the socket.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import tempfile
from pathlib import Path
from typing import Self

import trustme

from tests.support.processes import port_accepts, start_python_module, stop
from tests.support.services import free_port, require_binary, wait_for

STATS_USER = "watchtower"
STATS_PASSWORD = "s3cret-stats-pw"


class HAProxyLab:
    def __init__(self, workdir: Path, backends: int = 3) -> None:
        self.workdir = workdir
        self.names = [f"apiserver{i + 1}" for i in range(backends)]
        self.backend_ports = [free_port() for _ in self.names]
        self.frontend_port = free_port()
        self.stats_port = free_port()
        self.socket_dir = Path(tempfile.mkdtemp(prefix=f"wt-haproxy-{id(self):x}-"))
        self.socket_dir.chmod(0o755)
        self.socket_path = self.socket_dir / "admin.sock"
        self.backends: dict[int, subprocess.Popen] = {}
        self.haproxy: subprocess.Popen | None = None

    @property
    def stats_url(self) -> str:
        return f"http://127.0.0.1:{self.stats_port}/stats"

    @property
    def frontend_url(self) -> str:
        return f"http://127.0.0.1:{self.frontend_port}"

    def _certs(self) -> None:
        ca = trustme.CA()
        ca.cert_pem.write_to_path(str(self.workdir / "ca.pem"))
        ca.issue_cert("127.0.0.1", "localhost").private_key_and_cert_chain_pem.write_to_path(
            str(self.workdir / "server.pem"))

    def config_text(self) -> str:
        servers = "\n".join(f"    server {name} 127.0.0.1:{port}" for name, port in zip(self.names, self.backend_ports))
        return f"""global
    stats socket {self.socket_path} mode 600 level admin
defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s
    retries 2
    option redispatch 1
frontend kube_api
    bind 127.0.0.1:{self.frontend_port}
    default_backend apiservers
backend apiservers
    balance roundrobin
    option httpchk GET /healthz
    # fastinter/downinter: the 2nd check of a transition and checks of a DOWN server come
    # 100ms apart, so a dead server is DOWN within inter + fastinter (about 0.6s)
    default-server check inter 500ms fastinter 100ms downinter 100ms fall 2 rise 2 ssl verify required ca-file {self.workdir / "ca.pem"}
{servers}
listen stats
    bind 127.0.0.1:{self.stats_port}
    stats enable
    stats uri /stats
    stats auth {STATS_USER}:{STATS_PASSWORD}
"""

    def start_backend(self, index: int) -> None:
        port = self.backend_ports[index]
        self.backends[index] = start_python_module(
            "tests.support.healthserver", [str(port), str(self.workdir / "server.pem"), self.names[index]],
            self.workdir / f"{self.names[index]}.log")
        wait_for(lambda: port_accepts(port), 10, what=f"backend {self.names[index]} on port {port}")

    def kill_backend(self, index: int) -> None:
        """SIGKILL one backend, like a crashed apiserver; returns once it is gone."""
        stop(self.backends.pop(index), signal.SIGKILL)

    def __enter__(self) -> Self:
        haproxy = require_binary("haproxy")
        try:
            self._certs()
            for index in range(len(self.names)):
                self.start_backend(index)
            cfg = self.workdir / "haproxy.cfg"
            cfg.write_text(self.config_text())
            checked = subprocess.run([haproxy, "-c", "-q", "-f", str(cfg)], capture_output=True, text=True, timeout=30)
            assert checked.returncode == 0, checked.stdout + checked.stderr
            log = (self.workdir / "haproxy.log").open("ab")
            self.haproxy = subprocess.Popen([haproxy, "-db", "-f", str(cfg)], stdout=log, stderr=subprocess.STDOUT,
                                            stdin=subprocess.DEVNULL)
            wait_for(lambda: self.socket_path.exists() and port_accepts(self.stats_port), 10, what="HAProxy up")
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        if self.haproxy is not None:
            stop(self.haproxy)
        for process in self.backends.values():
            stop(process, signal.SIGKILL)
        self.backends.clear()
        shutil.rmtree(self.socket_dir, ignore_errors=True)
