"""Issue 17: ``kubernetes.request_timeout`` is the whole budget of one request, retries included,
and a kubeconfig naming a FIFO makes the client unavailable instead of blocking for ever."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
import yaml

from tests.kubeapi import KubeAPIServer
from tests.support.tls_servers import SilentServer
from watchtower.core.sections import KubernetesConfig
from watchtower.io.kube import KubeClientFactory, KubeUnavailable, get_json


def test_black_holed_apiserver_costs_one_request_timeout_not_four(tmp_path: Path) -> None:
    with KubeAPIServer(tmp_path / "api") as api, SilentServer() as silent:
        kubeconfig = api.write_kubeconfig(tmp_path / "kubeconfig")
        doc = yaml.safe_load(kubeconfig.read_text())
        doc["clusters"][0]["cluster"]["server"] = f"https://{silent.address}"
        kubeconfig.write_text(yaml.safe_dump(doc))
        factory = KubeClientFactory(KubernetesConfig(kubeconfig=str(kubeconfig), request_timeout=1.0))
        start = time.monotonic()
        with pytest.raises(Exception):  # noqa: B017 - urllib3's timeout error, whatever its class
            get_json(factory.api_client(), "/api/v1/nodes", timeout=1.0)
        elapsed = time.monotonic() - start
    assert elapsed < 2.5, f"one GET took {elapsed:.1f}s with a 1s request_timeout (retries?)"


def test_kubeconfig_naming_a_fifo_is_unavailable_at_once(tmp_path: Path) -> None:
    with KubeAPIServer(tmp_path / "api") as api:
        kubeconfig = api.write_kubeconfig(tmp_path / "kubeconfig")
        fifo = tmp_path / "ca-fifo.crt"
        os.mkfifo(fifo)
        doc = yaml.safe_load(kubeconfig.read_text())
        doc["clusters"][0]["cluster"]["certificate-authority"] = str(fifo)
        kubeconfig.write_text(yaml.safe_dump(doc))
        factory = KubeClientFactory(KubernetesConfig(kubeconfig=str(kubeconfig)))
        start = time.monotonic()
        with pytest.raises(KubeUnavailable, match="not a regular file") as caught:
            factory.api_client()
        assert str(fifo) in str(caught.value)
        assert time.monotonic() - start < 2
