"""Lifecycle data: endoflife.date parsing, the packaged snapshot, static overrides, outages."""

from __future__ import annotations

import datetime
import json

import pytest

from watchtower.upgrades.lifecycle import (
    SOURCE_ENDOFLIFE,
    SOURCE_SNAPSHOT,
    SOURCE_STATIC,
    LifecycleSource,
    load_snapshot,
    parse_product,
    parse_static,
)
from watchtower.upgrades.releases import CachedFetcher, SourceError

UTC = datetime.UTC


def day(text: str) -> float:
    return datetime.datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


UBUNTU = json.dumps([
    {"cycle": "22.04", "codename": "Jammy Jellyfish", "eol": "2027-04-01", "extendedSupport": "2032-04-09", "latest": "22.04.5"},
    {"cycle": "18.04", "eol": "2023-05-31", "extendedSupport": "2028-04-01", "latest": "18.04.6"},
    {"cycle": "23.10", "eol": "2024-07-12", "extendedSupport": False},
]).encode()


def test_parse_product_reads_eol_and_extended_support() -> None:
    cycles = parse_product(UBUNTU)
    assert cycles["18.04"].eol == day("2023-05-31")
    assert cycles["18.04"].extended == day("2028-04-01")
    assert cycles["23.10"].extended is None  # false: no date
    assert cycles["22.04"].source == SOURCE_ENDOFLIFE


@pytest.mark.parametrize("body", [b"<html>proxy</html>", b"{}", b"[]", b"[{\"eol\": \"2020-01-01\"}]"])
def test_parse_product_refuses_unusable_answers(body: bytes) -> None:
    with pytest.raises(SourceError) as exc:
        parse_product(body)
    assert exc.value.reason == "parse_error"


def test_packaged_snapshot_is_dated_and_covers_the_common_products() -> None:
    snap = load_snapshot()
    assert snap.taken_at is not None and "endoflife.date" in snap.origin
    for product in ("ubuntu", "debian", "rhel", "rocky-linux", "almalinux", "containerd", "docker-engine"):
        assert snap.products[product], product
    assert snap.products["ubuntu"]["18.04"].eol == day("2023-05-31")
    assert snap.products["debian"]["12"].extended == day("2028-06-10")
    assert snap.products["ubuntu"]["18.04"].source == SOURCE_SNAPSHOT


def test_static_entries_and_their_errors() -> None:
    static = parse_static({"cri-o": {"1.28": {"eol": "2024-10-28"}}, "ubuntu": {"18.04": {"eol": "2023-05-31", "extended": "2030-04-01"}}})
    assert static["cri-o"]["1.28"] == type(static["cri-o"]["1.28"])(day("2024-10-28"), None, SOURCE_STATIC)
    with pytest.raises(ValueError, match=r"ubuntu\.18\.04\.eol"):
        parse_static({"ubuntu": {"18.04": {"eol": "soon"}}})
    with pytest.raises(ValueError, match=r"ubuntu\.18\.04"):
        parse_static({"ubuntu": {"18.04": {"end": "2023-05-31"}}})


class Clock:
    def __init__(self) -> None:
        self.now = day("2026-12-01")

    def __call__(self) -> float:
        return self.now


def test_outage_snapshot_answers_error_once_and_no_request_storm() -> None:
    clock = Clock()
    state = {"up": True, "calls": []}

    def fetch(url: str, timeout: float) -> bytes:
        state["calls"].append(url)
        if not state["up"]:
            raise SourceError("unreachable", "ConnectionRefusedError")
        return UBUNTU

    fetcher = CachedFetcher(fetch, ttl=3600, retry=600, timeout=5, clock=clock)
    source = LifecycleSource(fetcher, "http://127.0.0.1:9/api", snapshot=load_snapshot())
    # down from the start: the snapshot answers, one error for all products, later products not tried
    state["up"] = False
    facts = source.facts(["ubuntu", "debian", "containerd"])
    assert facts.error is not None and facts.error.reason == "unreachable"
    assert len(state["calls"]) == 1
    assert facts.lookup("ubuntu", ["18.04"]).source == SOURCE_SNAPSHOT
    assert facts.lookup("containerd", ["1.5"]).eol == day("2023-02-28")
    assert facts.snapshot_taken_at == load_snapshot().taken_at
    # within the retry period nothing is fetched again
    clock.now += 60
    source.facts(["ubuntu", "debian"])
    assert len(state["calls"]) == 1
    # back up: fetched data replaces the snapshot for that product
    state["up"] = True
    clock.now += 601
    facts = source.facts(["ubuntu"])
    assert facts.error is None and facts.lookup("ubuntu", ["22.04"]).source == SOURCE_ENDOFLIFE
    assert facts.fetched_at == clock.now
    # down again after a good fetch: the last good answer (stale) is kept, not the snapshot
    state["up"] = False
    clock.now += 3601
    facts = source.facts(["ubuntu"])
    assert facts.error is not None and facts.lookup("ubuntu", ["22.04"]).source == SOURCE_ENDOFLIFE


def test_static_wins_and_unfetchable_products_are_not_requested() -> None:
    calls = []

    def fetch(url: str, timeout: float) -> bytes:
        calls.append(url)
        return UBUNTU

    static = parse_static({"ubuntu": {"18.04": {"eol": "2030-01-01"}}, "cri-o": {"1.28": {"eol": "2024-10-28"}}})
    source = LifecycleSource(CachedFetcher(fetch, 3600, 600, 5), "http://x/api", snapshot=None, static=static)
    facts = source.facts(["ubuntu", "cri-o", "talos"])
    assert calls == ["http://x/api/ubuntu.json"]
    assert facts.lookup("ubuntu", ["18.04"]).eol == day("2030-01-01")
    assert facts.lookup("ubuntu", ["22.04"]).source == SOURCE_ENDOFLIFE
    assert facts.lookup("cri-o", ["1.28"]).source == SOURCE_STATIC
    assert facts.lookup("talos", ["1.7"]) is None and facts.error is None


def test_air_gapped_uses_snapshot_without_fetching() -> None:
    source = LifecycleSource(None, snapshot=load_snapshot())
    facts = source.facts(["debian"])
    assert facts.error is None and facts.fetched_at is None
    assert facts.lookup("debian", ["11"]).eol == day("2024-08-14")
    assert "snapshot" in source.describe()
