"""The YAML → dataclass binder: durations, secrets, unknown keys, type errors with field paths."""

from __future__ import annotations

import dataclasses
from typing import Literal

import pytest

from watchtower.core.settings import (
    ConfigError,
    Seconds,
    SecretRef,
    SecretUnavailable,
    bind,
    format_duration,
    parse_duration,
    to_plain,
)


@pytest.mark.parametrize(("text", "seconds"), [
    ("30s", 30), ("5m", 300), ("6h", 21600), ("14d", 1209600), ("1h30m", 5400), ("250ms", 0.25),
    ("2w", 1209600), (45, 45), (1.5, 1.5),
])
def test_parse_duration(text: str | float, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "5", "5x", "m5", "-5s", "5 m s", True, None, "1d-2h"])
def test_parse_duration_rejects(text: object) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)  # type: ignore[arg-type]


@pytest.mark.parametrize("seconds", [30, 300, 5400, 1209600, 0.25, 90061])
def test_format_duration_round_trips(seconds: float) -> None:
    assert parse_duration(format_duration(seconds)) == pytest.approx(seconds)


@dataclasses.dataclass(frozen=True)
class Inner:
    port: int = 1
    mode: Literal["a", "b"] = "a"


@dataclasses.dataclass(frozen=True)
class Outer:
    name: str = "x"
    every: Seconds = Seconds(60)
    enabled: bool | Literal["auto"] = "auto"
    inner: Inner = Inner()
    hosts: tuple[str, ...] = ()
    password: SecretRef | None = None


def test_bind_defaults_and_values() -> None:
    bound = bind(Outer, {"name": "y", "every": "5m", "enabled": False, "inner": {"port": 9}, "hosts": ["a", "b"]})
    assert bound == Outer(name="y", every=Seconds(300), enabled=False, inner=Inner(port=9), hosts=("a", "b"))
    assert bind(Outer, None) == Outer()


def test_unknown_key_names_path_and_suggests() -> None:
    with pytest.raises(ConfigError) as err:
        bind(Outer, {"inner": {"prot": 9}})
    assert err.value.path == "inner.prot"
    assert "did you mean 'port'" in str(err.value)


@pytest.mark.parametrize(("data", "path", "expected"), [
    ({"every": "soon"}, "every", "a duration"),
    ({"inner": {"port": "9"}}, "inner.port", "an integer"),
    ({"inner": {"port": True}}, "inner.port", "an integer"),
    ({"inner": {"mode": "c"}}, "inner.mode", "one of ['a', 'b']"),
    ({"enabled": "yes"}, "enabled", "true or false or one of ['auto']"),
    ({"hosts": "a"}, "hosts", "a list"),
    ({"hosts": ["a", 3]}, "hosts[1]", "a string"),
    ({"inner": [1]}, "inner", "a mapping"),
])
def test_type_errors_name_path_value_and_expectation(data: dict, path: str, expected: str) -> None:
    with pytest.raises(ConfigError) as err:
        bind(Outer, data)
    assert err.value.path == path
    assert expected in str(err.value)
    assert str(err.value).startswith(f"{path}: got ")


def test_inline_secret_is_rejected_without_echoing_it() -> None:
    with pytest.raises(ConfigError) as err:
        bind(Outer, {"password": "hunter2"})
    assert "hunter2" not in str(err.value)
    assert "password_file" in str(err.value)


def test_secret_from_file_and_env(tmp_path, monkeypatch) -> None:
    secret_file = tmp_path / "pw"
    secret_file.write_text("s3cret\n")
    assert bind(Outer, {"password_file": str(secret_file)}).password.read() == "s3cret"
    monkeypatch.setenv("WT_TEST_PW", "from-env")
    ref = bind(Outer, {"password_env": "WT_TEST_PW"}).password
    assert ref.read() == "from-env"
    assert "from-env" not in repr(ref) and "from-env" not in str(to_plain(Outer(password=ref)))


def test_secret_both_sources_rejected(tmp_path) -> None:
    with pytest.raises(ConfigError, match="only one of"):
        bind(Outer, {"password_file": "/x", "password_env": "Y"})


def test_missing_secret_reports_source_only(tmp_path) -> None:
    with pytest.raises(SecretUnavailable, match=str(tmp_path / "missing")):
        SecretRef(file=str(tmp_path / "missing")).read()
    with pytest.raises(SecretUnavailable, match="WT_NOT_SET"):
        SecretRef(env="WT_NOT_SET").read()


def test_to_plain_shows_durations_and_secret_sources() -> None:
    plain = to_plain(Outer(every=Seconds(1209600), password=SecretRef(file="/run/pw")))
    assert plain["every"] == "14d"
    assert plain["password_file"] == "/run/pw"
    assert "password" not in plain
