from __future__ import annotations

import pytest

from watchtower.app import config as config_mod
from watchtower.core.settings import ConfigError


def upgrade(**section: object) -> object:
    return config_mod.from_mapping({"collectors": {"upgrade": section}}).collectors["upgrade"]


def test_defaults_are_the_team_policy() -> None:
    s = upgrade()
    assert (s.upgrade_every, s.reminder_lead, s.release_source, s.release_cache) == ("4mo", 14 * 86400, "dl.k8s.io", 6 * 3600)


@pytest.mark.parametrize(
    ("section", "path", "expected"),
    [
        ({"upgrade_every": "4m"}, "collectors.upgrade.upgrade_every", "write months as '4mo'"),
        ({"release_source": "static"}, "collectors.upgrade.static_latest", "when release_source is static"),
        ({"static_latest": "latest"}, "collectors.upgrade.static_latest", "a version like v1.31.4"),
        ({"static_eol": {"1.30": "June"}}, "collectors.upgrade.static_eol", "date like 2025-06-28"),
        ({"release_timeout": "1m"}, "collectors.upgrade.release_timeout", "below timeout (30s)"),
        ({"release_base_url": "dl.k8s.io/release"}, "collectors.upgrade.release_base_url", "http:// or https://"),
        ({"release_source": "github"}, "collectors.upgrade.release_source", "one of"),
        ({"upgrade_evry": "4mo"}, "collectors.upgrade.upgrade_evry", "did you mean 'upgrade_every'"),
    ],
)
def test_mistakes_name_the_field(section: dict, path: str, expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        upgrade(**section)
    assert info.value.path == path and expected in str(info.value)
