"""``watchtower provision [--dry-run]`` and ``watchtower render --out DIR``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from watchtower.app import config as config_mod
from watchtower.app.logsetup import setup_logging
from watchtower.app.registry import REGISTRY
from watchtower.core.settings import ConfigError
from watchtower.provisioning.settings import GrafanaSettings

EXIT_OK, EXIT_PROBLEMS = 0, 2


def add_commands(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:  # type: ignore[type-arg]
    prov = sub.add_parser(
        "provision", parents=[common], help="reconcile Grafana once (folder, dashboards, alerts, contact points, policy)",
        description="Bring Grafana in line with dashboards/, alerts/ and collectors.grafana in the config, once, "
                    "writing only what differs. One attempt, bounded by collectors.grafana.request_timeout "
                    "(default 10s): an unreachable Grafana fails at once (the daemon retries with backoff). "
                    "Exit 0 when everything is in place, 2 otherwise.")
    prov.add_argument("--dry-run", action="store_true", help="print what would be created/updated/deleted; change nothing")
    prov.set_defaults(func=cmd_provision)
    render_cmd = sub.add_parser(
        "render", parents=[common], help="write the Grafana provisioning files and a PrometheusRule",
        description="Write the same desired state as files: Grafana file provisioning (dashboard provider + JSON, "
                    "alerting YAML) and a PrometheusRule manifest. Secrets appear only as $__file{...} or ${VAR} "
                    "references. Exit 2 if an input file had a problem (the rest is still written).")
    render_cmd.add_argument("--out", required=True, metavar="DIR", help="output directory (created if missing)")
    render_cmd.add_argument("--dashboards-path", default=None, metavar="PATH",
                        help="where Grafana will find the dashboard JSON (default /var/lib/grafana/dashboards/watchtower)")
    render_cmd.add_argument("--namespace", default=None, help="namespace of the PrometheusRule (default: none)")
    render_cmd.set_defaults(func=cmd_render)


def _settings(args: argparse.Namespace) -> GrafanaSettings:
    settings = config_mod.load(args.config, REGISTRY).collector_settings("grafana", REGISTRY)
    assert isinstance(settings, GrafanaSettings)
    return settings


def _print_problems(problems: object) -> None:
    for p in problems:  # type: ignore[attr-defined]
        print(f"watchtower: {p.location}: {p.reason}: {p.detail}", file=sys.stderr)


def cmd_provision(args: argparse.Namespace) -> int:
    settings = _settings(args)
    setup_logging(args.log_level or "warning", "text")
    if not settings.url:
        raise ConfigError("collectors.grafana.url", None, "the Grafana URL, e.g. https://grafana.example.org")
    # One attempt, bounded by the request timeout: a person or a CI job waits for an answer; the
    # retry with backoff over the job's whole timeout is for the daemon, which has time to wait.
    from watchtower.provisioning import provision  # requests (~10 MB): only for this command

    report = provision.run(settings, dry_run=args.dry_run, budget_seconds=0.0)
    if report.plan is not None:
        sys.stdout.write(report.plan.render())
    if report.outcome is not None:
        counts = report.outcome.counts()
        done = ", ".join(f"{n} {state}" for state in ("created", "updated", "deleted", "unchanged", "failed")
                         if (n := sum(v for (_, s), v in counts.items() if s == state)))
        print(f"applied: {done or 'nothing'}")
    _print_problems(report.errors())
    if args.dry_run:
        return EXIT_OK if report.plan is not None else EXIT_PROBLEMS
    return EXIT_OK if report.success else EXIT_PROBLEMS


def cmd_render(args: argparse.Namespace) -> int:
    from watchtower.provisioning import desired, render  # only for this command

    settings = _settings(args)
    state = desired.load(settings)
    paths = render.render(state, Path(args.out), args.dashboards_path or render.DEFAULT_DASHBOARDS_MOUNT,
                          namespace=args.namespace)
    for path in paths:
        print(path)
    _print_problems(state.problems)
    return EXIT_PROBLEMS if state.problems else EXIT_OK
