"""Cold scans of 10,000 distinct certificates and their CAs, memory kept per certificate, 50k in the daemon.

Data (``bench.certdata``, generated once and cached under the temporary directory): 10,000
distinct leaf certificates, half RSA-2048 and half EC P-256, with realistic subjects, SANs, EKUs
and key usage, plus the two roots and four intermediates that signed them, in one directory tree,
so every leaf's chain is checked. The garbage collector is on, as in production. Times are CPU
seconds of this process (``time.process_time``): both sides are single-threaded and CPU-bound with
the page cache warm, and on a shared machine wall time would mostly measure the neighbours. The
time lines are medians of ``ROUNDS`` interleaved rounds (baselines and scans alternate).

- ``certs_cold_scan_10k_vs_fields``: the first ``collect()`` of a fresh ``CertsCollector`` over the
  tree (walk, read, parse, chain checks with a signature verified per certificate, urgency,
  metric families, report rows) vs the field-reading loop: read each file,
  ``load_pem_x509_certificate``, and read what watchtower reports through cryptography
  (not_before, not_after, subject and issuer as RFC 4514 text, serial, SANs, basic constraints).
  Target ratio <= 1.3.
- ``certs_cold_scan_10k_vs_plain_load``: the same cold scan vs read + ``load_pem_x509_certificate``
  + ``not_valid_after_utc`` alone. Context only (no target): a lazy load reads almost nothing.
- ``certs_warm_scan_10k_vs_fields``: a second ``collect()`` of the same collector (files unchanged:
  the daemon's steady state) vs the field-reading loop. Target <= 1.3.
- ``certs_kept_bytes_per_cert_10k``: Python heap (tracemalloc) held after the second run by the
  collector and its last result, per certificate; baseline: the average PEM file size. Target
  <= 3072 bytes.
- ``certs_json_10k_compact_vs_indented``: writing the ``check certs --output json`` document of the
  10k scan as ``check certs`` now does by default (compact, json's C encoder) vs ``json.dump(indent=2)``
  (its old output, now ``--pretty``) into a discarding stream. Target ratio <= 0.5.
- ``certs_daemon_peak_rss_50k``: peak RSS (VmHWM) of a real ``watchtower run`` whose certs
  collector has scanned 50,000 distinct certificate files twice (30 s apart); baseline: the same
  daemon after one run over an empty directory. Target <= 250 MB.
"""

from __future__ import annotations

import gc
import json
import os
import statistics
import tempfile
import time
import tracemalloc
from pathlib import Path

from cryptography import x509

from bench import certdata, daemon
from bench.harness import Line
from watchtower.app.config import Config
from watchtower.collectors.base import CollectorContext
from watchtower.collectors.certs import CertsCollector
from watchtower.collectors.certs.settings import CertsSettings
from watchtower.io.kube import KubeClientFactory

SCALE = float(os.environ.get("WATCHTOWER_BENCH_CERTS_SCALE", "1"))  # < 1 only for the smoke test
LEAVES = max(20, int(10_000 * SCALE))
DAEMON_LEAVES = max(50, int(50_000 * SCALE))
ROUNDS = 5  # interleaved rounds; each time line is their median (3 left the median at the mercy of one busy moment)


def field_loop(paths: list[str]) -> int:
    """The baseline: what watchtower reports, read through cryptography."""
    found = 0
    for path in paths:
        with open(path, "rb") as handle:
            cert = x509.load_pem_x509_certificate(handle.read())
        facts = (cert.not_valid_before_utc, cert.not_valid_after_utc, cert.subject.rfc4514_string(),
                 cert.issuer.rfc4514_string(), cert.serial_number)
        extensions = cert.extensions
        try:
            extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(x509.DNSName)
        except x509.ExtensionNotFound:
            pass
        try:
            found += extensions.get_extension_for_class(x509.BasicConstraints).value.ca
        except x509.ExtensionNotFound:
            pass
        found += len(facts) == 5
    return found


def plain_loop(paths: list[str]) -> int:
    found = 0
    for path in paths:
        with open(path, "rb") as handle:
            found += x509.load_pem_x509_certificate(handle.read()).not_valid_after_utc.year > 0
    return found


def _collector(tree: Path) -> CertsCollector:
    config = Config()
    context = CollectorContext(config=config, kube=KubeClientFactory(config.kubernetes))
    settings = CertsSettings(enabled=True, kubeadm=False, paths=(str(tree),), apiserver_endpoints=())
    return CertsCollector(settings, context)


