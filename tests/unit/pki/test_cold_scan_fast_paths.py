"""The cold-scan shortcuts answer exactly as the slow way: the CA flag without a walk, chain verdicts
followed once per issuer, urgency messages spelled when read, a one-block PEM file read without the block loop.

Inputs are real certificates (the benchmark's, Debian's trust store) and mutations of them that
cryptography still loads; each fast answer is compared with the one computed the old way.
"""

from __future__ import annotations

import dataclasses
import datetime
import glob
import random
from collections.abc import Callable

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from bench import certdata
from tests.support.kubeadm_pki import issue
from watchtower.collectors.certs.accumulate import _Accumulator
from watchtower.collectors.certs.details import UrgencyFinding, _urgency_message
from watchtower.collectors.certs.settings import _URGENCY_SEVERITY
from watchtower.collectors.certsources import CertRecord
from watchtower.core.results import Finding
from watchtower.pki import CertInfo, IssuerIndex, Thresholds, parse_certificates, verify_chain
from watchtower.pki import parse as parse_module
from watchtower.pki.der import surely_not_ca
from watchtower.pki.parse import ParsedFile

_BC_OID = b"\x06\x03\x55\x1d\x13"


def _slow_is_ca(cert: x509.Certificate) -> bool:
    try:
        return bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except (x509.ExtensionNotFound, x509.DuplicateExtension, ValueError):
        return False


def _ders() -> list[bytes]:
    paths = [str(p) for p in certdata.files(certdata.distinct_tree(40))] + sorted(glob.glob("/etc/ssl/certs/*.pem"))[:60]
    return [c.der for p in paths for c in parse_certificates(open(p, "rb").read()).certificates]


def _mutations(der: bytes, rnd: random.Random, count: int) -> list[bytes]:
    """Bytes changed mostly around basicConstraints (its header, OID, flag), some anywhere."""
    out = []
    at = der.find(_BC_OID)
    for _ in range(count):
        data = bytearray(der)
        near = at >= 0 and rnd.random() < 0.7
        index = rnd.randrange(max(0, at - 6), min(len(data), at + 20)) if near else rnd.randrange(len(data))
        data[index] = rnd.choice([0x00, 0x01, 0x02, 0x04, 0x13, 0x30, 0x80, 0xFF, rnd.randrange(256)])
        out.append(bytes(data))
    return out


def test_the_ca_flag_without_a_walk_matches_cryptography_on_mutated_certificates() -> None:
    rnd = random.Random(14)
    checked = 0
    for der in _ders():
        for variant in [der, *_mutations(der, rnd, 40)]:
            try:
                cert = x509.load_der_x509_certificate(variant)
                info = CertInfo.from_x509(cert, variant)
            except Exception:  # noqa: BLE001 - cryptography refuses it: nothing to compare
                cert = None
            if cert is None:
                continue
            assert info.is_ca == _slow_is_ca(cert), variant.hex()
            if surely_not_ca(variant):
                assert not _slow_is_ca(cert), variant.hex()
            checked += 1
    assert checked > 1000


def test_a_basic_constraints_oid_inside_another_value_does_not_hide_the_real_one() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "ca")])
    now = datetime.datetime(2026, 6, 1, tzinfo=datetime.UTC)
    decoy = x509.UnrecognizedExtension(x509.ObjectIdentifier("1.3.6.1.4.1.99999.1"), b"\x30\x05" + _BC_OID)
    for ca in (True, False):
        cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                .serial_number(5).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=9))
                .add_extension(decoy, critical=False)
                .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
                .sign(key, hashes.SHA256()))
        info = CertInfo.from_x509(cert)
        assert not surely_not_ca(info.der)  # met twice: the walk decides
        assert info.is_ca is ca is _slow_is_ca(cert)


def test_chain_verdicts_followed_once_per_issuer_equal_fresh_ones() -> None:
    paths = certdata.files(certdata.distinct_tree(40))
    infos = [c for p in paths for c in parse_certificates(p.read_bytes()).certificates]
    leaves, cas = [i for i in infos if not i.is_ca], [i for i in infos if i.is_ca]
    for now in (1_700_000_000.0, 1_796_000_000.0, 2_100_000_000.0):  # before, within, after the CAs' lives
        shared = IssuerIndex(infos)
        for cert in leaves + cas:
            fresh = verify_chain(cert, IssuerIndex(infos), now)
            memoized = verify_chain(cert, shared, now)
            assert (memoized.valid, memoized.reason, memoized.issuer) == (fresh.valid, fresh.reason, fresh.issuer)
    missing_root = [i for i in infos if i is not cas[0]]
    shared = IssuerIndex(missing_root)
    for cert in leaves:
        fresh = verify_chain(cert, IssuerIndex(missing_root), 1_796_000_000.0)
        assert verify_chain(cert, shared, 1_796_000_000.0) == fresh
    shared.add(cas[0])  # a new certificate: the remembered tails are forgotten
    for cert in leaves:
        assert verify_chain(cert, shared, 1_796_000_000.0) == verify_chain(cert, IssuerIndex(infos), 1_796_000_000.0)


