"""End-of-life dates of node operating systems and container runtimes.

Three layers, the first that knows a release line wins:
1. ``static`` entries from the config (``{"ubuntu": {"18.04": {"eol": "2023-05-31", "extended": "2028-04-01"}}}``):
   the team's own contract dates, or products endoflife.date does not track (CRI-O, Talos);
2. endoflife.date's ``/api/<product>.json``, fetched through the same ``CachedFetcher`` as the
   Kubernetes release data (cached, one error per collection, retried only after ``retry``);
   while it fails, its last good answer is kept;
3. the dated snapshot shipped in the package (``data/lifecycle-snapshot.json``), for air-gapped
   clusters and for the first collection during an outage.

Only products present on the nodes are fetched. endoflife.date's fields: ``eol`` is the end of
standard (security) support, ``extendedSupport`` the end of paid/LTS extended support (Ubuntu
ESM, Debian LTS, RHEL ELS); ``false`` or ``true`` instead of a date means "no date", kept unknown.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterable, Mapping
from importlib import resources
from typing import Any

from watchtower.core import reasons
from watchtower.upgrades.nodeos import OS_PRODUCTS, RUNTIME_PRODUCTS
from watchtower.upgrades.releases import CachedFetcher, SourceError, endoflife_entries
from watchtower.upgrades.releases import date_timestamp as _day
from watchtower.upgrades.urls import DEFAULT_ENDOFLIFE_API

SNAPSHOT_RESOURCE = "lifecycle-snapshot.json"

FETCHABLE = OS_PRODUCTS | frozenset(RUNTIME_PRODUCTS.values())
SOURCE_STATIC = "static"
SOURCE_ENDOFLIFE = "endoflife.date"
SOURCE_SNAPSHOT = "snapshot"


@dataclasses.dataclass(frozen=True)
class CycleDates:
    """One release line's support ends (UTC midnight timestamps); None where no date is known."""

    eol: float | None
    extended: float | None = None
    source: str = SOURCE_ENDOFLIFE


def parse_product(body: bytes | list[Any], source: str = SOURCE_ENDOFLIFE) -> dict[str, CycleDates]:
    """endoflife.date's ``/api/<product>.json`` (bytes or the decoded list) → cycle → dates.

    SourceError("parse_error") when it is not a list of cycles (a proxy's HTML page, say).
    """
    out = {str(e["cycle"]): CycleDates(_day(e.get("eol")), _day(e.get("extendedSupport")), source)
           for e in endoflife_entries(body)}
    if not out:
        raise SourceError(reasons.PARSE_ERROR, "no release cycles")
    return out


@dataclasses.dataclass(frozen=True)
class Snapshot:
    """The lifecycle data shipped with watchtower: when it was taken, from where, per product."""

    taken: str  # YYYY-MM-DD
    origin: str
    products: Mapping[str, Mapping[str, CycleDates]]

    @property
    def taken_at(self) -> float | None:
        return _day(self.taken)


def load_snapshot(text: str | None = None) -> Snapshot:
    """The packaged snapshot (or ``text`` in its format). ValueError if it is malformed."""
    if text is None:
        text = resources.files("watchtower.upgrades").joinpath("data", SNAPSHOT_RESOURCE).read_text(encoding="utf-8")
    doc = json.loads(text)
    if not isinstance(doc, dict) or not isinstance(doc.get("products"), dict):
        raise ValueError("lifecycle snapshot: expected an object with 'products'")
    products = {}
    for name, cycles in doc["products"].items():
        try:
            products[name] = parse_product(cycles, SOURCE_SNAPSHOT)
        except SourceError as exc:
            raise ValueError(f"lifecycle snapshot: products.{name}: {exc.detail}") from None
    return Snapshot(str(doc.get("taken", "")), str(doc.get("origin", "")), products)


class StaticEntryError(ValueError):
    """A bad ``static`` entry: where (``product.cycle.field``), the value, what was expected."""

    def __init__(self, where: str, value: object, expected: str) -> None:
        super().__init__(f"{where}: {expected}, got {value!r}")
        self.where, self.value, self.expected = where, value, expected


