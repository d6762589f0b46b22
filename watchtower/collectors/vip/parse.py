"""Pure data model and parsers: ``ip -j addr``, keepalived's JSON dump and notify files → VRRP instances; no I/O."""

from __future__ import annotations

import dataclasses
import ipaddress
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from watchtower.io.netlink import Address as InterfaceAddress

SECTION = "vip"

VRRP_STATES = ("init", "backup", "master", "fault", "stop")
"""Every state exported as its own series (1 for the current one): 0..3 are keepalived's
JSON ``data.state`` codes; ``stop`` is what a notify script reports when keepalived shuts down."""

_JSON_STATE_CODES = {0: "init", 1: "backup", 2: "master", 3: "fault"}
_NOTIFY_STATES = {"MASTER": "master", "BACKUP": "backup", "FAULT": "fault", "STOP": "stop", "DELETED": "stop"}
_SIGNAL_WAIT_SECONDS = 0.3  # a dump takes milliseconds; a keepalived busy stopping never answers


# --------------------------------------------------------------------------------------------
# Pure data model and parsers (no I/O)


@dataclasses.dataclass(frozen=True)
class VrrpInstance:
    """keepalived's view of one vrrp_instance; fields a source does not provide are None."""

    name: str
    state: str  # one of VRRP_STATES
    source: str  # the file it was read from
    priority: int | None = None
    last_transition: float | None = None
    become_master: int | None = None
    vips: tuple[str, ...] = ()


class FormatError(ValueError):
    """Input that is not in the format this collector understands; the message says what is off."""


def _json_list(text: str, items: str) -> list[Any]:
    """The JSON list ``text`` holds; FormatError saying what is off when it is not one."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise FormatError(f"not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    if not isinstance(value, list):
        raise FormatError(f"expected a JSON list of {items}, got {type(value).__name__}")
    return value


def parse_ip_addr_json(text: str) -> tuple[InterfaceAddress, ...]:
    """Addresses from the output of ``ip -j addr show`` (iproute2's JSON)."""
    links = _json_list(text, "interfaces")
    out: list[InterfaceAddress] = []
    for i, link in enumerate(links):
        if not isinstance(link, dict) or not isinstance(link.get("ifname"), str):
            raise FormatError(f"interface {i}: no ifname")
        for addr in link.get("addr_info") or ():
            # `ip -j addr` emits {} placeholders for links without details; skip those
            if not isinstance(addr, dict) or "local" not in addr:
                continue
            out.append(InterfaceAddress(
                interface=link["ifname"],
                address=str(addr["local"]),
                prefixlen=int(addr.get("prefixlen", 0)),
            ))
    return tuple(out)


def vip_bindings(addresses: Sequence[InterfaceAddress], vips: Sequence[str]) -> dict[str, str | None]:
    """VIP → the interface it is bound to here, or None. Compares parsed IPs, not spellings."""
    by_ip: dict[ipaddress.IPv4Address | ipaddress.IPv6Address, str] = {}
    for item in addresses:
        try:
            by_ip.setdefault(ipaddress.ip_address(item.address.split("%", 1)[0]), item.interface)
        except ValueError:
            continue
    return {vip: by_ip.get(ipaddress.ip_address(vip)) for vip in vips}


def _require(mapping: Mapping[str, Any], key: str, kind: type | tuple[type, ...], where: str) -> Any:
    value = mapping.get(key)
    if not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
        shown = "missing" if key not in mapping else f"a {type(value).__name__}"
        raise FormatError(f"{where}.{key} is {shown}")
    return value


def parse_keepalived_json(text: str, source: str) -> tuple[VrrpInstance, ...]:
    """Instances from keepalived's JSON dump (``/tmp/keepalived.json``, keepalived 2.x format).

    Raises FormatError naming the first field that does not match, e.g. a dump written by a
    keepalived version with a different layout.
    """
    entries = _json_list(text, "VRRP instances")
    out: list[VrrpInstance] = []
    for i, entry in enumerate(entries):
        where = f"[{i}]"
        if not isinstance(entry, dict):
            raise FormatError(f"{where} is a {type(entry).__name__}, not an object")
        data = _require(entry, "data", dict, where)
        stats = _require(entry, "stats", dict, where)
        name = _require(data, "iname", str, f"{where}.data")
        code = _require(data, "state", int, f"{where}.data")
        if code not in _JSON_STATE_CODES:
            raise FormatError(f"{where}.data.state is {code}, not one of 0 init, 1 backup, 2 master, 3 fault")
        priority = _require(data, "effective_priority", int, f"{where}.data")
        transition = _require(data, "last_transition", (int, float), f"{where}.data")
        become_master = _require(stats, "become_master", int, f"{where}.stats")
        vips = data.get("vips", [])
        if not isinstance(vips, list):
            raise FormatError(f"{where}.data.vips is a {type(vips).__name__}, not a list")
        out.append(VrrpInstance(
            name=name, state=_JSON_STATE_CODES[code], source=source, priority=priority,
            last_transition=float(transition), become_master=become_master,
            vips=tuple(str(v).split(" ", 1)[0] for v in vips),
        ))
    return tuple(out)


def parse_notify_state(text: str, source: str, mtime: float | None = None) -> VrrpInstance:
    """The state a keepalived notify script recorded.

    The script writes its arguments (``echo "$@" > FILE``): ``INSTANCE NAME STATE PRIORITY``;
    a file holding just the state word (``MASTER``) is accepted too and named after the file.
    The file's modification time is the last transition.
    """
    words = text.split()
    if len(words) == 1:
        name, state_word, priority_word = Path(source).stem, words[0], None
    elif len(words) in (3, 4) and words[0].upper() in ("INSTANCE", "GROUP"):
        name, state_word = words[1], words[2]
        priority_word = words[3] if len(words) == 4 else None
    else:
        raise FormatError(f"expected 'INSTANCE NAME STATE [PRIORITY]' or a state word, got {text.strip()[:60]!r}")
    state = _NOTIFY_STATES.get(state_word.upper())
    if state is None:
        raise FormatError(f"unknown state {state_word[:20]!r}, expected one of {sorted(_NOTIFY_STATES)}")
    priority = None
    if priority_word is not None:
        if not priority_word.isdigit():
            raise FormatError(f"priority {priority_word[:20]!r} is not a number")
        priority = int(priority_word)
    return VrrpInstance(name=name, state=state, source=source, priority=priority, last_transition=mtime)


def merge_instances(*sources: Sequence[VrrpInstance]) -> tuple[VrrpInstance, ...]:
    """One entry per instance name; earlier sources win (the JSON dump is richer than notify files)."""
    seen: dict[str, VrrpInstance] = {}
    for instances in sources:
        for inst in instances:
            seen.setdefault(inst.name, inst)
    return tuple(sorted(seen.values(), key=lambda i: i.name))
