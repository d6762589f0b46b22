"""Wiring: config → collectors → scheduler → store → HTTP, and a clean stop on SIGTERM/SIGINT."""

from __future__ import annotations

import dataclasses
import errno
import logging
import os
import signal
import socket
import ssl
import threading
import time
from collections.abc import Callable, Mapping

from watchtower.app import config as config_mod
from watchtower.app import memdebug
from watchtower.app.config import Config
from watchtower.app.http import App, serve, tls_context
from watchtower.app.httpserver import BoundedHTTPServer
from watchtower.app.registry import REGISTRY
from watchtower.app.report import FIRST_COMMAND
from watchtower.app.scheduler import CollectorRunner, CollectorScheduler
from watchtower.app.store import CollectorPlan, SnapshotStore
from watchtower.collectors.base import Collector, CollectorContext
from watchtower.core.regularfile import open_regular
from watchtower.core.settings import SecretUnavailable, StartupError
from watchtower.io.kube import KubeClientFactory

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class Selection:
    """Which collectors run, and for each one that does not, the reason."""

    enabled: tuple[Collector, ...]
    skipped: Mapping[str, str]


def make_context(config: Config, clock: Callable[[], float] = time.time, one_shot: bool = False) -> CollectorContext:
    context = CollectorContext(config=config, kube=KubeClientFactory(config.kubernetes), clock=clock, one_shot=one_shot)
    return dataclasses.replace(context, node_name=config.node_name) if config.node_name else context


def select_collectors(
    config: Config, registry: Mapping[str, type[Collector]], context: CollectorContext,
    only: tuple[str, ...] = (),
) -> Selection:
    """Instantiate the collectors to run: explicit ``enabled: true``, or ``auto`` with inputs present."""
    enabled: list[Collector] = []
    skipped: dict[str, str] = {}
    for name, cls in registry.items():
        if only and name not in only:
            continue
        settings = config.collector_settings(name, registry)
        if settings.enabled is False:
            skipped[name] = "disabled in config"
            continue
        if settings.enabled == "auto":
            try:
                reason = cls.unavailable_reason(settings, context)
            except Exception as exc:  # noqa: BLE001 - a broken probe must not stop the daemon
                reason = f"availability check failed: {type(exc).__name__}: {exc}"
            if reason:
                skipped[name] = reason
                continue
        enabled.append(cls(settings, context))
    return Selection(enabled=tuple(enabled), skipped=skipped)


def listen_error(listen: str, host: str, exc: OSError) -> str:
    """One line saying why ``listen`` cannot be bound."""
    if isinstance(exc, socket.gaierror):
        return f"cannot listen on {listen}: cannot resolve {host!r} ({exc.strerror})"
    reasons = {
        errno.EADDRINUSE: "the address is already in use (another watchtower or exporter on this port?)",
        errno.EADDRNOTAVAIL: f"{host} is not an address of this host",
        errno.EACCES: "permission denied (ports below 1024 need CAP_NET_BIND_SERVICE)",
    }
    return f"cannot listen on {listen}: {reasons.get(exc.errno or 0, exc.strerror or str(exc))}"


def check_tls_files(cert_file: str, key_file: str) -> None:
    """Both files are readable regular files and load as one certificate and key; else StartupError."""
    for field, path in (("tls_cert_file", cert_file), ("tls_key_file", key_file)):
        try:
            fd, _info = open_regular(path)
        except OSError as exc:
            raise StartupError(f"server.{field} {path}: {exc.strerror or type(exc).__name__}") from None
        os.close(fd)
    try:
        tls_context(cert_file, key_file)
    except (ssl.SSLError, OSError) as exc:
        reason = getattr(exc, "reason", None) or exc.strerror or type(exc).__name__
        raise StartupError(f"server.tls_cert_file {cert_file} and server.tls_key_file {key_file} do not load "
                           f"as a certificate and its key ({reason})") from None