def parse_static(entries: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, CycleDates]]:
    """Config ``static`` → product → cycle → dates. StaticEntryError naming ``product.cycle.field``."""
    out: dict[str, dict[str, CycleDates]] = {}
    for product, cycles in entries.items():
        if not isinstance(cycles, Mapping):
            raise StaticEntryError(str(product), "<not a mapping>", "release line → {eol: date, extended: date}")
        for cycle, dates in cycles.items():
            if not isinstance(dates, Mapping) or "eol" not in dates or set(dates) - {"eol", "extended"}:
                raise StaticEntryError(f"{product}.{cycle}", sorted(dates) if isinstance(dates, Mapping) else dates,
                                       "{eol: YYYY-MM-DD, extended: YYYY-MM-DD (optional)}")
            stamps = {}
            for key in ("eol", "extended"):
                if key in dates:
                    stamps[key] = _day(str(dates[key]))
                    if stamps[key] is None:
                        raise StaticEntryError(f"{product}.{cycle}.{key}", dates[key], "a date like 2028-04-01")
            out.setdefault(str(product), {})[str(cycle)] = CycleDates(stamps["eol"], stamps.get("extended"), SOURCE_STATIC)
    return out


@dataclasses.dataclass(frozen=True)
class LifecycleFacts:
    """The dates known for the products asked about, and how fresh they are."""

    products: Mapping[str, Mapping[str, CycleDates]]
    fetched_at: float | None  # oldest fetch among the endoflife.date answers used; None if none
    snapshot_taken_at: float | None  # set when any product came from the snapshot
    error: SourceError | None  # the first failure this collection (one error, not one per product)

    def lookup(self, product: str, cycles: Iterable[str]) -> CycleDates | None:
        """The first of ``cycles`` (most specific first) the data knows for ``product``."""
        known = self.products.get(product) or {}
        return next((known[c] for c in cycles if c in known), None)


class LifecycleSource:
    """endoflife.date through a ``CachedFetcher``, over the snapshot, under the static entries."""

    def __init__(
        self,
        fetcher: CachedFetcher | None,
        base_url: str = DEFAULT_ENDOFLIFE_API,
        snapshot: Snapshot | None = None,
        static: Mapping[str, Mapping[str, CycleDates]] | None = None,
        fetchable: Iterable[str] = FETCHABLE,
    ) -> None:
        self.fetcher = fetcher  # None: air-gapped, snapshot and static only
        self.fetchable = frozenset(fetchable)  # products endoflife.date has; others: static only
        self.base_url = base_url.rstrip("/")
        self.snapshot = snapshot
        self.static = {p: dict(c) for p, c in (static or {}).items()}
        self._host_down_at: float | None = None  # the whole host, not one URL: no new URL is tried while down

    def url(self, product: str) -> str:
        return f"{self.base_url}/{product}.json"

    def describe(self) -> str:
        if self.fetcher is None:
            return "the packaged snapshot" + (f" of {self.snapshot.taken}" if self.snapshot else "") + " and the config"
        return self.base_url

    def facts(self, products: Iterable[str]) -> LifecycleFacts:
        out: dict[str, dict[str, CycleDates]] = {}
        errors: list[SourceError] = []
        stamps: list[float] = []
        from_snapshot = False
        host_down = False
        if self.fetcher is not None and self._host_down_at is not None:
            host_down = self.fetcher.clock() - self._host_down_at < self.fetcher.retry
        for product in sorted(set(products)):
            merged: dict[str, CycleDates] = {}
            fetched = None
            if self.fetcher is not None and product in self.fetchable:
                dead = host_down or any(e.reason in (reasons.TIMEOUT, reasons.UNREACHABLE) for e in errors)
                url = self.url(product)
                parse: Callable[[bytes], Any] = parse_product
                fetched, fetched_at, error = self.fetcher.get(url, parse, may_fetch=not dead)
                if error is not None:
                    errors.append(SourceError(error.reason, f"{url}: {error.detail}"))
                    if error.reason in (reasons.TIMEOUT, reasons.UNREACHABLE) and not host_down:
                        self._host_down_at = self.fetcher.clock()
                        host_down = True
                elif fetched_at is not None and not dead:
                    self._host_down_at = None
                if fetched is not None and fetched_at is not None:
                    stamps.append(fetched_at)
            if fetched is None and self.snapshot is not None and product in self.snapshot.products:
                merged.update(self.snapshot.products[product])
                from_snapshot = True
            merged.update(fetched or {})
            merged.update(self.static.get(product, {}))
            if merged:
                out[product] = merged
        snapshot_at = self.snapshot.taken_at if (from_snapshot and self.snapshot) else None
        return LifecycleFacts(out, min(stamps) if stamps else None, snapshot_at, errors[0] if errors else None)


__all__ = [
    "CycleDates", "LifecycleFacts", "LifecycleSource", "Snapshot", "StaticEntryError", "load_snapshot", "parse_product",
    "parse_static",
]
