"""The ``watchtower`` command: run, check, config check|show, version.

Exit status: 0 fine, 1 warnings (``check``), 2 critical findings, a failed collector, or a bad
configuration (the message names the field).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TextIO

from watchtower import __version__
from watchtower.app import config as config_mod
from watchtower.app import report
from watchtower.app.daemon import Daemon, make_context, select_collectors
from watchtower.app.logsetup import setup_logging
from watchtower.app.provision_commands import add_commands as add_grafana_commands
from watchtower.app.registry import REGISTRY
from watchtower.app.scheduler import CollectorRunner
from watchtower.app.store import SnapshotStore, StoreView
from watchtower.collectors.base import Collector, CollectorContext
from watchtower.core.formatting import format_table
from watchtower.core.results import Severity
from watchtower.core.settings import ConfigError, SecretUnavailable

EXIT_OK, EXIT_WARNING, EXIT_CRITICAL = 0, 1, 2
EXIT_CONFIG = 2

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
                           description="Run every enabled collector once, print what it found and exit "
                                       "0 (all fine), 1 (warnings) or 2 (critical findings or a failed "
                                       "collector).")
    _add_check_output(check)
    check.add_argument("--collector", action="append", default=[], metavar="NAME",
                       help="only this collector (repeatable)")
    check.set_defaults(func=cmd_check)
    check_sub = check.add_subparsers(dest="check_target", metavar="TARGET")
    for cls in _registry().values():  # e.g. `watchtower check certs PATH...` from the certs collector
        add_command = getattr(cls, "add_check_command", None)
        if add_command is not None:
            add_command(check_sub, common, _context_for)

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

    add_grafana_commands(sub, common)  # `watchtower provision [--dry-run]`, `watchtower render --out DIR`

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
    sys.stdout.write(config_mod.render(_load_config(args)))
    return EXIT_OK


def cmd_run(args: argparse.Namespace) -> int:
    config = _load_config(args)
    setup_logging(args.log_level or config.log.level, config.log.format)
    if args.listen:
        try:
            config_mod.parse_listen(args.listen)
        except ValueError:
            raise ConfigError("--listen", args.listen, "HOST:PORT, e.g. 127.0.0.1:9847") from None
    log.info("watchtower %s starting with config:\n%s", __version__, config_mod.render(config))
    Daemon(config, listen=args.listen).run_until_stopped()
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
    selection = select_collectors(config, registry, make_context(config), only=tuple(args.collector))
    skipped = dict(selection.skipped)
    collectors = []
    for collector in selection.enabled:
        if collector.changes_external_state and collector.name not in args.collector:
            skipped[collector.name] = f"changes external state; run it with --collector {collector.name}"
        else:
            collectors.append(collector)
    view = run_collectors_once(collectors)
    return emit_check(view, args.output, registry, skipped)


def emit_check(
    view: StoreView, output: str, registry: Mapping[str, type[Collector]],
    skipped: Mapping[str, str] | None = None, stream: TextIO | None = None,
) -> int:
    """Print a check result as a table or JSON; return the exit status it implies."""
    stream = stream or sys.stdout
    doc = report.status_document(view)
    if output == "json":
        doc["skipped"] = dict(skipped or {})
        json.dump(doc, stream, indent=2)
        stream.write("\n")
    else:
        stream.write(render_check_table(view, doc, registry, skipped or {}, color=_use_color(stream)))
    return int(report.overall(view))


def _use_color(stream: TextIO) -> bool:
    return stream.isatty() and "NO_COLOR" not in os.environ


_COLORS = {Severity.OK: "\033[32m", Severity.WARNING: "\033[33m", Severity.CRITICAL: "\033[31m"}


def paint(text: str, severity: Severity, color: bool) -> str:
    return f"{_COLORS[severity]}{text}\033[0m" if color else text


def render_check_table(
    view: StoreView, doc: dict[str, Any], registry: Mapping[str, type[Collector]],
    skipped: Mapping[str, str], color: bool = False,
) -> str:
    lines: list[str] = []
    for name in sorted(view.states):
        result = view.states[name].result
        cls = registry.get(name)
        table = getattr(cls, "check_table", None)
        if result is not None and table is not None:
            section = table(result.details, color=color)
            if section:
                lines += section + [""]
    findings = report.findings(view)
    if findings:
        rows = [(paint(f.severity.label.upper(), f.severity, color), f.section, f.subject, f.message)
                for f in findings]
        lines += format_table(("STATUS", "SECTION", "SUBJECT", "FINDING"), rows) + [""]
    rows = []
    for c in doc["collectors"]:
        sev = Severity[c["severity"].upper()]
        state = "ok" if c["success"] else f"FAILED ({c['failure_reason']}): {c['failure_detail']}"
        rows.append((c["name"], paint(state, sev, color), str(len(c["errors"])), f"{c['duration_seconds'] or 0:.2f}s"))
    for name, reason in sorted(skipped.items()):
        rows.append((name, f"not run: {reason}", "-", "-"))
    lines += format_table(("COLLECTOR", "STATE", "ERRORS", "TOOK"), rows)
    for c in doc["collectors"]:
        for e in c["errors"]:
            lines.append(f"  {c['name']}: {e['location']}: {e['reason']}: {e['detail']}")
    overall = report.overall(view)
    lines += ["", "overall: " + paint(overall.label.upper(), overall, color)]
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
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
    except KeyboardInterrupt:
        return EXIT_OK
