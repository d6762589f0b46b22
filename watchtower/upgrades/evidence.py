"""Inferring the last upgrade from what kubeadm leaves behind, and finding the certificate deadline.

Pure parsers over names, bytes and text; ``scan_kubeadm_root`` is the one function that reads
the file system, and it takes the root as a parameter so tests point it at a temporary tree.

Why ``not_after − validity`` and not ``not_before``: kubeadm signs leaf certificates with
``NotBefore`` copied from the CA (so every leaf looks ten years old) and ``NotAfter = now +
validity``; the renewal moment is therefore ``NotAfter − validity``. A certificate whose own
``NotBefore`` is later than that (made by another tool, or with a shorter validity) is dated by
its ``NotBefore`` instead.
"""

from __future__ import annotations

import dataclasses
import datetime
import os
import re
from collections.abc import Iterable
from pathlib import Path

import yaml

from watchtower.core import reasons
from watchtower.core.formatting import rfc3339
from watchtower.core.regularfile import read_regular, read_regular_text
from watchtower.pki.kubeconfig import kubeconfig_entries, load_kubeconfig
from watchtower.pki.model import ParseError
from watchtower.pki.parse import parse_certificates
from watchtower.upgrades.policy import EVIDENCE_APISERVER_CERT, EVIDENCE_KUBEADM_BACKUP, CertDeadline, LastUpgrade

BACKUP_DIR_RE = re.compile(r"^kubeadm-backup-(etcd|manifests)-(\d{4})-(\d{2})-(\d{2})-(\d{2})-(\d{2})-(\d{2})$")
KUBECONFIGS_RENEWED_BY_KUBEADM = ("admin.conf", "super-admin.conf", "controller-manager.conf", "scheduler.conf")
"""kubelet.conf is left out: its client certificate is the kubelet's own, rotated by the kubelet."""
_GO_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(h|m|s|ms)")
_GO_UNITS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}


def backup_dir_time(name: str) -> float | None:
    """``kubeadm-backup-etcd-2026-03-11-09-18-02`` → its timestamp (kubeadm writes the node's
    local time; read as UTC, which kubeadm hosts almost always use), None for other names."""
    match = BACKUP_DIR_RE.match(name)
    if not match:
        return None
    try:
        year, month, day, hour, minute, second = (int(g) for g in match.groups()[1:])
        moment = datetime.datetime(year, month, day, hour, minute, second, tzinfo=datetime.UTC)
    except ValueError:  # 2026-13-45: shaped right, not a date
        return None
    return moment.timestamp()


def last_backup(names: Iterable[str]) -> LastUpgrade | None:
    """The newest kubeadm backup directory among ``names`` as upgrade evidence, or None."""
    newest: tuple[float, str] | None = None
    for name in names:
        when = backup_dir_time(name)
        if when is not None and (newest is None or when > newest[0]):
            newest = (when, name)
    if newest is None:
        return None
    return LastUpgrade(newest[0], EVIDENCE_KUBEADM_BACKUP, f"tmp/{newest[1]}")


def renewal_time(not_before: float, not_after: float, validity_seconds: float) -> float:
    """When a kubeadm certificate was (re)issued: ``not_after − validity``, or its ``not_before``
    if that is later (then the certificate was not backdated the kubeadm way)."""
    return max(not_before, not_after - validity_seconds)


def parse_go_duration(text: str) -> float:
    """Go's ``time.Duration`` text as kubeadm writes it (``8760h0m0s``) → seconds."""
    if not isinstance(text, str) or not text or _GO_DURATION_PART.sub("", text) != "":
        raise ValueError(f"not a Go duration like 8760h0m0s: {text!r}")
    return sum(float(n) * _GO_UNITS[u] for n, u in _GO_DURATION_PART.findall(text))


@dataclasses.dataclass(frozen=True)
class ClusterConfiguration:
    """What the kubeadm-config ConfigMap says about versions and certificate lifetimes."""

    kubernetes_version: str | None
    certificate_validity_seconds: float | None  # kubeadm v1beta4 (1.31+) certificateValidityPeriod


