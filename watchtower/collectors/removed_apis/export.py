"""Metrics, findings, details and the ``check`` table of the removed-APIs collector. Pure.

Object names go to findings, details (status page, ``check --output json``) and the table,
never to metric labels: the series are counts per group/version/kind/removed_in/source.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence

from prometheus_client.core import Metric

from watchtower.collectors.removed_apis import families as fam
from watchtower.core.details import Details
from watchtower.core.results import Finding, Severity
from watchtower.upgrades import removal_data as rd
from watchtower.upgrades import removed_apis as ra
from watchtower.upgrades.plan import Blocker

SECTION = "removed_apis"
NAMES_PER_FINDING = 5


@dataclasses.dataclass(frozen=True)
class Scan:
    """Everything one collection learnt, ready to export."""

    running: rd.Minor | None
    git_version: str
    data: rd.RemovalData
    blockers: tuple[ra.Blocker, ...]
    requests: tuple[ra.RequestedAPI, ...]
    checked: Mapping[str, int]  # source → objects, releases or apiservers read (absent: off or failed)
    failed_sources: tuple[str, ...]
    hops: tuple[rd.Minor, ...]


def _minor(m: rd.Minor | None) -> str:
    return rd.format_minor(m) if m is not None else ""


def build_metrics(scan: Scan) -> tuple[Metric, ...]:
    objects = fam.REMOVED_API_OBJECTS.gauge()
    for c in ra.count_objects(scan.blockers):
        objects.add_metric([c.group, c.version, c.kind, c.removed_in, c.source], c.count)
    requests = fam.REMOVED_API_REQUESTS.gauge()
    for r in scan.requests:
        requests.add_metric([r.group, r.version, r.resource, r.kind, _minor(r.removed_in)], len(r.apiservers))
    until = fam.REMOVED_API_MINORS_UNTIL_REMOVAL.gauge()
    if scan.running is not None:
        for api in ra.iter_used_apis(scan.blockers, scan.requests, scan.data):
            distance = (api.removed_in[0] - scan.running[0]) * 100 + api.removed_in[1] - scan.running[1]
            until.add_metric([api.group, api.version, api.kind, _minor(api.removed_in), api.replacement], distance)
    checked = fam.REMOVED_API_CHECKED.gauge()
    for source, count in sorted(scan.checked.items()):
        checked.add_metric([source], count)
    return (objects, requests, until, checked)


def _severity(b: ra.Blocker, running: rd.Minor | None) -> Severity:
    if b.already_removed:
        return Severity.CRITICAL
    if running is not None and b.breaks_at == rd.next_minor(running):
        return Severity.CRITICAL
    return Severity.WARNING


def build_findings(scan: Scan) -> tuple[Finding, ...]:
    groups: dict[tuple[str, str, str], list[ra.Blocker]] = {}
    for b in scan.blockers:
        groups.setdefault((b.api.api_version, b.api.kind, b.hop_text), []).append(b)
    out = []
    for (api_version, kind, hop), members in groups.items():
        first = members[0]
        names = ", ".join(f"{b.use.namespace or '-'}/{b.use.name} ({b.use.source})" for b in members[:NAMES_PER_FINDING])
        more = f" and {len(members) - NAMES_PER_FINDING} more" if len(members) > NAMES_PER_FINDING else ""
        when = hop if first.already_removed else f"breaks at the {hop} upgrade"
        out.append(Finding(SECTION, f"{api_version} {kind}", _severity(first, scan.running),
                           f"{len(members)} object(s) use {api_version} {kind}, {when}: {names}{more}; "
                           f"migrate to {first.api.replacement_text}"))
    for r in scan.requests:
        severity = Severity.WARNING
        if scan.running is not None and r.removed_in is not None and r.removed_in <= rd.next_minor(scan.running):
            severity = Severity.CRITICAL
        what = f"{r.api_version} {r.resource}"
        out.append(Finding(SECTION, f"{what} requests", severity,
                           f"clients still call {what} (removed in {_minor(r.removed_in) or 'an unknown release'}), "
                           f"seen by {', '.join(r.apiservers)}; migrate them to {r.replacement or 'its replacement'} "
                           "(the audit log's k8s.io/deprecated annotation names the caller)"))
    if not out and not scan.failed_sources and scan.checked:
        read = ", ".join(f"{n} {source}" for source, n in sorted(scan.checked.items()))
        out.append(Finding(SECTION, "removed APIs", Severity.OK,
                           f"nothing uses an API removed by {_minor(scan.hops[-1]) if scan.hops else 'any known release'} (read: {read})"))
    return tuple(out)


@dataclasses.dataclass(frozen=True, slots=True)
class BlockerRow:
    """One object that uses a removed API (the first ``max_listed`` of them)."""

    namespace: str
    name: str
    source: str
    api: str  # "extensions/v1beta1 Deployment"
    replacement: str
    removed_in: str
    breaks_at: str
    detail: str


@dataclasses.dataclass(frozen=True, slots=True)
class HopRow:
    hop: str  # "1.15 → 1.16"
    blockers: int


@dataclasses.dataclass(frozen=True, slots=True)
class HopBlockers:
    """Per hop (the minor it reaches, "" once already removed, "?" unknown) and API: a count and a few names."""

    minor: str
    api: str
    replacement: str
    removed_in: str
    count: int
    examples: tuple[str, ...]


@dataclasses.dataclass(frozen=True, slots=True)
class RequestRow:
    api: str
    kind: str
    removed_in: str
    replacement: str
    apiservers: str


@dataclasses.dataclass(frozen=True, slots=True)
class RemovedApisDetails(Details):
    """What uses a removed API, which hop it breaks, and which clients still call one."""

    running: str | None = None
    next_minor: str | None = None
    data_source: str = ""
    data_retrieved: str = ""
    checked: Mapping[str, int] = dataclasses.field(default_factory=dict)  # source → read, sorted
    failed_sources: tuple[str, ...] = ()
    blockers_total: int = 0
    blockers: tuple[BlockerRow, ...] = ()
    hops: tuple[HopRow, ...] = ()
    hop_blockers: tuple[HopBlockers, ...] = ()
    already_removed: int = 0
    requests: tuple[RequestRow, ...] = ()

    def check_table(self, color: bool = False) -> list[str] | None:
        return render_check(self)


def build_details(scan: Scan, max_listed: int) -> RemovedApisDetails:
    by_hop = ra.blockers_by_hop(scan.blockers, scan.hops)
    return RemovedApisDetails(
        running=scan.git_version or None,
        next_minor=_minor(rd.next_minor(scan.running)) if scan.running else None,
        data_source=scan.data.source,
        data_retrieved=scan.data.retrieved,
        checked=dict(sorted(scan.checked.items())),
        failed_sources=tuple(scan.failed_sources),
        blockers_total=len(scan.blockers),
        blockers=tuple(
            BlockerRow(b.use.namespace, b.use.name, b.use.source, f"{b.api.api_version} {b.api.kind}",
                       b.api.replacement_text, _minor(b.api.removed_in), b.hop_text, b.use.detail)
            for b in scan.blockers[:max_listed]),
        hops=tuple(HopRow(f"{_minor((h[0], h[1] - 1))} → {_minor(h)}", len(by_hop[h])) for h in scan.hops),
        hop_blockers=hop_blockers(scan.blockers),
        already_removed=sum(1 for b in scan.blockers if b.already_removed),
        requests=tuple(RequestRow(f"{r.api_version} {r.resource}", r.kind, _minor(r.removed_in), r.replacement,
                                  ", ".join(r.apiservers)) for r in scan.requests),
    )


def hop_blockers(blockers: Iterable[ra.Blocker]) -> tuple[HopBlockers, ...]:
    """Per hop (the minor it reaches, "" once already removed) and API: how many objects, a few names.

    Bounded by the number of removed APIs, unlike the object rows: this is what a plan attaches.
    """
    groups: dict[tuple[str, str, str], list[ra.Blocker]] = {}
    for b in blockers:
        minor = _minor(b.breaks_at) if b.breaks_at else ("" if b.already_removed else "?")
        groups.setdefault((minor, b.api.api_version, b.api.kind), []).append(b)
    return tuple(
        HopBlockers(minor, f"{api_version} {kind}", members[0].api.replacement_text, _minor(members[0].api.removed_in),
                    len(members), tuple(f"{b.use.namespace or '-'}/{b.use.name} ({b.use.source})"
                                        for b in members[:NAMES_PER_FINDING]))
        for (minor, api_version, kind), members in sorted(groups.items())
    )


def plan_blockers(details: RemovedApisDetails) -> dict[str, list[Blocker]]:
    """The collector's details → ``{"1.16": [plan.Blocker, ...]}`` for ``Plan.with_blockers``.

    Already-removed uses go to the plan's first hop (every later ``kubectl apply`` or ``helm
    upgrade`` of them fails, so they block whatever comes next).
    """
    out: dict[str, list[Blocker]] = {}
    for row in details.hop_blockers:
        minor = row.minor or details.next_minor or ""
        if not minor or minor == "?":
            continue
        more = row.count - len(row.examples)
        names = ", ".join(row.examples) + (f" and {more} more" if more > 0 else "")
        state = "already removed" if not row.minor else f"removed in {row.removed_in}"
        out.setdefault(minor, []).append(Blocker(
            "removed_api", f"{row.count} object(s) use {row.api} ({state}): migrate to {row.replacement}", names))
    return out


def _table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    rows = [list(header)] + [list(r) for r in rows]
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    return ["  " + "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(r)).rstrip() for r in rows]


def render_check(d: RemovedApisDetails) -> list[str]:
    """The ``watchtower check`` section: one row per object, the hop that breaks it, then the requests."""
    lines = ["REMOVED APIS"]
    lines.append(f"  running {d.running or 'unknown'}; removal data: {d.data_source} (retrieved {d.data_retrieved})")
    lines.append("  read: " + (", ".join(f"{k} {v}" for k, v in d.checked.items()) or "nothing")
                 + (f"; FAILED: {', '.join(d.failed_sources)}" if d.failed_sources else ""))
    if d.blockers:
        lines += _table(("NAMESPACE", "NAME", "SOURCE", "API IN USE", "REPLACEMENT", "BREAKING HOP"),
                        ((r.namespace or "-", r.name, r.source, r.api, r.replacement, r.breaks_at) for r in d.blockers))
        if d.blockers_total > len(d.blockers):
            lines.append(f"  ... {d.blockers_total - len(d.blockers)} more (raise collectors.removed_apis.max_listed)")
    else:
        lines.append("  no object uses a removed API")
    hit = [h for h in d.hops if h.blockers]
    if d.hops:
        clear = len(d.hops) - len(hit)
        lines.append("  hops: " + "; ".join(f"{h.hop}: {h.blockers} blocker(s)" for h in hit)
                     + (f"{'; ' if hit else ''}{clear} other hop(s) up to {d.hops[-1].hop.split(' → ')[1]}: none" if clear else ""))
    for r in d.requests:
        lines.append(f"  requests: {r.api} (removed in {r.removed_in or '?'}) by clients of {r.apiservers};"
                     f" replacement {r.replacement or 'unknown'}")
    return lines
