"""Certificates for tests: small issuing helpers and a whole kubeadm-shaped PKI in a tmp dir.

``KubeadmPKI.build(tmp_path)`` writes what ``kubeadm init`` leaves on a control-plane node:
``<root>/pki`` (ca, apiserver, apiserver-kubelet-client, apiserver-etcd-client, front-proxy-ca,
front-proxy-client, etcd/{ca,server,peer,healthcheck-client}, sa.key/sa.pub), the kubeconfigs
admin.conf, super-admin.conf, controller-manager.conf, scheduler.conf (embedded client certs)
and kubelet.conf (by default referencing ``<kubelet_dir>/kubelet-client-current.pem``, a
symlink to a dated file as the kubelet writes it), plus the kubelet's self-signed serving
bundle kubelet.crt/kubelet.key. EC P-256 keys keep generation fast. Reused by the certs,
upgrade and etcd tests.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime
import ipaddress
from collections.abc import Mapping, Sequence
from pathlib import Path

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

DAY = datetime.timedelta(days=1)
PrivateKey = ec.EllipticCurvePrivateKey


def utcnow() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC).replace(microsecond=0)


def new_key() -> PrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


@dataclasses.dataclass(frozen=True)
class Issued:
    """A certificate with its private key."""

    cert: x509.Certificate
    key: PrivateKey

    @property
    def cert_pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    @property
    def key_pem(self) -> bytes:
        return key_pem(self.key)


def key_pem(key: PrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _name(cn: str, org: str | None = None) -> x509.Name:
    attrs = ([x509.NameAttribute(NameOID.ORGANIZATION_NAME, org)] if org else []) + [
        x509.NameAttribute(NameOID.COMMON_NAME, cn)]
    return x509.Name(attrs)


def issue(
    cn: str,
    issuer: Issued | None = None,
    *,
    days: float = 365,
    not_before: datetime.datetime | None = None,
    not_after: datetime.datetime | None = None,
    is_ca: bool = False,
    sans: Sequence[str] = (),
    server: bool = False,
    client: bool = False,
    org: str | None = None,
    key: PrivateKey | None = None,
    serial: int | None = None,
) -> Issued:
    """One certificate; self-signed when ``issuer`` is None. SANs: IPs or DNS names."""
    key = key or new_key()
    if not_before is None:  # with only an end given, the certificate lived ``days`` up to it
        not_before = (not_after - datetime.timedelta(days=days)) if not_after else utcnow() - datetime.timedelta(hours=1)
    start = not_before
    end = not_after or (start + datetime.timedelta(days=days))
    subject = _name(cn, org)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.cert.subject if issuer else subject)
        .public_key(key.public_key())
        .serial_number(serial or x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=is_ca, path_length=None), critical=True)
    )
    if is_ca:
        builder = builder.add_extension(
            x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=True,
                          data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=False,
                          encipher_only=False, decipher_only=False), critical=True)
    usages = ([ExtendedKeyUsageOID.SERVER_AUTH] if server else []) + ([ExtendedKeyUsageOID.CLIENT_AUTH] if client else [])
    if usages:
        builder = builder.add_extension(x509.ExtendedKeyUsage(usages), critical=False)
    if sans:
        names: list[x509.GeneralName] = []
        for san in sans:
            try:
                names.append(x509.IPAddress(ipaddress.ip_address(san)))
            except ValueError:
                names.append(x509.DNSName(san))
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    signer = issuer.key if issuer else key
    return Issued(builder.sign(signer, hashes.SHA256()), key)


def kubeconfig_yaml(
    server: str, ca_pem: bytes, user: str, *, cert_pem: bytes | None = None, key_pem_bytes: bytes | None = None,
    cert_file: str | None = None, key_file: str | None = None, cluster: str = "kubernetes",
) -> str:
    """A kubeadm-style kubeconfig: embedded CA, client cert embedded or by file reference."""
    user_body: dict[str, str] = {}
    if cert_pem is not None:
        user_body["client-certificate-data"] = base64.b64encode(cert_pem).decode()
    if key_pem_bytes is not None:
        user_body["client-key-data"] = base64.b64encode(key_pem_bytes).decode()
    if cert_file is not None:
        user_body["client-certificate"] = cert_file
    if key_file is not None:
        user_body["client-key"] = key_file
    context = f"{user}@{cluster}"
    doc = {
        "apiVersion": "v1", "kind": "Config",
        "clusters": [{"name": cluster, "cluster": {
            "certificate-authority-data": base64.b64encode(ca_pem).decode(), "server": server}}],
        "contexts": [{"name": context, "context": {"cluster": cluster, "user": user}}],
        "current-context": context, "preferences": {},
        "users": [{"name": user, "user": user_body}],
    }
    return yaml.safe_dump(doc, sort_keys=False)


# name in `kubeadm certs check-expiration` → (CA name, CN, organisation, server?, client?)
LEAVES: Mapping[str, tuple[str, str, str | None, bool, bool]] = {
    "apiserver": ("ca", "kube-apiserver", None, True, False),
    "apiserver-kubelet-client": ("ca", "kube-apiserver-kubelet-client", "kubeadm:cluster-admins", False, True),
    "apiserver-etcd-client": ("etcd/ca", "kube-apiserver-etcd-client", None, False, True),
    "front-proxy-client": ("front-proxy-ca", "front-proxy-client", None, False, True),
    "etcd/server": ("etcd/ca", "{node}", None, True, True),
    "etcd/peer": ("etcd/ca", "{node}", None, True, True),
    "etcd/healthcheck-client": ("etcd/ca", "kube-etcd-healthcheck-client", None, False, True),
}
CAS: Mapping[str, str] = {"ca": "kubernetes", "front-proxy-ca": "front-proxy-ca", "etcd/ca": "etcd-ca"}
# kubeconfig file → (user name, CN, organisation)
KUBECONFIGS: Mapping[str, tuple[str, str, str | None]] = {
    "admin.conf": ("kubernetes-admin", "kubernetes-admin", "kubeadm:cluster-admins"),
    "super-admin.conf": ("kubernetes-super-admin", "kubernetes-super-admin", "system:masters"),
    "controller-manager.conf": ("system:kube-controller-manager", "system:kube-controller-manager", None),
    "scheduler.conf": ("system:kube-scheduler", "system:kube-scheduler", None),
}
EXPECTED_NAMES = (
    "admin.conf", "apiserver", "apiserver-etcd-client", "apiserver-kubelet-client", "ca", "controller-manager.conf",
    "etcd/ca", "etcd/healthcheck-client", "etcd/peer", "etcd/server", "front-proxy-ca", "front-proxy-client",
    "kubelet.conf", "kubelet.crt", "scheduler.conf", "super-admin.conf",
)


@dataclasses.dataclass
class KubeadmPKI:
    """A generated kubeadm tree; ``issued`` maps kubeadm's names to certificate + key."""

    root: Path
    kubelet_dir: Path
    node: str
    issued: dict[str, Issued]

    @property
    def pki(self) -> Path:
        return self.root / "pki"

    def cert(self, name: str) -> x509.Certificate:
        return self.issued[name].cert

    @classmethod
    def build(
        cls,
        base: Path,
        *,
        node: str = "cp1",
        endpoint: str = "k8s-api.example.test",
        advertise_address: str = "198.51.100.11",
        vip: str | None = "198.51.100.10",
        days: Mapping[str, float] | None = None,
        not_after: Mapping[str, datetime.datetime] | None = None,
        kubelet_conf_embedded: bool = False,
        extra_apiserver_sans: Sequence[str] = (),
    ) -> KubeadmPKI:
        """Write the tree under ``base/etc/kubernetes`` and ``base/var/lib/kubelet/pki``."""
        days = dict(days or {})
        ends = dict(not_after or {})
        root = base / "etc" / "kubernetes"
        kubelet_dir = base / "var" / "lib" / "kubelet" / "pki"
        (root / "pki" / "etcd").mkdir(parents=True, exist_ok=True)
        kubelet_dir.mkdir(parents=True, exist_ok=True)
        issued: dict[str, Issued] = {}

        def lifetime(name: str, default: float) -> dict[str, object]:
            return {"days": days.get(name, default), "not_after": ends.get(name)}

        for name, cn in CAS.items():
            issued[name] = issue(cn, is_ca=True, **lifetime(name, 3650))  # type: ignore[arg-type]
        for name, (ca, cn, org, server, client) in LEAVES.items():
            sans: list[str] = []
            if name == "apiserver":
                sans = ["kubernetes", "kubernetes.default", "kubernetes.default.svc",
                        "kubernetes.default.svc.cluster.local", node, endpoint, "10.96.0.1", advertise_address]
                sans += [vip] if vip else []
                sans += list(extra_apiserver_sans)
            elif name.startswith("etcd/") and server:
                sans = [node, "localhost", advertise_address, "127.0.0.1", "::1"]
            issued[name] = issue(cn.format(node=node), issued[ca], org=org, server=server, client=client,
                                 sans=sans, **lifetime(name, 365))  # type: ignore[arg-type]
        for name, item in issued.items():
            (root / "pki" / f"{name}.crt").write_bytes(item.cert_pem)
            (root / "pki" / f"{name}.key").write_bytes(item.key_pem)
        sa = new_key()
        (root / "pki" / "sa.key").write_bytes(key_pem(sa))
        (root / "pki" / "sa.pub").write_bytes(sa.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))

        ca = issued["ca"]
        server_url = f"https://{endpoint}:6443"
        for conf, (user, cn, org) in KUBECONFIGS.items():
            item = issue(cn, ca, org=org, client=True, **lifetime(conf, 365))  # type: ignore[arg-type]
            issued[conf] = item
            (root / conf).write_text(kubeconfig_yaml(server_url, ca.cert_pem, user, cert_pem=item.cert_pem,
                                                     key_pem_bytes=item.key_pem))
        kubelet_client = issue(f"system:node:{node}", ca, org="system:nodes", client=True,
                               **lifetime("kubelet.conf", 365))  # type: ignore[arg-type]
        issued["kubelet.conf"] = kubelet_client
        user = f"system:node:{node}"
        if kubelet_conf_embedded:
            text = kubeconfig_yaml(server_url, ca.cert_pem, user, cert_pem=kubelet_client.cert_pem,
                                   key_pem_bytes=kubelet_client.key_pem)
        else:
            dated = kubelet_dir / "kubelet-client-2026-01-01-00-00-00.pem"
            dated.write_bytes(kubelet_client.cert_pem + kubelet_client.key_pem)
            current = kubelet_dir / "kubelet-client-current.pem"
            current.unlink(missing_ok=True)
            current.symlink_to(dated.name)
            text = kubeconfig_yaml(server_url, ca.cert_pem, user, cert_file=str(current), key_file=str(current))
        (root / "kubelet.conf").write_text(text)

        # The kubelet's self-signed serving pair: kubelet.crt holds the serving cert and its CA.
        kubelet_ca = issue(f"{node}-ca@1767225600", is_ca=True, **lifetime("kubelet-ca", 365))  # type: ignore[arg-type]
        serving = issue(f"{node}@1767225600", kubelet_ca, server=True, sans=[node],
                        **lifetime("kubelet.crt", 365))  # type: ignore[arg-type]
        issued["kubelet.crt"] = serving
        (kubelet_dir / "kubelet.crt").write_bytes(serving.cert_pem + kubelet_ca.cert_pem)
        (kubelet_dir / "kubelet.key").write_bytes(serving.key_pem)
        return cls(root=root, kubelet_dir=kubelet_dir, node=node, issued=issued)
