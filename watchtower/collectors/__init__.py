"""The explicit collector registry: name → class. Adding a collector means one line here.

The names are a public API: they appear in the config (``collectors.<name>``), in the
``collector`` label of the meta-metrics and in ``watchtower check --collector``. The Grafana
provisioner is scheduled like a collector but is not one; ``watchtower.app.registry`` adds it.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from watchtower.collectors.apiserver import ApiserverCollector
from watchtower.collectors.base import Collector
from watchtower.collectors.certs import CertsCollector
from watchtower.collectors.etcd import EtcdCollector
from watchtower.collectors.haproxy import HAProxyCollector
from watchtower.collectors.nodes import NodesCollector
from watchtower.collectors.removed_apis import RemovedApisCollector
from watchtower.collectors.upgrade import UpgradeCollector
from watchtower.collectors.vip import VipCollector

_COLLECTORS: tuple[type[Collector], ...] = (  # in the order the status page shows them
    CertsCollector,
    VipCollector,
    ApiserverCollector,
    HAProxyCollector,
    EtcdCollector,
    NodesCollector,
    UpgradeCollector,
    RemovedApisCollector,
)

REGISTRY: Mapping[str, type[Collector]] = MappingProxyType({c.name: c for c in _COLLECTORS})
