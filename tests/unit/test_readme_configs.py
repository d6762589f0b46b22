"""Every watchtower config example in the README validates: documentation that users copy must work."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from watchtower.app import config as config_mod

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()
TOP_LEVEL = {f.name for f in config_mod.Config.__dataclass_fields__.values()}


def config_examples() -> list[str]:
    """YAML blocks whose top-level keys are all watchtower config keys (not Prometheus or Helm ones)."""
    examples = []
    for block in re.findall(r"```yaml\n(.*?)```", README, re.DOTALL):
        data = yaml.safe_load(block)
        if isinstance(data, dict) and data and set(data) <= TOP_LEVEL:
            examples.append(block)
    return examples


def test_readme_has_config_examples() -> None:
    assert len(config_examples()) >= 4


@pytest.mark.parametrize("block", config_examples(), ids=lambda b: b.splitlines()[0][:40])
def test_config_example_validates(block: str) -> None:
    config_mod.from_mapping(yaml.safe_load(block))  # raises ConfigError naming the field
