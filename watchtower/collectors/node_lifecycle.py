"""OS and container-runtime lifecycle for the ``nodes`` collector: source, tally, export (its settings
are in ``lifecycle_settings``, which a daemon loads without this module).

The nodes collector hands every listed node's ``osImage``/``containerRuntimeVersion`` to a
``LifecycleTally`` (parsed once per distinct string: thousands of nodes share a handful), then,
after the listing, looks the release lines up in ``watchtower.upgrades.lifecycle`` (only the
products present are fetched) and turns the result into metric rows, findings and the details
``watchtower check``, the status page and ``watchtower plan upgrade`` read.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import TYPE_CHECKING

from watchtower.collectors.lifecycle_settings import DAY, LifecycleSettings
from watchtower.core.details import json_field
from watchtower.core.formatting import format_table, rfc3339
from watchtower.core.lazy import lazy_module
from watchtower.core.results import Finding, Severity
from watchtower.core.settings import format_duration

if TYPE_CHECKING:
    from watchtower.upgrades import lifecycle as lc
    from watchtower.upgrades import nodeos, releases
else:  # loaded when a nodes collector is made
    lc = lazy_module("watchtower.upgrades.lifecycle")
    nodeos = lazy_module("watchtower.upgrades.nodeos")
    releases = lazy_module("watchtower.upgrades.releases")

NAN = float("nan")  # the value of a per-node lifecycle series whose date is not known
GROUP_NODES_SHOWN = 10
CONTROL_PLANE_ROLES = frozenset({"control-plane", "master"})


def make_source(s: LifecycleSettings, clock: Callable[[], float], budget: float | None = None) -> lc.LifecycleSource:
    """The lifecycle source the settings describe (a ``requests`` session unless air-gapped).

    ``budget`` is the collector's own timeout: a fetch gets at most half of it, so a slow
    endoflife.date never costs the node listing its run."""
    fetcher = None
    if s.source == "endoflife.date":
        import requests

        session = requests.Session()
        session.headers["User-Agent"] = "watchtower (kube-watchtower nodes collector)"
        fetcher = releases.CachedFetcher(releases.http_fetch(session), ttl=float(s.cache), retry=float(s.retry),
                                timeout=min(float(s.timeout), budget / 2 if budget else float(s.timeout)), clock=clock)
    return lc.LifecycleSource(fetcher, s.url, snapshot=lc.load_snapshot(), static=lc.parse_static(s.static))


def runtime_product(runtime: str) -> str:
    """endoflife.date product (or ``static`` key) of a runtime: containerd, docker-engine, cri-o."""
    return nodeos.RUNTIME_PRODUCTS.get(runtime, runtime)




def _date(timestamp: float | None) -> str:
    return rfc3339(timestamp, whole_seconds=True)[:10] if timestamp is not None else "unknown"


@dataclasses.dataclass
class _Group:
    nodes: list[str] = dataclasses.field(default_factory=list)
    count: int = 0
    control_plane: int = 0

    def add(self, node: str, control_plane: bool) -> None:
        self.count += 1
        self.control_plane += control_plane
        if len(self.nodes) < GROUP_NODES_SHOWN:
            self.nodes.append(node)


@dataclasses.dataclass(frozen=True, slots=True)
class OSReleaseRow:
    """One OS release the nodes run: how many (on the control plane), the first names, its dates."""

    distribution: str
    release: str
    count: int
    control_plane: int
    nodes: tuple[str, ...]
    eol: float | None = json_field(default=None, time="rfc3339_seconds")
    extended: float | None = json_field(default=None, time="rfc3339_seconds")
    source: str | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class RuntimeRow:
    runtime: str
    version: str
    count: int
    nodes: tuple[str, ...]
    eol: float | None = json_field(default=None, time="rfc3339_seconds")
    source: str | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class DataStamp:
    source: str
    at: float = json_field(time="rfc3339_seconds")


@dataclasses.dataclass(frozen=True, slots=True)
class LifecycleDetails:
    """The ``lifecycle`` part of the nodes collector's details (``check``, status page, upgrade plan)."""

    os: tuple[OSReleaseRow, ...] = ()
    runtimes: tuple[RuntimeRow, ...] = ()
    docker_nodes: tuple[str, ...] = ()
    data: tuple[DataStamp, ...] = ()
    error: str | None = None
    reminder_lead: float = json_field(default=90 * DAY, convert=format_duration)


@dataclasses.dataclass(frozen=True)
class LifecycleOutcome:
    """Rows for the metric families (label values + value), findings and details."""

    os_eol: list[tuple[str, str, str, float]]  # node, distribution, release, eol (NaN: unknown)
    os_extended: list[tuple[str, str, float]]  # distribution, release, end of extended support (per release)
    runtime_eol: list[tuple[str, str, str, float]]  # node, runtime, version, eol (NaN: unknown)
    data_stamps: list[tuple[str, float]]  # source, timestamp
    findings: list[Finding]
    details: LifecycleDetails = LifecycleDetails()


