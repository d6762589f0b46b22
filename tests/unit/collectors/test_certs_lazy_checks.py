"""Chain-check records and samples made when read give exactly what making them at once gave.

A run keeps one ``_ChainOutcome`` per judged certificate; its chain_valid / expires_after_issuer
records (``check_list``) and samples (``MadeFamily``) are made as the report and /metrics read
them; so are the not_after / not_before samples of every series. Here they are compared with records made eagerly from the same outcomes and
deduplicated by label values as ``_Accumulator._check`` does, over a tree holding every verdict
(valid, bad signature, issuer not a CA, issuer expired or not yet valid, outliving the issuer),
repeated certificates and bundles whose certificates' chain labels collide; then after a warm run
and after files changed.
"""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.samples import Sample

from tests.support.certs import make_collector
from tests.support.kubeadm_pki import Issued, issue
from watchtower.collectors import certs as certs_package
from watchtower.collectors.certs.accumulate import MadeFamily, _Accumulator, _label_values, _value
from watchtower.collectors.certs.details import _chain_checks, chain_records, chain_rows
from watchtower.collectors.certs.settings import CERT_LABELS
from watchtower.collectors.certsources import CheckRecord
from watchtower.core.results import CollectResult

START = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
NOW = (START + datetime.timedelta(days=30)).timestamp()
DAY = datetime.timedelta(days=1)


def _write(path: Path, *certs: Issued) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"".join(c.cert_pem for c in certs))


@pytest.fixture
def tree(tmp_path: Path) -> tuple[Path, dict[str, Issued]]:
    root = issue("lz-root", is_ca=True, not_before=START, days=3650)
    inter = issue("lz-int", root, is_ca=True, not_before=START, days=1000)
    inter2 = issue("lz-int2", root, is_ca=True, not_before=START, days=1000)
    impostor = issue("lz-int", is_ca=True, not_before=START, days=1000)  # same name, other key
    not_ca = issue("lz-not-ca", root, not_before=START, days=500)
    expired = issue("lz-expired-int", root, is_ca=True, not_before=START - 400 * DAY, not_after=START)
    future = issue("lz-future-int", root, is_ca=True, not_before=START + 60 * DAY, days=900)
    d = tmp_path / "certs"
    for name, cert in {"root.crt": root, "int.crt": inter, "int2.crt": inter2, "not-ca.crt": not_ca,
                       "expired-int.crt": expired, "future-int.crt": future}.items():
        _write(d / name, cert)
    leaf = {"ok": issue("ok.lz", inter, not_before=START, days=100),
            "outlives": issue("outlives.lz", inter, not_before=START, days=2000),
            "bad": issue("bad.lz", impostor, not_before=START, days=100),
            "by-not-ca": issue("by-not-ca.lz", not_ca, not_before=START, days=100),
            "by-expired": issue("by-expired.lz", expired, not_before=START, days=100),
            "by-future": issue("by-future.lz", future, not_before=START, days=100),
            "expiring": issue("expiring.lz", inter, not_before=START - 300 * DAY, not_after=START + 31 * DAY),
            "repeated": issue("repeated.lz", inter, not_before=START, days=100)}
    for name, cert in leaf.items():
        _write(d / f"{name}.crt", cert)
    _write(d / "again" / "repeated.crt", leaf["repeated"])
    _write(d / "repeated-bundle.pem", leaf["repeated"], leaf["repeated"], inter)
    # same CN and serial under other issuers: chain_valid's labels collide (dedup keeps the first),
    # expires_after_issuer's do not; then valid vs bad signature (other reasons), both outliving
    _write(d / "twins.pem", issue("twin.lz", inter, not_before=START, days=100, serial=4242),
           issue("twin.lz", inter2, not_before=START, days=100, serial=4242))
    _write(d / "twins-bad.pem", issue("twin2.lz", inter, not_before=START, days=100, serial=77),
           issue("twin2.lz", impostor, not_before=START, days=100, serial=77))
    _write(d / "twins-outliving.pem", issue("twin3.lz", inter, not_before=START, days=5000, serial=78),
           issue("twin3.lz", inter2, not_before=START, days=5000, serial=78))
    _write(d / "chain.pem", issue("chained.lz", inter, not_before=START, days=100), inter, root)
    return d, {"inter": inter, "inter2": inter2, "impostor": impostor, **leaf}


