"""The /metrics text in chunks of encoded bytes: prometheus_client's formats, byte for byte.

prometheus_client's ``generate_latest`` makes one str per sample, joins them into one str and
encodes that: for the 200k samples of 50k certificates (about 50 MB of text) that is three copies
of the body alive at once. This writes the same bytes a chunk (``CHUNK_CHARS``) at a time, so the
caller can compress or keep them as they come. Names are escaped by prometheus_client's own
functions (once per distinct name). A family holding anything this does not write itself
(exemplars, native histograms, a sample name that allow-utf-8 escaping quotes, a value of None,
any error) is written by prometheus_client's own function for that family alone, so the output is
the same in every case; a format it does not know (a future one) is written whole by
prometheus_client. tests/unit/app/test_exposition.py compares the two over many families.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from prometheus_client import exposition as text_format
from prometheus_client.core import Metric
from prometheus_client.openmetrics import exposition as om_format
from prometheus_client.utils import floatToGoString
from prometheus_client.validation import _is_valid_legacy_metric_name

CHUNK_CHARS = 256 * 1024  # characters per chunk: big enough for few chunks, small next to a body of MBs
_EOF = "# EOF\n"
_TEXT_TYPES = {"counter": "counter", "info": "gauge", "stateset": "gauge", "gaugehistogram": "histogram",
               "unknown": "untyped"}
_TEXT_SUFFIXES = {"counter": "_total", "info": "_info"}
_OM_ONLY = ("_created", "_gsum", "_gcount")  # the text format moves these samples into gauges of their own
_INF, _MINUS_INF = math.inf, -math.inf


class _Unusual(Exception):
    """A family this module leaves to prometheus_client."""


@dataclasses.dataclass(frozen=True)
class Format:
    """What one ``Accept`` header negotiates (prometheus_client's ``choose_encoder`` decides)."""

    content_type: str
    encoder: Callable[[Any], bytes]  # prometheus_client's own function for this format
    openmetrics: bool
    escaping: str
    lean: bool  # written here; False: a format this module does not know, left to ``encoder`` whole


@functools.lru_cache(maxsize=64)  # a scraper sends the same header every time; bounded, clients choose it
def negotiate(accept: str | None) -> Format:
    encoder, content_type = text_format.choose_encoder(accept or "")
    func, keywords = (encoder.func, encoder.keywords) if isinstance(encoder, functools.partial) else (encoder, {})
    openmetrics = func is om_format.generate_latest
    lean = (openmetrics or func is text_format.generate_latest) and set(keywords) <= {"escaping", "version"}
    return Format(content_type, encoder, openmetrics, keywords.get("escaping", om_format.UNDERSCORES), lean)


class _Families:
    """A collector over families already made (prometheus_client's encoders take a registry)."""

    def __init__(self, families: Iterable[Metric]) -> None:
        self._families = families

    def collect(self) -> Iterable[Metric]:
        return self._families


class _Names(dict[str, str]):
    """Escaped names, computed by prometheus_client once per distinct name."""

    def __init__(self, escape: Callable[[str], str]) -> None:
        super().__init__()
        self._escape = escape

    def __missing__(self, name: str) -> str:
        escaped = self[name] = self._escape(name)
        return escaped


def _value(value: Any) -> str:
    """``floatToGoString``, with its common case (a finite float below 1e6 or negative) inline."""
    if value.__class__ is float and _MINUS_INF < value < _INF:  # finite: NaN compares false
        text = repr(value)
        if value <= 0 or text.find(".") <= 6:
            return text
    return str(floatToGoString(value))


class _Writer:
    """One format's family writer; keeps the escaped-name caches for one rendering."""

    def __init__(self, fmt: Format) -> None:
        self.fmt = fmt
        escaping = fmt.escaping
        self.utf8 = escaping == om_format.ALLOWUTF8
        self.metric_names = _Names(lambda n: om_format.escape_metric_name(n, escaping))
        self.label_names = _Names(lambda n: om_format.escape_label_name(n, escaping) + '="')
        if fmt.openmetrics:  # OpenMetrics escapes a sample's name with label-name runes (no ':')
            self.sample_names = _Names(lambda n: om_format._escape(n, escaping, om_format._is_legacy_labelname_rune))
        else:
            self.sample_names = self.metric_names

    def _labels(self, labels: Any) -> str:
        names = self.label_names
        return ",".join([names[k] + v.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"") + '"'
                         for k, v in sorted(labels.items())])

    def _sample(self, sample: Any) -> str:
        name, labels, value, timestamp, exemplar, native = sample
        if exemplar or native is not None or value is None:
            raise _Unusual
        if self.utf8 and not _is_valid_legacy_metric_name(name):
            raise _Unusual
        head = self.sample_names[name]
        if labels:
            head = f"{head}{{{self._labels(labels)}}}"
        if timestamp is None:
            return f"{head} {_value(value)}\n"
        if self.fmt.openmetrics:
            return f"{head} {_value(value)} {timestamp}\n"
        return f"{head} {_value(value)} {int(float(timestamp) * 1000):d}\n"

    def lines(self, metric: Metric) -> Iterator[str]:
        """The family's text, in the order prometheus_client writes it; raises ``_Unusual``."""
        return self._om_lines(metric) if self.fmt.openmetrics else self._text_lines(metric)

    def _om_lines(self, metric: Metric) -> Iterator[str]:
        name = self.metric_names[metric.name]
        doc = metric.documentation.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")
        yield f"# HELP {name} {doc}\n# TYPE {name} {metric.type}\n"
        if metric.unit:
            yield f"# UNIT {name} {metric.unit}\n"
        yield from map(self._sample, metric.samples)

    def _text_lines(self, metric: Metric) -> Iterator[str]:
        mtype = metric.type
        name = self.metric_names[metric.name + _TEXT_SUFFIXES.get(mtype, "")]
        doc = metric.documentation.replace("\\", r"\\").replace("\n", r"\n")
        yield f"# HELP {name} {doc}\n# TYPE {name} {_TEXT_TYPES.get(mtype, mtype)}\n"
        special = {metric.name + suffix: suffix for suffix in _OM_ONLY}
        moved: dict[str, list[str]] = {}
        sample = self._sample
        for s in metric.samples:
            suffix = special.get(s[0])
            if suffix is None:
                yield sample(s)
            else:
                moved.setdefault(suffix, []).append(sample(s))
        for suffix, lines in sorted(moved.items()):
            extra = self.metric_names[metric.name + suffix]
            yield f"# HELP {extra} {doc}\n# TYPE {extra} gauge\n"
            yield from lines


