"""Pure parts: /readyz and /version answers, endpoint planning and the per-endpoint judgement; no I/O."""

from __future__ import annotations

import dataclasses
import ipaddress
import json
import re
from collections.abc import Mapping, Sequence

from watchtower.core import reasons
from watchtower.core.formatting import join_host_port, split_host_port
from watchtower.core.results import ItemError
from watchtower.io import netprobe

SECTION = "apiserver"
PATHS = ("livez", "readyz", "version")
_QUERY = {"livez": "livez", "readyz": "readyz?verbose", "version": "version"}
ROLES = ("apiserver", "vip", "endpoint")
MAX_BODY_BYTES = 256 * 1024
_CHECK_LINE = re.compile(r"^\[([+-])\](\S+)\s*(.*)$")


# --------------------------------------------------------------------------------------------
# Pure parts


class FormatError(ValueError):
    """A response body that is not what the Kubernetes API documents."""


@dataclasses.dataclass(frozen=True)
class ReadyzCheck:
    """One line of ``/readyz?verbose``: ``[+]etcd ok`` or ``[-]etcd failed: reason withheld``."""

    name: str
    ok: bool
    detail: str


def parse_readyz_verbose(text: str) -> tuple[ReadyzCheck, ...]:
    """Every check line of a verbose /readyz (or /livez) body, in order; other lines ignored."""
    checks = []
    for line in text.splitlines():
        match = _CHECK_LINE.match(line.strip())
        if match:
            sign, name, detail = match.groups()
            checks.append(ReadyzCheck(name=name, ok=sign == "+", detail=detail.strip()))
    return tuple(checks)


