"""Endpoint probes dial once, also when verification fails, and reuse one SSL context per CA file;
``check certs --output json`` is compact unless ``--pretty``.

A real TLS server on loopback (tests/support/tls_servers.py) presents a leaf and an intermediate
made by trustme; the chain a failed verifying handshake leaves behind is compared with what a
second, non-verifying handshake (the old way) is shown.
"""

from __future__ import annotations

import json
import socket
import ssl
from pathlib import Path

import trustme

from tests.support.certs import check_certs
from tests.support.tls_servers import TLSServer
from watchtower.collectors.certsources.endpoints import (
    Endpoint,
    EndpointFailure,
    _handshake,
    _lenient_context,
    fetch_presented,
    verifying_context,
)
from watchtower.io import tlscontext


def _server(tmp_path: Path, ca: trustme.CA, name: str = "localhost") -> TLSServer:
    intermediate = ca.create_child_ca()
    leaf = intermediate.issue_cert(name)
    chain = b"".join(blob.bytes() for blob in leaf.cert_chain_pems)
    return TLSServer(tmp_path / "srv", chain, leaf.private_key_pem.bytes())


def test_a_rejected_chain_is_read_from_the_one_dial(tmp_path: Path) -> None:
    ca = trustme.CA()
    with _server(tmp_path, ca) as server:
        endpoint = Endpoint.parse(server.address, server_name="localhost")  # system store: not trusted
        presented = fetch_presented(endpoint, timeout=5)
        assert server.connections == 1
        assert not presented.verified and presented.reason == "issuer_unknown"
        lenient, failure = _handshake(endpoint, _lenient_context(), 5)
        assert failure is None and presented.chain == lenient and len(lenient) == 2


def test_hostname_mismatch_keeps_the_chain_with_one_dial(tmp_path: Path) -> None:
    ca = trustme.CA()
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    with _server(tmp_path, ca) as server:
        ok = fetch_presented(Endpoint.parse(server.address, "localhost", str(ca_file)), timeout=5)
        wrong = fetch_presented(Endpoint.parse(server.address, "other.example", str(ca_file)), timeout=5)
        assert server.connections == 2
        assert ok.verified and not wrong.verified and wrong.reason == "hostname_mismatch"
        assert wrong.chain == ok.chain and len(ok.chain) == 2


def test_one_context_per_ca_file_until_the_file_changes(tmp_path: Path) -> None:
    first, second = trustme.CA(), trustme.CA()
    ca_file = tmp_path / "ca.pem"
    first.cert_pem.write_to_path(str(ca_file))
    context = verifying_context(str(ca_file))
    assert verifying_context(str(ca_file)) is context
    assert verifying_context(None) is verifying_context(None)
    with _server(tmp_path, second) as server:
        endpoint = Endpoint.parse(server.address, "localhost", str(ca_file))
        assert not fetch_presented(endpoint, timeout=5).verified
        second.cert_pem.write_to_path(str(ca_file))  # the CA file is replaced: the next probe trusts it
        assert verifying_context(str(ca_file)) is not context
        assert fetch_presented(endpoint, timeout=5).verified
    missing = tmp_path / "missing.pem"
    for _ in range(2):  # a CA file that cannot be loaded fails as before, every time (nothing cached)
        try:
            verifying_context(str(missing))
        except (OSError, ssl.SSLError) as exc:
            assert isinstance(exc, FileNotFoundError)
        else:
            raise AssertionError("a missing CA file loaded")


def test_an_endpoint_that_does_not_answer_costs_no_context(tmp_path: Path) -> None:
    """The context (~0.85 MB of OpenSSL's heap for the first) is made once the TCP connection stands:
    kubeadm's served check on a node whose apiserver is down makes none. A CA file that cannot be
    opened is still the error, before any dial; a good one is loaded once the peer answers."""
    ca = trustme.CA()
    ca_file = tmp_path / "unused-ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        refused = Endpoint("127.0.0.1", probe.getsockname()[1], ca_file=str(ca_file))
    try:
        fetch_presented(refused, timeout=5)
    except EndpointFailure as failure:
        assert failure.reason == "connect_error"
    else:
        raise AssertionError("a refused port answered")
    assert not any(key[0] == str(ca_file) for key in tlscontext._contexts)
    missing = Endpoint("127.0.0.1", refused.port, ca_file=str(tmp_path / "missing.pem"))
    try:
        fetch_presented(missing, timeout=5)
    except FileNotFoundError:
        pass
    else:
        raise AssertionError("a missing CA file was not the error")
    with _server(tmp_path, ca) as server:
        answered = Endpoint.parse(server.address, "localhost", str(ca_file))
        assert fetch_presented(answered, timeout=5).verified
    assert any(key[0] == str(ca_file) for key in tlscontext._contexts)


def test_check_certs_json_is_compact_unless_pretty(tmp_path: Path) -> None:
    """Compact (one line, no spaces after separators) by default; --pretty indents; same document."""
    ca = trustme.CA()
    ca.cert_pem.write_to_path(str(tmp_path / "ca.crt"))
    compact = check_certs(str(tmp_path / "ca.crt"), "--output", "json")
    pretty = check_certs(str(tmp_path / "ca.crt"), "--output", "json", "--pretty")
    assert compact.returncode == pretty.returncode == 0, compact.stderr
    assert compact.stdout.count("\n") == 1 and '": ' not in compact.stdout
    assert pretty.stdout.startswith('{\n  "')
    first, second = json.loads(compact.stdout), json.loads(pretty.stdout)
    first.pop("now"), second.pop("now")
    for doc in (first, second):
        for row in doc["certificates"]:
            row.pop("seconds_left"), row.pop("lifetime_fraction_left")
    assert first == second
