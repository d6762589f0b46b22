#!/usr/bin/env python3
"""Copy the repository's alert rules and dashboards into the Helm chart's files/ directory.

Helm's ``.Files`` can only read inside the chart, but alerts/ and dashboards/ are the single
source of truth. This script mirrors them (adding, updating and deleting copies), and renders
the Grafana file-provisioning alerting YAML as `watchtower render` does (default settings: folder
"watchtower", datasource uid "prometheus", no contact points) into files/grafana-alerting/.
tests/integration/test_helm_chart.py and tests/integration/grafana/test_render.py fail whenever a
copy differs, so CI catches a forgotten run. Usage: ``python3 scripts/sync-helm-files.py`` from anywhere in the repository.
"""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CHART_FILES = ROOT / "helm" / "watchtower" / "files"

# (source directory, glob, destination directory under the chart's files/)
MIRRORS = (
    (ROOT / "alerts", "*.rules.yaml", CHART_FILES / "alerts"),
    (ROOT / "dashboards", "*.json", CHART_FILES / "dashboards"),
    (ROOT / "alerts", "alertmanager.yaml", CHART_FILES / "alertmanager"),
)


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
    return changes


GRAFANA_ALERTING = CHART_FILES / "grafana-alerting" / "watchtower.yaml"


def sync_grafana_alerting() -> list[str]:
    """files/grafana-alerting/watchtower.yaml: `watchtower render`'s alerting YAML (default settings)."""
    sys.path.insert(0, str(ROOT))
    from watchtower.provisioning import desired, render
    from watchtower.provisioning.settings import GrafanaSettings

    text = render.alerting_yaml(desired.load(GrafanaSettings()))
    GRAFANA_ALERTING.parent.mkdir(parents=True, exist_ok=True)
    if GRAFANA_ALERTING.is_file() and GRAFANA_ALERTING.read_text() == text:
        return []
    GRAFANA_ALERTING.write_text(text)
    return [f"updated {GRAFANA_ALERTING.relative_to(ROOT)}"]


COLLECTOR_ROLES = CHART_FILES / "collectors.yaml"


def collector_roles_yaml(registry: Mapping[str, Any] | None = None) -> str:
    """files/collectors.yaml: each registered collector's roles and title, for the chart's presets."""
    if registry is None:
        sys.path.insert(0, str(ROOT))
        from watchtower.app.registry import REGISTRY as registry  # the script runs from a bare checkout
    lines = ["# Generated from watchtower.app.registry by scripts/sync-helm-files.py; do not edit.",
             "# The role presets (templates/_helpers.tpl) switch each collector off in the roles it",
             "# does not list, so `enabled: auto` never runs it in both the Deployment and the DaemonSet.",
             "collectors:"]
    for name, cls in registry.items():
        roles = ", ".join(sorted(cls.roles))
        lines.append(f"  {name}: {{roles: [{roles}], title: {json.dumps(cls.title)}}}")
    return "\n".join(lines) + "\n"


def sync_collector_roles() -> list[str]:
    text = collector_roles_yaml()
    if COLLECTOR_ROLES.is_file() and COLLECTOR_ROLES.read_text() == text:
        return []
    COLLECTOR_ROLES.write_text(text)
    return [f"updated {COLLECTOR_ROLES.relative_to(ROOT)}"]


if __name__ == "__main__":
    for line in sync() + sync_grafana_alerting() + sync_collector_roles():
        print(line)
    sys.exit(0)
