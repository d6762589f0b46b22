"""Build a kubeadm root (``/etc/kubernetes`` look-alike) in a temporary directory for tests.

Certificates are real X.509 made with ``cryptography`` the way kubeadm makes them: leaf
``NotBefore`` copied from the CA, ``NotAfter`` = issue time + validity.
"""

from __future__ import annotations

import base64
import datetime
from pathlib import Path

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

UTC = datetime.UTC
YEAR = datetime.timedelta(days=365)


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


class KubeadmTree:
    """A CA plus helpers to write leaf certificates, kubeconfigs and backup directories."""

    def __init__(self, root: Path, ca_not_before: datetime.datetime) -> None:
        self.root = root
        (root / "pki" / "etcd").mkdir(parents=True, exist_ok=True)
        self.ca_key = ec.generate_private_key(ec.SECP256R1())
        self.ca_not_before = ca_not_before
        self.ca = (
            x509.CertificateBuilder().subject_name(_name("kubernetes")).issuer_name(_name("kubernetes"))
            .public_key(self.ca_key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(ca_not_before).not_valid_after(ca_not_before + 10 * YEAR)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(self.ca_key, hashes.SHA256())
        )
        self.write("pki/ca.crt", self.ca.public_bytes(serialization.Encoding.PEM))
        self.write("pki/etcd/ca.crt", self.ca.public_bytes(serialization.Encoding.PEM))

    def leaf_pem(self, cn: str, issued: datetime.datetime, validity: datetime.timedelta = YEAR,
                 kubeadm_style: bool = True) -> bytes:
        key = ec.generate_private_key(ec.SECP256R1())
        cert = (
            x509.CertificateBuilder().subject_name(_name(cn)).issuer_name(self.ca.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(self.ca_not_before if kubeadm_style else issued)
            .not_valid_after(issued + validity)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .sign(self.ca_key, hashes.SHA256())
        )
        return cert.public_bytes(serialization.Encoding.PEM)

    def write(self, relative: str, data: bytes | str) -> Path:
        path = self.root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data.encode() if isinstance(data, str) else data)
        return path

    def leaf(self, relative: str, issued: datetime.datetime, validity: datetime.timedelta = YEAR) -> Path:
        return self.write(relative, self.leaf_pem(relative, issued, validity))

    def kubeconfig(self, name: str, issued: datetime.datetime, validity: datetime.timedelta = YEAR) -> Path:
        cert = base64.b64encode(self.leaf_pem(name, issued, validity)).decode()
        doc = {
            "apiVersion": "v1", "kind": "Config", "current-context": "ctx",
            "clusters": [{"name": "k", "cluster": {"server": "https://127.0.0.1:6443"}}],
            "contexts": [{"name": "ctx", "context": {"cluster": "k", "user": "u"}}],
            "users": [{"name": "u", "user": {"client-certificate-data": cert, "client-key-data": "c2VjcmV0"}}],
        }
        return self.write(name, yaml.safe_dump(doc))

    def backup(self, moment: datetime.datetime) -> None:
        stamp = moment.strftime("%Y-%m-%d-%H-%M-%S")
        for kind in ("etcd", "manifests"):
            (self.root / "tmp" / f"kubeadm-backup-{kind}-{stamp}").mkdir(parents=True, exist_ok=True)
        (self.root / "tmp" / "kubeadm-upgraded-manifests1284917823").mkdir(parents=True, exist_ok=True)

    def control_plane(self, issued: datetime.datetime, validity: datetime.timedelta = YEAR) -> None:
        """Every leaf kubeadm renews on upgrade, all issued at ``issued``."""
        for rel in ("pki/apiserver.crt", "pki/apiserver-kubelet-client.crt", "pki/front-proxy-client.crt",
                    "pki/apiserver-etcd-client.crt", "pki/etcd/server.crt", "pki/etcd/peer.crt",
                    "pki/etcd/healthcheck-client.crt"):
            self.leaf(rel, issued, validity)
        for conf in ("admin.conf", "controller-manager.conf", "scheduler.conf"):
            self.kubeconfig(conf, issued, validity)
