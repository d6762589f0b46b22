"""``single_plain_der`` (the fused cold read's PEM step) equals the general path's two steps on
real files and on mutations around the markers, newlines and base64 body."""

from __future__ import annotations

import random

from bench import certdata
from watchtower.pki.parse import _pem_der, _single_certificate_block, single_plain_der


def _general(data: bytes) -> bytes | None:
    block = _single_certificate_block(data)
    return None if block is None else _pem_der(block)


def _cases() -> list[bytes]:
    pems = [p.read_bytes() for p in certdata.files(certdata.distinct_tree(40))[:12]]
    rnd = random.Random(1402)
    cases = list(pems)
    for pem in pems:
        cases += [pem.replace(b"\n", b"\r\n"), pem.replace(b"\n", b"", 1), b"junk\n" + pem + b"trailer",
                  pem + pem, pem.replace(b"-----END", b"-----BEGIN", 1), pem[: len(pem) // 2], pem.rstrip(b"\n"),
                  pem.replace(b"CERTIFICATE-----\n", b"CERTIFICATE-----   \n", 1), b"\n" + pem]
        for _ in range(150):
            data = bytearray(pem)
            at = rnd.choice([rnd.randrange(len(data)), rnd.randrange(0, 40), rnd.randrange(len(data) - 40, len(data))])
            op = rnd.randrange(3)
            if op == 0:
                data[at] = rnd.choice(b"\n\r-= AB/+\x00" + bytes([rnd.randrange(256)]))
            elif op == 1:
                del data[at]
            else:
                data.insert(at, rnd.choice(b"\n\r-= A"))
            cases.append(bytes(data))
    return cases


def test_single_plain_der_equals_block_then_der() -> None:
    cases = _cases()
    answered = 0
    for data in cases:
        assert single_plain_der(data) == _general(data), data
        answered += single_plain_der(data) is not None
    assert 100 < answered < len(cases)  # both outcomes are exercised
