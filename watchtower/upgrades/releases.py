"""The newest Kubernetes releases and end-of-life dates, from a configurable source, cached.

Sources:
- ``dl.k8s.io``: ``<base>/stable.txt`` (the newest release) and ``<base>/stable-1.X.txt`` (the
  newest patch of the running minor), one version per file;
- ``endoflife.date``: its JSON list of cycles (``cycle``, ``eol``, ``latest``, ...), which also
  gives end-of-life dates (it can be added to ``dl.k8s.io`` for the dates alone);
- ``static``: values from the config file, for air-gapped clusters.

Every URL is fetched at most once per cache period. A failing source keeps its last good value
(stale, but kept) and is reported as ONE item error per collection, and it is retried only after
``retry`` has passed, so an outage is neither an error storm nor a request storm.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from watchtower.core import reasons
from watchtower.upgrades.kubeversion import KubeVersion, try_parse_version
from watchtower.upgrades.urls import DEFAULT_DL_BASE_URL

MAX_BODY_BYTES = 1 << 20
DEFAULT_ENDOFLIFE_URL = "https://endoflife.date/api/kubernetes.json"


class SourceError(Exception):
    """A release source could not be read or said something unusable; str() is for people."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason  # a metric-label token: unreachable, timeout, http_error, parse_error
        self.detail = detail


def parse_stable_txt(body: bytes) -> KubeVersion:
    """``stable.txt``: one version and a newline. SourceError("parse_error") for anything else."""
    try:
        text = body.decode("ascii").strip()
    except UnicodeDecodeError:
        raise SourceError(reasons.PARSE_ERROR, "not ASCII text") from None
    version = try_parse_version(text) if "\n" not in text else None
    if version is None:
        raise SourceError(reasons.PARSE_ERROR, f"expected one version like v1.31.4, got {text[:40]!r}")
    return version


def date_timestamp(value: Any) -> float | None:
    if not isinstance(value, str):
        return None  # endoflife.date writes false for "no date yet"
    try:
        day = datetime.date.fromisoformat(value)
    except ValueError:
        return None
    return datetime.datetime(day.year, day.month, day.day, tzinfo=datetime.UTC).timestamp()


@dataclasses.dataclass(frozen=True)
class Cycle:
    """One minor release line as endoflife.date describes it."""

    minor: str  # "1.30"
    latest: KubeVersion | None
    eol: float | None


def endoflife_entries(body: bytes | list[Any]) -> list[dict[str, Any]]:
    """An endoflife.date ``/api/<product>.json`` body (or its decoded list) → the cycle objects
    that have a ``cycle`` name. SourceError("parse_error") for anything but a JSON list."""
    data: Any = body
    if isinstance(body, (bytes, bytearray)):
        try:
            data = json.loads(body)
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise SourceError(reasons.PARSE_ERROR, "not JSON") from None
    if not isinstance(data, list):
        raise SourceError(reasons.PARSE_ERROR, "expected a JSON list of release cycles")
    return [e for e in data if isinstance(e, dict) and isinstance(e.get("cycle"), (str, int, float))]


def parse_endoflife(body: bytes) -> dict[str, Cycle]:
    """endoflife.date's ``kubernetes.json`` → minor → Cycle. SourceError("parse_error") if unusable."""
    data = endoflife_entries(body)
    cycles: dict[str, Cycle] = {}
    for entry in data:
        cycles[str(entry["cycle"])] = Cycle(str(entry["cycle"]), try_parse_version(entry.get("latest")), date_timestamp(entry.get("eol")))
    if not any(c.latest for c in cycles.values()):
        raise SourceError(reasons.PARSE_ERROR, "no release cycle with a 'latest' version")
    return cycles


def parse_static_eol(dates: Mapping[str, str]) -> dict[str, float]:
    """``{"1.30": "2025-06-28"}`` from the config → minor → timestamp. ValueError on a bad date."""
    out = {}
    for minor, text in dates.items():
        stamp = date_timestamp(text)
        if stamp is None:
            raise ValueError(f"{minor}: not a date like 2025-06-28: {text!r}")
        out[minor] = stamp
    return out


