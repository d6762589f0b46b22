"""Adding a collector is one module plus one registry line: a toy collector, registered beside the
real ones, reaches /metrics, `watchtower check`, the status page and the Helm role presets with
no other edit (the daemon, CLI, page and chart all read the registry and the collector's
declared ``name``, ``title``, ``roles`` and ``Settings``)."""

from __future__ import annotations

import dataclasses
import io
import json
import runpy
import shutil
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pytest
import requests
import yaml
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.parser import text_string_to_metric_families

from tests.support import collectors as tc
from tests.support.services import require_module, wait_for
from watchtower.app import cli
from watchtower.app import config as config_mod
from watchtower.app.daemon import Daemon
from watchtower.app.registry import REGISTRY
from watchtower.collectors.base import Collector, Role
from watchtower.core.details import Details
from watchtower.core.results import CollectResult, Finding, Severity
from watchtower.core.sections import CollectorSettings
from watchtower.core.settings import ConfigError, Seconds

ROOT = Path(__file__).resolve().parents[2]


# ---- the one module ---------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class ToySettings(CollectorSettings):
    interval: Seconds = Seconds(60)  # the first run is at start
    widgets: int = 3

    def validate(self, path: str) -> None:
        super().validate(path)
        if self.widgets < 0:
            raise ConfigError(f"{path}.widgets", self.widgets, "a count of 0 or more")


@dataclasses.dataclass(frozen=True, slots=True)
class Widget:
    name: str
    ok: bool


@dataclasses.dataclass(frozen=True, slots=True)
class ToyDetails(Details):
    """Typed details: the status page shows them as a table, `check --output json` as JSON."""

    widgets: tuple[Widget, ...]


class ToyCollector(Collector[ToySettings]):
    name: ClassVar[str] = "toy"
    title: ClassVar[str] = "Toy widgets"
    roles: ClassVar[frozenset[Role]] = frozenset({"node"})
    Settings: ClassVar[type[CollectorSettings]] = ToySettings

    def collect(self) -> CollectResult:
        widgets = self.settings.widgets  # typed: no assert, no cast
        family = GaugeMetricFamily("watchtower_toy_widgets", "Widgets the toy collector counted.")
        family.add_metric([], float(widgets))
        severity = Severity.WARNING if widgets == 0 else Severity.OK
        return CollectResult(metrics=(family,), findings=(Finding("toy", "widgets", severity, f"{widgets} widgets"),),
                             details=ToyDetails(tuple(Widget(f"widget-{i}", True) for i in range(widgets))))


# ---- the one registry line --------------------------------------------------------------------

TOY_REGISTRY = {**REGISTRY, ToyCollector.name: ToyCollector}


def _config(tmp_path: Path) -> Path:
    path = tmp_path / "config.yaml"
    others = {name: {"enabled": False} for name in REGISTRY}
    path.write_text(yaml.safe_dump({"server": {"listen": "127.0.0.1:0"},
                                    "collectors": {**others, "toy": {"enabled": True, "widgets": 2}}}))
    return path


@pytest.fixture
def daemon_url(tmp_path: Path) -> Iterator[str]:
    config = config_mod.load(_config(tmp_path), TOY_REGISTRY)
    daemon = Daemon(config, registry=TOY_REGISTRY, context=tc.context())
    thread = threading.Thread(target=daemon.run_until_stopped, daemon=True)
    thread.start()
    try:
        wait_for(lambda: daemon.server is not None, 5, what="HTTP server")
        host, port = daemon.server.server_address[:2]
        url = f"http://{host}:{port}"
        wait_for(lambda: requests.get(url + "/readyz", timeout=2).status_code == 200, 10, what="toy collector ran")
        yield url
    finally:
        daemon.stop()
        thread.join(5)


def test_toy_reaches_metrics_and_the_status_page(daemon_url: str) -> None:
    text = requests.get(daemon_url + "/metrics", timeout=5).text
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for f in text_string_to_metric_families(text) for s in f.samples}
    assert samples[("watchtower_toy_widgets", ())] == 2
    assert samples[("watchtower_collector_success", (("collector", "toy"),))] == 1
    page = requests.get(daemon_url + "/", timeout=5).text
    assert "<section id='toy'><h2>Toy widgets</h2>" in page and "widget-1" in page


def test_toy_reaches_check(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli, "_registry", lambda: TOY_REGISTRY)
    out = io.StringIO()
    monkeypatch.setattr(sys, "stdout", out)
    assert cli.main(["check", "--config", str(_config(tmp_path)), "--output", "json"]) == 0
    doc = json.loads(out.getvalue())
    assert [c["name"] for c in doc["collectors"]] == ["toy"]
    assert doc["details"]["toy"] == {"widgets": [{"name": "widget-0", "ok": True}, {"name": "widget-1", "ok": True}]}
    assert {"section": "toy", "subject": "widgets", "severity": "ok", "message": "2 widgets"}.items() <= \
        next(f for f in doc["findings"] if f["section"] == "toy").items()


@pytest.mark.helm
def test_toy_reaches_the_helm_role_presets(tmp_path: Path) -> None:
    helm = require_module("helm_python")  # CI=true: missing is a failure, not a skip
    chart = tmp_path / "watchtower"
    shutil.copytree(ROOT / "helm" / "watchtower", chart)
    sync = runpy.run_path(str(ROOT / "scripts" / "sync-helm-files.py"), run_name="sync")
    (chart / "files" / "collectors.yaml").write_text(sync["collector_roles_yaml"](TOY_REGISTRY))
    with helm.Chart.load(str(chart)) as loaded:
        rendered = loaded.render(values={}, name="wt", namespace="monitoring")
    configs = {}
    for path, text in rendered.items():
        if not path.endswith(".yaml"):
            continue
        for doc in yaml.safe_load_all(text):
            if doc and doc.get("kind") == "ConfigMap" and "config.yaml" in (doc.get("data") or {}):
                configs[doc["metadata"]["name"]] = yaml.safe_load(doc["data"]["config.yaml"])["collectors"]
    assert configs["wt-watchtower-node-config"]["toy"] == {}  # declared role: runs (enabled: auto)
    assert configs["wt-watchtower-cluster-config"]["toy"] == {"enabled": False}
