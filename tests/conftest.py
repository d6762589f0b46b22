"""Fixtures shared by every test directory."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.kubeapi import KubeAPIServer


@pytest.fixture
def kube_api(tmp_path: Path) -> Iterator[KubeAPIServer]:
    """A started test Kubernetes API server (HTTPS on 127.0.0.1), stopped after the test."""
    with KubeAPIServer(tmp_path) as api:
        yield api