def collector_plan(config: Config, registry: Mapping[str, type[Collector]], selection: Selection) -> tuple[CollectorPlan, ...]:
    """Every registered collector: scheduled here or not, with its configured interval and timeout."""
    running = {c.name for c in selection.enabled}
    plan = []
    for name in registry:
        settings = config.collector_settings(name, registry)
        plan.append(CollectorPlan(name, name in running, float(settings.interval), float(settings.timeout)))
    return tuple(plan)


class Daemon:
    """The long-running process: scheduler plus HTTP server, until ``stop()``."""

    def __init__(
        self,
        config: Config,
        registry: Mapping[str, type[Collector]] | None = None,
        listen: str | None = None,
        context: CollectorContext | None = None,
    ) -> None:
        if registry is None:
            registry = REGISTRY
        self.config = config
        self.context = context or make_context(config)
        self.registry = registry
        self.selection = select_collectors(config, registry, self.context)
        self.plan = collector_plan(config, registry, self.selection)
        self.passive = tuple(name for name, cls in registry.items() if cls.changes_external_state)
        self.store = SnapshotStore(c.name for c in self.selection.enabled)
        self.scheduler = CollectorScheduler(CollectorRunner(c, self.store) for c in self.selection.enabled)
        self.listen = listen or config.server.listen
        self._stopped = threading.Event()
        self.server: BoundedHTTPServer | None = None

    def _basic_auth(self) -> tuple[str, str] | None:
        auth = self.config.server.basic_auth
        if auth is None:
            return None
        return auth.username, auth.password.read()

    def bind(self) -> None:
        """Read the credentials, load TLS and bind the listening socket, serving from then on.

        Every failure is a ``StartupError`` naming its cause in one line (exit 2).
        """
        if self.server is not None:
            return
        server_config = self.config.server
        host, port = config_mod.parse_listen(self.listen)
        if server_config.tls_cert_file and server_config.tls_key_file:
            check_tls_files(server_config.tls_cert_file, server_config.tls_key_file)
        app = App(
            self.store, alive=self.scheduler.alive,
            expected_collectors=tuple(c.name for c in self.selection.enabled),
            basic_auth=self._basic_auth(),
            cluster=self.config.cluster,
            plan=self.plan, skipped=self.selection.skipped, passive=self.passive,
            sections={name: cls.title for name, cls in self.registry.items()},
        )
        try:
            self.server, _ = serve(app, host, port, server_config.tls_cert_file, server_config.tls_key_file,
                                   limits=server_config.limits())
        except OSError as exc:
            raise StartupError(listen_error(self.listen, host, exc)) from None

    def start(self) -> None:
        self.bind()
        for collector in self.selection.enabled:
            s = collector.settings
            log.info("collector %s: running every %gs (timeout %gs)", collector.name, s.interval, s.timeout)
        for name, reason in sorted(self.selection.skipped.items()):
            log.info("collector %s: not running: %s", name, reason)
        if not [c for c in self.selection.enabled if c.name not in self.passive]:
            log.warning("watchtower is blind: no collector watches anything here, so / and /api/status say UNKNOWN; "
                        "try first: %s", FIRST_COMMAND)
        assert self.server is not None
        bound_host, bound_port = self.server.server_address[:2]
        scheme = "https" if self.config.server.tls_cert_file else "http"
        log.info("serving %s://%s:%d/metrics", scheme, bound_host, bound_port)
        self.scheduler.start()

    def stop(self) -> None:
        self._stopped.set()

    def handle_signals(self) -> None:
        """SIGTERM/SIGINT stop the daemon cleanly (exit 0); set before the port answers."""
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                signal.signal(sig, lambda signum, frame: self._stopped.set())
            memdebug.install()

    def run_until_stopped(self) -> None:
        """Start, block until SIGTERM/SIGINT (or ``stop()``), then shut down quickly."""
        self.handle_signals()
        self.start()
        try:
            while not self._stopped.wait(0.5):
                pass
        finally:
            log.info("shutting down")
            self.scheduler.shutdown()
            if self.server is not None:
                self.server.shutdown()
                self.server.server_close()


__all__ = ["Daemon", "SecretUnavailable", "Selection", "StartupError", "make_context", "select_collectors"]
