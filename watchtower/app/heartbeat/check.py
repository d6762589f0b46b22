"""The dead man's switch, receiving side: pure logic, no I/O.

Prometheus fires ``Watchdog`` all the time and Alertmanager sends it to a webhook every
``repeat_interval``; the alarm is its absence. This module keeps, per heartbeat source (the
value of ``source_label``, e.g. ``prometheus_replica`` so each Prometheus of an HA pair is
watched separately), when a heartbeat last arrived, and decides per notification channel
what to send: "silent" once a source has been quiet for ``window``, again every
``repeat_interval`` while it stays quiet, and "back" when it returns. A source never heard
from since start counts from the start time, so a heartbeat that never arrives alarms too.
A channel that failed to send is asked again at the next check until it succeeds.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from typing import Any, Literal

from watchtower.app.config import parse_listen
from watchtower.core.settings import ConfigError, Seconds, SecretRef, format_duration

DEFAULT_LISTEN = "127.0.0.1:9846"
RUNBOOK = "docs/runbooks/Watchdog.md"


@dataclasses.dataclass(frozen=True)
class EmailSettings:
    """SMTP, independent of Alertmanager (it may be what is down)."""

    smarthost: str  # HOST:PORT
    sender: str
    to: tuple[str, ...]
    username: str | None = None
    password: SecretRef | None = None
    require_tls: bool = True  # STARTTLS before AUTH
    timeout: Seconds = Seconds(10)

    def validate(self, path: str) -> None:
        try:
            parse_listen(self.smarthost)
        except ValueError:
            raise ConfigError(f"{path}.smarthost", self.smarthost, "HOST:PORT, e.g. smtp.example.org:587") from None
        if not self.to:
            raise ConfigError(f"{path}.to", list(self.to), "at least one address")
        if (self.username is None) != (self.password is None):
            raise ConfigError(f"{path}.username", self.username, "username and password_file/password_env together")


@dataclasses.dataclass(frozen=True)
class SlackSettings:
    """A Slack incoming webhook; its URL is a secret, so it is read from a file or variable."""

    webhook_url: SecretRef
    channel: str | None = None
    timeout: Seconds = Seconds(10)


@dataclasses.dataclass(frozen=True)
class HeartbeatSettings:
    """``watchtower heartbeat-check``'s config file (deploy/ha/heartbeat-check.example.yaml)."""

    listen: str = DEFAULT_LISTEN
    token: SecretRef | None = None  # the bearer token Alertmanager sends (its credentials_file)
    window: Seconds = Seconds(900)  # alarm when a source sent nothing for this long
    check_interval: Seconds = Seconds(10)
    repeat_interval: Seconds = Seconds(4 * 3600)  # re-send the alarm while silent; 0s: never
    alertname: str = "Watchdog"
    source_label: str | None = None  # e.g. prometheus_replica: one heartbeat per value
    sources: tuple[str, ...] = ()  # values expected from the start (otherwise learned)
    name: str = "watchtower"  # who is speaking, in the messages
    email: EmailSettings | None = None
    slack: SlackSettings | None = None

    def validate(self, path: str) -> None:
        try:
            parse_listen(self.listen)
        except ValueError:
            raise ConfigError(_join(path, "listen"), self.listen, "HOST:PORT, e.g. 127.0.0.1:9846") from None
        if self.email is None and self.slack is None:
            raise ConfigError(_join(path, "email"), None, "an email or a slack section (where the alarm goes)")
        if not 0 < self.check_interval < self.window:
            raise ConfigError(_join(path, "check_interval"), format_duration(self.check_interval),
                              f"more than 0s and less than window ({format_duration(self.window)})")
        if self.repeat_interval and self.repeat_interval < self.window:
            raise ConfigError(_join(path, "repeat_interval"), format_duration(self.repeat_interval),
                              f"0s (never) or at least window ({format_duration(self.window)})")
        if self.sources and not self.source_label:
            raise ConfigError(_join(path, "sources"), list(self.sources), "a source_label to read them from")

    def channels(self) -> tuple[str, ...]:
        return tuple(c for c, s in (("email", self.email), ("slack", self.slack)) if s is not None)


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


class PayloadError(ValueError):
    """The webhook body is not an Alertmanager notification."""