def parse_cluster_configuration(text: str) -> ClusterConfiguration:
    """The ``ClusterConfiguration`` key of kube-system/kubeadm-config (YAML). ValueError if unusable."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ValueError(f"ClusterConfiguration is not valid YAML: {type(exc).__name__}") from None
    if not isinstance(data, dict):
        raise ValueError("ClusterConfiguration is not a YAML mapping")
    version = data.get("kubernetesVersion")
    if version is not None and not isinstance(version, str):
        raise ValueError(f"kubernetesVersion is not a string: {version!r}")
    validity = data.get("certificateValidityPeriod")
    return ClusterConfiguration(
        kubernetes_version=version,
        certificate_validity_seconds=parse_go_duration(validity) if validity is not None else None,
    )


@dataclasses.dataclass(frozen=True)
class CertTimes:
    not_before: float
    not_after: float
    is_ca: bool


def certificate_times(data: bytes) -> CertTimes:
    """The first certificate in PEM or DER bytes (``watchtower.pki`` parses): validity and CA flag.
    ValueError naming what is wrong."""
    parsed = parse_certificates(data)
    if not parsed.certificates:
        problem = parsed.errors[0] if parsed.errors else None
        raise ValueError(f"no certificate ({problem})" if problem else "no certificate")
    cert = parsed.certificates[0]
    return CertTimes(cert.not_before, cert.not_after, cert.is_ca)


def kubeconfig_client_certificate(text: str) -> bytes | None:
    """The embedded ``client-certificate-data`` of a kubeconfig's first user, or None if it has none."""
    try:
        entries = kubeconfig_entries(load_kubeconfig(text))
    except ParseError as exc:
        raise ValueError(str(exc)) from None
    for entry in entries:
        if entry.kind == "user" and (entry.data is not None or entry.error is not None):
            if entry.error is not None:
                raise ValueError(str(entry.error))
            return entry.data
    return None


def apiserver_cert_evidence(times: CertTimes, validity_seconds: float, where: str, now: float) -> LastUpgrade | None:
    """The apiserver certificate's renewal as upgrade evidence; None when the arithmetic lands in
    the future (a certificate far longer-lived than kubeadm's, so not renewed by kubeadm)."""
    renewed = renewal_time(times.not_before, times.not_after, validity_seconds)
    if renewed > now:
        return None
    return LastUpgrade(renewed, EVIDENCE_APISERVER_CERT, f"{where} renewed (not after {rfc3339(times.not_after, whole_seconds=True)})")




@dataclasses.dataclass(frozen=True)
class KubeadmRootScan:
    """What a kubeadm root (``/etc/kubernetes``) tells: backups, apiserver cert, leaf deadline."""

    backup: LastUpgrade | None
    apiserver_cert: CertTimes | None
    cert_deadline: CertDeadline | None
    problems: tuple[tuple[str, str, str], ...]  # (location, reason, detail) for ItemErrors


def scan_kubeadm_root(root: Path) -> KubeadmRootScan:
    """Read ``root``/tmp backups, ``root``/pki leaf certificates and the kubeadm kubeconfigs.

    Missing pieces are not problems (a cluster-role pod sees none of them); unreadable or
    unparsable ones are, each reported once with its path.
    """
    problems: list[tuple[str, str, str]] = []
    backup = None
    tmp = root / "tmp"
    if tmp.is_dir():
        try:
            backup = last_backup(os.listdir(tmp))
        except OSError as exc:
            problems.append((str(tmp), "unreadable", exc.strerror or str(exc)))
    apiserver: CertTimes | None = None
    earliest: CertDeadline | None = None
    for relative, times in _leaf_certificates(root, problems):
        if relative == "pki/apiserver.crt":
            apiserver = times
        if earliest is None or times.not_after < earliest.not_after:
            earliest = CertDeadline(times.not_after, relative)
    return KubeadmRootScan(backup, apiserver, earliest, tuple(problems))


def _leaf_certificates(root: Path, problems: list[tuple[str, str, str]]) -> Iterable[tuple[str, CertTimes]]:
    pki = root / "pki"
    paths = sorted(pki.glob("*.crt")) + sorted((pki / "etcd").glob("*.crt")) if pki.is_dir() else []
    for path in paths:
        relative = path.relative_to(root).as_posix()
        try:
            times = certificate_times(read_regular(str(path), 1 << 20))
        except OSError as exc:
            problems.append((str(path), "unreadable", exc.strerror or str(exc)))
            continue
        except ValueError as exc:
            problems.append((str(path), reasons.PARSE_ERROR, str(exc)))
            continue
        if not times.is_ca:
            yield relative, times
    for name in KUBECONFIGS_RENEWED_BY_KUBEADM:
        path = root / name
        if not path.is_file():
            continue
        try:
            embedded = kubeconfig_client_certificate(read_regular_text(str(path), 1 << 20))
            if embedded is None:
                continue
            times = certificate_times(embedded)
        except OSError as exc:
            problems.append((str(path), "unreadable", exc.strerror or str(exc)))
            continue
        except (ValueError, UnicodeDecodeError) as exc:
            problems.append((str(path), reasons.PARSE_ERROR, str(exc)))
            continue
        if not times.is_ca:
            yield name, times