def _timed(fn: object) -> tuple[float, object]:
    """CPU seconds of this process for one call (see the module docstring)."""
    gc.collect()
    start = time.process_time()
    value = fn()  # type: ignore[operator]
    return time.process_time() - start, value


def _json_seconds(doc: dict[str, object]) -> tuple[float, float]:
    """Medians of ``ROUNDS`` interleaved writes of the document: compact (``check certs`` default) and
    indented (``--pretty``). Interleaved, as the scan lines: three of one side then three of the other
    let a slow first write (the heap still settling after the scan) count against one side only."""
    compact, indented = [], []
    with open(os.devnull, "w") as sink:
        for _ in range(ROUNDS):
            compact.append(_timed(lambda: sink.write(json.dumps(doc, separators=(",", ":"))))[0])
            indented.append(_timed(lambda: json.dump(doc, sink, indent=2))[0])
    return statistics.median(compact), statistics.median(indented)


def _kept_bytes(tree: Path) -> float:
    """Heap held by a collector and its last result after two runs (what the daemon keeps)."""
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        collector = _collector(tree)
        result = collector.collect()
        result = collector.collect()
        gc.collect()
        kept = tracemalloc.get_traced_memory()[0] - before
        del collector, result
    finally:
        tracemalloc.stop()
    return kept


def _daemon_rss(tree: Path, work: Path) -> tuple[float, float]:
    from watchtower.collectors import REGISTRY

    def config(name: str, paths: list[str]) -> Path:
        collectors: dict[str, object] = {n: {"enabled": False} for n in REGISTRY}
        collectors["certs"] = {"enabled": True, "kubeadm": False, "paths": paths, "apiserver_endpoints": [],
                               "interval": "30s", "timeout": "25s"}  # timeout < interval (issue 17)
        return daemon.write_config(work / f"{name}.yaml", {"collectors": collectors, "log": {"level": "warning"}})

    empty = work / "empty"
    empty.mkdir()
    idle = daemon.measure(config("empty", [str(empty)]), collector="certs", runs=1)
    full = daemon.measure(config("full", [str(tree)]), collector="certs", runs=2)
    return full["hwm"], idle["hwm"]


def run() -> list[Line]:
    tree = certdata.distinct_tree(LEAVES)
    paths = [str(p) for p in certdata.files(tree)]
    total = len(paths)
    check = _collector(tree).collect()  # warms the page cache; the scan must be complete and clean
    series = len(check.metrics[0].samples)
    assert series == total and not check.errors, (series, total, check.errors[:3])
    assert field_loop(paths) == total + 6 and plain_loop(paths) == total  # 6 CAs
    compact, indented = _json_seconds(check.details.to_json())
    del check
    fields, plain, cold, warm = [], [], [], []
    for _ in range(ROUNDS):  # interleaved, so a busy moment hits both sides
        fields.append(_timed(lambda: field_loop(paths))[0])
        plain.append(_timed(lambda: plain_loop(paths))[0])
        collector = _collector(tree)
        seconds, result = _timed(collector.collect)
        cold.append(seconds)
        del result
        warm.append(_timed(collector.collect)[0])
        del collector
    base_fields, base_plain = statistics.median(fields), statistics.median(plain)
    kept = _kept_bytes(tree) / total
    pem_size = statistics.fmean(os.path.getsize(p) for p in paths)
    big = certdata.distinct_tree(DAEMON_LEAVES)
    with tempfile.TemporaryDirectory(prefix="wt-bench-certs-cold-") as work:
        peak, idle = _daemon_rss(big, Path(work))
    n = f"{LEAVES // 1000}k" if LEAVES >= 1000 else str(LEAVES)
    big_n = f"{DAEMON_LEAVES // 1000}k" if DAEMON_LEAVES >= 1000 else str(DAEMON_LEAVES)
    return [
        Line(f"certs_cold_scan_{n}_vs_fields", statistics.median(cold), "s", base_fields, "s", "<= 1.3"),
        Line(f"certs_cold_scan_{n}_vs_plain_load", statistics.median(cold), "s", base_plain, "s"),
        Line(f"certs_warm_scan_{n}_vs_fields", statistics.median(warm), "s", base_fields, "s", "<= 1.3"),
        Line(f"certs_kept_bytes_per_cert_{n}", kept, "B", pem_size, "B", "<= 3072", target_on_value=True),
        Line(f"certs_json_{n}_compact_vs_indented", compact, "s", indented, "s", "<= 0.5"),
        Line(f"certs_daemon_peak_rss_{big_n}", peak, "MB", idle, "MB", "<= 250", target_on_value=True),
    ]


if __name__ == "__main__":
    for line in run():
        print(line.render(), flush=True)
    os._exit(0)