def chunks(families: Iterable[Metric], fmt: Format, eof: bool = True, size: int = CHUNK_CHARS) -> Iterator[bytes]:
    """The exposition of ``families`` as ``fmt.encoder`` writes it, in chunks of about ``size`` characters.

    ``eof=False`` leaves out OpenMetrics' closing ``# EOF`` (the caller appends more families).
    A family handed to prometheus_client part way through continues from the character this
    writer stopped at: what was written so far is the start of that same text.
    """
    if not fmt.lean:
        body = fmt.encoder(_Families(families))
        yield body.removesuffix(_EOF.encode()) if fmt.openmetrics and not eof else body
        return
    writer: _Writer | None = None
    out: list[str] = []
    length = 0  # characters in ``out``
    for metric in families:
        done = 0  # characters of this family written
        writer = writer or _Writer(fmt)
        try:
            for line in writer.lines(metric):
                out.append(line)
                done += len(line)
                length += len(line)
                if length >= size:
                    yield "".join(out).encode("utf-8")
                    out.clear()
                    length = 0
        except Exception:  # noqa: BLE001 - prometheus_client's own function decides (and raises its own error)
            text = fmt.encoder(_Families((metric,))).decode("utf-8")
            rest = (text.removesuffix(_EOF) if fmt.openmetrics else text)[done:]
            out.append(rest)
            length += len(rest)
    if fmt.openmetrics and eof:
        out.append(_EOF)
    if out:
        yield "".join(out).encode("utf-8")


def render(families: Iterable[Metric], fmt: Format) -> bytes:
    """The whole body at once (small expositions: the server's own counters, tests)."""
    return b"".join(chunks(families, fmt))


__all__ = ["CHUNK_CHARS", "Format", "chunks", "negotiate", "render"]
