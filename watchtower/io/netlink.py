"""Interface addresses over rtnetlink (RTM_GETADDR), so the node role needs no ``ip`` binary.

The container image has no iproute2; the kernel answers the same question on an AF_NETLINK
socket. ``parse_addr_messages`` is pure (bytes in, addresses out) and tested with crafted and
real messages; ``dump_addresses`` does the socket I/O with a bounded timeout.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import socket
import struct
import time
from collections.abc import Callable

NETLINK_ROUTE = 0
RTM_NEWADDR = 20
RTM_GETADDR = 22
NLMSG_ERROR = 2
NLMSG_DONE = 3
NLM_F_REQUEST = 0x1
NLM_F_DUMP = 0x300
IFA_ADDRESS = 1
IFA_LOCAL = 2
IFA_LABEL = 3

_NLMSGHDR = struct.Struct("=IHHII")  # len, type, flags, seq, pid
_IFADDRMSG = struct.Struct("=BBBBI")  # family, prefixlen, flags, scope, index
_RTATTR = struct.Struct("=HH")  # len, type


class NetlinkError(OSError):
    """The kernel answered with an error, or the answer was malformed."""


@dataclasses.dataclass(frozen=True)
class Address:
    interface: str
    address: str
    prefixlen: int


def _align(length: int) -> int:
    return (length + 3) & ~3


def build_getaddr_request(seq: int) -> bytes:
    """A dump request for every address of every family."""
    body = _IFADDRMSG.pack(socket.AF_UNSPEC, 0, 0, 0, 0)
    return _NLMSGHDR.pack(_NLMSGHDR.size + len(body), RTM_GETADDR, NLM_F_REQUEST | NLM_F_DUMP, seq, 0) + body


def parse_addr_messages(data: bytes, interface_name: Callable[[int], str]) -> tuple[list[Address], bool]:
    """Addresses in one buffer of netlink messages, and whether NLMSG_DONE ended the dump.

    ``interface_name`` maps an interface index to its name (IPv6 addresses carry no label).
    Raises NetlinkError on an error message or a truncated/malformed one.
    """
    out: list[Address] = []
    offset = 0
    while offset + _NLMSGHDR.size <= len(data):
        length, msg_type, _flags, _seq, _pid = _NLMSGHDR.unpack_from(data, offset)
        if length < _NLMSGHDR.size or offset + length > len(data):
            raise NetlinkError(f"malformed netlink message at byte {offset} (length {length})")
        body = data[offset + _NLMSGHDR.size: offset + length]
        offset += _align(length)
        if msg_type == NLMSG_DONE:
            return out, True
        if msg_type == NLMSG_ERROR:
            code = -struct.unpack_from("=i", body)[0] if len(body) >= 4 else 0
            raise NetlinkError(code, f"netlink error: {os.strerror(code) if code else 'unknown'}")
        if msg_type != RTM_NEWADDR or len(body) < _IFADDRMSG.size:
            continue
        family, prefixlen, _f, _scope, index = _IFADDRMSG.unpack_from(body)
        attrs = _attributes(body[_IFADDRMSG.size:])
        raw = attrs.get(IFA_LOCAL) or attrs.get(IFA_ADDRESS)
        if raw is None or family not in (socket.AF_INET, socket.AF_INET6):
            continue
        address = str(ipaddress.IPv4Address(raw) if family == socket.AF_INET else ipaddress.IPv6Address(raw))
        label = attrs.get(IFA_LABEL, b"").split(b"\0", 1)[0].decode("utf-8", "replace")
        # the label of an IPv4 alias ("eth0:1") is not an interface name: always name the device
        name = interface_name(index) or label.split(":", 1)[0]
        out.append(Address(interface=name, address=address, prefixlen=prefixlen))
    return out, False


def _attributes(data: bytes) -> dict[int, bytes]:
    attrs: dict[int, bytes] = {}
    offset = 0
    while offset + _RTATTR.size <= len(data):
        length, attr_type = _RTATTR.unpack_from(data, offset)
        if length < _RTATTR.size or offset + length > len(data):
            raise NetlinkError(f"malformed route attribute at byte {offset} (length {length})")
        attrs.setdefault(attr_type, data[offset + _RTATTR.size: offset + length])
        offset += _align(length)
    return attrs


def _index_to_name(index: int) -> str:
    try:
        return socket.if_indextoname(index)
    except OSError:
        return f"if{index}"


def dump_addresses(timeout: float = 2.0) -> list[Address]:
    """Every address of this network namespace, from the kernel. Raises OSError/NetlinkError."""
    deadline = time.monotonic() + timeout
    with socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_ROUTE) as sock:
        sock.bind((0, 0))
        seq = int(time.time()) & 0xFFFFFFFF
        sock.sendall(build_getaddr_request(seq))
        out: list[Address] = []
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("no complete netlink address dump in time")
            sock.settimeout(remaining)
            data = sock.recv(1 << 16)
            addresses, done = parse_addr_messages(data, _index_to_name)
            out += addresses
            if done:
                return out
