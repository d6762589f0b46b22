"""``watchtower heartbeat-check --config FILE [--listen HOST:PORT] [--check]``."""

from __future__ import annotations

import argparse
import logging
import signal
import threading
from types import FrameType
from typing import TYPE_CHECKING

import yaml

from watchtower.app.config import parse_listen
from watchtower.app.logsetup import setup_logging
from watchtower.core.lazy import lazy_module
from watchtower.core.regularfile import read_regular_text
from watchtower.core.settings import ConfigError, bind, format_duration

if TYPE_CHECKING:
    from watchtower.app.heartbeat import check
else:  # loaded when `heartbeat-check` runs: other commands never import it
    check = lazy_module("watchtower.app.heartbeat.check")

log = logging.getLogger("watchtower.app.heartbeat")


def add_commands(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:  # type: ignore[type-arg]
    cmd = sub.add_parser(
        "heartbeat-check", parents=[common], help="dead man's switch: alarm by email/Slack when Watchdog heartbeats stop",
        description="Receive Alertmanager's Watchdog notifications on POST /heartbeat and send an email and/or "
                    "Slack message when a heartbeat source stays silent longer than the window (and when it "
                    "returns). --config is this command's own file (deploy/ha/heartbeat-check.example.yaml), "
                    "not the daemon's. Exit 2 on a config error.")
    cmd.add_argument("--listen", metavar="HOST:PORT", help="address to serve on (default: listen in the file)")
    cmd.add_argument("--check", action="store_true", help="validate the config file and its secrets, then exit")
    cmd.set_defaults(func=cmd_heartbeat_check)


def load_settings(path: str | None) -> check.HeartbeatSettings:
    """The heartbeat-check config file, validated; errors name the field path."""
    if not path:
        raise ConfigError("--config", None, "the heartbeat-check config file (heartbeat-check.yaml)")
    try:
        data = yaml.safe_load(read_regular_text(path, 1 << 20))
    except OSError as exc:
        raise ConfigError("--config", path, f"a readable file ({exc.strerror})") from None
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ConfigError("--config", path, f"valid YAML ({type(exc).__name__})") from None
    settings: check.HeartbeatSettings = bind(check.HeartbeatSettings, data)
    return settings


def cmd_heartbeat_check(args: argparse.Namespace) -> int:
    settings = load_settings(args.config)
    if args.listen:
        try:
            parse_listen(args.listen)
        except ValueError:
            raise ConfigError("--listen", args.listen, "HOST:PORT, e.g. 127.0.0.1:9846") from None
    setup_logging(args.log_level or "info", "text")
    from watchtower.app.heartbeat.service import HeartbeatService  # requests: only for this command

    service = HeartbeatService(settings)  # reads the secrets: a missing file exits 2 here
    if args.check:
        print(f"{args.config}: ok")
        return 0
    server = service.make_server(args.listen)
    stopped = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        log.info("heartbeat-check: signal %d, stopping", signum)
        stopped.set()
        service.stop()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    serving = threading.Thread(target=server.serve_forever, name="heartbeat-http", daemon=True)
    serving.start()
    host, port = server.server_address[:2]
    log.info("heartbeat-check: listening on %s:%s; alarm after %s without %s (%s), checks every %s, by %s",
             host, port, format_duration(settings.window), settings.alertname,
             f"one per {settings.source_label}" if settings.source_label else "any", format_duration(settings.check_interval),
             " and ".join(settings.channels()))
    try:
        service.run_checks()  # returns once a signal stopped it
    finally:
        server.shutdown()
        server.server_close()
    return 0
