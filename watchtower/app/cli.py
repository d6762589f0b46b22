"""The ``watchtower`` command: run, check, config check|show, version.

Exit status of ``check`` and ``check certs`` follows the monitoring-plugins convention: 0 OK,
1 WARNING, 2 CRITICAL, 3 UNKNOWN (nothing critical seen, but something could not be looked at).
Other commands: 0 fine, 2 a bad configuration (the message names the field) or a failure.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import sys
import time
import warnings
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TextIO

from watchtower import __version__
from watchtower.app import check_certs, report
from watchtower.app import config as config_mod
from watchtower.app.daemon import Daemon, make_context, select_collectors
from watchtower.app.grafana_commands import add_commands as add_grafana_sync_commands
from watchtower.app.heartbeat.commands import add_commands as add_heartbeat_commands
from watchtower.app.logsetup import setup_logging
from watchtower.app.plan_command import add_commands as add_plan_commands
from watchtower.app.planning import plan_from_results, render_plan
from watchtower.app.provision_commands import add_commands as add_grafana_commands
from watchtower.app.registry import REGISTRY
from watchtower.app.scheduler import CollectorRunner
from watchtower.app.store import SnapshotStore, StoreView
from watchtower.collectors.base import Collector, CollectorContext
from watchtower.core import threads
from watchtower.core.formatting import format_table
from watchtower.core.results import Status
from watchtower.core.settings import ConfigError, SecretUnavailable, StartupError

EXIT_OK = 0
EXIT_CONFIG = 2
EXIT_STARTUP = 2  # like a bad config: systemd's RestartPreventExitStatus=2 does not restart-loop on it
CHECK_EXIT_HELP = """exit status (the monitoring-plugins convention):
  0  OK        every enabled collector ran and found nothing to warn about
  1  WARNING   warnings only
  2  CRITICAL  a critical finding (an expired certificate, no VIP holder, ...)
  3  UNKNOWN   nothing critical, but watchtower could not look everywhere: a collector failed,
               an input could not be read, or no collector runs at all (blind)