@pytest.fixture
def made(monkeypatch: pytest.MonkeyPatch) -> list[_Accumulator]:
    """The accumulators of the runs that follow, kept for inspection (newest last)."""
    runs: list[_Accumulator] = []

    class Kept(_Accumulator):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            runs.append(self)

    monkeypatch.setattr(certs_package.accumulate, "_Accumulator", Kept)  # the collector's lazy stand-in
    return runs


def _collector(directory: Path) -> Any:
    return make_collector(now=NOW, kubeadm=False, paths=(str(directory),))


def _eager(acc: _Accumulator) -> list[CheckRecord]:
    """The run's check records as they were made before: every outcome's records at once, the first
    per check and label values kept."""
    seen: set[tuple[str, tuple[str, ...]]] = {(r.check, _label_values(r)) for r in acc.checks}
    records = list(acc.checks)
    for outcome in acc.chains.values():
        for record in outcome.records if outcome.records is not None else _chain_checks(outcome):
            key = (record.check, _label_values(record))
            if key not in seen:
                seen.add(key)
                records.append(record)
    return records


def _assert_lazy_equals_eager(acc: _Accumulator, result: CollectResult) -> None:
    eager = _eager(acc)
    lazy = list(result.details.checks)
    assert lazy == eager
    assert len(result.details.checks) == len(eager) and result.details.checks == tuple(eager)
    families = {m.name: m for m in result.metrics}
    for check in ("chain_valid", "expires_after_issuer"):
        family = families[f"watchtower_cert_{check}"]
        assert isinstance(family, MadeFamily)
        wanted = [Sample(family.name, dict(r.labels), _value(r.ok, check)) for r in eager if r.check == check]
        assert [Sample(s.name, dict(s.labels), s.value) for s in family.samples] == wanted
        assert list(family.samples) == list(family.samples)  # made again the same when read again
    for name, attribute in (("watchtower_cert_not_after_timestamp_seconds", "not_after"),
                            ("watchtower_cert_not_before_timestamp_seconds", "not_before")):
        family = families[name]
        assert isinstance(family, MadeFamily)
        wanted = [Sample(name, dict(zip(CERT_LABELS, key)), getattr(series.cert, attribute))
                  for key, series in acc.series.items()]
        assert [Sample(s.name, dict(s.labels), s.value) for s in family.samples] == wanted
        assert len(family.samples) == len(acc.series) and family.samples[-1] == wanted[-1]
    for outcome in acc.chains.values():  # the rows behind the samples are the records' labels and verdicts
        rows = chain_rows(outcome)
        assert [(r.check, r.labels.values_tuple(), r.ok) for r in chain_records(outcome)] == list(rows)  # type: ignore[attr-defined]


def test_lazy_chain_checks_equal_eager_ones_cold_warm_and_changed(tree, made):
    directory, issued = tree
    collector = _collector(directory)
    cold = collector.collect()
    acc = made[-1]
    reasons = {o.record.cert.subject_cn: o.reason for o in acc.chains.values()}
    assert reasons["ok.lz"] == "" and reasons["bad.lz"] == "bad_signature"
    assert reasons["by-not-ca.lz"] == "issuer_not_ca" and reasons["by-expired.lz"] == "issuer_expired"
    assert reasons["by-future.lz"] == "issuer_not_yet_valid"
    assert acc._partial  # the twins: some of an outcome's checks were dropped as duplicates
    failing = [o for o in acc.chains.values() if o.records is not None]
    assert {o.record.cert.subject_cn for o in failing} >= {"bad.lz", "outlives.lz", "by-not-ca.lz", "twin3.lz"}
    assert all(o.records is None for o in acc.chains.values() if o.record.cert.subject_cn in {"ok.lz", "chained.lz"})
    _assert_lazy_equals_eager(acc, cold)
    cold_text = (list(cold.details.checks), [list(m.samples) for m in cold.metrics])

    warm = collector.collect()
    assert all(made[-1].chains[key] is outcome for key, outcome in acc.chains.items())  # same objects again
    _assert_lazy_equals_eager(made[-1], warm)
    assert warm.metrics == cold.metrics and warm.findings == cold.findings
    assert warm.details.to_json() == cold.details.to_json()

    _write(directory / "ok.crt", issue("ok.lz", issued["impostor"], not_before=START, days=100))  # now bad
    _write(directory / "bad.crt", issue("bad.lz", issued["inter"], not_before=START, days=100))  # now fine
    _write(directory / "twins.pem", issue("twin.lz", issued["inter"], not_before=START, days=100, serial=4242))
    (directory / "again" / "repeated.crt").unlink()
    changed = collector.collect()
    _assert_lazy_equals_eager(made[-1], changed)
    fresh = _collector(directory).collect()
    assert changed.metrics == fresh.metrics and changed.findings == fresh.findings
    assert changed.details.to_json() == fresh.details.to_json()
    # the first run's result still reads the same after later runs (its outcomes are its own)
    assert (list(cold.details.checks), [list(m.samples) for m in cold.metrics]) == cold_text


