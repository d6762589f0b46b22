"""The ``upgrade`` collector: running vs latest Kubernetes version, and the upgrade-every-N-months policy.

Inputs: ``/version`` and the kubeadm-config ConfigMap from the Kubernetes API; the kubeadm root
(``/etc/kubernetes``) for backup directories, the apiserver certificate and the leaf certificate
deadline; a release source (``watchtower.upgrades.releases``); a small state file remembering
observed version changes. The policy logic lives in ``watchtower.upgrades``; this module only
gathers inputs and turns the pure ``Assessment`` into metrics, findings and a check section.
"""

from __future__ import annotations

import dataclasses
import datetime
import logging
import socket
import ssl
import threading
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any, ClassVar, Literal
from urllib.parse import urlsplit

from prometheus_client.core import GaugeMetricFamily, InfoMetricFamily, Metric

from watchtower.collectors.base import Collector, CollectorContext, Role
from watchtower.core import reasons
from watchtower.core.formatting import parse_rfc3339, rfc3339
from watchtower.core.results import CollectResult, Finding, ItemError, Severity
from watchtower.core.sections import CollectorSettings
from watchtower.core.settings import ConfigError, Seconds, format_duration
from watchtower.io.kube import KubeUnavailable, get_json
from watchtower.upgrades import evidence as ev
from watchtower.upgrades import releases
from watchtower.upgrades.kubeversion import KubeVersion, try_parse_version
from watchtower.upgrades.policy import (
    EVIDENCE_OBSERVED,
    Assessment,
    LastUpgrade,
    assess,
    choose_last_upgrade,
    parse_interval,
)
from watchtower.upgrades.state import StateFile, UpgradeState, observe

log = logging.getLogger(__name__)

DAY = 86400.0
SOURCE_APISERVER = "apiserver"
SOURCE_KUBEADM_CONFIG = "kubeadm_config"


@dataclasses.dataclass(frozen=True)
class UpgradeSettings(CollectorSettings):
    """``collectors.upgrade`` in the config file."""

    interval: Seconds = Seconds(300)
    upgrade_every: str = "4mo"  # calendar months ("4mo") or a fixed duration ("120d")
    reminder_lead: Seconds = Seconds(14 * DAY)
    state_file: str | None = None  # e.g. /var/lib/watchtower/upgrade-state.json; unset: memory only
    kubeadm_root: str = "/etc/kubernetes"
    cert_validity: Seconds = Seconds(365 * DAY)  # kubeadm's leaf lifetime unless kubeadm-config says
    release_source: Literal["dl.k8s.io", "endoflife.date", "static"] = "dl.k8s.io"
    release_base_url: str = releases.DEFAULT_DL_BASE_URL
    endoflife_url: str | None = None  # adds end-of-life dates to dl.k8s.io; default URL for endoflife.date
    static_latest: str | None = None  # release_source: static, e.g. "v1.31.4"
    static_eol: Mapping[str, str] = dataclasses.field(default_factory=lambda: MappingProxyType({}))  # "1.30": "2025-06-28"
    release_cache: Seconds = Seconds(6 * 3600)
    release_retry: Seconds = Seconds(600)
    release_timeout: Seconds = Seconds(10)
    days_per_hop: float = 7.0  # how long one kubeadm hop takes the team (watchtower plan upgrade)

    def validate(self, path: str) -> None:
        super().validate(path)
        try:
            parse_interval(self.upgrade_every)
        except ValueError as exc:
            raise ConfigError(f"{path}.upgrade_every", self.upgrade_every,
                              f"calendar months like 4mo or a duration like 120d ({exc})") from None
        if not 0 < self.days_per_hop <= 365:
            raise ConfigError(f"{path}.days_per_hop", self.days_per_hop, "a number of days above 0, at most 365")
        if self.reminder_lead <= 0:
            raise ConfigError(f"{path}.reminder_lead", self.reminder_lead, "a duration above 0s")
        if self.cert_validity <= 0:
            raise ConfigError(f"{path}.cert_validity", self.cert_validity, "a duration above 0s")
        if self.release_source == "static" and not self.static_latest:
            raise ConfigError(f"{path}.static_latest", None, "a version like v1.31.4 when release_source is static")
        if self.static_latest is not None and try_parse_version(self.static_latest) is None:
            raise ConfigError(f"{path}.static_latest", self.static_latest, "a version like v1.31.4")
        try:
            releases.parse_static_eol(self.static_eol)
        except ValueError as exc:
            raise ConfigError(f"{path}.static_eol", dict(self.static_eol), f"minor → date like 2025-06-28 ({exc})") from None
        if not 0 < self.release_timeout < self.timeout:
            raise ConfigError(f"{path}.release_timeout", self.release_timeout, f"above 0s and below timeout ({format_duration(self.timeout)})")
        for name in ("release_base_url", "endoflife_url"):
            value = getattr(self, name)
            if value is not None and not value.startswith(("http://", "https://")):
                raise ConfigError(f"{path}.{name}", value, "an http:// or https:// URL")