@dataclasses.dataclass(frozen=True)
class ReleaseFacts:
    """What the source says, for the running minor."""

    latest: KubeVersion | None
    latest_patch_of_minor: KubeVersion | None
    minor_eol: float | None
    fetched_at: float | None  # oldest fetch among the values used; None for static values
    error: SourceError | None  # the first failure in this collection (values may be stale)
    minors: Mapping[str, Cycle] = dataclasses.field(default_factory=dict)
    """Every minor after the running one up to the latest: its newest patch and end of life, where
    known (the hops of ``watchtower plan upgrade``)."""


Fetch = Callable[[str, float], bytes]


@dataclasses.dataclass
class _Entry:
    value: Any = None
    fetched_at: float | None = None
    failed_at: float | None = None
    error: SourceError | None = None


class CachedFetcher:
    """Per-URL cache of parsed values: fresh for ``ttl``, retried ``retry`` after a failure."""

    def __init__(self, fetch: Fetch, ttl: float, retry: float, timeout: float, clock: Callable[[], float] = time.time) -> None:
        self._fetch = fetch
        self.ttl, self.retry, self.timeout = ttl, retry, timeout
        self._clock = clock
        self._entries: dict[str, _Entry] = {}
        self._lock = threading.Lock()
        self.requests = 0  # how many fetches were attempted (tests: "no request storm")

    def clock(self) -> float:
        """The injected clock (callers that keep their own back-off use the same time)."""
        return self._clock()

    def get(self, url: str, parse: Callable[[bytes], Any], may_fetch: bool = True) -> tuple[Any, float | None, SourceError | None]:
        """(value or None, when it was fetched, the current error or None).

        ``may_fetch=False`` answers from the cache only (the source already failed this round).
        """
        with self._lock:
            entry = self._entries.setdefault(url, _Entry())
            now = self._clock()
            fresh = entry.fetched_at is not None and now - entry.fetched_at < self.ttl
            backing_off = entry.failed_at is not None and now - entry.failed_at < self.retry
            if may_fetch and not fresh and not backing_off:
                self.requests += 1
                try:
                    entry.value = parse(self._fetch(url, self.timeout))
                    entry.fetched_at, entry.failed_at, entry.error = now, None, None
                except SourceError as exc:
                    entry.failed_at, entry.error = now, exc
            return entry.value, entry.fetched_at, entry.error


class ReleaseSource:
    """Answers "what is the newest release, and when does my minor end?" from one configured source."""

    def __init__(
        self,
        kind: str,
        fetcher: CachedFetcher | None,
        base_url: str = DEFAULT_DL_BASE_URL,
        endoflife_url: str | None = None,
        static_latest: KubeVersion | None = None,
        static_eol: Mapping[str, float] | None = None,
    ) -> None:
        self.kind = kind
        self.fetcher = fetcher
        self.base_url = base_url.rstrip("/")
        self.endoflife_url = endoflife_url or (DEFAULT_ENDOFLIFE_URL if kind == "endoflife.date" else None)
        self.static_latest = static_latest
        self.static_eol = dict(static_eol or {})

    def describe(self) -> str:
        if self.kind == "static":
            return "the config (release_source: static)"
        if self.kind == "endoflife.date":
            return str(self.endoflife_url)
        return self.base_url + (f" + {self.endoflife_url}" if self.endoflife_url else "")

    def facts(self, running: KubeVersion | None) -> ReleaseFacts:
        minor = running.minor_text if running else None
        if self.kind == "static":
            same_minor = self.static_latest if (self.static_latest and minor == self.static_latest.minor_text) else None
            minors: dict[str, Cycle] = {m: Cycle(m, self.static_latest if self.static_latest and m == self.static_latest.minor_text else None,
                               self.static_eol.get(m)) for m in hop_minors(running, self.static_latest)}
            return ReleaseFacts(self.static_latest, same_minor, self.static_eol.get(minor or ""), None, None, minors)
        assert self.fetcher is not None
        errors: list[SourceError] = []
        stamps: list[float] = []
        latest = same_minor = None
        eol = self.static_eol.get(minor or "")

        def use(url: str, parse: Callable[[bytes], Any]) -> Any:
            # once the host timed out or refused this round, do not wait on it again for the next URL
            dead = any(e.reason in (reasons.TIMEOUT, reasons.UNREACHABLE) for e in errors)
            value, fetched_at, error = self.fetcher.get(url, parse, may_fetch=not dead)  # type: ignore[union-attr]
            if error is not None:
                errors.append(SourceError(error.reason, f"{url}: {error.detail}"))
            if fetched_at is not None:
                stamps.append(fetched_at)
            return value

        cycles = use(self.endoflife_url, parse_endoflife) if self.endoflife_url else None
        if self.kind == "endoflife.date":
            if cycles:
                latest = max((c.latest for c in cycles.values() if c.latest), default=None)
                cycle = cycles.get(minor or "")
                same_minor = cycle.latest if cycle else None
        else:
            latest = use(f"{self.base_url}/stable.txt", parse_stable_txt)
            if minor:
                same_minor = use(f"{self.base_url}/stable-{minor}.txt", parse_stable_txt)
        if cycles and minor in cycles and cycles[minor].eol is not None:
            eol = cycles[minor].eol
        minors = {}
        for m in hop_minors(running, latest):
            cycle = (cycles or {}).get(m)
            newest = cycle.latest if self.kind == "endoflife.date" and cycle else None
            if self.kind != "endoflife.date":
                newest = use(f"{self.base_url}/stable-{m}.txt", parse_stable_txt)
            end = cycle.eol if cycle and cycle.eol is not None else self.static_eol.get(m)
            minors[m] = Cycle(m, newest, end)
        return ReleaseFacts(latest, same_minor, eol, min(stamps) if stamps else None, errors[0] if errors else None, minors)