def heartbeat_sources(payload: object, settings: HeartbeatSettings) -> set[str]:
    """Sources a webhook body proves alive: firing ``alertname`` alerts, by ``source_label``.

    Alertmanager's webhook body (version 4) has ``alerts: [{status, labels}]``. Without a
    source label every heartbeat counts for the single source "".
    """
    if not isinstance(payload, Mapping) or not isinstance(payload.get("alerts"), list):
        raise PayloadError("expected an Alertmanager webhook body with an alerts list")
    seen = set()
    for alert in payload["alerts"]:
        labels = alert.get("labels") if isinstance(alert, Mapping) else None
        if not isinstance(labels, Mapping) or labels.get("alertname") != settings.alertname:
            continue
        if alert.get("status", "firing") != "firing":
            continue
        if settings.source_label is None:
            seen.add("")
        elif isinstance(labels.get(settings.source_label), str):
            seen.add(labels[settings.source_label])
    return seen


@dataclasses.dataclass(frozen=True)
class Notice:
    """One message to send on one channel."""

    channel: str
    kind: Literal["silent", "back"]
    source: str
    last_seen: float | None
    quiet_for: float  # seconds since the last heartbeat (or since start)


@dataclasses.dataclass
class _Source:
    last_seen: float | None = None
    received: int = 0
    # per channel: the state the channel was last told ("silent"/"back") and when
    told: dict[str, tuple[str, float]] = dataclasses.field(default_factory=dict)


class HeartbeatTracker:
    """Heartbeats in, notices out; the clock is passed in, so tests drive it."""

    def __init__(self, settings: HeartbeatSettings, started_at: float) -> None:
        self.settings = settings
        self.started_at = started_at
        self._sources: dict[str, _Source] = {}
        for source in settings.sources or ([""] if settings.source_label is None else []):
            self._sources[source] = _Source()

    def record(self, sources: Iterable[str], now: float) -> None:
        for source in sources:
            state = self._sources.setdefault(source, _Source())
            state.last_seen = now
            state.received += 1

    def silent(self, source: str, now: float) -> bool:
        state = self._sources[source]
        return now - (state.last_seen if state.last_seen is not None else self.started_at) > self.settings.window

    def due(self, now: float) -> list[Notice]:
        """What each channel must be told now: a new silence, a repeat, or a return."""
        notices = []
        for source, state in sorted(self._sources.items()):
            quiet_for = now - (state.last_seen if state.last_seen is not None else self.started_at)
            silent = quiet_for > self.settings.window
            for channel in self.settings.channels():
                told, told_at = state.told.get(channel, ("back", 0.0))
                if silent and (told != "silent" or (
                        self.settings.repeat_interval and now - told_at >= self.settings.repeat_interval)):
                    notices.append(Notice(channel, "silent", source, state.last_seen, quiet_for))
                elif not silent and told == "silent":
                    notices.append(Notice(channel, "back", source, state.last_seen, quiet_for))
        return notices

    def sent(self, notice: Notice, now: float) -> None:
        """``notice`` reached its channel; until this is called it is due again."""
        self._sources[notice.source].told[notice.channel] = (notice.kind, now)

    def status(self, now: float) -> dict[str, Any]:
        return {
            "window_seconds": self.settings.window,
            "sources": {
                source: {"last_seen": state.last_seen, "received": state.received, "silent": self.silent(source, now)}
                for source, state in sorted(self._sources.items())
            },
        }


def describe_source(settings: HeartbeatSettings, source: str) -> str:
    return f"{settings.source_label}={source}" if settings.source_label else f"alert {settings.alertname}"


def message(notice: Notice, settings: HeartbeatSettings, rfc3339: str | None) -> tuple[str, str]:
    """(title, text) for a notice; ``rfc3339`` is the last heartbeat's time, already formatted."""
    what = describe_source(settings, notice.source)
    if notice.kind == "silent":
        title = f"[FIRING] Heartbeat missing: {what} ({settings.name})"
        since = f"since {rfc3339}" if rfc3339 else "since heartbeat-check started (none received yet)"
        text = (f"critical: no {settings.alertname} heartbeat from {what} {since}, "
                f"{format_duration(round(notice.quiet_for))} ago (window {format_duration(settings.window)}). "
                "Prometheus, its rules, Alertmanager or the way from Alertmanager to here is down: "
                "until this is fixed no other alert from it reaches anyone.\n"
                f"Runbook: {RUNBOOK}")
    else:
        title = f"[RESOLVED] Heartbeat back: {what} ({settings.name})"
        text = f"resolved: {settings.alertname} heartbeats from {what} arrive again (last {rfc3339}).\nRunbook: {RUNBOOK}"
    return title, text