def _known_leaf_verdicts(index: IssuerIndex, pool: list[CertInfo], certs: list[CertInfo],
                         nows: tuple[float, ...]) -> list[tuple[CertInfo, bool]]:
    """Each ``known_leaf_verdict`` equals a fresh walk's verdict or is None (the tails noted as a scan
    does); the certificates answered, with their validity."""
    answered = []
    for now in nows:
        for cert in certs:
            known = index.known_leaf_verdict(cert, now)
            fresh = verify_chain(cert, IssuerIndex(pool), now)
            if known is not None:
                answered.append((cert, known.valid))
                assert (known.valid, known.reason, known.issuer) == (fresh.valid, fresh.reason, fresh.issuer)
            verify_chain(cert, index, now)  # notes the tails later leaves are answered from
    return answered


def test_the_known_leaf_verdict_is_the_walks_or_none() -> None:
    """``known_leaf_verdict`` (remembered per issuer name) answers what a fresh ``verify_chain`` does,
    or steps aside: while the clock moves back and forth, for a forged leaf, under an expired root,
    and after a second certificate with an intermediate's name (another key) joins the index."""
    paths = certdata.files(certdata.distinct_tree(40))
    infos = [c for p in paths for c in parse_certificates(p.read_bytes()).certificates]
    leaves, cas = [i for i in infos if not i.is_ca], [i for i in infos if i.is_ca]
    forged_der = bytearray(leaves[3].der)
    forged_der[-5] ^= 0x01  # inside the signature bits
    forged = CertInfo.from_x509(x509.load_der_x509_certificate(bytes(forged_der)))
    index = IssuerIndex(infos)
    answered = _known_leaf_verdicts(index, infos, [*leaves, forged, *cas],
                                    (1_796_000_000.0, 2_100_000_000.0, 1_700_000_000.0, 1_796_000_000.0))
    assert len(answered) > 20 and all(cert is not forged for cert, _valid in answered)
    intermediate = next(c for c in cas if c.subject_key != c.issuer_key)
    twin_key = ec.generate_private_key(ec.SECP256R1())
    twin = CertInfo.from_x509(
        x509.CertificateBuilder().subject_name(intermediate.x509.subject).issuer_name(intermediate.x509.subject)
        .public_key(twin_key.public_key()).serial_number(9).not_valid_before(datetime.datetime(2020, 1, 1))
        .not_valid_after(datetime.datetime(2040, 1, 1)).add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(twin_key, hashes.SHA256()))
    index.add(twin)  # the intermediate's name now has two certificates: its leaves go the general way
    answered = _known_leaf_verdicts(index, [*infos, twin], [*leaves, *cas], (1_796_000_000.0,))
    assert answered and all(cert.issuer_key != intermediate.subject_key for cert, _valid in answered)
    start = datetime.datetime(2030, 1, 1, tzinfo=datetime.UTC)
    root = issue("short root", is_ca=True, not_before=start, days=10)
    inter = issue("long intermediate", root, is_ca=True, not_before=start, days=3650)
    small = [CertInfo.from_x509(x.cert) for x in (root, inter, *(issue(f"leaf {n}", inter, not_before=start) for n in range(4)))]
    nows = tuple((start + datetime.timedelta(days=n)).timestamp() for n in (5, 20, 5))
    answered = _known_leaf_verdicts(IssuerIndex(small), small, small, nows)
    assert sum(valid for _cert, valid in answered) >= 3 and sum(not valid for _cert, valid in answered) >= 3


def test_an_urgency_finding_reads_as_the_eager_one() -> None:
    cert = parse_certificates(certdata.files(certdata.distinct_tree(40))[10].read_bytes()).certificates[0]
    for status, now in (("expired", cert.not_after + 86_400 * 3.5), ("warning", cert.not_after - 86_400 * 2),
                        ("not_yet_valid", cert.not_before - 60)):
        lazy = UrgencyFinding(CertRecord("file", "x", "x.crt", cert), status, now)
        eager = Finding("certs", f"x ({cert.subject_cn})", _URGENCY_SEVERITY[status], _urgency_message(cert, status, now))
        assert (lazy.section, lazy.subject, lazy.severity, lazy.message) == (eager.section, eager.subject,
                                                                              eager.severity, eager.message)
        assert repr(lazy) == repr(eager) and lazy.message is lazy.message


