#!/usr/bin/env python3
"""Copy the repository's alert rules and dashboards into the Helm chart's files/ directory.

Helm's ``.Files`` can only read inside the chart, but alerts/ and dashboards/ are the single
source of truth. This script mirrors them (adding, updating and deleting copies), and renders
the Grafana file-provisioning alerting YAML with `watchtower render` (default settings: folder
"watchtower", datasource uid "prometheus", no contact points) into files/grafana-alerting/.
tests/integration/test_helm_chart.py fails whenever a copy differs, so CI catches a forgotten
run. Usage: ``python3 scripts/sync-helm-files.py`` from anywhere in the repository.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHART_FILES = ROOT / "helm" / "watchtower" / "files"

# (source directory, glob, destination directory under the chart's files/)
MIRRORS = (
    (ROOT / "alerts", "*.rules.yaml", CHART_FILES / "alerts"),
    (ROOT / "dashboards", "*.json", CHART_FILES / "dashboards"),
)


RENDERED_ALERTING = CHART_FILES / "grafana-alerting" / "watchtower.yaml"


def render_grafana_alerting() -> bytes:
    """`watchtower render` with built-in defaults; the alerting YAML it writes."""
    with tempfile.TemporaryDirectory() as tmp:
        empty = Path(tmp) / "config.yaml"
        empty.write_text("")
        out = Path(tmp) / "out"
        subprocess.run([sys.executable, "-m", "watchtower", "render", "--config", str(empty), "--out", str(out)],
                       check=True, cwd=ROOT, capture_output=True, timeout=120)
        return (out / "grafana" / "provisioning" / "alerting" / "watchtower.yaml").read_bytes()


def sync() -> list[str]:
    """Mirror every source file into the chart; returns what changed, for the log."""
    changes: list[str] = []
    for source_dir, pattern, dest_dir in MIRRORS:
        dest_dir.mkdir(parents=True, exist_ok=True)
        wanted = {p.name: p for p in sorted(source_dir.glob(pattern))}
        for name, source in wanted.items():
            target = dest_dir / name
            if not target.is_file() or target.read_bytes() != source.read_bytes():
                shutil.copyfile(source, target)
                changes.append(f"updated {target.relative_to(ROOT)}")
        for stale in sorted(dest_dir.glob(pattern)):
            if stale.name not in wanted:
                stale.unlink()
                changes.append(f"removed {stale.relative_to(ROOT)}")
    alerting = render_grafana_alerting()
    if not RENDERED_ALERTING.is_file() or RENDERED_ALERTING.read_bytes() != alerting:
        RENDERED_ALERTING.parent.mkdir(parents=True, exist_ok=True)
        RENDERED_ALERTING.write_bytes(alerting)
        changes.append(f"updated {RENDERED_ALERTING.relative_to(ROOT)}")
    return changes


if __name__ == "__main__":
    for line in sync():
        print(line)
    sys.exit(0)
