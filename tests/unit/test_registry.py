"""Every registered job declares what the daemon, page, chart and dashboard tests read from it."""

from __future__ import annotations

import typing

from watchtower.app.registry import REGISTRY
from watchtower.collectors import REGISTRY as COLLECTORS
from watchtower.collectors.base import Role
from watchtower.core.sections import CollectorSettings


def test_every_job_declares_name_title_roles_settings_and_metric_prefixes() -> None:
    roles = set(typing.get_args(Role))
    seen: dict[str, str] = {}
    for name, cls in REGISTRY.items():
        assert cls.name == name and cls.title, name
        assert cls.roles and cls.roles <= roles, name
        assert issubclass(cls.Settings, CollectorSettings), name
        assert cls.metric_prefixes, name
        for prefix in cls.metric_prefixes:
            assert prefix.startswith("watchtower_"), (name, prefix)
            assert prefix not in seen, f"{prefix} declared by {seen.get(prefix)} and {name}"
            seen[prefix] = name


def test_the_job_registry_is_the_collectors_plus_the_provisioner() -> None:
    assert list(REGISTRY) == [*COLLECTORS, "grafana"]
    assert REGISTRY["grafana"].changes_external_state
    assert not any(cls.changes_external_state for cls in COLLECTORS.values())