def hop_minors(running: KubeVersion | None, latest: KubeVersion | None) -> list[str]:
    """The minors a kubeadm upgrade passes through from ``running`` to ``latest``: 1.12 → 1.15 is
    1.13, 1.14, 1.15 (empty when either is unknown or no minor is ahead)."""
    if running is None or latest is None or latest.major != running.major:
        return []
    return [f"{running.major}.{m}" for m in range(running.minor + 1, latest.minor + 1)]


def http_fetch(session: Any) -> Fetch:
    """A ``Fetch`` over a ``requests.Session``: bounded in time (connect, each read AND in total)
    and in size, so a slow or endless source cannot hang the collector."""
    import requests

    def fetch(url: str, timeout: float) -> bytes:
        deadline = time.monotonic() + timeout
        try:
            with session.get(url, timeout=(timeout, timeout), stream=True, allow_redirects=True) as response:
                if response.status_code != 200:
                    raise SourceError(reasons.HTTP_ERROR, f"HTTP {response.status_code}")
                chunks: list[bytes] = []
                size = 0
                while True:  # read1: whatever has arrived, so a trickling server meets the deadline
                    chunk = response.raw.read1(16384, decode_content=True)
                    if not chunk:
                        break
                    size += len(chunk)
                    if size > MAX_BODY_BYTES:
                        raise SourceError(reasons.PARSE_ERROR, f"response larger than {MAX_BODY_BYTES} bytes")
                    if time.monotonic() > deadline:
                        raise SourceError(reasons.TIMEOUT, f"no complete answer within {timeout:g}s")
                    chunks.append(chunk)
                return b"".join(chunks)
        except SourceError:
            raise
        except (requests.Timeout, TimeoutError):
            raise SourceError(reasons.TIMEOUT, f"no answer within {timeout:g}s") from None
        except (requests.RequestException, OSError) as exc:
            raise SourceError(reasons.UNREACHABLE, f"{type(exc).__name__}") from None
        except Exception as exc:  # noqa: BLE001 - urllib3 errors from raw reads (e.g. ReadTimeoutError, ProtocolError)
            reason = reasons.TIMEOUT if "Timeout" in type(exc).__name__ else reasons.UNREACHABLE
            raise SourceError(reason, f"{type(exc).__name__}") from None

    return fetch


__all__ = [
    "CachedFetcher", "Cycle", "ReleaseFacts", "ReleaseSource", "SourceError", "date_timestamp", "endoflife_entries", "http_fetch",
    "parse_endoflife", "parse_stable_txt", "parse_static_eol",
]
