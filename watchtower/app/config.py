"""The daemon's configuration: defaults → YAML file → validation into frozen dataclasses.

Each collector declares its own ``Settings`` next to its code; this module only knows the
shared sections and looks collector sections up in the registry, so an unknown collector
name is an error like any unknown key.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Literal

import yaml

from watchtower.app.httpproto import Limits
from watchtower.app.registry import REGISTRY
from watchtower.collectors.base import Collector
from watchtower.core.formatting import split_host_port
from watchtower.core.regularfile import read_regular_text
from watchtower.core.sections import CollectorSettings, ControlPlaneConfig, KubernetesConfig
from watchtower.core.settings import ConfigError, Seconds, SecretRef, bind, format_duration, to_plain

_LIMITS = Limits()

CONFIG_ENV = "WATCHTOWER_CONFIG"
DEFAULT_PORT = 9847
DEFAULT_LISTEN = f"0.0.0.0:{DEFAULT_PORT}"
MAX_CONFIG_BYTES = 1 << 20


def parse_listen(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:PORT`` for IPv6; no host: all addresses; port 0: any free one). Raises ValueError."""
    host, port = split_host_port(text, allow_zero=True)
    return host or "0.0.0.0", port


@dataclasses.dataclass(frozen=True)
class BasicAuthConfig:
    username: str
    password: SecretRef


@dataclasses.dataclass(frozen=True)
class ServerConfig:
    """The HTTP endpoint serving /metrics, /healthz, /readyz and the status page."""

    listen: str = DEFAULT_LISTEN
    tls_cert_file: str | None = None
    tls_key_file: str | None = None
    basic_auth: BasicAuthConfig | None = None
    # limits (watchtower.app.httpproto.Limits): no client can make /metrics unanswerable
    backlog: int = _LIMITS.backlog
    max_connections: int = _LIMITS.max_connections
    max_in_flight: int = _LIMITS.max_in_flight
    header_timeout: Seconds = Seconds(_LIMITS.header_timeout)
    idle_timeout: Seconds = Seconds(_LIMITS.idle_timeout)
    write_timeout: Seconds = Seconds(_LIMITS.write_timeout)
    max_header_bytes: int = _LIMITS.max_header_bytes

    def validate(self, path: str) -> None:
        try:
            parse_listen(self.listen)
        except ValueError:
            raise ConfigError(f"{path}.listen", self.listen, "HOST:PORT, e.g. 0.0.0.0:9847") from None
        for name, low, high in (("backlog", 128, 65535), ("max_connections", 8, 100_000),
                                ("max_in_flight", 1, 10_000), ("max_header_bytes", 1024, 1_048_576)):
            value = getattr(self, name)
            if not low <= value <= high:
                raise ConfigError(f"{path}.{name}", value, f"an integer from {low} to {high}")
        for name in ("header_timeout", "idle_timeout", "write_timeout"):
            value = getattr(self, name)
            if not 0.1 <= value <= 3600:
                raise ConfigError(f"{path}.{name}", Seconds(value), "a duration from 100ms to 1h")
        if (self.tls_cert_file is None) != (self.tls_key_file is None):
            raise ConfigError(
                f"{path}.tls_key_file" if self.tls_key_file is None else f"{path}.tls_cert_file",
                None, "tls_cert_file and tls_key_file together",
            )

    def limits(self) -> Limits:
        return Limits(
            backlog=self.backlog, max_connections=self.max_connections, max_in_flight=self.max_in_flight,
            header_timeout=float(self.header_timeout), idle_timeout=float(self.idle_timeout),
            write_timeout=float(self.write_timeout), max_header_bytes=self.max_header_bytes,
        )


@dataclasses.dataclass(frozen=True)
class LogConfig:
    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["text", "json"] = "text"


@dataclasses.dataclass(frozen=True)
class SchedulingConfig:
    """Bounds on every collector's ``interval``: a 1 ms interval burns a core and floods the log, and
    an interval of centuries overflows the scheduler. Tests and labs may lower ``min_interval``."""

    min_interval: Seconds = Seconds(1)
    max_interval: Seconds = Seconds(7 * 86400)

    def validate(self, path: str) -> None:
        if not MIN_INTERVAL_FLOOR <= self.min_interval <= self.max_interval:
            raise ConfigError(f"{path}.min_interval", self.min_interval,
                              f"a duration from {format_duration(MIN_INTERVAL_FLOOR)} to max_interval")
        if self.max_interval > MAX_INTERVAL_CEILING:
            raise ConfigError(f"{path}.max_interval", self.max_interval,
                              f"a duration of at most {format_duration(MAX_INTERVAL_CEILING)}")


MIN_INTERVAL_FLOOR = Seconds(0.1)
MAX_INTERVAL_CEILING = Seconds(365 * 86400)


@dataclasses.dataclass(frozen=True)
class Config:
    """The whole validated configuration; ``collectors`` maps registry names to their settings."""

    cluster: str = ""
    node_name: str | None = None
    server: ServerConfig = ServerConfig()
    log: LogConfig = LogConfig()
    kubernetes: KubernetesConfig = KubernetesConfig()
    control_plane: ControlPlaneConfig = ControlPlaneConfig()
    scheduling: SchedulingConfig = SchedulingConfig()
    collectors: Mapping[str, CollectorSettings] = dataclasses.field(default_factory=lambda: MappingProxyType({}))

    def collector_settings(self, name: str, registry: Mapping[str, type[Collector]]) -> CollectorSettings:
        """The settings for ``name``: as configured, or that collector's defaults."""
        return self.collectors.get(name) or registry[name].Settings()


