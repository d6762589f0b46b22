"""HAProxy stats CSV with 1,000 servers: watchtower's parse + metric build vs a plain csv.DictReader.

The document is built from a real HAProxy 2.6 ``show stat`` capture (the unit-test fixture),
its backend replicated into 100 backends of 10 servers. Baseline: ``csv.DictReader`` over the
same text, the least anyone does to read it, measured in the same run. The second line is the
whole per-collection cost (parse + every metric family, about 33 samples per server because
status and check_status are one series per state) against the same baseline.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from bench.harness import Line, median_seconds
from watchtower.collectors.haproxy.export import build_metrics
from watchtower.collectors.haproxy.parse import parse_stats_csv

FIXTURE = Path(__file__).resolve().parents[1] / "tests" / "unit" / "collectors" / "data" / "haproxy" / "show_stat_states.csv"
BACKENDS, SERVERS = 100, 10


def big_stats_csv() -> str:
    lines = [line for line in FIXTURE.read_text().splitlines() if line]
    header = lines[0]
    server_rows = [line for line in lines if line.startswith("apiservers,") and ",BACKEND," not in line]
    backend_row = next(line for line in lines if line.startswith("apiservers,BACKEND,"))
    out = [header]
    for b in range(BACKENDS):
        for s in range(SERVERS):
            template = server_rows[s % len(server_rows)].split(",", 2)
            out.append(f"be{b:03d},srv{s:02d},{template[2]}")
        out.append(f"be{b:03d},{backend_row.split(',', 1)[1]}")
    return "\n".join(out) + "\n"


def baseline_read(text: str) -> list[dict[str, str]]:
    body = io.StringIO(text[2:])  # drop "# "
    return list(csv.DictReader(body))


def run() -> list[Line]:
    text = big_stats_csv()
    assert len(parse_stats_csv(text).servers()) == BACKENDS * SERVERS
    baseline = median_seconds(lambda: baseline_read(text), repeat=7)
    parse = median_seconds(lambda: parse_stats_csv(text), repeat=7)
    full = median_seconds(lambda: build_metrics(parse_stats_csv(text), 1.7e9), repeat=7)
    return [
        Line("haproxy_csv_parse_1k_servers", parse * 1000, "ms", baseline * 1000, "ms (csv.DictReader)", "<= 3"),
        Line("haproxy_csv_parse_and_metrics_1k_servers", full * 1000, "ms", baseline * 1000, "ms (csv.DictReader)",
             "<= 10"),
    ]
