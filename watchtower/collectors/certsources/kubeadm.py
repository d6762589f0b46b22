"""Everything ``kubeadm certs check-expiration`` lists, plus the kubelet's certificates.

From ``root`` (default /etc/kubernetes): pki/{ca, apiserver, apiserver-kubelet-client,
apiserver-etcd-client, front-proxy-ca, front-proxy-client, etcd/ca, etcd/server, etcd/peer,
etcd/healthcheck-client}.crt, the client certificates in admin.conf, super-admin.conf,
controller-manager.conf, scheduler.conf and kubelet.conf (embedded or its file reference, usually
/var/lib/kubelet/pki/kubelet-client-current.pem), and from ``kubelet_dir`` the serving bundle
kubelet.crt that kubeadm never rotates. Each record carries kubeadm's name. Files that a
node does not have (etcd/ on an external-etcd cluster, super-admin.conf on joined nodes) are
simply absent, not errors.

Checks made here: every key next to its certificate (and sa.key against sa.pub); every
kubeconfig's CA against pki/ca.crt; apiserver.crt's SANs against the VIPs and the
control-plane endpoint; the certificate the local apiserver serves against apiserver.crt.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator, Sequence

from watchtower.collectors.certsources.base import (
    DEFAULT_MAX_FILE_BYTES,
    CertRecord,
    CheckRecord,
    ReadFailure,
    Record,
    read_capped,
)
from watchtower.collectors.certsources.cache import ScanCache
from watchtower.collectors.certsources.endpoints import Endpoint, EndpointFailure, fetch_presented, presented_certs
from watchtower.collectors.certsources.files import FileSource
from watchtower.collectors.certsources.kubeconfigs import KubeconfigSource
from watchtower.collectors.kubeadm_files import kubeadm_present
from watchtower.core import reasons
from watchtower.core.results import ItemError
from watchtower.pki import CertInfo, ParseError, key_matches, san_covers

PKI_CERTS = (
    "ca", "apiserver", "apiserver-kubelet-client", "apiserver-etcd-client", "front-proxy-ca", "front-proxy-client",
    "etcd/ca", "etcd/server", "etcd/peer", "etcd/healthcheck-client",
)
KUBECONFIGS = ("admin.conf", "super-admin.conf", "controller-manager.conf", "scheduler.conf", "kubelet.conf")
KUBELET_CLIENT = "kubelet-client-current.pem"


@dataclasses.dataclass
class KubeadmSource:
    """kubeadm's PKI and kubeconfigs under ``root`` and the kubelet's under ``kubelet_dir``."""

    root: str = "/etc/kubernetes"
    kubelet_dir: str = "/var/lib/kubelet/pki"
    san_names: Sequence[str] = ()  # VIPs and the control-plane endpoint host apiserver.crt must cover
    served_endpoints: Sequence[str] = ()  # where the local apiserver serves, e.g. 127.0.0.1:6443
    timeout: float = 5.0
    max_bytes: int = DEFAULT_MAX_FILE_BYTES
    kind: str = "kubeadm"
    cache: ScanCache | None = dataclasses.field(default=None, repr=False, compare=False)

    def read(self) -> Iterator[Record]:
        if not kubeadm_present(self.root, self.kubelet_dir):  # asked for explicitly, yet nothing there
            yield ItemError(self.root, reasons.NOT_FOUND,
                            f"no kubeadm PKI or kubeconfigs under {self.root} or {self.kubelet_dir}")
            return
        files = FileSource((), max_bytes=self.max_bytes, kind=self.kind, cache=self.cache)
        found: dict[str, CertInfo] = {}
        pki = os.path.join(self.root, "pki")
        for name in PKI_CERTS:
            path = os.path.join(pki, f"{name}.crt")
            if os.path.lexists(path):
                for record in files.read_file(path, name=name):
                    if isinstance(record, CertRecord) and name not in found:
                        found[name] = record.cert
                    yield record
        yield from self._service_account_keys(pki)
        ca = found.get("ca")
        ca_path = os.path.join(pki, "ca.crt")
        kubeconfigs = KubeconfigSource((), max_bytes=self.max_bytes, kind=self.kind, cache=self.cache)
        referenced: set[str] = set()
        for conf in KUBECONFIGS:
            path = os.path.join(self.root, conf)
            if not os.path.lexists(path):
                continue
            for record in kubeconfigs.read_path(path, name=conf, cluster_ca=ca, cluster_ca_location=ca_path):
                if isinstance(record, CertRecord):
                    referenced.add(os.path.realpath(record.location.split("#", 1)[0]))
                yield record
        kubelet_crt = os.path.join(self.kubelet_dir, "kubelet.crt")
        if os.path.lexists(kubelet_crt):
            yield from files.read_file(kubelet_crt, name="kubelet.crt")
        current = os.path.join(self.kubelet_dir, KUBELET_CLIENT)
        if os.path.lexists(current) and os.path.realpath(current) not in referenced:
            yield from files.read_file(current, name=KUBELET_CLIENT)
        apiserver = found.get("apiserver")
        if apiserver is not None:
            location = os.path.join(pki, "apiserver.crt")
            yield from self._san_checks(apiserver, location)
            yield from self._served_checks(apiserver, location, ca_path if ca is not None else None)

    def _service_account_keys(self, pki: str) -> Iterator[Record]:
        pub, key = os.path.join(pki, "sa.pub"), os.path.join(pki, "sa.key")
        if not (os.path.exists(pub) and os.path.exists(key)):
            return
        try:
            ok = key_matches(read_capped(pub, self.max_bytes), read_capped(key, self.max_bytes))
        except ReadFailure as failure:
            yield failure.error
            return
        except ParseError as exc:
            yield ItemError(key, exc.reason, exc.detail)
            return
        labels = {"source": self.kind, "location": pub, "name": "sa", "key_location": key}
        yield CheckRecord("key_matches", labels, ok, "sa", "sa.key matches sa.pub" if ok else "sa.key does not match sa.pub")

    def _san_checks(self, apiserver: CertInfo, location: str) -> Iterator[Record]:
        for wanted in dict.fromkeys(self.san_names):
            ok = san_covers(apiserver, wanted)
            message = f"apiserver certificate covers {wanted}" if ok else (
                f"apiserver certificate SANs do not include {wanted}: clients using it get a TLS error "
                "(`kubeadm init phase certs apiserver` with the name in certSANs, then restart kube-apiserver)")
            yield CheckRecord("san_covers", {"source": self.kind, "location": location, "name": wanted}, ok,
                              f"apiserver SAN {wanted}", message)

    def _served_checks(self, apiserver: CertInfo, location: str, ca_file: str | None) -> Iterator[Record]:
        """The served leaf against the one on disk. Only the chain is compared, so it is dialled with the
        cluster CA's context (one certificate) rather than the system store's (~1.7 MB of roots)."""
        for address in self.served_endpoints:
            try:
                endpoint = Endpoint.parse(address, ca_file=ca_file)
                served, errors = presented_certs(fetch_presented(endpoint, self.timeout))
            except ValueError as exc:
                yield ItemError(address, "invalid_endpoint", str(exc))
                continue
            except EndpointFailure as failure:
                yield ItemError(address, failure.reason, failure.detail)
                continue
            except OSError as exc:  # the CA file went away or broke since it was read just now
                yield ItemError(address, reasons.CA_UNREADABLE, f"{ca_file}: {exc}")
                continue
            for error in errors:
                yield ItemError(address, error.reason, error.detail)
            if not served:
                continue
            leaf = served[0]
            ok = leaf.fingerprint_sha256 == apiserver.fingerprint_sha256
            labels = {"endpoint": endpoint.address, "disk_location": location,
                      "served_serial": leaf.serial_hex, "disk_serial": apiserver.serial_hex}
            message = "serves the certificate on disk" if ok else (
                f"serves serial {leaf.serial_hex} (expires {leaf.not_after_dt:%Y-%m-%d}) but {location} is serial "
                f"{apiserver.serial_hex} (expires {apiserver.not_after_dt:%Y-%m-%d}): restart kube-apiserver")
            yield CheckRecord("served_matches_disk", labels, ok, f"apiserver {endpoint.address}", message)