def check_timing(settings: CollectorSettings, section: object, path: str,
                 bounds: SchedulingConfig) -> CollectorSettings:
    """The interval within ``bounds``; every timeout written in the file above 0 and below the
    interval. A default ``timeout`` not below the interval becomes 90 % of it."""
    given = section if isinstance(section, Mapping) else {}
    interval = float(settings.interval)
    if not bounds.min_interval <= interval <= bounds.max_interval:
        raise ConfigError(f"{path}.interval", settings.interval,
                          f"a duration from {format_duration(bounds.min_interval)} to "
                          f"{format_duration(bounds.max_interval)} (scheduling.min_interval, max_interval)")
    for field in dataclasses.fields(settings):
        value = getattr(settings, field.name)
        if not (field.name == "timeout" or field.name.endswith("_timeout")) or field.name not in given:
            continue
        if isinstance(value, (int, float)) and not 0 < value < interval:
            raise ConfigError(f"{path}.{field.name}", Seconds(value),
                              f"a duration above 0s and below the interval ({format_duration(interval)})")
    if "timeout" not in given and settings.timeout >= interval:
        settings = dataclasses.replace(settings, timeout=Seconds(round(interval * 0.9, 3)))
    return settings


def _bind_collectors(raw: object, registry: Mapping[str, type[Collector]],
                     bounds: SchedulingConfig = SchedulingConfig()) -> Mapping[str, CollectorSettings]:
    if raw is None:
        raw = {}
    if not isinstance(raw, Mapping):
        raise ConfigError("collectors", raw, "a mapping of collector name → settings")
    bound: dict[str, CollectorSettings] = {}
    for name, section in raw.items():
        if name not in registry:
            raise ConfigError(f"collectors.{name}", name, f"a collector name, one of {sorted(registry)}")
        path = f"collectors.{name}"
        bound[name] = check_timing(bind(registry[name].Settings, section, path), section, path, bounds)
    return MappingProxyType(bound)


def from_mapping(data: object, registry: Mapping[str, type[Collector]] | None = None) -> Config:
    """Validate already-parsed YAML data into a Config."""
    if registry is None:
        registry = REGISTRY
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise ConfigError("", data, "a mapping at the top of the config file")
    rest = {k: v for k, v in data.items() if k != "collectors"}
    config: Config = bind(Config, rest, "")
    collectors = _bind_collectors(data.get("collectors"), registry, config.scheduling)
    return dataclasses.replace(config, collectors=collectors)


def load(path: str | os.PathLike[str] | None, registry: Mapping[str, type[Collector]] | None = None) -> Config:
    """Load from ``path``, else from $WATCHTOWER_CONFIG, else defaults (zero-config start)."""
    if path is None:
        path = os.environ.get(CONFIG_ENV) or None
    if path is None:
        return from_mapping({}, registry)
    try:
        text = read_regular_text(os.fspath(path), MAX_CONFIG_BYTES)
    except OSError as exc:
        raise ConfigError("<file>", str(path), f"a readable config file ({exc.strerror or exc})") from None
    except UnicodeDecodeError as exc:
        raise ConfigError("<file>", str(path), f"UTF-8 text (byte 0x{exc.object[exc.start]:02x} at offset "
                                               f"{exc.start} is not)") from None
    try:
        data = load_yaml_unique(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1} column {mark.column + 1}" if mark else "somewhere"
        raise ConfigError("<file>", str(path), f"valid YAML (parse error at {where})") from None
    return from_mapping(data, registry)


def load_yaml_unique(text: str) -> Any:
    """``yaml.safe_load``, but a key given twice in one mapping is a ConfigError naming its path
    (PyYAML keeps the last silently: a repeated ``collectors:`` would drop the first section)."""
    node = yaml.compose(text, Loader=yaml.SafeLoader)
    if node is not None:
        _refuse_duplicate_keys(node)
    return yaml.safe_load(text)


def _refuse_duplicate_keys(root: yaml.Node) -> None:
    stack: list[tuple[yaml.Node, str]] = [(root, "")]
    visited: set[int] = set()  # an alias is the anchored node again: visit it once (no alias bomb)
    while stack:  # iterative: a deeply nested document cannot exhaust the recursion limit here
        node, path = stack.pop()
        if id(node) in visited:
            continue
        visited.add(id(node))
        if isinstance(node, yaml.MappingNode):
            seen: dict[object, int] = {}
            for key_node, value_node in node.value:
                key = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
                child = f"{path}.{key}" if path else str(key)
                if key is not None:
                    line = key_node.start_mark.line + 1
                    if key in seen:
                        raise ConfigError(child, key, f"each key once (duplicate: lines {seen[key]} and {line})")
                    seen[key] = line
                stack.append((value_node, child))
        elif isinstance(node, yaml.SequenceNode):
            stack.extend((item, f"{path}[{i}]") for i, item in enumerate(node.value))


def with_defaults(config: Config, registry: Mapping[str, type[Collector]]) -> Config:
    """``config`` with every registered collector's settings spelled out (its defaults where unset),
    so ``config show`` and the start-up log say what each collector will really do."""
    collectors = {name: config.collector_settings(name, registry) for name in registry}
    return dataclasses.replace(config, collectors=MappingProxyType(collectors))


def render(config: Config) -> str:
    """The effective configuration as YAML with every secret shown by its source only."""
    plain: Any = to_plain(config)
    return yaml.safe_dump(plain, sort_keys=False, default_flow_style=False)
