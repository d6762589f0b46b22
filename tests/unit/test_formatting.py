"""The one spelling of times, host:port and durations (watchtower.core.formatting)."""

from __future__ import annotations

import pytest

from watchtower.core.formatting import (
    human_duration,
    join_host_port,
    parse_rfc3339,
    resolver_host,
    rfc3339,
    split_host_port,
)


def test_rfc3339_keeps_fractions_unless_whole_seconds_and_round_trips() -> None:
    assert rfc3339(1_764_158_400.0) == "2025-11-26T12:00:00Z"
    assert rfc3339(1_764_158_400.25) == "2025-11-26T12:00:00.250000Z"
    assert rfc3339(1_764_158_400.75, whole_seconds=True) == "2025-11-26T12:00:00Z"
    assert rfc3339(None) is None
    assert parse_rfc3339("2025-11-26T12:00:00Z") == 1_764_158_400.0
    assert parse_rfc3339("2025-11-26T13:00:00+01:00") == 1_764_158_400.0
    assert parse_rfc3339("yesterday") is None and parse_rfc3339(None) is None


@pytest.mark.parametrize("text, expected", [
    ("10.0.0.1:6443", ("10.0.0.1", 6443)), ("[::1]:2379", ("::1", 2379)), ("api.example.org:443", ("api.example.org", 443)),
])
def test_split_host_port(text: str, expected: tuple[str, int]) -> None:
    assert split_host_port(text) == expected
    assert join_host_port(*expected) == text


@pytest.mark.parametrize("text", ["10.0.0.1", "host:http", "host:0", "host:65536", "host:-1"])
def test_split_host_port_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        split_host_port(text)


def test_a_listen_address_may_use_port_zero_and_no_host() -> None:
    assert split_host_port(":0", allow_zero=True) == ("", 0)


@pytest.mark.parametrize("seconds, short, detailed", [
    (364 * 86400 + 5, "364d", "364d"), (5 * 86400 + 3 * 3600, "5d", "5d 3h"), (5 * 86400, "5d", "5d"),
    (7 * 3600 + 12 * 60, "7h", "7h 12m"), (59 * 60, "59m", "59m"), (-(2 * 3600 + 60), "-121m", "2h 1m"),
])
def test_human_duration(seconds: float, short: str, detailed: str) -> None:
    assert human_duration(seconds, detailed=True) == detailed
    if seconds >= 0:
        assert human_duration(seconds) == short


@pytest.mark.parametrize("host", [
    "127.0.0.1", "::1", "fe80::1%eth0", "api.example.org", "api.example.org.", "localhost", "a" * 63, "a" * 63 + ".b",
    "a" * 64, "a" * 64 + ".b", "a..b", ".a", "a.", "..", ".", "b." + "c" * 64, "bücher.example", "",
])
def test_resolver_host_is_what_the_idna_codec_hands_the_resolver(host: str) -> None:
    """Same bytes as ``host.encode("idna")`` (what getaddrinfo and ssl do with a str), or the str
    itself when the codec must judge it (non-ASCII, a label it rejects): its own result or error then."""
    given = resolver_host(host)
    try:
        expected: bytes | None = host.encode("idna")
    except UnicodeError:
        expected = None
    if isinstance(given, bytes):
        assert given == expected
    else:
        assert given == host and (expected is None or not host.isascii() or not host)
