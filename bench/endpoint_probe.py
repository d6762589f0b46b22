"""TLS endpoint probes (``certs`` collector) against a plain ``ssl`` handshake loop.

A real TLS server on loopback (tests/support/tls_servers.py) presents a leaf and an intermediate
made by trustme. Both sides run in this process against the same server, one probe at a time.

- ``endpoint_probe_ca_file_vs_plain_ssl``: ``fetch_presented`` with the CA file (verification
  succeeds) vs a loop that makes one verifying ``ssl`` context up front and then, per probe,
  connects, handshakes and reads the presented chain as DER. Target ratio <= 1.2.
- ``endpoint_probe_system_store_vs_plain_ssl``: ``fetch_presented`` against the system trust
  store, which does not trust the server (verification fails; watchtower still reports the chain)
  vs the same plain loop with a context that does not verify. Target ratio <= 1.2.
"""

from __future__ import annotations

import _ssl
import os
import socket
import ssl
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from bench import daemon
from bench.harness import Line

PROBES = max(20, int(150 * float(os.environ.get("WATCHTOWER_BENCH_CERTS_SCALE", "1"))))
ROUNDS = 7


def _plain(address: tuple[str, int], context: ssl.SSLContext, server_name: str) -> int:
    with socket.create_connection(address, timeout=5) as raw, \
            context.wrap_socket(raw, server_hostname=server_name) as tls:
        chain = tls._sslobj.get_unverified_chain() or []  # type: ignore[union-attr]
        return len([c.public_bytes(_ssl.ENCODING_DER) for c in chain])


def _timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    for _ in range(PROBES):
        fn()
    return (time.perf_counter() - start) / PROBES


def run() -> list[Line]:
    sys.path.insert(0, str(daemon.ROOT))
    import trustme

    from tests.support.tls_servers import TLSServer
    from watchtower.collectors.certsources.endpoints import Endpoint, fetch_presented

    ca = trustme.CA()
    leaf = ca.create_child_ca().issue_cert("localhost")
    with tempfile.TemporaryDirectory(prefix="wt-bench-endpoint-") as work:
        ca_file = Path(work) / "ca.pem"
        ca.cert_pem.write_to_path(str(ca_file))
        chain = b"".join(blob.bytes() for blob in leaf.cert_chain_pems)
        with TLSServer(Path(work) / "srv", chain, leaf.private_key_pem.bytes()) as server:
            address = ("127.0.0.1", server.port)
            trusted = Endpoint.parse(server.address, "localhost", str(ca_file))
            untrusted = Endpoint.parse(server.address, "localhost")
            assert fetch_presented(trusted, 5).verified and not fetch_presented(untrusted, 5).verified
            verifying = ssl.create_default_context(cafile=str(ca_file))
            lenient = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            lenient.check_hostname = False
            lenient.verify_mode = ssl.CERT_NONE
            sides: dict[str, list[float]] = {"ca": [], "ca_plain": [], "sys": [], "sys_plain": []}
            for _ in range(ROUNDS):  # interleaved
                sides["ca_plain"].append(_timed(lambda: _plain(address, verifying, "localhost")))
                sides["ca"].append(_timed(lambda: fetch_presented(trusted, 5)))
                sides["sys_plain"].append(_timed(lambda: _plain(address, lenient, "localhost")))
                sides["sys"].append(_timed(lambda: fetch_presented(untrusted, 5)))
    median = {k: statistics.median(v) * 1000 for k, v in sides.items()}
    return [
        Line("endpoint_probe_ca_file_vs_plain_ssl", median["ca"], "ms", median["ca_plain"], "ms", "<= 1.2"),
        Line("endpoint_probe_system_store_vs_plain_ssl", median["sys"], "ms", median["sys_plain"], "ms", "<= 1.2"),
    ]


if __name__ == "__main__":
    for line in run():
        print(line.render(), flush=True)