def parse_version(text: str) -> tuple[str, str]:
    """(gitVersion, minor digits) from a /version body, e.g. ("v1.30.2", "30"); "28+" → "28"."""
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise FormatError(f"/version is not JSON: {exc.msg}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("gitVersion"), str):
        raise FormatError("/version has no gitVersion string")
    minor = doc.get("minor")
    minor_digits = re.match(r"\d+", minor) if isinstance(minor, str) else None
    if minor_digits is None:  # fall back to the gitVersion: v1.30.2 → 30
        from_git = re.match(r"v?\d+\.(\d+)", doc["gitVersion"])
        if from_git is None:
            raise FormatError(f"/version minor {minor!r} and gitVersion {doc['gitVersion'][:40]!r} name no minor version")
        return doc["gitVersion"], from_git.group(1)
    return doc["gitVersion"], minor_digits.group(0)


def normalize_endpoint(text: str, default_port: int) -> str:
    """``host:port`` with IPv6 in brackets; the port defaults to ``default_port``.

    Accepts ``10.0.0.1``, ``10.0.0.1:6443``, ``::1``, ``[::1]:6443``, ``api.example.org``,
    ``https://api.example.org:6443``. Raises ValueError for anything else.
    """
    value = text.strip()
    value = re.sub(r"^https://", "", value).rstrip("/")
    if not value or "/" in value or " " in value:
        raise ValueError(f"not a host or host:port: {text!r}")
    host, port = value, default_port
    if value.startswith("["):
        host, sep, rest = value[1:].partition("]")
        if not sep or (rest and not rest.startswith(":")):
            raise ValueError(f"not [IPv6]:port: {text!r}")
        if rest:
            host, port = split_host_port(value)
    elif value.count(":") == 1:
        host, port = split_host_port(value)
    elif value.count(":") > 1:
        ipaddress.IPv6Address(value)  # a bare IPv6 address, or ValueError
    if not host:
        raise ValueError(f"no host in {text!r}")
    return join_host_port(host, port)


def endpoint_host(endpoint: str) -> str:
    """The host part of a normalized ``host:port``, IPv6 without brackets."""
    host = endpoint.rsplit(":", 1)[0]
    return host[1:-1] if host.startswith("[") else host


@dataclasses.dataclass(frozen=True)
class Target:
    endpoint: str  # normalized host:port
    role: str  # apiserver | vip | endpoint


def plan_targets(
    apiservers: Sequence[str], vips: Sequence[str], endpoint: str | None, port: int,
) -> tuple[Target, ...]:
    """What to probe, each endpoint once under its first role (apiserver, vip, endpoint order)."""
    wanted = [(a, "apiserver") for a in apiservers] + [(v, "vip") for v in vips]
    if endpoint:
        wanted.append((endpoint, "endpoint"))
    seen: dict[str, Target] = {}
    for raw, role in wanted:
        normalized = normalize_endpoint(raw, port)
        seen.setdefault(normalized, Target(normalized, role))
    return tuple(seen.values())


def classify_error(exc: BaseException) -> str:
    """A short, stable reason label for a failed request (never includes secrets or URLs).

    Transport failures use the project-wide tokens of ``watchtower.io.netprobe.classify``
    (``connection_refused``, ``timeout``, ``dns_error``, ``tls_bad_certificate``...), except
    that a server certificate failing verification is ``tls_verify``; requests' own
    complaints about local files are ``ca_unreadable`` / ``client_cert_unreadable``.
    """
    text = str(exc)
    if "CA certificate bundle" in text:
        return reasons.CA_UNREADABLE  # requests: "Could not find a suitable TLS CA certificate bundle"
    if "TLS certificate file" in text or "TLS key file" in text or "KEY_VALUES_MISMATCH" in text or "PEM lib" in text:
        return reasons.CLIENT_CERT_UNREADABLE
    reason = netprobe.classify(exc)
    return reasons.TLS_VERIFY if reason == reasons.TLS_VERIFY_FAILED else reason


def _short(exc: BaseException) -> str:
    """A one-line detail for people: the innermost useful message, bounded."""
    return re.sub(r"\s+", " ", netprobe.describe(exc))[:200]


@dataclasses.dataclass(frozen=True)
class Probe:
    """One GET: its HTTP status (None if none arrived), body text, wall time, and error if any."""

    target: Target
    path: str
    duration_seconds: float
    status: int | None = None
    body: str = ""
    error_reason: str | None = None
    error_detail: str = ""

    @property
    def ok(self) -> bool:
        return self.status == 200


@dataclasses.dataclass(frozen=True)
class EndpointStatus:
    """Everything concluded about one target from its three probes."""

    target: Target
    up: bool
    ready: bool
    checks: tuple[ReadyzCheck, ...]
    git_version: str | None
    minor: str | None
    probes: Mapping[str, Probe]
    errors: tuple[ItemError, ...]


def judge(target: Target, probes: Mapping[str, Probe]) -> EndpointStatus:
    """Turn the three probes of one target into its status and its per-item errors."""
    errors: list[ItemError] = []
    for path in PATHS:
        probe = probes[path]
        if probe.error_reason:
            errors.append(ItemError(f"https://{target.endpoint}/{path}", probe.error_reason, probe.error_detail))
    readyz = probes["readyz"]
    checks = parse_readyz_verbose(readyz.body) if readyz.status in (200, 500) else ()
    git_version = minor = None
    version = probes["version"]
    if version.ok:
        try:
            git_version, minor = parse_version(version.body)
        except FormatError as exc:
            errors.append(ItemError(f"https://{target.endpoint}/version", reasons.BAD_RESPONSE, str(exc)))
    return EndpointStatus(
        target=target, up=probes["livez"].ok, ready=readyz.ok, checks=checks,
        git_version=git_version, minor=minor, probes=probes, errors=tuple(errors),
    )


def http_error_reason(path: str, status: int, body: str) -> str | None:
    """The error reason for a non-200 answer, or None when the answer is itself the result
    (a 500 from /readyz or /livez listing failed checks is a not-ready server, not a failed probe)."""
    if status == 200:
        return None
    if path in ("readyz", "livez") and status == 500 and parse_readyz_verbose(body):
        return None
    return f"http_{status}"