class LifecycleTally:
    """Every node's parsed OS and runtime, kept compactly while the nodes are listed."""

    def __init__(self) -> None:
        self._os: dict[str, nodeos.OSRelease] = {}
        self._runtime: dict[str, nodeos.RuntimeVersion] = {}
        self._nodes: list[tuple[str, nodeos.OSRelease, nodeos.RuntimeVersion, bool]] = []

    def add(self, node: str, os_image: str, runtime: str, roles: tuple[str, ...]) -> tuple[nodeos.OSRelease, nodeos.RuntimeVersion]:
        os_release = self._os.get(os_image)
        if os_release is None:
            os_release = self._os[os_image] = nodeos.parse_os_image(os_image)
        rt = self._runtime.get(runtime)
        if rt is None:
            rt = self._runtime[runtime] = nodeos.parse_runtime(runtime)
        self._nodes.append((node, os_release, rt, bool(CONTROL_PLANE_ROLES & set(roles))))
        return os_release, rt

    def products(self) -> set[str]:
        out = {o.distribution for o in self._os.values() if o.known}
        out |= {runtime_product(r.runtime) for r in self._runtime.values() if r.known}
        return out

    def finish(self, facts: lc.LifecycleFacts, now: float, lead: float) -> LifecycleOutcome:
        out = LifecycleOutcome([], [], [], [], [])
        os_groups: dict[tuple[str, str], _Group] = {}
        rt_groups: dict[nodeos.RuntimeVersion, _Group] = {}
        docker: list[str] = []
        for node, os_release, rt, control_plane in self._nodes:
            os_groups.setdefault((os_release.distribution, os_release.release), _Group()).add(node, control_plane)
            dates = facts.lookup(os_release.distribution, (os_release.release,)) if os_release.known else None
            out.os_eol.append((node, os_release.distribution, os_release.release,
                               dates.eol if dates and dates.eol is not None else NAN))
            rt_groups.setdefault(rt, _Group()).add(node, control_plane)
            if rt.runtime == "docker":
                docker.append(node)
            dates = facts.lookup(runtime_product(rt.runtime), rt.cycles) if rt.known else None
            out.runtime_eol.append((node, rt.runtime, rt.version, dates.eol if dates and dates.eol is not None else NAN))
        if facts.fetched_at is not None:
            out.data_stamps.append((lc.SOURCE_ENDOFLIFE, facts.fetched_at))
        if facts.snapshot_taken_at is not None:
            out.data_stamps.append((lc.SOURCE_SNAPSHOT, facts.snapshot_taken_at))

        os_rows = []
        for (distribution, release), group in sorted(os_groups.items()):
            dates = facts.lookup(distribution, (release,)) if release != nodeos.UNKNOWN else None
            eol, extended = (dates.eol, dates.extended) if dates else (None, None)
            os_rows.append(OSReleaseRow(distribution, release, group.count, group.control_plane, tuple(group.nodes),
                                        eol, extended, dates.source if dates else None))
            out.findings.extend(_os_findings(distribution, release, group, eol, extended, now, lead))
            if extended is not None:
                out.os_extended.append((distribution, release, extended))
        rt_rows = []
        for rt, group in sorted(rt_groups.items(), key=lambda item: (item[0].runtime, item[0].version)):
            dates = facts.lookup(runtime_product(rt.runtime), rt.cycles) if rt.known else None
            eol = dates.eol if dates else None
            rt_rows.append(RuntimeRow(rt.runtime, rt.version, group.count, tuple(group.nodes), eol,
                                      dates.source if dates else None))
            if eol is not None and eol <= now:
                out.findings.append(Finding("nodes", f"{rt.runtime} {rt.version}", Severity.WARNING,
                                            f"past its end of life since {_date(eol)} on {_names(group)}"))
        releases_on_cp = {(r.distribution, r.release) for r in os_rows if r.control_plane}
        if len(releases_on_cp) > 1:
            out.findings.append(Finding("nodes", "control plane", Severity.WARNING, "control-plane nodes run different OS "
                                        "releases: " + ", ".join(f"{d} {r}" for d, r in sorted(releases_on_cp))))
        details = LifecycleDetails(tuple(os_rows), tuple(rt_rows), tuple(docker[:50]),
                                   tuple(DataStamp(s, t) for s, t in out.data_stamps),
                                   facts.error.detail if facts.error else None, lead)
        return dataclasses.replace(out, details=details)


def _names(group: _Group) -> str:
    more = group.count - len(group.nodes)
    return ", ".join(group.nodes) + (f" and {more} more" if more > 0 else "")


def _os_findings(distribution: str, release: str, group: _Group, eol: float | None, extended: float | None,
                 now: float, lead: float) -> list[Finding]:
    subject = f"{distribution} {release}"
    ext = f"; extended support until {_date(extended)}" if extended is not None else ""
    if eol is None:
        return []
    if eol <= now:
        return [Finding("nodes", subject, Severity.WARNING,
                        f"standard support ended {_date(eol)}{ext} ({_names(group)})")]
    if eol - lead <= now:
        return [Finding("nodes", subject, Severity.WARNING,
                        f"standard support ends {_date(eol)}, in {int((eol - now) // DAY)} days{ext} ({_names(group)})")]
    return []


def render_check(d: LifecycleDetails) -> list[str]:
    """The OS/runtime part of the ``watchtower check`` Nodes section."""
    rows = [(f"{r.distribution} {r.release}", str(r.count), str(r.control_plane), _day(r.eol, "unknown"),
             _day(r.extended, "-"), r.source or "-") for r in d.os]
    lines = ["  " + line for line in format_table(("OS RELEASE", "NODES", "CONTROL PLANE", "STANDARD ENDS",
                                                   "EXTENDED ENDS", "DATA"), rows)]
    rt_rows = [(f"{r.runtime} {r.version}", str(r.count), _day(r.eol, "unknown"), r.source or "-") for r in d.runtimes]
    lines += ["  " + line for line in format_table(("RUNTIME", "NODES", "END OF LIFE", "DATA"), rt_rows)]
    data = ", ".join(f"{x.source} {_day(x.at, '')}" for x in d.data) or "static entries only"
    lines.append(f"  lifecycle data: {data}" + (f"; SOURCE FAILING: {d.error}" if d.error else ""))
    return lines


def _day(timestamp: float | None, missing: str) -> str:
    return rfc3339(timestamp, whole_seconds=True)[:10] if timestamp is not None else missing
