"""Typed building blocks for configuration: durations, secrets and the YAML → dataclass binder.

The binder turns plain YAML data into frozen dataclasses using their type hints, so every
section of the configuration (including each collector's own settings, declared next to the
collector) is validated the same way: unknown keys are errors, and every error names the field
path, the bad value and what was expected.
"""

from __future__ import annotations

import dataclasses
import os
import re
import types
import typing
from collections.abc import Mapping
from typing import Any, Literal, Union, get_args, get_origin, get_type_hints

from watchtower.core.regularfile import read_regular_text

__all__ = [
    "ConfigError",
    "Seconds",
    "SecretRef",
    "SecretUnavailable",
    "StartupError",
    "bind",
    "format_duration",
    "parse_duration",
    "to_plain",
]


class ConfigError(ValueError):
    """A configuration value is wrong; the message names the field path, value and expectation."""

    def __init__(self, path: str, value: object, expected: str) -> None:
        self.path = path or "<root>"
        self.value = value
        self.expected = expected
        shown = _short_repr(value)
        super().__init__(f"{self.path}: got {shown}, expected {expected}")


def _short_repr(value: object, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


class Seconds(float):
    """A duration in seconds; written in YAML as ``30s``, ``5m``, ``6h``, ``14d`` or a number."""

    def __repr__(self) -> str:
        return f"Seconds({format_duration(self)})"


MAX_DURATION_SECONDS = 100 * 365 * 86400.0  # beyond a century: a typo, and an overflow waiting to happen
_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_DURATION_RE = re.compile(r"^\s*(?:(\d+(?:\.\d+)?)(ms|s|m|h|d|w))+\s*$")
_DURATION_PART_RE = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")


def parse_duration(text: str | float) -> Seconds:
    """Parse ``90s``, ``5m``, ``1h30m``, ``14d`` (or a bare number of seconds) into seconds."""
    if isinstance(text, bool):
        raise ValueError("a boolean is not a duration")
    if isinstance(text, (int, float)):
        if not 0 <= text <= MAX_DURATION_SECONDS:  # also refuses NaN and .inf
            raise ValueError(f"durations are from 0 to {MAX_DURATION_SECONDS:g} seconds")
        return Seconds(float(text))
    if not isinstance(text, str) or not _DURATION_RE.match(text):
        raise ValueError(f"not a duration: {text!r}")
    total = sum(float(n) * _DURATION_UNITS[u] for n, u in _DURATION_PART_RE.findall(text))
    if not total <= MAX_DURATION_SECONDS:
        raise ValueError(f"durations are at most {MAX_DURATION_SECONDS:g} seconds")
    return Seconds(total)


def cli_duration(text: str) -> Seconds:
    """An argparse ``type``: the config file's duration syntax (``5s``, ``1m30s``) or bare seconds, above 0."""
    import argparse

    try:
        value = parse_duration(float(text) if re.fullmatch(r"\s*\d+(?:\.\d+)?\s*", text) else text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration (e.g. 5s, 1m30s, or seconds)") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r}: a duration above 0s")
    return value


def format_duration(seconds: float) -> str:
    """The shortest exact spelling of a duration, e.g. 1209600 → ``14d``, 90 → ``1m30s``."""
    if seconds == 0:
        return "0s"
    if seconds < 1:
        return f"{round(seconds * 1000)}ms"
    parts = []
    remaining = float(seconds)
    for unit in ("d", "h", "m", "s"):
        size = _DURATION_UNITS[unit]
        count, remaining = divmod(remaining, size)
        if count:
            parts.append(f"{int(count)}{unit}")
    if remaining >= 0.001:
        parts.append(f"{round(remaining * 1000)}ms")
    return "".join(parts)


@dataclasses.dataclass(frozen=True)
class SecretRef:
    """Where a secret lives: a file or an environment variable, never the value itself.

    A field ``password: SecretRef | None`` is written in YAML as ``password_file: PATH`` or
    ``password_env: NAME``; an inline ``password:`` is rejected so secrets never sit in the
    config file, in ``config show`` output or in logs.
    """

    file: str | None = None
    env: str | None = None

    def read(self) -> str:
        """The secret's value, stripped of a trailing newline. Raises ``SecretUnavailable``."""
        if self.file is not None:
            try:
                return read_regular_text(self.file, MAX_SECRET_BYTES).rstrip("\r\n")
            except OSError as exc:
                raise SecretUnavailable(f"secret file {self.file}: {exc.strerror or type(exc).__name__}") from None
            except UnicodeDecodeError:
                raise SecretUnavailable(f"secret file {self.file}: not UTF-8 text") from None
        if self.env is not None:
            value = os.environ.get(self.env)
            if value is None:
                raise SecretUnavailable(f"environment variable {self.env} is not set")
            return value
        raise SecretUnavailable("secret has neither a file nor an environment variable")

    def describe(self) -> str:
        """A redacted description safe for logs: where the secret comes from, not what it is."""
        return f"<secret from file {self.file}>" if self.file else f"<secret from env {self.env}>"

    def __repr__(self) -> str:
        return self.describe()


class StartupError(RuntimeError):
    """watchtower cannot start (e.g. its port is in use); the message is the one line to print."""


class SecretUnavailable(RuntimeError):
    """A secret's file or environment variable cannot be read; the message holds no secret."""


MAX_SECRET_BYTES = 65536


# --------------------------------------------------------------------------------------------
# Binder: plain data → frozen dataclasses


def bind(cls: type, data: object, path: str = "") -> Any:
    """Build dataclass ``cls`` from ``data`` (a mapping), validating every field by type hint."""
    return _convert(cls, data, path)


def _field_names(cls: type) -> dict[str, dataclasses.Field[Any]]:
    return {f.name: f for f in dataclasses.fields(cls) if f.init}


def _is_secret_hint(hint: object) -> bool:
    return hint is SecretRef or (_is_union(hint) and SecretRef in get_args(hint))


def _is_union(hint: object) -> bool:
    return get_origin(hint) in (Union, types.UnionType)


def _join(path: str, key: object) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else str(key)


REDACTED = "<redacted>"
_ENV_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _secret_ref(key: str, value: object, key_path: str) -> SecretRef:
    """``NAME_file: /abs/path`` or ``NAME_env: VARIABLE``; anything else is refused without
    echoing it: a value in the wrong shape is most likely the secret itself, pasted."""
    if key.endswith("_env"):
        if not isinstance(value, str) or not _ENV_NAME_RE.match(value):
            raise ConfigError(key_path, REDACTED, "an environment variable name ([A-Za-z_][A-Za-z0-9_]*)")
        return SecretRef(env=value)
    if not isinstance(value, str) or not value.startswith("/") or any(c in value for c in "\0\n\r\t"):
        raise ConfigError(key_path, REDACTED, "an absolute path to the file holding the secret")
    return SecretRef(file=value)


def _has_secret_field(cls: type) -> bool:
    hints = get_type_hints(cls)
    return any(_is_secret_hint(hints[name]) for name in _field_names(cls))


def _bind_dataclass(cls: type, data: object, path: str) -> Any:
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        # e.g. ``basic_auth: "user:password"``: a section holding a secret is never echoed
        shown = REDACTED if _has_secret_field(cls) else data
        raise ConfigError(path, shown, f"a mapping with keys {sorted(_field_names(cls))}")
    hints = get_type_hints(cls)
    fields = _field_names(cls)
    accepted: dict[str, str] = {}  # YAML key → field name
    for name in fields:
        if _is_secret_hint(hints[name]):
            accepted[f"{name}_file"] = name
            accepted[f"{name}_env"] = name
        else:
            accepted[name] = name
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        key_path = _join(path, key)
        if not isinstance(key, str) or key not in accepted:
            if isinstance(key, str) and key in fields:  # an inline secret
                raise ConfigError(
                    key_path, REDACTED,
                    f"no inline secret: use {key}_file (a path) or {key}_env (a variable name)",
                )
            import difflib  # only for this message: ~0.2 MB that every daemon would carry

            close = difflib.get_close_matches(str(key), list(accepted), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ConfigError(key_path, key, f"one of the known keys {sorted(accepted)}{hint}")
        name = accepted[key]
        if _is_secret_hint(hints[name]):
            if name in kwargs:
                raise ConfigError(_join(path, name), REDACTED, f"only one of {name}_file and {name}_env")
            kwargs[name] = _secret_ref(key, value, key_path)
            continue
        kwargs[name] = _convert(hints[name], value, key_path)
    try:
        instance = cls(**kwargs)
    except ConfigError:
        raise
    except (TypeError, ValueError) as exc:
        raise ConfigError(path, "<mapping>", str(exc)) from None
    validate = getattr(instance, "validate", None)
    if callable(validate):
        validate(path)
    return instance


def _convert(hint: Any, value: object, path: str) -> Any:
    origin = get_origin(hint)
    if hint is Any:
        return value
    if dataclasses.is_dataclass(hint) and isinstance(hint, type):
        return _bind_dataclass(hint, value, path)
    if _is_union(hint):
        options = get_args(hint)
        if value is None and type(None) in options:
            return None
        candidates = [option for option in options if option is not type(None)]
        errors = []
        for option in candidates:
            try:
                return _convert(option, value, path)
            except ConfigError as exc:
                if len(candidates) == 1:  # `X | None`: X's own error is the precise one
                    raise
                errors.append(exc.expected)
        # Never echo a whole mapping: it may hold an inline secret the inner error redacted.
        shown = "<mapping>" if isinstance(value, Mapping) else value
        raise ConfigError(path, shown, " or ".join(errors))
    if origin is Literal:
        allowed = get_args(hint)
        if any(value == a and type(value) is type(a) for a in allowed):
            return value
        raise ConfigError(path, value, f"one of {list(allowed)}")
    if hint is Seconds:
        try:
            return parse_duration(value)  # type: ignore[arg-type]
        except ValueError:
            raise ConfigError(path, value, "a duration like 30s, 5m, 6h or 14d") from None
    if hint is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(path, value, "true or false")
    if hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise ConfigError(path, value, "an integer")
    if hint is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        raise ConfigError(path, value, "a number")
    if hint is str:
        if isinstance(value, str):
            return value
        raise ConfigError(path, value, "a string")
    if origin in (list, tuple) or hint in (list, tuple):
        (item_hint, *_rest) = get_args(hint) or (Any,)
        if not isinstance(value, list):
            raise ConfigError(path, value, "a list")
        return tuple(_convert(item_hint, item, _join(path, i)) for i, item in enumerate(value))
    if origin in (dict, Mapping, typing.Mapping) or hint is dict:
        key_hint, value_hint = get_args(hint) or (str, Any)
        if not isinstance(value, Mapping):
            raise ConfigError(path, value, "a mapping")
        out = {}
        for key, item in value.items():
            _convert(key_hint, key, _join(path, key))
            out[key] = _convert(value_hint, item, _join(path, key))
        return types.MappingProxyType(out)
    raise TypeError(f"unsupported config type {hint!r} at {path}")


# --------------------------------------------------------------------------------------------
# The way back: dataclasses → plain data (for `config show` and logging), secrets redacted


def to_plain(value: object) -> object:
    """Plain YAML-able data from a bound config; durations as text, secrets as their source."""
    if isinstance(value, Seconds):
        return format_duration(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out: dict[str, object] = {}
        for f in dataclasses.fields(value):
            item = getattr(value, f.name)
            if isinstance(item, SecretRef):
                key = f"{f.name}_file" if item.file else f"{f.name}_env"
                out[key] = item.file or item.env
            else:
                out[f.name] = to_plain(item)
        return out
    if isinstance(value, Mapping):
        return {str(k): to_plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_plain(v) for v in value]
    return value