@dataclasses.dataclass(frozen=True)
class ClusterVersions:
    """The control-plane versions the API reports, by source."""

    by_source: Mapping[str, KubeVersion]
    cluster_configuration: ev.ClusterConfiguration | None

    @property
    def lowest(self) -> KubeVersion | None:
        """The laggard: minors behind are counted from it."""
        return min(self.by_source.values(), default=None)

    @property
    def highest(self) -> KubeVersion | None:
        """The leader: an upgrade is the highest version going up."""
        return max(self.by_source.values(), default=None)


class UpgradeCollector(Collector[UpgradeSettings]):
    name: ClassVar[str] = "upgrade"
    title: ClassVar[str] = "Upgrade policy"
    roles: ClassVar[frozenset[Role]] = frozenset({"cluster"})
    metric_prefixes: ClassVar[tuple[str, ...]] = ("watchtower_kubernetes_", "watchtower_upgrade_")
    Settings: ClassVar[type[CollectorSettings]] = UpgradeSettings

    def __init__(self, settings: UpgradeSettings, context: CollectorContext) -> None:
        super().__init__(settings, context)
        s = settings
        self.interval = parse_interval(s.upgrade_every)
        self.state_file = StateFile(Path(s.state_file)) if s.state_file else None
        self._state: UpgradeState | None = None
        self._state_loaded = False
        self._state_dirty = False
        self._lock = threading.Lock()
        self.release_source = self._make_release_source(s, context)

    @staticmethod
    def _make_release_source(s: UpgradeSettings, context: CollectorContext) -> releases.ReleaseSource:
        fetcher = None
        if s.release_source != "static":  # static: air-gapped, nothing is ever fetched
            import requests

            session = requests.Session()
            session.headers["User-Agent"] = "watchtower (kube-watchtower upgrade collector)"
            fetcher = releases.CachedFetcher(
                releases.http_fetch(session), ttl=float(s.release_cache), retry=float(s.release_retry),
                timeout=float(s.release_timeout), clock=context.clock,
            )
        return releases.ReleaseSource(
            s.release_source, fetcher, base_url=s.release_base_url,
            endoflife_url=s.endoflife_url if s.release_source != "static" else None,
            static_latest=try_parse_version(s.static_latest) if s.static_latest else None,
            static_eol=releases.parse_static_eol(s.static_eol),
        )

    @classmethod
    def unavailable_reason(cls, settings: UpgradeSettings, context: CollectorContext) -> str | None:
        try:
            context.kube.source()
            return None
        except KubeUnavailable as exc:
            root = Path(settings.kubeadm_root)
            if (root / "pki").is_dir():
                return None
            return f"{exc}; and no kubeadm PKI at {root / 'pki'}"

    # ---------------------------------------------------------------- inputs (I/O)

    def _cluster_versions(self, errors: list[ItemError]) -> ClusterVersions:
        by_source: dict[str, KubeVersion] = {}
        cluster_config = None
        try:
            api = self.context.kube.api_client()
        except KubeUnavailable as exc:
            errors.append(ItemError("kubernetes", reasons.UNAVAILABLE, str(exc)))
            return ClusterVersions(MappingProxyType(by_source), None)
        from kubernetes.client.exceptions import ApiException

        timeout = self.context.config.kubernetes.request_timeout
        try:
            git_version = get_json(api, "/version", timeout=timeout).get("gitVersion")
            version = try_parse_version(git_version)
            if version is None:
                errors.append(ItemError("/version", reasons.PARSE_ERROR, f"gitVersion {git_version!r} is not a version"))
            else:
                by_source[SOURCE_APISERVER] = version
        except ApiException as exc:
            errors.append(ItemError("/version", "api_error", f"HTTP {exc.status} {exc.reason}"))
        except Exception as exc:  # noqa: BLE001 - connection errors come in many types
            errors.append(ItemError("/version", reasons.UNREACHABLE, f"{type(exc).__name__}: {exc}"[:300]))
        location = "configmap kube-system/kubeadm-config"
        try:
            cm = get_json(api, "/api/v1/namespaces/kube-system/configmaps/kubeadm-config", timeout=timeout)
            text = (cm.get("data") or {}).get("ClusterConfiguration")
            if text is None:
                errors.append(ItemError(location, reasons.PARSE_ERROR, "no ClusterConfiguration key"))
            else:
                cluster_config = ev.parse_cluster_configuration(text)
                version = try_parse_version(cluster_config.kubernetes_version)
                if version is not None:
                    by_source[SOURCE_KUBEADM_CONFIG] = version
                else:
                    errors.append(ItemError(location, reasons.PARSE_ERROR,
                                            f"kubernetesVersion {cluster_config.kubernetes_version!r} is not a version"))
        except ApiException as exc:
            if exc.status != 404:  # 404: not a kubeadm cluster, nothing to say
                errors.append(ItemError(location, "api_error", f"HTTP {exc.status} {exc.reason}"))
        except ValueError as exc:
            errors.append(ItemError(location, reasons.PARSE_ERROR, str(exc)))
        except Exception as exc:  # noqa: BLE001
            errors.append(ItemError(location, reasons.UNREACHABLE, f"{type(exc).__name__}: {exc}"[:300]))
        return ClusterVersions(MappingProxyType(by_source), cluster_config)

    def _observe(
        self, version: KubeVersion | None, now: float, errors: list[ItemError], backup_at: float | None = None,
    ) -> UpgradeState | None:
        """Fold the observed version into the (persisted) state; report file problems once per run."""
        if not self._state_loaded and self.state_file is not None:
            try:
                self._state = self.state_file.load()
            except (OSError, ValueError) as exc:
                errors.append(ItemError(str(self.state_file.path), "state_error", str(exc)))
        self._state_loaded = True
        if version is not None:
            self._state, changed = observe(self._state, version, now, happened_at=backup_at)
            self._state_dirty = self._state_dirty or changed
            if changed and self._state.last_upgrade is not None and self._state.last_upgrade.to_version == str(version):
                log.info("upgrade observed: %s → %s", self._state.last_upgrade.from_version, version)
        if self._state_dirty and self.state_file is not None and self._state is not None:
            try:
                self.state_file.save(self._state)
                self._state_dirty = False
            except OSError as exc:
                errors.append(ItemError(str(self.state_file.path), "state_error",
                                        f"cannot save: {exc.strerror or exc}; kept in memory, retried next run"))
        return self._state

    def _served_apiserver_cert(self, errors: list[ItemError]) -> tuple[ev.CertTimes | None, str]:
        """The certificate the API endpoint serves (where ``pki/apiserver.crt`` is not readable).

        Only dates are read, so the handshake does not verify; behind a TLS-terminating load
        balancer this would be the balancer's certificate (kubeadm setups pass TCP through).
        """
        host = self.context.kube.api_client().configuration.host
        try:
            der = served_certificate(host, self.context.config.kubernetes.request_timeout)
            return ev.certificate_times(der), f"certificate served by {host}"
        except (OSError, ValueError) as exc:
            errors.append(ItemError(host, "served_cert", f"{type(exc).__name__}: {exc}"[:300]))
            return None, ""

    # ---------------------------------------------------------------- collect

    def collect(self) -> CollectResult:
        with self._lock:
            return self._collect()

    def _collect(self) -> CollectResult:
        now = self.context.clock()
        errors: list[ItemError] = []
        versions = self._cluster_versions(errors)
        scan = ev.scan_kubeadm_root(Path(self.settings.kubeadm_root))
        errors += [ItemError(loc, reason, detail) for loc, reason, detail in scan.problems]
        state = self._observe(versions.highest, now, errors, scan.backup.at if scan.backup else None)
        validity = float(self.settings.cert_validity)
        if versions.cluster_configuration and versions.cluster_configuration.certificate_validity_seconds:
            validity = versions.cluster_configuration.certificate_validity_seconds
        observed = None
        if state is not None and state.last_upgrade is not None:
            t = state.last_upgrade
            observed = LastUpgrade(t.at, EVIDENCE_OBSERVED, f"{t.from_version} → {t.to_version} seen by watchtower")
        cert_times, where = scan.apiserver_cert, "pki/apiserver.crt"
        if cert_times is None and versions.by_source:  # cluster role: no kubeadm root, but the API answers
            cert_times, where = self._served_apiserver_cert(errors)
        cert = ev.apiserver_cert_evidence(cert_times, validity, where, now) if cert_times else None
        last = choose_last_upgrade(observed, scan.backup, cert)
        current = versions.lowest
        facts = self.release_source.facts(current)
        if facts.error is not None:
            errors.append(ItemError(f"release source {self.release_source.describe()}", facts.error.reason, facts.error.detail))
        assessment = assess(
            current=current, latest=facts.latest, latest_patch_of_current_minor=facts.latest_patch_of_minor,
            last_upgrade=last, interval=self.interval, current_minor_eol=facts.minor_eol,
            cert_deadline=scan.cert_deadline,
        )
        return CollectResult(
            metrics=build_metrics(assessment, versions.by_source, facts, float(self.settings.reminder_lead)),
            errors=tuple(errors),
            findings=build_findings(assessment, now, float(self.settings.reminder_lead)),
            details=build_details(assessment, versions.by_source, facts, self.release_source.describe(),
                                  float(self.settings.reminder_lead), now, state, self.settings.days_per_hop),
        )

    @classmethod
    def check_table(cls, details: Mapping[str, Any], color: bool = False) -> list[str] | None:
        return render_check(details)


