"""The ``upgrade`` collector: running vs latest Kubernetes version, and the upgrade-every-N-months policy.

Inputs: ``/version`` and the kubeadm-config ConfigMap from the Kubernetes API; the kubeadm root
(``/etc/kubernetes``) for backup directories, the apiserver certificate and the leaf certificate
deadline; a release source (``watchtower.upgrades.releases``); a small state file remembering
observed version changes. The policy logic lives in ``watchtower.upgrades``; this module only
gathers inputs and turns the pure ``Assessment`` into metrics, findings and a check section.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, ClassVar
from urllib.parse import urlsplit

from watchtower.collectors.base import Collector, CollectorContext, Role
from watchtower.collectors.upgrade.settings import UpgradeSettings
from watchtower.core import reasons
from watchtower.core.formatting import resolver_host
from watchtower.core.lazy import lazy_module
from watchtower.core.results import CollectResult, ItemError
from watchtower.core.sections import CollectorSettings
from watchtower.io.kube import KubeUnavailable, get_json, server_version
from watchtower.upgrades.kubeversion import KubeVersion, try_parse_version
from watchtower.upgrades.policy import EVIDENCE_OBSERVED, LastUpgrade, assess, choose_last_upgrade, parse_interval

if TYPE_CHECKING:
    from watchtower.collectors.upgrade import export
    from watchtower.io import netprobe, tlscontext
    from watchtower.upgrades import evidence as ev
    from watchtower.upgrades import releases
    from watchtower.upgrades import state as upgrade_state
else:  # loaded by the first run: a daemon that does not run the upgrade collector never imports them
    export = lazy_module("watchtower.collectors.upgrade.export")
    ev = lazy_module("watchtower.upgrades.evidence")
    releases = lazy_module("watchtower.upgrades.releases")
    upgrade_state = lazy_module("watchtower.upgrades.state")
    tlscontext = lazy_module("watchtower.io.tlscontext")
    netprobe = lazy_module("watchtower.io.netprobe")

log = logging.getLogger(__name__)

SOURCE_KUBEADM_CONFIG = "kubeadm_config"


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
        self.state_file = upgrade_state.StateFile(Path(s.state_file)) if s.state_file else None
        self._state: upgrade_state.UpgradeState | None = None
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
            git_version = server_version(api, timeout).git_version
            version = try_parse_version(git_version)
            if version is None:
                errors.append(ItemError("/version", reasons.PARSE_ERROR, f"gitVersion {git_version!r} is not a version"))
            else:
                by_source[export.SOURCE_APISERVER] = version
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
    ) -> upgrade_state.UpgradeState | None:
        """Fold the observed version into the (persisted) state; report file problems once per run."""
        if not self._state_loaded and self.state_file is not None:
            try:
                self._state = self.state_file.load()
            except (OSError, ValueError) as exc:
                errors.append(ItemError(str(self.state_file.path), "state_error", str(exc)))
        self._state_loaded = True
        if version is not None:
            self._state, changed = upgrade_state.observe(self._state, version, now, happened_at=backup_at)
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
            metrics=export.build_metrics(assessment, versions.by_source, facts, float(self.settings.reminder_lead)),
            errors=tuple(errors),
            findings=export.build_findings(assessment, now, float(self.settings.reminder_lead)),
            details=export.UpgradeDetails.build(assessment, versions.by_source, facts, self.release_source.describe(),
                                         float(self.settings.reminder_lead), now, state, self.settings.days_per_hop),
        )


def served_certificate(url: str, timeout: float) -> bytes:
    """DER of the leaf certificate served at ``https://host:port`` (not verified: dates only)."""
    parts = urlsplit(url)
    host, port = parts.hostname or "localhost", parts.port or 443
    # one shared unverifying context: a default context per run loaded the whole system trust
    # store (~140 CA certificates in OpenSSL's heap) every interval only to verify nothing
    context = tlscontext.client_context(verify=False)
    with netprobe.connect(host, port, timeout) as sock, \
            context.wrap_socket(sock, server_hostname=resolver_host(host)) as tls:
        der = tls.getpeercert(binary_form=True)
    if not der:
        raise ValueError("no certificate served")
    return der
