"""A real single etcd 3.4 member with client-certificate auth, for integration tests.

Certificates come from trustme (a CA, a server certificate for 127.0.0.1, a client
certificate like kubeadm's healthcheck-client, and one from an unrelated CA). The member runs
as a child process with its own data directory and free ports and is stopped by PID.
``peers`` > 1 declares absent peers in ``--initial-cluster``, so the member never gets a leader.
"""

from __future__ import annotations

import os
import platform
import signal
import subprocess
from pathlib import Path
from typing import Self

import trustme

from tests.support.processes import http_get_direct, stop
from tests.support.services import free_port, require_binary, wait_for

QUOTA_BYTES = 64 * 1024 * 1024


class EtcdCerts:
    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.dir = directory
        ca, other_ca = trustme.CA(), trustme.CA()
        self.ca_file = self._write("ca.crt", ca.cert_pem.bytes())
        server = ca.issue_cert("127.0.0.1", "localhost")
        self.server_cert = self._write("server.crt", server.cert_chain_pems[0].bytes())
        self.server_key = self._write("server.key", server.private_key_pem.bytes())
        client = ca.issue_cert("kube-etcd-healthcheck-client")
        self.client_cert = self._write("healthcheck-client.crt", client.cert_chain_pems[0].bytes())
        self.client_key = self._write("healthcheck-client.key", client.private_key_pem.bytes())
        intruder = other_ca.issue_cert("kube-etcd-healthcheck-client")
        self.wrong_cert = self._write("wrong-client.crt", intruder.cert_chain_pems[0].bytes())
        self.wrong_key = self._write("wrong-client.key", intruder.private_key_pem.bytes())

    def _write(self, name: str, data: bytes) -> str:
        path = self.dir / name
        path.write_bytes(data)
        return str(path)


class EtcdMember:
    def __init__(self, workdir: Path, peers: int = 1) -> None:
        self.workdir = workdir
        self.certs = EtcdCerts(workdir / "pki")
        self.client_port, self.metrics_port = free_port(), free_port()
        self.peer_ports = [free_port() for _ in range(peers)]
        self.process: subprocess.Popen | None = None

    @property
    def client_url(self) -> str:
        return f"https://127.0.0.1:{self.client_port}"

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.metrics_port}"

    def command(self) -> list[str]:
        cluster = ",".join(f"m{i}=http://127.0.0.1:{port}" for i, port in enumerate(self.peer_ports))
        return [
            require_binary("etcd"), "--name", "m0", "--data-dir", str(self.workdir / "etcd-data"),
            "--listen-client-urls", self.client_url, "--advertise-client-urls", self.client_url,
            "--listen-peer-urls", f"http://127.0.0.1:{self.peer_ports[0]}",
            "--initial-advertise-peer-urls", f"http://127.0.0.1:{self.peer_ports[0]}",
            "--initial-cluster", cluster, "--initial-cluster-state", "new",
            "--client-cert-auth", "--trusted-ca-file", self.certs.ca_file,
            "--cert-file", self.certs.server_cert, "--key-file", self.certs.server_key,
            "--listen-metrics-urls", self.metrics_url, "--quota-backend-bytes", str(QUOTA_BYTES),
        ]

    def metrics_health(self) -> bytes:
        return http_get_direct(self.metrics_url + "/health", timeout=1)[1]

    def start(self, wait_healthy: bool = True) -> None:
        env = dict(os.environ)
        if platform.machine() in ("aarch64", "arm64"):
            env["ETCD_UNSUPPORTED_ARCH"] = "arm64"  # etcd 3.4 refuses to start on arm64 otherwise
        log = (self.workdir / "etcd.log").open("ab")
        self.process = subprocess.Popen(self.command(), stdout=log, stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL, env=env)
        expected = b'"health":"true"' if wait_healthy else b'"health"'
        try:
            wait_for(lambda: self.process.poll() is None and expected in self.metrics_health(), 20,
                     what="etcd /health on the metrics port")
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        if self.process is not None:
            stop(self.process, signal.SIGTERM)

    def __enter__(self) -> Self:
        self.start(wait_healthy=len(self.peer_ports) == 1)
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
