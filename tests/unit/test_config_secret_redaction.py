"""An inline secret inside an optional section must not be echoed by the error either.

Found by the Helm chart tests: `server.basic_auth: {username: u, password: VALUE}` reached the
`X | None` union branch, which re-raised with the whole mapping as the shown value.
"""

from __future__ import annotations

import pytest

from watchtower.app.config import from_mapping
from watchtower.core.settings import ConfigError

SENTINEL = "sentinel-not-a-real-password-7c1"


def test_inline_secret_in_optional_section_is_not_echoed() -> None:
    with pytest.raises(ConfigError) as caught:
        from_mapping({"server": {"basic_auth": {"username": "u", "password": SENTINEL}}}, registry={})
    assert SENTINEL not in str(caught.value)
    assert caught.value.path == "server.basic_auth.password"
    assert "no inline secret" in str(caught.value)


def test_wrong_key_in_optional_section_names_the_precise_path() -> None:
    with pytest.raises(ConfigError) as caught:
        from_mapping({"server": {"basic_auth": {"username": "u", "pasword_file": "/x"}}}, registry={})
    assert caught.value.path == "server.basic_auth.pasword_file"
