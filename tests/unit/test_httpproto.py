"""Request-head parsing of the bounded server (watchtower.app.httpproto): what is refused, and when."""

from __future__ import annotations

import pytest

from watchtower.app.httpproto import RequestError, early_refusal, parse_request_head

# The first bytes of a real TLS 1.3 ClientHello (curl https:// to a plain port): record type 0x16.
CLIENT_HELLO = bytes.fromhex("160301020001000001fc0303") + bytes(32)


@pytest.mark.parametrize("received", [
    b"", b"G", b"GET", b"GET ", b"GET /metrics HTT", b"\r\n\r\nGET /", b"M-SEARCH * HTTP/1.1", b"PROPFIND ",
])
def test_a_beginning_that_can_still_become_a_request_is_not_refused(received: bytes) -> None:
    assert early_refusal(received) is None


@pytest.mark.parametrize(("received", "message"), [
    (CLIENT_HELLO, "TLS handshake"),
    (CLIENT_HELLO[:1], "TLS handshake"),
    (b"\r\n" + CLIENT_HELLO, "TLS handshake"),
    (b" GET / HTTP/1.1", "malformed request line"),
    (b"G\xc3T / HTTP/1.1", "malformed request line"),
    (b"GE(T", "malformed request line"),
    (b"A" * 17, "malformed request line"),  # no method this server knows is that long
    (b"SSH-2.0-OpenSSH_9.2", "malformed request line"),
])
def test_bytes_that_cannot_start_a_request_are_refused_before_a_line_end(received: bytes, message: str) -> None:
    refusal = early_refusal(received)
    assert refusal is not None and refusal.status == 400 and refusal.reason == "bad_request"
    assert message in str(refusal)


@pytest.mark.parametrize("head", [
    b"GET / HTTP/1.1\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
    b"GET / HTTP/1.1\r\nhost: a\r\nHOST: a\r\n\r\n",
    b"GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n",
])
def test_host_must_appear_once_in_http_1_1_and_at_most_once_in_1_0(head: bytes) -> None:
    with pytest.raises(RequestError) as raised:
        parse_request_head(head)
    assert raised.value.status == 400 and "Host" in str(raised.value)


@pytest.mark.parametrize("head", [b"GET /x HTTP/1.1\r\nHost: a\r\n\r\n", b"GET /x HTTP/1.0\r\n\r\n"])
def test_a_well_formed_head_parses(head: bytes) -> None:
    request = parse_request_head(head)
    assert request.path == "/x" and request.method == "GET"
