"""The chunked exposition writer against prometheus_client's own encoders: the same bytes, every format.

Random families (seeded, so a failure reproduces) of every metric type, with label values that need
escaping, names with colons and non-legacy characters, timestamps, exemplars, NaN/Inf and values
Go writes with an exponent, rendered through every ``Accept`` header that prometheus_client's
``choose_encoder`` tells apart. The expected bytes are prometheus_client's, computed in the test.
"""

from __future__ import annotations

import dataclasses
import math
import random

import pytest
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Summary
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeHistogramMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    InfoMetricFamily,
    Metric,
    StateSetMetricFamily,
    SummaryMetricFamily,
    UnknownMetricFamily,
)
from prometheus_client.exposition import choose_encoder
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_openmetrics
from prometheus_client.parser import text_string_to_metric_families as parse_text
from prometheus_client.samples import Exemplar, Sample, Timestamp

from watchtower.app import exposition

ACCEPTS = [
    None,
    "",
    "text/plain",
    "text/plain;version=0.0.4",
    "text/plain;version=1.0.0;escaping=allow-utf-8",
    "text/plain;version=1.0.0;escaping=underscores",
    "text/plain;version=1.0.0;escaping=dots",
    "text/plain;version=1.0.0;escaping=values",
    "application/openmetrics-text",
    "application/openmetrics-text;version=1.0.0",
    "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8",
    "application/openmetrics-text;version=1.0.0;escaping=dots",
    "application/openmetrics-text;version=1.0.0;escaping=values",
    "application/openmetrics-text;version=2.0.0;escaping=underscores",
    # Prometheus 3's default scrape header
    ("application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,application/openmetrics-text;"
     "version=0.0.1;q=0.5,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2"),
    "application/json",
]
VALUES = [0.0, -0.0, 1.0, -1.5, 1e6, 1234567.0, 12345678.9, 1e22, 1.7e9, 1.5e-7, 3, 0, True, math.inf,
          -math.inf, math.nan, 2**53 + 1, 0.1, -123456789.0, 1e300]
LABEL_VALUES = ["", "plain", 'quote"d', "back\\slash", "new\nline", "ünïcødé ✓", "/etc/kubernetes/pki/ca.crt",
                "a,b=c}", "\\n literally", "tab\tand\rcr"]
METRIC_NAMES = ["wt_x", "wt_x:rate", "_under", "WT_Mixed9"]
LABEL_NAMES = ["path", "le_x", "Source", "_private", "__reserved", "a9"]
UTF8_NAMES = ["wt.dotted", "wt-dash", "wt ünï"]


def _labels(rng: random.Random, names: list[str]) -> dict[str, str]:
    return {n: rng.choice(LABEL_VALUES) for n in rng.sample(names, rng.randint(0, min(3, len(names))))}


def _family(rng: random.Random, i: int, utf8: bool) -> Metric:
    base = rng.choice(UTF8_NAMES if utf8 else METRIC_NAMES) + f"_{i}"
    doc = rng.choice(["Plain help.", 'Help with "quotes", \\ and\nnewline.', "", "ünï help"])
    label_names = rng.sample(LABEL_NAMES + (["dotted.label"] if utf8 else []), 2)
    kind = rng.randrange(9)
    if kind == 0:
        family: Metric = GaugeMetricFamily(base, doc, labels=label_names, unit=rng.choice(["", "seconds"]))
        for _ in range(rng.randint(0, 6)):
            family.add_metric([rng.choice(LABEL_VALUES) for _ in label_names], rng.choice(VALUES),
                              timestamp=rng.choice([None, 1.7e9, 1.5, Timestamp(1700000000, 5)]))
    elif kind == 1:
        family = CounterMetricFamily(base, doc, labels=label_names)
        for _ in range(rng.randint(0, 4)):
            family.add_metric([rng.choice(LABEL_VALUES) for _ in label_names], abs(rng.choice(VALUES[:10])),
                              created=rng.choice([None, 1.6e9]))
    elif kind == 2:
        family = SummaryMetricFamily(base, doc, labels=label_names)
        for _ in range(rng.randint(0, 3)):
            family.add_metric([rng.choice(LABEL_VALUES) for _ in label_names], rng.randint(0, 9), 2.5)
    elif kind == 3:
        family = HistogramMetricFamily(base, doc, labels=label_names)
        family.add_metric([rng.choice(LABEL_VALUES) for _ in label_names],
                          [("0.5", 1.0), ("1", 2.0), ("+Inf", 3.0)], 4.5)
    elif kind == 4:
        family = GaugeHistogramMetricFamily(base, doc, labels=label_names)
        family.add_metric([rng.choice(LABEL_VALUES) for _ in label_names], [("1.0", 2.0), ("+Inf", 3.0)], 7.0)
    elif kind == 5:
        family = InfoMetricFamily(base, doc, labels=label_names)
        family.add_metric([rng.choice(LABEL_VALUES) for _ in label_names], {"version": rng.choice(LABEL_VALUES)})
    elif kind == 6:
        family = StateSetMetricFamily(base, doc, labels=label_names)
        family.add_metric([rng.choice(LABEL_VALUES) for _ in label_names], {"on": True, "off": False})
    elif kind == 7:
        family = UnknownMetricFamily(base, doc, labels=label_names)
        family.add_metric([rng.choice(LABEL_VALUES) for _ in label_names], rng.choice(VALUES))
    else:  # hand-made samples: exemplars, odd names, label dicts in any order
        family = Metric(base, doc, "counter")
        for _ in range(rng.randint(1, 4)):
            exemplar = Exemplar({"trace_id": "abc"}, 1.0) if rng.random() < 0.3 else None
            family.samples.append(Sample(base + "_total", _labels(rng, LABEL_NAMES), rng.randint(0, 9),
                                         None, exemplar))
    return family


