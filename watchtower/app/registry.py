"""Every scheduled job by name: the collectors' registry plus the Grafana provisioner.

The provisioner writes to Grafana rather than collecting, so it lives in
``watchtower.provisioning`` above the collectors; this is the one place both meet. The names
are a public API (config ``collectors.<name>``, the ``collector`` label, ``--collector``).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from watchtower.collectors import REGISTRY as COLLECTORS
from watchtower.collectors.base import Collector
from watchtower.provisioning.job import GrafanaProvisioner

_JOBS: tuple[type[Collector], ...] = (*COLLECTORS.values(), GrafanaProvisioner)

REGISTRY: Mapping[str, type[Collector]] = MappingProxyType({c.name: c for c in _JOBS})