def test_dedup_of_every_outcome_equals_the_fast_path(tree, made, monkeypatch):
    """A source's own chain_valid record (endpoints yield them) makes every outcome go through dedup
    by label values: the chain records and samples are the same as without it."""
    directory, _ = tree
    plain = _collector(directory).collect()
    kept = certs_package.accumulate._Accumulator

    class WithEndpointCheck(kept):  # type: ignore[misc,valid-type]
        def judge_chains(self) -> None:
            self._check(CheckRecord("chain_valid", {"source": "endpoint", "location": "x:443", "name": "x",
                                                     "subject_cn": "x", "serial": "01", "reason": ""}, True, "x", "ok"))
            super().judge_chains()

    monkeypatch.setattr(certs_package.accumulate, "_Accumulator", WithEndpointCheck)
    deduped = _collector(directory).collect()
    assert "chain_valid" in made[-1]._check_values and made[-1]._partial
    _assert_lazy_equals_eager(made[-1], deduped)
    assert list(deduped.details.checks)[1:] == list(plain.details.checks)
    assert deduped.findings == plain.findings
    chain_valid = {m.name: m for m in deduped.metrics}["watchtower_cert_chain_valid"]
    assert list(chain_valid.samples)[1:] == list({m.name: m for m in plain.metrics}["watchtower_cert_chain_valid"].samples)


def test_a_made_family_refuses_samples_it_would_not_show():
    families = _Accumulator(NOW, make_collector(now=NOW, kubeadm=False).certs_settings.thresholds).metrics()
    for family in families[:2] + families[4:6]:  # the dates and the chain checks
        assert isinstance(family, MadeFamily)
        assert list(family.samples) == [] and len(family.samples) == 0
        with pytest.raises(TypeError):
            family.samples = [Sample(family.name, {}, 1.0)]


def test_series_of_other_sources_make_their_samples_from_their_rows():
    """A Secret's certificate is let go after the run: its samples come from the row's values."""
    from watchtower.collectors.certsources import CertRecord
    from watchtower.pki import parse_certificates

    issued = issue("svc.lz", not_before=START, days=100)
    cert = parse_certificates(issued.cert_pem).certificates[0]
    acc = _Accumulator(NOW, make_collector(now=NOW, kubeadm=False).certs_settings.thresholds)
    acc.add("secret", CertRecord("secret", "ns/tls#tls.crt", "tls", cert))
    acc.add("file", CertRecord("file", "/etc/x.crt", "x.crt", cert))
    not_after, not_before = acc.metrics()[:2]
    assert [(s.labels["source"], s.value) for s in not_after.samples] == [("secret", cert.not_after),
                                                                         ("file", cert.not_after)]
    assert [s.value for s in not_before.samples] == [cert.not_before, cert.not_before]
    assert [row["source"] for row in acc.details().rows()] == ["secret", "file"]


def test_the_report_makes_each_outcome_records_once(tree, made, monkeypatch):
    """``to_json`` reads the checks twice (rows' problems, check rows): they are made once for both."""
    from watchtower.collectors.certs import details as details_module

    result = _collector(tree[0]).collect()
    made_for: list[int] = []
    real = details_module._chain_checks
    monkeypatch.setattr(details_module, "_chain_checks", lambda outcome, *a: made_for.append(1) or real(outcome, *a))
    result.details.to_json()
    acc = made[-1]
    assert len(made_for) == sum(1 for key, o in acc.chains.items() if o.records is None and key not in acc._partial) > 0