def served_certificate(url: str, timeout: float) -> bytes:
    """DER of the leaf certificate served at ``https://host:port`` (not verified: dates only)."""
    parts = urlsplit(url)
    host, port = parts.hostname or "localhost", parts.port or 443
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with socket.create_connection((host, port), timeout=timeout) as sock, \
            context.wrap_socket(sock, server_hostname=host) as tls:
        der = tls.getpeercert(binary_form=True)
    if not der:
        raise ValueError("no certificate served")
    return der


# -------------------------------------------------------------------- pure: outputs


def _date(timestamp: float | None, with_time: bool = False) -> str:
    if timestamp is None:
        return "unknown"
    moment = datetime.datetime.fromtimestamp(timestamp, datetime.UTC)
    return moment.strftime("%Y-%m-%d %H:%M UTC" if with_time else "%Y-%m-%d")




def build_metrics(
    a: Assessment, by_source: Mapping[str, KubeVersion], facts: releases.ReleaseFacts, lead_seconds: float,
) -> tuple[Metric, ...]:
    version_info = InfoMetricFamily(
        "watchtower_kubernetes_version", "Control-plane Kubernetes version, by where it was read.",
        labels=("version", "minor", "source"))
    for source, version in sorted(by_source.items()):
        version_info.add_metric((str(version), version.minor_text, source), {})
    latest_info = InfoMetricFamily(
        "watchtower_kubernetes_latest_version", "Newest Kubernetes release per the release source: "
        "channel stable (newest overall) or stable-1.X (newest patch of the running minor).",
        labels=("version", "minor", "channel"))
    if a.latest is not None:
        latest_info.add_metric((str(a.latest), a.latest.minor_text, "stable"), {})
    if a.latest_patch_of_current_minor is not None:
        v = a.latest_patch_of_current_minor
        latest_info.add_metric((str(v), v.minor_text, f"stable-{v.minor_text}"), {})
    out: list[Metric] = [version_info, latest_info]

    def gauge(name: str, doc: str, value: float | None, labels: Mapping[str, str] | None = None) -> None:
        family = GaugeMetricFamily(name, doc, labels=list(labels or {}))
        if value is not None:
            family.add_metric(list((labels or {}).values()), value)
        out.append(family)

    gauge("watchtower_kubernetes_minors_behind", "Minor releases between the running (lowest) control-plane "
          "version and the latest release.", a.minors_behind)
    gauge("watchtower_kubernetes_upgrades_needed", "kubeadm upgrades needed to reach the latest release, "
          "one minor at a time (a patch-only difference is one).", a.upgrades_needed)
    eol_labels = {"minor": a.current.minor_text} if a.current is not None else {"minor": ""}
    gauge("watchtower_kubernetes_minor_eol_timestamp_seconds", "End of life of the running minor release.",
          a.current_minor_eol if a.current is not None else None, eol_labels)
    last_value = a.last_upgrade.at if a.last_upgrade.at is not None else 0.0
    gauge("watchtower_upgrade_last_timestamp_seconds", "When the control plane was last upgraded (0 when "
          "unknown); evidence: observed, kubeadm_backup, apiserver_cert or unknown.", last_value,
          {"evidence": a.last_upgrade.evidence})
    gauge("watchtower_upgrade_next_due_timestamp_seconds", "When the next upgrade is due under the policy "
          "(last upgrade + upgrade_every); absent while the last upgrade is unknown.", a.next_due)
    gauge("watchtower_upgrade_policy_interval_seconds", "The policy's upgrade interval (for calendar months: "
          "as it applies to the last upgrade).", a.interval_seconds)
    gauge("watchtower_upgrade_reminder_lead_seconds", "How long before the due date to remind (reminder_lead).",
          lead_seconds)
    deadline = a.cert_deadline
    gauge("watchtower_upgrade_cert_deadline_timestamp_seconds", "Earliest not-after among the kubeadm leaf "
          "certificates under the kubeadm root: the hard upgrade deadline.",
          deadline.not_after if deadline else None, {"certificate": deadline.certificate if deadline else ""})
    after = a.due_after_cert_deadline
    gauge("watchtower_upgrade_due_after_cert_deadline", "1 when the next due date falls after the certificate "
          "deadline (waiting for the due date lets certificates expire), else 0.",
          None if after is None else float(after))
    gauge("watchtower_kubernetes_release_fetch_timestamp_seconds", "When the release data in use was fetched "
          "(stale while the source fails; absent for static values).", facts.fetched_at)
    return tuple(out)


