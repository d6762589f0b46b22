"""``CertRecord``'s own ``__init__`` (each slot by its setter) makes what the generated frozen one made."""

from __future__ import annotations

import dataclasses

import pytest

from tests.support.kubeadm_pki import issue
from watchtower.collectors.certsources.base import CertRecord
from watchtower.pki import parse_certificates


@dataclasses.dataclass(frozen=True, slots=True)
class _Generated:
    """The same fields through the dataclass's own ``__init__``."""

    source: str
    location: str
    name: str
    cert: object


def test_a_record_is_what_the_generated_init_makes() -> None:
    cert = parse_certificates(issue("record.example.test").cert_pem).certificates[0]
    fields = [field.name for field in dataclasses.fields(CertRecord)]
    assert fields == [field.name for field in dataclasses.fields(_Generated)]
    for record in (CertRecord("files", "/etc/a.crt", "a", cert),
                   CertRecord(source="files", location="/etc/a.crt", name="a", cert=cert)):
        generated = _Generated("files", "/etc/a.crt", "a", cert)
        assert [getattr(record, name) for name in fields] == [getattr(generated, name) for name in fields]
        assert record == CertRecord("files", "/etc/a.crt", "a", cert)
        assert hash(record) == hash(CertRecord("files", "/etc/a.crt", "a", cert))
        assert repr(record).removeprefix("CertRecord") == repr(generated).removeprefix("_Generated")
        assert dataclasses.replace(record, name="b").name == "b"
        with pytest.raises(dataclasses.FrozenInstanceError):
            record.name = "c"  # type: ignore[misc]
