"""rtnetlink address messages parsed from bytes laid out as include/uapi/linux/{netlink,if_addr}.h define them."""

from __future__ import annotations

import socket
import struct

import pytest

from watchtower.io.netlink import Address, NetlinkError, build_getaddr_request, parse_addr_messages

NAMES = {1: "lo", 3: "eth0"}.get


def rtattr(kind: int, payload: bytes) -> bytes:
    length = 4 + len(payload)
    return struct.pack("=HH", length, kind) + payload + b"\0" * ((4 - length % 4) % 4)


def message(kind: int, body: bytes, seq: int = 7) -> bytes:
    length = 16 + len(body)
    return struct.pack("=IHHII", length, kind, 2, seq, 0) + body + b"\0" * ((4 - length % 4) % 4)


def newaddr(family: int, prefixlen: int, index: int, *attrs: bytes) -> bytes:
    return message(20, struct.pack("=BBBBI", family, prefixlen, 0, 0, index) + b"".join(attrs))


V4_VIP = newaddr(socket.AF_INET, 24, 3,
                 rtattr(1, socket.inet_aton("198.51.100.100")), rtattr(2, socket.inet_aton("198.51.100.100")),
                 rtattr(3, b"eth0:vip\0"))
V4_PTP = newaddr(socket.AF_INET, 32, 3,  # point-to-point: IFA_ADDRESS is the peer, IFA_LOCAL ours
                 rtattr(1, socket.inet_aton("198.51.100.1")), rtattr(2, socket.inet_aton("198.51.100.2")))
V6 = newaddr(socket.AF_INET6, 64, 3, rtattr(1, socket.inet_pton(socket.AF_INET6, "2001:db8::10")))
DONE = message(3, struct.pack("=i", 0))


def test_parse_addresses_across_families_and_done() -> None:
    addresses, done = parse_addr_messages(V4_VIP + V4_PTP + V6 + DONE, NAMES)
    assert done
    assert addresses == [
        Address("eth0", "198.51.100.100", 24),  # the device, not the alias label
        Address("eth0", "198.51.100.2", 32),
        Address("eth0", "2001:db8::10", 64),
    ]


def test_a_dump_spanning_buffers_is_not_done_until_nlmsg_done() -> None:
    addresses, done = parse_addr_messages(V6, NAMES)
    assert (len(addresses), done) == (1, False)


def test_unknown_index_falls_back_to_the_label() -> None:
    addresses, _ = parse_addr_messages(V4_VIP, lambda i: "")
    assert addresses[0].interface == "eth0"


def test_error_message_and_truncation_are_errors() -> None:
    with pytest.raises(NetlinkError, match="Operation not permitted"):
        parse_addr_messages(message(2, struct.pack("=i", -1) + b"\0" * 16), NAMES)
    with pytest.raises(NetlinkError, match="malformed netlink message"):
        parse_addr_messages(V4_VIP[:-8], NAMES)
    broken_attr = newaddr(socket.AF_INET, 24, 3, struct.pack("=HH", 40, 2) + b"\0" * 4)
    with pytest.raises(NetlinkError, match="malformed route attribute"):
        parse_addr_messages(broken_attr, NAMES)


def test_request_layout() -> None:
    request = build_getaddr_request(seq=42)
    length, kind, flags, seq, pid = struct.unpack_from("=IHHII", request)
    assert (length, kind, flags & 0x301, seq, pid) == (len(request), 22, 0x301, 42, 0)
    assert request[16] == socket.AF_UNSPEC
