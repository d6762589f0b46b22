"""Running the certs collector and the ``check certs`` command in tests, and reading its metrics."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from tests.support.kubeadm_pki import KubeadmPKI
from tests.support.services import require_binary
from watchtower.app.config import Config
from watchtower.collectors.base import CollectorContext
from watchtower.collectors.certs import CertsCollector
from watchtower.collectors.certs.settings import CertsSettings
from watchtower.core.results import CollectResult
from watchtower.io.kube import KubeClientFactory

REPO = Path(__file__).resolve().parents[2]


def make_collector(pki: KubeadmPKI | None = None, *, now: float | None = None, config: Config | None = None,
                   **settings: Any) -> CertsCollector:
    """A certs collector over ``pki`` (if given) with ``settings``; served-vs-disk probing off by default."""
    config = config or Config()
    if pki is not None:
        settings = {"kubeadm_root": str(pki.root), "kubelet_pki_dir": str(pki.kubelet_dir), **settings}
    settings.setdefault("apiserver_endpoints", ())
    clock = (lambda: now) if now is not None else time.time
    context = CollectorContext(config=config, kube=KubeClientFactory(config.kubernetes), clock=clock, node_name="cp1")
    return CertsCollector(CertsSettings(**settings), context)


def samples(result: CollectResult, name: str) -> list[Any]:
    """Samples of metric ``name`` as /metrics would expose them (through the real text format)."""
    registry = CollectorRegistry()

    class _Once:
        def collect(self) -> Any:
            return result.metrics

    registry.register(_Once())  # type: ignore[arg-type]
    text = generate_latest(registry).decode()
    return [s for fam in text_string_to_metric_families(text) for s in fam.samples if s.name == name]


def check_certs(*args: str, without_dac_override: bool = False) -> subprocess.CompletedProcess[str]:
    """Run ``watchtower check certs ARGS`` as a subprocess of this checkout."""
    prefix: list[str] = []
    if without_dac_override and os.geteuid() == 0:  # root reads anything unless it loses these capabilities
        prefix = [require_binary("setpriv"), "--bounding-set=-dac_override,-dac_read_search", "--"]
    return subprocess.run(
        [*prefix, sys.executable, "-m", "watchtower", "check", "certs", *args], capture_output=True, text=True,
        timeout=120, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)},
    )
