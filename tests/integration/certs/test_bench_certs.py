"""The certs benchmarks run and print their lines (scaled down; `python -m bench` runs them full size)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.integration.test_bench import LINE
from tests.support.certs import REPO


@pytest.mark.slow
def test_certs_benchmarks_print_their_lines() -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO), "WATCHTOWER_BENCH_CERTS_SCALE": "0.05"}
    done = subprocess.run([sys.executable, "-m", "bench", "certs_scan", "certs_secrets"], capture_output=True,
                          text=True, timeout=280, cwd=REPO, env=env)
    lines = done.stdout.strip().splitlines()
    assert done.stderr == "" or "Traceback" not in done.stderr, done.stderr
    names = [line.split(":", 1)[0] for line in lines]
    assert names == ["certs_scan_11k_vs_load_pem", "certs_scan_11k_warm_vs_load_pem", "certs_parse_11k_vs_load_pem",
                     "certs_scan_11k_vs_openssl_per_file",
                     "certs_secrets_20k_peak_rss_growth", "certs_secrets_rss_growth_2k_to_20k",
                     "certs_secrets_20k_collect_time"]
    for line in lines:
        assert LINE.match(line), line


@pytest.mark.slow
def test_cold_scan_and_endpoint_benchmarks_print_their_lines() -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO), "WATCHTOWER_BENCH_CERTS_SCALE": "0.02"}
    done = subprocess.run([sys.executable, "-m", "bench", "certs_cold", "endpoint_probe"], capture_output=True,
                          text=True, timeout=280, cwd=REPO, env=env)
    lines = done.stdout.strip().splitlines()
    assert "Traceback" not in done.stderr, done.stderr
    names = [line.split(":", 1)[0] for line in lines]
    assert names == ["certs_cold_scan_200_vs_fields", "certs_cold_scan_200_vs_plain_load",
                     "certs_warm_scan_200_vs_fields", "certs_kept_bytes_per_cert_200", "certs_json_200_compact_vs_indented",
                     "certs_daemon_peak_rss_1k",
                     "endpoint_probe_ca_file_vs_plain_ssl", "endpoint_probe_system_store_vs_plain_ssl"]
    for line in lines:
        assert LINE.match(line), line
