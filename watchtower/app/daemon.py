"""Wiring: config → collectors → scheduler → store → HTTP, and a clean stop on SIGTERM/SIGINT."""

from __future__ import annotations

import dataclasses
import logging
import signal
import threading
import time
from collections.abc import Callable, Mapping

from watchtower.app import config as config_mod
from watchtower.app.config import Config
from watchtower.app.http import App, serve
from watchtower.app.httpserver import BoundedHTTPServer
from watchtower.app.registry import REGISTRY
from watchtower.app.scheduler import CollectorRunner, CollectorScheduler
from watchtower.app.store import SnapshotStore
from watchtower.collectors.base import Collector, CollectorContext
from watchtower.core.settings import SecretUnavailable
from watchtower.io.kube import KubeClientFactory

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class Selection:
    """Which collectors run, and for each one that does not, the reason."""

    enabled: tuple[Collector, ...]
    skipped: Mapping[str, str]


def make_context(config: Config, clock: Callable[[], float] = time.time) -> CollectorContext:
    kwargs = {"node_name": config.node_name} if config.node_name else {}
    return CollectorContext(config=config, kube=KubeClientFactory(config.kubernetes), clock=clock, **kwargs)


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
        self.selection = select_collectors(config, registry, self.context)
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

    def start(self) -> None:
        for collector in self.selection.enabled:
            s = collector.settings
            log.info("collector %s: running every %gs (timeout %gs)", collector.name, s.interval, s.timeout)
        for name, reason in sorted(self.selection.skipped.items()):
            log.info("collector %s: not running: %s", name, reason)
        host, port = config_mod.parse_listen(self.listen)
        app = App(
            self.store, alive=self.scheduler.alive,
            expected_collectors=tuple(c.name for c in self.selection.enabled),
            basic_auth=self._basic_auth(),
            cluster=self.config.cluster,
        )
        server, _ = serve(app, host, port, self.config.server.tls_cert_file, self.config.server.tls_key_file,
                          limits=self.config.server.limits())
        self.server = server
        bound_host, bound_port = server.server_address[:2]
        scheme = "https" if self.config.server.tls_cert_file else "http"
        log.info("serving %s://%s:%d/metrics", scheme, bound_host, bound_port)
        self.scheduler.start()

    def stop(self) -> None:
        self._stopped.set()

    def run_until_stopped(self) -> None:
        """Start, block until SIGTERM/SIGINT (or ``stop()``), then shut down quickly."""
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                signal.signal(sig, lambda signum, frame: self._stopped.set())
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


__all__ = ["Daemon", "SecretUnavailable", "Selection", "make_context", "select_collectors"]