def _both(families: list[Metric], accept: str | None, size: int = exposition.CHUNK_CHARS) -> tuple[bytes, bytes]:
    registry = CollectorRegistry(auto_describe=False)

    class Fixed:
        def collect(self) -> list[Metric]:
            return families

    registry.register(Fixed())  # type: ignore[arg-type]
    encoder, content_type = choose_encoder(accept or "")
    fmt = exposition.negotiate(accept)
    assert fmt.content_type == content_type
    ours = list(exposition.chunks(families, fmt, size=size))
    assert all(ours), "no empty chunks"
    try:
        theirs = encoder(registry)
    except Exception as exc:  # noqa: BLE001 - then ours must fail the same way
        return repr(exc).encode(), b"".join(ours)
    return theirs, b"".join(ours)


@pytest.mark.parametrize("accept", ACCEPTS)
@pytest.mark.parametrize("seed", range(12))
def test_same_bytes_as_prometheus_client(accept: str | None, seed: int) -> None:
    rng = random.Random(seed)
    families = [_family(rng, i, utf8=seed % 3 == 0) for i in range(rng.randint(1, 25))]
    theirs, ours = _both(families, accept, size=rng.choice([1, 64, 4096, exposition.CHUNK_CHARS]))
    assert ours == theirs


@pytest.mark.parametrize("accept", ACCEPTS)
def test_real_client_registry(accept: str | None) -> None:
    """Gauges, counters (with _created), histograms and summaries as an application registers them."""
    registry = CollectorRegistry()
    gauge = Gauge("wt_gauge", "A gauge.", ["path"], registry=registry)
    gauge.labels('a"b').set(1.5)
    gauge.labels("c\nd").set(-2)
    Counter("wt_requests", "Requests.", registry=registry).inc(3)
    Histogram("wt_seconds", "Latency.", registry=registry).observe(0.3)
    Summary("wt_size", "Size.", registry=registry).observe(12)
    families = list(registry.collect())
    theirs, ours = _both(families, accept, size=50)
    assert ours == theirs


def test_a_family_handed_over_part_way_continues_where_it_stopped() -> None:
    """An exemplar on the 500th sample: the first 499 are written here and already sent in chunks."""
    family = Metric("wt_many", "Many.", "counter")
    for i in range(600):
        family.samples.append(Sample("wt_many_total", {"i": str(i)}, i, None,
                                     Exemplar({"t": "x"}, 1.0) if i == 500 else None))
    for accept in ("application/openmetrics-text", None):
        theirs, ours = _both([family], accept, size=100)
        assert ours == theirs


def test_what_prometheus_client_refuses_is_refused() -> None:
    family = Metric("wt_bad", "Bad.", "gauge")
    family.samples.append(Sample("wt_bad", {"k": 5}, 1.0))  # type: ignore[dict-item]
    with pytest.raises(AttributeError):
        list(exposition.chunks([family], exposition.negotiate(None)))


def test_parsers_read_it_back() -> None:
    registry = CollectorRegistry()
    gauge = Gauge("wt_gauge", 'Help "quoted" \\ and\nnewline.', ["path", "reason"], registry=registry)
    for i, value in enumerate(LABEL_VALUES):
        gauge.labels(value, str(i)).set(VALUES[i])
    Counter("wt_requests", "Requests.", ["code"], registry=registry).labels("200").inc(3)
    Histogram("wt_seconds", "Latency.", registry=registry).observe(0.3)
    Summary("wt_size", "Size.", registry=registry).observe(12)
    families = list(registry.collect())
    text = exposition.render(families, exposition.negotiate(None)).decode()
    parsed = {f.name: f for f in parse_text(text)}
    assert {s.labels["path"] for s in parsed["wt_gauge"].samples} == set(LABEL_VALUES)
    om = exposition.render(families, exposition.negotiate("application/openmetrics-text")).decode()
    assert om.endswith("# EOF\n")
    assert {f.name for f in parse_openmetrics(om)} == {"wt_gauge", "wt_requests", "wt_seconds", "wt_size"}


def test_eof_left_out_on_request() -> None:
    family = GaugeMetricFamily("wt_g", "G.", value=1)
    fmt = exposition.negotiate("application/openmetrics-text")
    body = b"".join(exposition.chunks([family], fmt, eof=False))
    assert body == b"# HELP wt_g G.\n# TYPE wt_g gauge\nwt_g 1.0\n"
    plain = exposition.negotiate("application/json")
    assert plain.lean and not plain.openmetrics  # falls back to the text format


def test_chunks_are_bounded() -> None:
    family = GaugeMetricFamily("wt_g", "G.", labels=["i"])
    for i in range(5000):
        family.add_metric([f"{i:08d}"], float(i))
    pieces = list(exposition.chunks([family], exposition.negotiate(None), size=10_000))
    assert len(pieces) > 10
    assert max(map(len, pieces)) < 10_000 + 200  # at most one line over


@pytest.mark.parametrize("accept", ACCEPTS)
def test_ordinary_families_are_written_here(accept: str | None) -> None:
    """The comparison above would pass trivially if everything went to prometheus_client."""
    rng = random.Random(7)
    families = [f for f in (_family(rng, i, utf8=False) for i in range(60))
                if not any(s.exemplar for s in f.samples)]

    def refuse(_registry: object) -> bytes:
        raise AssertionError("handed to prometheus_client")

    fmt = dataclasses.replace(exposition.negotiate(accept), encoder=refuse)
    assert fmt.lean
    assert b"".join(exposition.chunks(families, fmt)) == _both(families, accept)[0]
