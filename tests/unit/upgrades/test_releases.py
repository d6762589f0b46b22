from __future__ import annotations

import json

import pytest

from watchtower.upgrades.kubeversion import parse_version
from watchtower.upgrades.releases import (
    CachedFetcher,
    ReleaseSource,
    SourceError,
    parse_endoflife,
    parse_stable_txt,
    parse_static_eol,
)

ENDOFLIFE = json.dumps([
    {"cycle": "1.31", "releaseDate": "2024-08-13", "eol": "2025-10-28", "latest": "1.31.4", "lts": False},
    {"cycle": "1.30", "releaseDate": "2024-04-17", "eol": "2025-06-28", "latest": "1.30.8", "lts": False},
    {"cycle": "1.32", "releaseDate": "2024-12-11", "eol": False, "latest": "1.32.0", "lts": False},
]).encode()


def test_stable_txt() -> None:
    assert parse_stable_txt(b"v1.31.4\n") == parse_version("v1.31.4")
    for garbage in (b"<html>Service Unavailable</html>", b"", b"v1.31.4\nv1.31.5\n", b"\xff\xfe"):
        with pytest.raises(SourceError) as info:
            parse_stable_txt(garbage)
        assert info.value.reason == "parse_error"


def test_endoflife_json() -> None:
    cycles = parse_endoflife(ENDOFLIFE)
    assert cycles["1.30"].latest == parse_version("v1.30.8")
    assert cycles["1.30"].eol == 1751068800.0  # 2025-06-28T00:00:00Z
    assert cycles["1.32"].eol is None  # "false": no date yet
    for garbage in (b"not json", b'{"cycle": "1.30"}', b'[{"cycle": "1.30"}]'):
        with pytest.raises(SourceError):
            parse_endoflife(garbage)


def test_static_eol_dates() -> None:
    assert parse_static_eol({"1.30": "2025-06-28"}) == {"1.30": 1751068800.0}
    with pytest.raises(ValueError, match="1.30"):
        parse_static_eol({"1.30": "June"})


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def test_cache_keeps_stale_values_and_backs_off_after_a_failure() -> None:
    bodies = {"https://x/stable.txt": b"v1.31.4\n"}
    clock = Clock()

    def fetch(url: str, timeout: float) -> bytes:
        if url not in bodies:
            raise SourceError("unreachable", "ConnectionError")
        return bodies[url]

    fetcher = CachedFetcher(fetch, ttl=3600, retry=600, timeout=5, clock=clock)
    value, fetched_at, error = fetcher.get("https://x/stable.txt", parse_stable_txt)
    assert (value, fetched_at, error) == (parse_version("v1.31.4"), clock.now, None)
    clock.now += 100
    fetcher.get("https://x/stable.txt", parse_stable_txt)
    assert fetcher.requests == 1  # cached
    del bodies["https://x/stable.txt"]  # the source goes down
    clock.now += 3600
    value, fetched_at, error = fetcher.get("https://x/stable.txt", parse_stable_txt)
    assert value == parse_version("v1.31.4") and fetched_at == 1_000_000.0  # stale but kept
    assert error is not None and error.reason == "unreachable"
    for _ in range(10):  # collections during the back-off: no new requests, same error
        clock.now += 30
        assert fetcher.get("https://x/stable.txt", parse_stable_txt)[2] is error
    assert fetcher.requests == 2
    bodies["https://x/stable.txt"] = b"v1.31.5\n"
    clock.now += 600
    value, fetched_at, error = fetcher.get("https://x/stable.txt", parse_stable_txt)
    assert (value, fetched_at, error) == (parse_version("v1.31.5"), clock.now, None)


def test_release_source_reports_one_error_per_collection() -> None:
    def fetch(url: str, timeout: float) -> bytes:
        raise SourceError("timeout", "no answer within 5s")

    fetcher = CachedFetcher(fetch, 3600, 600, 5)
    source = ReleaseSource("dl.k8s.io", fetcher, base_url="https://x/release/", endoflife_url="https://y/k.json")
    facts = source.facts(parse_version("v1.30.2"))
    assert facts.latest is None and facts.error is not None
    assert facts.error.detail.startswith("https://y/k.json: ")  # the first failing URL
    assert fetcher.requests == 1  # a timed-out source is not waited on again for the next URL
    assert source.describe() == "https://x/release + https://y/k.json"


def test_release_source_kinds() -> None:
    bodies = {"https://x/stable.txt": b"v1.31.4", "https://x/stable-1.30.txt": b"v1.30.8",
              "https://x/stable-1.31.txt": b"v1.31.4", "https://e/k.json": ENDOFLIFE}
    fetcher = CachedFetcher(lambda url, timeout: bodies[url], 3600, 600, 5)
    dl = ReleaseSource("dl.k8s.io", fetcher, base_url="https://x").facts(parse_version("v1.30.2"))
    assert (str(dl.latest), str(dl.latest_patch_of_minor), dl.minor_eol, dl.error) == ("v1.31.4", "v1.30.8", None, None)
    eol = ReleaseSource("endoflife.date", fetcher, endoflife_url="https://e/k.json").facts(parse_version("v1.30.2"))
    assert (str(eol.latest), str(eol.latest_patch_of_minor), eol.minor_eol) == ("v1.32.0", "v1.30.8", 1751068800.0)
    static = ReleaseSource("static", None, static_latest=parse_version("v1.31.4"),
                           static_eol={"1.30": 1751068800.0}).facts(parse_version("v1.30.2"))
    assert (str(static.latest), static.latest_patch_of_minor, static.minor_eol, static.fetched_at) == (
        "v1.31.4", None, 1751068800.0, None)


def test_release_source_minors_for_the_hops() -> None:
    """Every minor between the running one and the latest, newest patch and end of life each."""
    bodies = {"https://x/stable.txt": b"v1.32.0", "https://x/stable-1.30.txt": b"v1.30.8",
              "https://x/stable-1.31.txt": b"v1.31.4", "https://x/stable-1.32.txt": b"v1.32.0", "https://e/k.json": ENDOFLIFE}
    fetcher = CachedFetcher(lambda url, timeout: bodies[url], 3600, 600, 5)
    dl = ReleaseSource("dl.k8s.io", fetcher, base_url="https://x", endoflife_url="https://e/k.json").facts(parse_version("v1.30.2"))
    assert {m: str(c.latest) for m, c in dl.minors.items()} == {"1.31": "v1.31.4", "1.32": "v1.32.0"}
    eol = ReleaseSource("endoflife.date", fetcher, endoflife_url="https://e/k.json").facts(parse_version("v1.29.1"))
    assert list(eol.minors) == ["1.30", "1.31", "1.32"] and eol.minors["1.30"].eol == 1751068800.0
    static = ReleaseSource("static", None, static_latest=parse_version("v1.31.4"),
                           static_eol={"1.31": 1.0}).facts(parse_version("v1.29.2"))
    assert {m: (str(c.latest) if c.latest else None, c.eol) for m, c in static.minors.items()} == {
        "1.30": (None, None), "1.31": ("v1.31.4", 1.0)}
    assert ReleaseSource("static", None, static_latest=None).facts(parse_version("v1.29.2")).minors == {}