def _general_pem(data: bytes, memo: None) -> ParsedFile:
    """``_parse_pem`` without its one-block shortcut: the loop over ``pem_blocks``."""
    original = parse_module._single_certificate_block
    parse_module._single_certificate_block = lambda _data: None
    try:
        return parse_module._parse_pem(data, memo)
    finally:
        parse_module._single_certificate_block = original


def _facts(read: Callable[[bytes, None], ParsedFile], data: bytes) -> tuple[object, ...]:
    try:
        parsed = read(data, None)
    except Exception as exc:  # noqa: BLE001 - parse_certificates turns it into a parse_error: both must raise it
        return (type(exc), str(exc))
    return ([c.der for c in parsed.certificates], [(e.reason, e.detail) for e in parsed.errors], parsed.other_blocks)


def test_the_one_block_shortcut_reads_pem_as_the_block_loop_does() -> None:
    pem = certdata.files(certdata.distinct_tree(40))[12].read_bytes()
    begin, end = pem.index(b"-----BEGIN"), pem.index(b"-----END")
    cases = [pem, b"junk\n" + pem + b"\ntrailer\n", pem + pem, pem.replace(b"CERTIFICATE", b"X509 CERTIFICATE"),
             pem[:end], pem[: end + 10], pem + b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
             b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n" + pem, pem.replace(b"M", b"*", 1),
             pem[:begin + 40] + b"\n" + pem[begin + 40:], pem.replace(b"-----BEGIN CERTIFICATE-----", b"-----BEGIN CERTIFICATE----")]
    rnd = random.Random(5)
    for _ in range(300):
        data = bytearray(pem)
        data[rnd.randrange(len(data))] = rnd.choice(b"-ABCEINT \n=*")
        cases.append(bytes(data))
    for data in cases:
        assert _facts(parse_module._parse_pem, data) == _facts(_general_pem, data), data[:80]


def test_only_certificates_kept_anyway_get_a_lazy_finding() -> None:
    """A Secret's or an endpoint's certificate is let go after the run: its finding must not hold it."""
    cert = parse_certificates(certdata.files(certdata.distinct_tree(40))[10].read_bytes()).certificates[0]
    now = cert.not_after + 86_400 * 3
    acc = _Accumulator(now, Thresholds())
    acc.add("file", CertRecord("file", "/x/a.crt", "a.crt", cert))
    acc.add("secret", CertRecord("secret", "ns/s", "tls.crt", cert))
    lazy, eager = acc.findings
    assert type(lazy) is UrgencyFinding and type(eager) is Finding
    assert lazy.message == eager.message == _urgency_message(cert, "expired", now)
    assert all(value is not cert for value in dataclasses.astuple(eager))


def test_the_usual_leaf_basic_constraints_read_without_a_walk_critical_or_not() -> None:
    """The two whole-extension spellings ``surely_not_ca`` answers at once (an empty value, critical
    or not), and look-alikes around them, agree with cryptography."""
    from cryptography.hazmat.primitives.asymmetric import ec as ec_keys

    key = ec_keys.generate_private_key(ec_keys.SECP256R1())
    name = x509.Name([x509.NameAttribute(x509.oid.NameOID.COMMON_NAME, "bc-leaf")])
    ders = []
    for critical in (True, False):
        for ca, path in ((False, None), (True, None), (True, 0)):
            builder = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                       .serial_number(7).not_valid_before(datetime.datetime(2025, 1, 1))
                       .not_valid_after(datetime.datetime(2027, 1, 1))
                       .add_extension(x509.BasicConstraints(ca=ca, path_length=path), critical=critical))
            ders.append(builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.DER))
    rnd = random.Random(1403)
    checked = 0
    for der in ders:
        for data in [der, *_mutations(der, rnd, 300)]:
            try:
                cert = x509.load_der_x509_certificate(data)
                expected = _slow_is_ca(cert)
            except Exception:  # noqa: BLE001, S112 - not loadable (InvalidVersion is no ValueError): nothing to compare
                continue
            if surely_not_ca(data):
                assert not expected, data.hex()
            checked += 1
    assert checked > 500