def build_findings(a: Assessment, now: float, lead_seconds: float) -> tuple[Finding, ...]:
    section = "upgrade"
    out: list[Finding] = []
    current = str(a.current) if a.current else "unknown version"
    last = (f"last upgrade {_date(a.last_upgrade.at)} ({a.last_upgrade.evidence})"
            if a.last_upgrade.at is not None else "last upgrade unknown")
    if a.next_due is None:
        out.append(Finding(section, "policy", Severity.WARNING,
                           f"{current}: {last}; cannot tell when the next upgrade is due"))
    elif now >= a.next_due:
        out.append(Finding(section, "policy", Severity.WARNING,
                           f"{current}: upgrade overdue since {_date(a.next_due)}; {last}"))
    elif now >= a.next_due - lead_seconds:
        out.append(Finding(section, "policy", Severity.WARNING,
                           f"{current}: upgrade due {_date(a.next_due)} (in {format_duration(round((a.next_due - now) / DAY) * DAY)}); {last}"))
    else:
        out.append(Finding(section, "policy", Severity.OK, f"{current}: next upgrade due {_date(a.next_due)}; {last}"))
    if a.cert_deadline is not None:
        d = a.cert_deadline
        if now >= d.not_after:
            out.append(Finding(section, "certificates", Severity.CRITICAL,
                               f"{d.certificate} expired {_date(d.not_after)}: renew now (kubeadm certs renew) or upgrade"))
        elif now + lead_seconds >= d.not_after:
            out.append(Finding(section, "certificates", Severity.CRITICAL,
                               f"{d.certificate} expires {_date(d.not_after)} (in {max(0, round((d.not_after - now) / DAY))} days): "
                               "upgrade now (it renews the kubeadm certificates) or run kubeadm certs renew"))
        elif a.due_after_cert_deadline:
            out.append(Finding(section, "certificates", Severity.CRITICAL,
                               f"{d.certificate} expires {_date(d.not_after)}, before the next upgrade is due "
                               f"({_date(a.next_due)}): upgrade or renew before then"))
    if a.minors_behind is not None and a.minors_behind >= 2:
        out.append(Finding(section, "version", Severity.WARNING,
                           f"{current} is {a.minors_behind} minors behind {a.latest}: {a.upgrades_needed} upgrades needed"))
    if a.current_minor_eol is not None and a.current is not None and now >= a.current_minor_eol:
        out.append(Finding(section, "version", Severity.WARNING,
                           f"Kubernetes {a.current.minor_text} reached end of life on {_date(a.current_minor_eol)}"))
    return tuple(out)