The last lines name what caused a non-zero status."""

log = logging.getLogger("watchtower")


def _registry() -> Mapping[str, type[Collector]]:
    return REGISTRY


def _common() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--config", metavar="FILE",
        help=f"YAML config file (default: ${config_mod.CONFIG_ENV}, else built-in defaults)",
    )
    common.add_argument("--log-level", choices=["debug", "info", "warning", "error"],
                        help="override log.level from the config")
    return common


def build_parser() -> argparse.ArgumentParser:
    common = _common()
    parser = argparse.ArgumentParser(
        prog="watchtower",
        description="Monitoring and alerting for kubeadm control planes: certificates, apiservers, "
                    "VIP, HAProxy, etcd and the upgrade policy.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    run = sub.add_parser("run", parents=[common], help="run the daemon: scheduled collectors and /metrics",
                         description="Run the collectors on their schedules and serve /metrics, /healthz, "
                                     "/readyz and the status page until SIGTERM or SIGINT.")
    run.add_argument("--listen", metavar="HOST:PORT",
                     help=f"address to serve on (default: server.listen, {config_mod.DEFAULT_LISTEN})")
    run.set_defaults(func=cmd_run)

    check = sub.add_parser("check", parents=[common], help="run every enabled collector once and report",
                           formatter_class=argparse.RawDescriptionHelpFormatter,
                           description="Run every enabled collector once and print what it found.\n\n"
                                       + CHECK_EXIT_HELP)
    _add_check_output(check)
    check.add_argument("--collector", action="append", default=[], metavar="NAME",
                       help="only this collector (repeatable)")
    check.set_defaults(func=cmd_check)
    check_sub = check.add_subparsers(dest="check_target", metavar="TARGET")
    check_certs.add_command(check_sub, common, _context_for)  # `watchtower check certs PATH...`

    cfg = sub.add_parser("config", help="validate or show the configuration",
                         description="Validate a config file, or print the effective configuration.")
    cfg_sub = cfg.add_subparsers(dest="config_command", metavar="ACTION", required=True)
    cfg_check = cfg_sub.add_parser("check", parents=[common], help="validate FILE; exit 2 naming the bad key",
                                   description="Validate a config file; exit 0 if valid, 2 naming the field "
                                               "path, the bad value and what was expected.")
    cfg_check.add_argument("file", metavar="FILE", nargs="?", help="config file (default: --config)")
    cfg_check.set_defaults(func=cmd_config_check)
    cfg_show = cfg_sub.add_parser("show", parents=[common], help="print the effective config, secrets redacted",
                                  description="Print the effective configuration (defaults merged with the "
                                              "file) as YAML; secrets appear only as their file or variable.")
    cfg_show.set_defaults(func=cmd_config_show)

    add_plan_commands(sub, common, run_collectors_once)  # `watchtower plan upgrade`
    add_grafana_commands(sub, common)  # `watchtower provision [--dry-run]`, `watchtower render --out DIR`
    add_grafana_sync_commands(sub, common)  # `watchtower grafana diff`, `watchtower grafana pull --out DIR`

    add_heartbeat_commands(sub, common)  # `watchtower heartbeat-check --config FILE`

    version = sub.add_parser("version", help="print the version", description="Print watchtower's version.")
    version.set_defaults(func=cmd_version)
    return parser


def _add_check_output(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--output", "-o", choices=["table", "json"], default="table",
                        help="table for people (default), json for scripts")


def _load_config(args: argparse.Namespace) -> config_mod.Config:
    return config_mod.load(args.config, _registry())


def _context_for(config_path: str | None) -> CollectorContext:
    """The collector context for a one-off command: from ``config_path``, else the defaults."""
    config = config_mod.load(config_path) if config_path else config_mod.from_mapping({})
    return make_context(config)


def cmd_version(args: argparse.Namespace) -> int:
    print(f"watchtower {__version__} (distribution kube-watchtower)")
    return EXIT_OK


def cmd_config_check(args: argparse.Namespace) -> int:
    path = args.file or args.config or os.environ.get(config_mod.CONFIG_ENV)
    if not path:
        print("config check: give a FILE (or --config / $WATCHTOWER_CONFIG)", file=sys.stderr)
        return EXIT_CONFIG
    config_mod.load(path, _registry())
    print(f"{path}: ok")
    return EXIT_OK


def cmd_config_show(args: argparse.Namespace) -> int:
    sys.stdout.write(config_mod.render(config_mod.with_defaults(_load_config(args), _registry())))
    return EXIT_OK


def cmd_run(args: argparse.Namespace) -> int:
    config = _load_config(args)
    setup_logging(args.log_level or config.log.level, config.log.format)
    if args.listen:
        try:
            config_mod.parse_listen(args.listen)
        except ValueError:
            raise ConfigError("--listen", args.listen, "HOST:PORT, e.g. 127.0.0.1:9847") from None
        # the log shows what is used: --listen overrides server.listen
        config = dataclasses.replace(config, server=dataclasses.replace(config.server, listen=args.listen))
    threads.cap_malloc_arenas()  # before the daemon starts its threads
    try:
        daemon = Daemon(config, listen=args.listen)
        daemon.handle_signals()
        daemon.bind()  # before any log line: a start-up failure is the only line printed
    except (ConfigError, SecretUnavailable, StartupError):
        raise
    except Exception as exc:  # noqa: BLE001 - whatever else stops the start: one line, exit 2
        raise StartupError(f"{type(exc).__name__}: {exc}") from None
    log.info("watchtower %s starting with config:\n%s", __version__,
             config_mod.render(config_mod.with_defaults(config, _registry())))
    daemon.run_until_stopped()
    log.info("stopped")
    return EXIT_OK


def run_collectors_once(collectors: Sequence[Collector]) -> StoreView:
    """Run each collector once, concurrently, each with its own timeout; the resulting view."""
    store = SnapshotStore(c.name for c in collectors)
    runners = [CollectorRunner(c, store) for c in collectors]
    if runners:
        with ThreadPoolExecutor(max_workers=min(8, len(runners))) as pool:
            list(pool.map(lambda r: r.run_once(), runners))
    return store.view()


def cmd_check(args: argparse.Namespace) -> int:
    config = _load_config(args)
    setup_logging(args.log_level or "warning", "text")
    registry = _registry()
    unknown = [n for n in args.collector if n not in registry]
    if unknown:
        raise ConfigError("--collector", unknown[0], f"a collector name, one of {sorted(registry)}")
    selection = select_collectors(config, registry, make_context(config, one_shot=True), only=tuple(args.collector))
    skipped = dict(selection.skipped)
    collectors = []
    for collector in selection.enabled:
        if collector.changes_external_state and collector.name not in args.collector:
            skipped[collector.name] = f"changes external state; run it with --collector {collector.name}"
        else:
            collectors.append(collector)
    view = run_collectors_once(collectors)
    # Asked for by name, a provisioner is what the person wants judged; otherwise it does not watch.
    passive = () if args.collector else tuple(n for n, c in registry.items() if c.changes_external_state)
    return emit_check(view, args.output, registry, skipped, passive=passive)


def emit_check(
    view: StoreView, output: str, registry: Mapping[str, type[Collector]],
    skipped: Mapping[str, str] | None = None, stream: TextIO | None = None, passive: Sequence[str] = (),
) -> int:
    """Print a check result as a table or JSON; return the exit status it implies."""
    stream = stream or sys.stdout
    doc = report.status_document(view, skipped=skipped, passive=passive)
    if output == "json":
        json.dump(doc, stream, indent=2)
        stream.write("\n")
    else:
        stream.write(render_check_table(view, doc, registry, skipped or {}, color=_use_color(stream)))
    return Status[doc["status"].upper()].value


def _use_color(stream: TextIO) -> bool:
    return stream.isatty() and "NO_COLOR" not in os.environ


_COLORS = {"ok": "\033[32m", "warning": "\033[33m", "critical": "\033[31m", "unknown": "\033[35m"}


def paint(text: str, state: Status | Any, color: bool) -> str:
    """``text`` in the colour of a Status or Severity (magenta for UNKNOWN)."""
    return f"{_COLORS[state.label]}{text}\033[0m" if color else text


def render_check_table(
    view: StoreView, doc: dict[str, Any], registry: Mapping[str, type[Collector]],
    skipped: Mapping[str, str], color: bool = False,
) -> str:
    lines: list[str] = []
    for name in sorted(view.states):
        result = view.states[name].result
        cls = registry.get(name)
        if result is not None and cls is not None:
            section = cls.check_table(result.details, color=color)
            if section:
                lines += section + [""]
    plan = plan_from_results(report.latest_results(view), time.time())
    if plan is not None:  # the same plan as `watchtower plan upgrade` and the status page
        lines += render_plan(plan) + [""]
    findings = report.findings(view)
    if findings:
        rows = [(paint(f.severity.label.upper(), f.severity, color), f.section, f.subject, f.message)
                for f in findings]
        lines += format_table(("STATUS", "SECTION", "SUBJECT", "FINDING"), rows) + [""]
    rows = []
    for c in doc["collectors"]:
        state = "ok" if c["success"] else f"FAILED ({c['failure_reason']}): {c['failure_detail']}"
        rows.append((c["name"], paint(state, Status[c["severity"].upper()], color), str(len(c["errors"])),
                     f"{c['duration_seconds'] or 0:.2f}s"))
    for name, reason in sorted(skipped.items()):
        rows.append((name, f"not run: {reason}", "-", "-"))
    lines += format_table(("COLLECTOR", "STATE", "ERRORS", "TOOK"), rows)
    for c in doc["collectors"]:
        for e in c["errors"]:
            lines.append(f"  {c['name']}: {e['location']}: {e['reason']}: {e['detail']}")
    overall = Status[doc["status"].upper()]
    lines += ["", "overall: " + paint(overall.label.upper(), overall, color) + f" (exit {overall.value})"]
    lines += [f"  {line}" for line in status_reasons(doc)]
    return "\n".join(lines) + "\n"


def status_reasons(doc: Mapping[str, Any], limit: int = 10) -> list[str]:
    """The lines that say why a status document is not OK: its findings, failures or blindness."""
    status = doc["status"]
    out: list[str] = []
    if status in ("critical", "warning"):
        out = [f"{f['severity']}: {f['section']}: {f['subject']}: {f['message']}"
               for f in doc["findings"] if f["severity"] == status]
    elif status == "unknown":
        blind = doc.get("blind")
        if blind:
            out.append(f"blind: {blind['reason']}")
            out += [f"  {c['name']}: {c['why']}" for c in blind["collectors"]]
            out.append(f"try first: {blind['first_command']}  ({blind['first_command_why']})")
            return out
        for c in doc["collectors"]:
            if not c["success"]:
                out.append(f"unknown: collector {c['name']} "
                           + (f"failed ({c['failure_reason']}): {c['failure_detail']}" if c["ran"] else "has not run"))
            out += [f"unknown: {c['name']}: {e['location']}: {e['reason']}: {e['detail']}" for e in c["errors"]]
    if len(out) > limit:
        out = out[:limit] + [f"... and {len(out) - limit} more (--output json has them all)"]
    return out


def main(argv: Sequence[str] | None = None) -> int:
    if not sys.warnoptions:  # libraries' Python warnings are for their developers, not the terminal;
        warnings.simplefilter("ignore")  # `python -W default -m watchtower ...` shows them again
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except ConfigError as exc:
        print(f"watchtower: config error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except SecretUnavailable as exc:
        print(f"watchtower: secret unavailable: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except StartupError as exc:
        print(f"watchtower: cannot start: {exc}", file=sys.stderr)
        return EXIT_STARTUP
    except KeyboardInterrupt:
        return EXIT_OK
