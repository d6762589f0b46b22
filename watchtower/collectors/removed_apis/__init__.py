"""The ``removed_apis`` collector: what the next Kubernetes minors stop serving that the cluster still uses.

Three optional, failure-tolerant sources (``read``): live objects listed through every removed
API version the apiserver still serves, judged by the apiVersion in their
``kubectl.kubernetes.io/last-applied-configuration`` (kubent's method); the manifests of
deployed Helm v3 releases (their ``helm.sh/release.v1`` Secrets, off by default: it needs list on
Secrets); and ``apiserver_requested_deprecated_apis`` from each apiserver's ``/metrics``. The
removal data and the matching are pure (``watchtower.upgrades.removed_apis``); ``export`` turns
the result into counts, findings and the ``check`` table with the hop that breaks each object.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

import yaml

from watchtower.collectors.base import Collector, CollectorContext, Role
from watchtower.core.lazy import lazy_module
from watchtower.core.regularfile import read_regular_text
from watchtower.core.results import CollectResult, ItemError
from watchtower.core.sections import CollectorSettings
from watchtower.core.settings import ConfigError, Seconds
from watchtower.io.kube import KubeUnavailable

if TYPE_CHECKING:
    from watchtower.collectors.removed_apis import export, read
    from watchtower.upgrades import removal_data as rd
    from watchtower.upgrades import removed_apis as ra
else:  # loaded when the collector is made or its config has rules: other daemons never import them
    export = lazy_module("watchtower.collectors.removed_apis.export")
    read = lazy_module("watchtower.collectors.removed_apis.read")
    rd = lazy_module("watchtower.upgrades.removal_data")
    ra = lazy_module("watchtower.upgrades.removed_apis")

SOURCE_METRICS = "apiserver_metrics"


@dataclasses.dataclass(frozen=True)
class RemovedApisSettings(CollectorSettings):
    """``collectors.removed_apis`` in the config file."""

    interval: Seconds = Seconds(3600)  # usage changes with deployments, not by the minute
    timeout: Seconds = Seconds(300)
    live_objects: bool = True  # list objects through served removed API versions (list on those resources)
    helm_releases: bool = False  # decode deployed Helm v3 release Secrets (list on Secrets)
    helm_namespaces: tuple[str, ...] = ()  # empty: all namespaces
    helm_page_size: int = 20  # release Secrets can be ~1 MB each: small pages bound memory
    apiserver_metrics: bool = True  # read apiserver_requested_deprecated_apis (get on /metrics)
    apiservers: tuple[str, ...] = ()  # host:port; empty: control_plane.apiservers, else the client's endpoint
    data_file: str | None = None  # a removal table replacing the shipped one (same format)
    rules: tuple[Mapping[str, str], ...] = ()  # entries added to (or replacing those of) the table
    target: str | None = None  # the newest minor to plan hops to, e.g. "1.33"; default: the table's newest
    max_listed: int = 500  # objects named in details and the check table

    def validate(self, path: str) -> None:
        super().validate(path)
        for i, rule in enumerate(self.rules):
            try:
                rd.parse_entry(dict(rule), f"{path}.rules[{i}]")
            except ValueError as exc:
                field, _, why = str(exc).partition(": ")
                raise ConfigError(field, dict(rule), why) from None
        if self.target is not None:
            try:
                rd.parse_minor(self.target)
            except ValueError:
                raise ConfigError(f"{path}.target", self.target, "a minor release like 1.33") from None
        if not 1 <= self.helm_page_size <= 500:
            raise ConfigError(f"{path}.helm_page_size", self.helm_page_size, "an integer from 1 to 500")
        if self.max_listed < 0:
            raise ConfigError(f"{path}.max_listed", self.max_listed, "0 or more")
        if self.data_file is not None:
            load_data(self.data_file, (), f"{path}.data_file")


def load_data(data_file: str | None, rules: tuple[Mapping[str, str], ...], where: str) -> rd.RemovalData:
    """The shipped table, or ``data_file``'s, plus ``rules``; ConfigError naming the file and field."""
    if data_file is None:
        data = rd.load_shipped()
    else:
        try:
            doc = yaml.safe_load(read_regular_text(data_file, 1 << 24))
            data = rd.parse_removal_data(doc, data_file)
        except OSError as exc:
            raise ConfigError(where, data_file, f"a readable removal-data file ({exc.strerror or exc})") from None
        except (yaml.YAMLError, ValueError) as exc:
            raise ConfigError(where, data_file, f"a removal-data file in the shipped format ({str(exc)[:200]})") from None
    extra = [rd.parse_entry(dict(rule), f"rules[{i}]") for i, rule in enumerate(rules)]
    return rd.with_overrides(data, extra)