def build_details(
    a: Assessment, by_source: Mapping[str, KubeVersion], facts: releases.ReleaseFacts, source: str,
    lead_seconds: float, now: float, state: UpgradeState | None, days_per_hop: float = 7.0,
) -> dict[str, Any]:
    return {
        "minors": {m: {"latest": str(c.latest) if c.latest else None, "eol": rfc3339(c.eol, whole_seconds=True)} for m, c in facts.minors.items()},
        "days_per_hop": days_per_hop,
        "reminder_lead_seconds": lead_seconds,
        "current": str(a.current) if a.current else None,
        "versions": {k: str(v) for k, v in sorted(by_source.items())},
        "latest": str(a.latest) if a.latest else None,
        "latest_patch_of_current_minor": str(a.latest_patch_of_current_minor) if a.latest_patch_of_current_minor else None,
        "release_source": source,
        "release_fetched_at": rfc3339(facts.fetched_at, whole_seconds=True),
        "release_error": facts.error.detail if facts.error else None,
        "minors_behind": a.minors_behind,
        "upgrades_needed": a.upgrades_needed,
        "current_minor_eol": rfc3339(a.current_minor_eol, whole_seconds=True),
        "last_upgrade": rfc3339(a.last_upgrade.at, whole_seconds=True),
        "last_upgrade_evidence": a.last_upgrade.evidence,
        "last_upgrade_detail": a.last_upgrade.detail,
        "upgrade_every": str(a.interval),
        "reminder_lead": format_duration(lead_seconds),
        "next_due": rfc3339(a.next_due, whole_seconds=True),
        "cert_deadline": rfc3339(a.cert_deadline.not_after, whole_seconds=True) if a.cert_deadline else None,
        "cert_deadline_certificate": a.cert_deadline.certificate if a.cert_deadline else None,
        "due_after_cert_deadline": a.due_after_cert_deadline,
        "observed_since": rfc3339(state.first_seen_at, whole_seconds=True) if state else None,
        "now": rfc3339(now, whole_seconds=True),
    }




