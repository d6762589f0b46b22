"""Chain verification, issuer outliving, key match, SAN coverage and lifetime-relative urgency."""

from __future__ import annotations

import datetime

import pytest

from tests.support.kubeadm_pki import issue, new_key, utcnow
from watchtower.pki import CertInfo, Thresholds, expires_after_issuer, key_matches, san_covers, urgency, verify_chain
from watchtower.pki.model import ParseError

DAY = 86400.0


def info(issued):
    return CertInfo.from_x509(issued.cert)


@pytest.fixture(scope="module")
def tree():
    root = issue("root", is_ca=True, days=3650)
    inter = issue("inter", root, is_ca=True, days=30)
    leaf = issue("leaf", inter, days=365, sans=["api.example.test", "*.apps.example.test", "198.51.100.10"])
    return root, inter, leaf


def test_chain_verifies_through_intermediate(tree):
    root, inter, leaf = (info(x) for x in tree)
    now = utcnow().timestamp()
    result = verify_chain(leaf, [inter, root], now)
    assert result.valid and result.issuer == inter
    assert verify_chain(leaf, [inter, root], now, anchors=[root]).valid


def test_chain_failures_have_reasons(tree):
    root, inter, leaf = (info(x) for x in tree)
    now = utcnow().timestamp()
    assert verify_chain(leaf, [root], now).reason == "issuer_unknown"  # missing intermediate
    other_root = info(issue("root", is_ca=True))  # same name, different key
    assert verify_chain(leaf, [inter, other_root], now, anchors=[other_root]).reason in {"bad_signature", "untrusted_root"}
    assert verify_chain(leaf, [inter, root], now + 40 * DAY).reason == "issuer_expired"
    notca = issue("notca", tree[0], days=10)
    child = info(issue("child", notca))
    assert verify_chain(child, [info(notca), root], now).reason == "issuer_not_ca"
    stranger = info(issue("stranger", is_ca=True))
    assert verify_chain(leaf, [inter, root], now, anchors=[stranger]).reason == "untrusted_root"


def test_expires_after_issuer(tree):
    root, inter, leaf = (info(x) for x in tree)
    assert expires_after_issuer(leaf, inter)  # intermediate lives 30 days, leaf 365
    assert not expires_after_issuer(inter, root)


def test_key_matches_public_halves_only(tree):
    _, _, leaf = tree
    assert key_matches(info(leaf), leaf.key_pem)
    assert not key_matches(info(leaf), tree[1].key_pem)
    with pytest.raises(ParseError) as exc:
        key_matches(info(leaf), b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
    assert "AAAA" not in str(exc.value)
    other = new_key()
    from cryptography.hazmat.primitives import serialization
    pub = other.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    from tests.support.kubeadm_pki import key_pem
    assert key_matches(pub, key_pem(other)) and not key_matches(pub, leaf.key_pem)


@pytest.mark.parametrize(("name", "covered"), [
    ("api.example.test", True), ("API.example.test.", True), ("x.apps.example.test", True),
    ("a.b.apps.example.test", False), ("apps.example.test", False), ("198.51.100.10", True),
    ("198.51.100.11", False), ("other.example.test", False),
])
def test_san_covers(tree, name, covered):
    assert san_covers(info(tree[2]), name) is covered


@pytest.mark.parametrize(("lifetime_days", "left_days", "expected"), [
    (365, 31, "ok"), (365, 29, "warning"), (365, 6.9, "critical"), (365, -0.1, "expired"),
    (90, 19, "ok"), (90, 17.9, "warning"), (90, 4.4, "critical"),
    (6, 1.3, "ok"), (6, 1.1, "warning"), (6, 0.29, "critical"),
])
def test_urgency_is_relative_to_lifetime(lifetime_days, left_days, expected):
    start = utcnow() - datetime.timedelta(days=lifetime_days - left_days)
    cert = info(issue("x", not_before=start, not_after=start + datetime.timedelta(days=lifetime_days)))
    assert urgency(cert, utcnow().timestamp(), Thresholds()) == expected
    assert 0 < cert.lifetime_fraction_left(utcnow().timestamp()) < 1 or expected == "expired"


def test_not_yet_valid():
    start = utcnow() + datetime.timedelta(days=1)
    cert = info(issue("future", not_before=start, days=10))
    assert urgency(cert, utcnow().timestamp()) == "not_yet_valid"
