"""The kernel's own answer over rtnetlink agrees with iproute2's `ip -j addr`."""

from __future__ import annotations

import subprocess

from tests.support.services import require_binary
from watchtower.collectors.vip.parse import parse_ip_addr_json
from watchtower.io.netlink import dump_addresses


def test_netlink_dump_matches_ip_addr() -> None:
    done = subprocess.run([require_binary("ip"), "-j", "addr", "show"], capture_output=True, text=True, timeout=10, check=True)
    from_ip = {(a.interface, a.address, a.prefixlen) for a in parse_ip_addr_json(done.stdout)}
    from_kernel = {(a.interface, a.address, a.prefixlen) for a in dump_addresses(timeout=2)}
    assert ("lo", "127.0.0.1", 8) in from_kernel
    assert from_kernel == from_ip