def _relative(target: float | None, now: float | None) -> str:
    if target is None or now is None:
        return ""
    days = round((target - now) / DAY)
    if days > 0:
        return f" (in {days} days)"
    if days < 0:
        return f" ({-days} days ago)"
    return " (today)"


def render_check(d: Mapping[str, Any]) -> list[str]:
    """The ``watchtower check`` Upgrade section: current, latest, behind, last upgrade, due, deadline."""
    now = parse_rfc3339(d.get("now"))
    versions = ", ".join(f"{k.replace('_', '-')} {v}" for k, v in (d.get("versions") or {}).items())
    latest = d.get("latest") or "unknown"
    extra = []
    if d.get("latest_patch_of_current_minor"):
        extra.append(f"newest patch of the running minor: {d['latest_patch_of_current_minor']}")
    extra.append(f"from {d.get('release_source')}")
    if d.get("release_error"):
        extra.append(f"STALE, source failing: {d['release_error']}")
    behind = d.get("minors_behind")
    behind_text = "unknown" if behind is None else (
        f"{behind} minor{'s' if behind != 1 else ''}, {d.get('upgrades_needed')} upgrade(s) needed (one minor at a time)")
    last_ts = parse_rfc3339(d.get("last_upgrade"))
    last_text = (f"{_date(last_ts, with_time=True)}{_relative(last_ts, now)}" if last_ts else "unknown")
    last_text += f" — evidence: {d.get('last_upgrade_evidence')}"
    if d.get("last_upgrade_detail"):
        last_text += f" ({d['last_upgrade_detail']})"
    due_ts = parse_rfc3339(d.get("next_due"))
    due_text = (f"{_date(due_ts)}{_relative(due_ts, now)}" if due_ts else "unknown") + \
        f" — every {d.get('upgrade_every')}, reminder {d.get('reminder_lead')} before"
    deadline_ts = parse_rfc3339(d.get("cert_deadline"))
    if deadline_ts:
        deadline_text = f"{_date(deadline_ts)}{_relative(deadline_ts, now)} ({d.get('cert_deadline_certificate')})"
        if d.get("due_after_cert_deadline"):
            deadline_text += " — BEFORE the due date: upgrade or renew certificates before then"
    else:
        deadline_text = "unknown (no kubeadm leaf certificates readable here)"
    eol_ts = parse_rfc3339(d.get("current_minor_eol"))
    rows = [
        ("current", (d.get("current") or "unknown") + (f" ({versions})" if versions else "")),
        ("latest", f"{latest} ({'; '.join(extra)})"),
        ("behind", behind_text),
        ("last upgrade", last_text),
        ("due", due_text),
        ("end of life", f"{_date(eol_ts)}{_relative(eol_ts, now)}" if eol_ts else "unknown"),
        ("cert deadline", deadline_text),
    ]
    width = max(len(k) for k, _ in rows)
    return ["UPGRADE"] + [f"  {k.ljust(width)}  {v}" for k, v in rows]