class RemovedApisCollector(Collector[RemovedApisSettings]):
    name: ClassVar[str] = "removed_apis"
    title: ClassVar[str] = "Upgrade blockers: removed APIs in use"
    roles: ClassVar[frozenset[Role]] = frozenset({"cluster"})
    metric_prefixes: ClassVar[tuple[str, ...]] = ("watchtower_removed_api_",)
    Settings: ClassVar[type[CollectorSettings]] = RemovedApisSettings

    def __init__(self, settings: RemovedApisSettings, context: CollectorContext) -> None:
        super().__init__(settings, context)
        self.data = load_data(settings.data_file, settings.rules, "collectors.removed_apis.data_file")

    @classmethod
    def unavailable_reason(cls, settings: RemovedApisSettings, context: CollectorContext) -> str | None:
        try:
            context.kube.source()
        except KubeUnavailable as exc:
            return str(exc)
        return None

    def collect(self) -> CollectResult:
        errors: list[ItemError] = []
        try:
            api = self.context.kube.api_client()
        except KubeUnavailable as exc:
            raise RuntimeError(f"no Kubernetes API: {exc}") from None
        k = self.context.config.kubernetes
        timeout = float(k.request_timeout)
        running, git_version = read.running_minor(api, timeout, errors)
        uses: list[ra.ObjectUse] = []
        checked: dict[str, int] = {}
        failed: list[str] = []

        def source(name: str, found: tuple[list[Any], int] | None, before: int) -> list[Any]:
            if found is None or len(errors) > before:
                failed.append(name)
            if found is None:
                return []
            checked[name] = found[1]
            return found[0]

        if self.settings.live_objects:
            before = len(errors)
            targets = read.served_targets(api, self.data, timeout, errors)
            found = read.live_uses(api, targets, k.page_size, timeout, self.data, errors) if targets is not None else None
            uses += source(rd.SOURCE_LIVE, found, before)
        if self.settings.helm_releases:
            before = len(errors)
            uses += source(rd.SOURCE_HELM, read.helm_uses(api, self.settings.helm_namespaces, self.settings.helm_page_size, timeout,
                                                         self.data, errors), before)
        requests: list[ra.RequestUse] = []
        if self.settings.apiserver_metrics:
            before = len(errors)
            endpoints = self.settings.apiservers or self.context.config.control_plane.apiservers
            requests = source(SOURCE_METRICS, read.apiserver_requests(api, endpoints, timeout, errors), before)
        blockers = ra.match_objects(uses, self.data, running)
        scan = export.Scan(
            running=running, git_version=git_version, data=self.data, blockers=tuple(blockers),
            requests=tuple(ra.merge_requests(requests, self.data)), checked=checked, failed_sources=tuple(failed),
            hops=tuple(ra.upgrade_path(running, self._target(running))) if running else (),
        )
        return CollectResult(metrics=export.build_metrics(scan), errors=tuple(errors),
                             findings=export.build_findings(scan), details=export.build_details(scan, self.settings.max_listed))

    def _target(self, running: rd.Minor) -> rd.Minor:
        if self.settings.target:
            return rd.parse_minor(self.settings.target)
        newest = max((a.removed_in for a in self.data.apis), default=running)
        return max(newest, rd.next_minor(running))


__all__ = ["RemovedApisCollector", "RemovedApisSettings", "load_data"]
