"""HAProxy backends and servers, from HAProxy's own stats CSV.

The CSV comes from the stats page (``<stats uri>;csv`` over HTTP, optional basic auth) or the
stats unix socket (``show stat``); both give the same document. Parsing is pure
(``parse_stats_csv``: bytes/str → typed rows), columns are looked up by header name so the
extra columns newer HAProxy versions append are ignored, and one broken row is reported
without losing the others.

Server state follows HAProxy's words: ``UP``, ``DOWN``, ``NOLB``, ``DRAIN``, ``MAINT`` and
``no check`` (exported as ``NO_CHECK``), plus the transitional forms ``UP 1/3`` (still up, 1
of the 3 failed checks needed to go down) and ``DOWN 1/2`` (still down, 1 of the 2 good checks
needed to come back). ``watchtower_haproxy_server_up`` is 1 while HAProxy still routes to the
server by health: UP (including ``UP 1/3``), NOLB, DRAIN and ``no check``; 0 for DOWN
(including ``DOWN 1/2``) and MAINT.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, ClassVar

from watchtower.collectors.base import Collector, CollectorContext, Role
from watchtower.collectors.haproxy.settings import DEFAULT_STATS_SOCKET, HAProxySettings
from watchtower.core.details import Failure
from watchtower.core.lazy import lazy_module
from watchtower.core.results import CollectResult, Finding, ItemError, Severity
from watchtower.core.sections import CollectorSettings

if TYPE_CHECKING:
    from watchtower.collectors.haproxy import export, parse, read
    from watchtower.collectors.haproxy import families as fam
    from watchtower.io import netprobe
else:  # loaded by the first run: a daemon that does not run haproxy never imports them
    export = lazy_module("watchtower.collectors.haproxy.export")
    fam = lazy_module("watchtower.collectors.haproxy.families")
    parse = lazy_module("watchtower.collectors.haproxy.parse")
    read = lazy_module("watchtower.collectors.haproxy.read")
    netprobe = lazy_module("watchtower.io.netprobe")


class HAProxyCollector(Collector[HAProxySettings]):
    name: ClassVar[str] = "haproxy"
    title: ClassVar[str] = "HAProxy backends"
    roles: ClassVar[frozenset[Role]] = frozenset({"node"})
    metric_prefixes: ClassVar[tuple[str, ...]] = ("watchtower_haproxy_",)
    Settings: ClassVar[type[CollectorSettings]] = HAProxySettings

    settings: HAProxySettings

    @classmethod
    def unavailable_reason(cls, settings: HAProxySettings, context: CollectorContext) -> str | None:
        if settings.stats_url is None and settings.stats_socket is None and not os.path.exists(DEFAULT_STATS_SOCKET):
            return f"no stats_url or stats_socket configured and {DEFAULT_STATS_SOCKET} does not exist"
        return None

    def collect(self) -> CollectResult:
        source = self.settings.source
        up = fam.HAPROXY_UP.gauge()
        try:
            table = parse.parse_stats_csv(read.read_stats(self.settings))
        except (netprobe.ProbeError, parse.MalformedStats) as exc:
            reason, detail = (exc.reason, exc.detail) if isinstance(exc, netprobe.ProbeError) else ("malformed_csv", str(exc))
            up.add_metric([source], 0.0)
            return CollectResult(
                metrics=(up,),
                errors=(ItemError(source, reason, detail),),
                findings=(Finding("haproxy", source, Severity.CRITICAL, f"cannot read HAProxy stats: {reason}: {detail}"),),
                details=export.HAProxyDetails(source, error=Failure(reason, detail)),
            )
        up.add_metric([source], 1.0)
        errors = tuple(ItemError(f"{source} line {p.line}", "malformed_csv", p.detail) for p in table.problems)
        return CollectResult(
            metrics=(up, *export.build_metrics(table, self.context.clock())),
            errors=errors,
            findings=tuple(export.build_findings(table)),
            details=export.HAProxyDetails.build(source, table),
        )
