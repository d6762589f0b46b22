"""Loading the whole config: defaults, file, collectors from the registry, listen addresses."""

from __future__ import annotations

import dataclasses

import pytest
import yaml

from watchtower.app import config as config_mod
from watchtower.collectors.base import Collector
from watchtower.core.results import CollectResult
from watchtower.core.sections import CollectorSettings
from watchtower.core.settings import ConfigError, Seconds


@dataclasses.dataclass(frozen=True)
class DemoSettings(CollectorSettings):
    paths: tuple[str, ...] = ()


class DemoCollector(Collector):
    name = "demo"
    description = "a collector for config tests"
    Settings = DemoSettings

    def collect(self) -> CollectResult:
        return CollectResult()


REGISTRY = {"demo": DemoCollector}


def test_zero_config_gives_defaults(monkeypatch) -> None:
    monkeypatch.delenv(config_mod.CONFIG_ENV, raising=False)
    config = config_mod.load(None, REGISTRY)
    assert config.server.listen == config_mod.DEFAULT_LISTEN
    assert config.collector_settings("demo", REGISTRY) == DemoSettings()


def test_env_var_names_the_file(tmp_path, monkeypatch) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("cluster: prod\ncollectors:\n  demo: {interval: 5m, paths: [/a]}\n")
    monkeypatch.setenv(config_mod.CONFIG_ENV, str(path))
    config = config_mod.load(None, REGISTRY)
    assert config.cluster == "prod"
    assert config.collector_settings("demo", REGISTRY) == DemoSettings(interval=Seconds(300), paths=("/a",))


@pytest.mark.parametrize(("text", "path"), [
    ("clustr: x\n", "clustr"),
    ("collectors:\n  nope: {}\n", "collectors.nope"),
    ("collectors:\n  demo: {intervall: 5m}\n", "collectors.demo.intervall"),
    ("collectors:\n  demo: {interval: 0s}\n", "collectors.demo.interval"),
    ("server: {listen: 'nonsense'}\n", "server.listen"),
    ("server: {tls_cert_file: /a}\n", "server.tls_key_file"),
    ("control_plane: {vips: [not-an-ip]}\n", "control_plane.vips[0]"),
    ("kubernetes: {page_size: 0}\n", "kubernetes.page_size"),
    ("- a list\n", "<root>"),
])
def test_bad_config_names_the_field(tmp_path, text: str, path: str) -> None:
    file = tmp_path / "c.yaml"
    file.write_text(text)
    with pytest.raises(ConfigError) as err:
        config_mod.load(file, REGISTRY)
    assert err.value.path == path


def test_yaml_syntax_error_names_line(tmp_path) -> None:
    file = tmp_path / "c.yaml"
    file.write_text("cluster: [unclosed\n")
    with pytest.raises(ConfigError, match="line"):
        config_mod.load(file, REGISTRY)


@pytest.mark.timeout(20)
def test_yaml_alias_bomb_is_checked_once_per_node(tmp_path) -> None:
    """Aliases nested 12 deep name 9**12 list items; the duplicate-key check walks each node once,
    so loading ends with the binder's error instead of walking the expansion for hours."""
    anchors = ['&a0 ["x", "x", "x", "x", "x", "x", "x", "x", "x"]']
    anchors += [f"&a{depth} [{', '.join([f'*a{depth - 1}'] * 9)}]" for depth in range(1, 12)]
    file = tmp_path / "c.yaml"
    file.write_text(f"collectors:\n  demo:\n    paths: [{', '.join(anchors)}]\n")
    with pytest.raises(ConfigError) as err:
        config_mod.load(file, REGISTRY)
    assert err.value.path == "collectors.demo.paths[0]"


def test_missing_file_is_a_config_error(tmp_path) -> None:
    with pytest.raises(ConfigError, match="readable config file"):
        config_mod.load(tmp_path / "absent.yaml", REGISTRY)


def test_render_redacts_secrets_and_round_trips(tmp_path) -> None:
    pw = tmp_path / "pw"
    pw.write_text("topsecret")
    file = tmp_path / "c.yaml"
    file.write_text(f"server:\n  basic_auth: {{username: prom, password_file: {pw}}}\ncollectors:\n  demo: {{interval: 6d}}\n")
    config = config_mod.load(file, REGISTRY)
    shown = config_mod.render(config)
    assert "topsecret" not in shown
    assert f"password_file: {pw}" in shown
    again = tmp_path / "again.yaml"
    again.write_text(shown)
    assert config_mod.load(again, REGISTRY) == config
    assert yaml.safe_load(shown)["collectors"]["demo"]["interval"] == "6d"


@pytest.mark.parametrize(("text", "expected"), [
    ("127.0.0.1:9847", ("127.0.0.1", 9847)), (":9847", ("0.0.0.0", 9847)), ("[::1]:80", ("::1", 80)),
])
def test_parse_listen(text: str, expected: tuple[str, int]) -> None:
    assert config_mod.parse_listen(text) == expected


@pytest.mark.parametrize("text", ["9847", "host:", "host:99999", "host:port"])
def test_parse_listen_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        config_mod.parse_listen(text)
