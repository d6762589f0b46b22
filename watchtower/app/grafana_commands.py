"""``watchtower grafana diff`` and ``watchtower grafana pull``: code against live Grafana, and back.

Both only read Grafana. ``diff`` exits like a monitoring plugin: 0 nothing drifted, 1 something
differs, 3 UNKNOWN when it could not look (Grafana unreachable, a rejected credential, a code
file it could not read) — never 0 without having looked. ``pull`` writes files and exits 0 when
everything asked for was written (or already matched), 1 when something could not be pulled
(named on stderr), 3 when it could not read Grafana.
"""

from __future__ import annotations

import argparse
import os
import sys
import textwrap
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

from watchtower.app import config as config_mod
from watchtower.app.registry import REGISTRY
from watchtower.core.settings import ConfigError, SecretUnavailable
from watchtower.provisioning.settings import GrafanaSettings

if TYPE_CHECKING:  # live.py imports requests, desired.py ~0.5 MB of templates: the commands import them when they run
    from watchtower.provisioning.live import LiveState
    from watchtower.provisioning.model import DesiredState

EXIT_OK, EXIT_DRIFT, EXIT_UNKNOWN = 0, 1, 3
DIFF_EXIT_HELP = """exit status (the monitoring-plugins convention, like `watchtower check`):
  0  OK       every object watchtower owns in Grafana matches code
  1  WARNING  something differs (edited in Grafana, missing there, or no longer in code)
  3  UNKNOWN  could not look: Grafana unreachable, credentials rejected, or a code file unreadable"""
PULL_EXIT_HELP = """exit status:
  0  every dashboard (and, with --alerts-out, every edited rule) asked for was written or already matched
  1  something could not be pulled (a uid Grafana does not have, a rule that does not map back); see stderr
  3  could not read Grafana (unreachable, credentials rejected) or a --backup file"""


def add_commands(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:  # type: ignore[type-arg]
    grafana = sub.add_parser("grafana", help="compare code with live Grafana (diff) or pull edits back to files",
                             description="Compare what watchtower provisions with what Grafana holds now, or write "
                                         "live dashboards and alert rules back as files. Reads Grafana only.")
    gsub = grafana.add_subparsers(dest="grafana_command", metavar="ACTION", required=True)
    diff = gsub.add_parser(
        "diff", parents=[common], help="per-panel / per-field differences between code and live Grafana",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=textwrap.fill(
            "Print, for every dashboard, alert rule, rule group, contact point and the notification policy "
            "watchtower owns, how the live "
            "object differs from code (both normalised: ids, versions and Grafana's defaults do not count; "
            "secrets are never read or shown).", 100) + "\n\n" + DIFF_EXIT_HELP)
    diff.add_argument("--uid", action="append", default=None, metavar="UID",
                      help="only these dashboards (repeatable; rules and contact points are still compared)")
    diff.add_argument("--all", action="store_true", help="also list the objects that match")
    diff.set_defaults(func=cmd_diff)
    pull = gsub.add_parser(
        "pull", parents=[common], help="write live dashboards (and edited alert rules) back as files",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=textwrap.fill(
            "Write live dashboards as normalised JSON in the shape of dashboards/*.json (no id/version, data "
            "source references as ${datasource}, keys in the order of the file in code), so that a pull followed "
            "by a provision writes nothing and the git diff shows only the edit. With --alerts-out, alert rules "
            "edited in Grafana are written back into copies of their alerts/*.rules.yaml files where the edit maps "
            "back to a Prometheus rule; the others are named, with the reason.", 100) + "\n\n" + PULL_EXIT_HELP)
    pull.add_argument("--out", required=True, metavar="DIR", help="where the dashboard files go (created if missing)")
    pull.add_argument("--uid", action="append", default=None, metavar="UID",
                      help="only these dashboards (repeatable; default: every dashboard in code)")
    pull.add_argument("--alerts-out", default=None, metavar="DIR",
                      help="also pull alert rules edited in Grafana into rule files here")
    pull.add_argument("--backup", action="append", default=None, metavar="FILE",
                      help="pull from watchtower's backup files (collectors.grafana.backup_dir: the edit saved before "
                           "code's version was restored) instead of live Grafana (repeatable)")
    pull.set_defaults(func=cmd_pull)


def _settings(args: argparse.Namespace) -> GrafanaSettings:
    settings = config_mod.load(args.config, REGISTRY).collector_settings("grafana", REGISTRY)
    assert isinstance(settings, GrafanaSettings)
    if not settings.url:
        raise ConfigError("collectors.grafana.url", None, "the Grafana URL, e.g. https://grafana.example.org")
    return settings


def _desired() -> ModuleType:
    """The desired-state module, imported when a command runs."""
    from watchtower.provisioning import desired  # ~0.5 MB of templates and rules: not in every daemon

    return desired


def _unknown(message: str) -> int:
    print(f"UNKNOWN: {message}", file=sys.stderr)
    return EXIT_UNKNOWN


def _problems(state: DesiredState) -> None:
    for p in state.problems:
        print(f"watchtower: {p.location}: {p.reason}: {p.detail}", file=sys.stderr)


def cmd_diff(args: argparse.Namespace) -> int:
    from watchtower.provisioning import client as client_mod  # requests: only here
    from watchtower.provisioning import codediff, live, livediff  # they import the client: only here

    settings = _settings(args)
    state = _desired().load(settings)
    try:
        client = client_mod.GrafanaClient(settings)
        try:
            now = live.fetch(client, state, args.uid)
        finally:
            client.close()
    except (client_mod.GrafanaError, SecretUnavailable) as exc:
        return _unknown(str(exc))
    diffs = codediff.diff_state(state, now, settings.datasource_uid)
    sys.stdout.write(livediff.render(diffs, show_same=args.all))
    _problems(state)
    missing = [u for u in args.uid or [] if u not in {d.uid for d in state.dashboards}]
    for uid in missing:
        print(f"watchtower: dashboard {uid}: not in code; nothing to compare it with", file=sys.stderr)
    if state.problems or missing:
        return EXIT_UNKNOWN
    return EXIT_DRIFT if any(d.drifted for d in diffs) else EXIT_OK


def cmd_pull(args: argparse.Namespace) -> int:
    from watchtower.provisioning import client as client_mod  # requests: only here
    from watchtower.provisioning import live, pull  # they import the client: only here

    settings = _settings(args)
    state = _desired().load(settings)
    code = {d.uid: d for d in state.dashboards}
    uids = args.uid or list(code)
    failed = 0
    if args.backup:
        from watchtower.provisioning import driftstore  # only for this command

        try:
            docs = [driftstore.read_backup(path) for path in args.backup]
        except (OSError, ValueError) as exc:
            return _unknown(f"cannot read the backup: {exc}")
        now, notes = pull.live_from_backups(docs, state.folder.uid)
        uids = [u for u in now.dashboards if not args.uid or u in args.uid]
        for note in notes:
            print(f"watchtower: {note}", file=sys.stderr)
        failed += len(notes)
        if now.rules and args.alerts_out is None:
            print("watchtower: the backup holds alert rules: give --alerts-out DIR to pull them", file=sys.stderr)
            failed += 1
    else:
        try:
            client = client_mod.GrafanaClient(settings)
            try:
                now = live.fetch(client, state, uids, rules=args.alerts_out is not None, contact_points=False)
            finally:
                client.close()
        except (client_mod.GrafanaError, SecretUnavailable) as exc:
            return _unknown(str(exc))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for uid in uids:
        have = now.dashboards.get(uid)
        if have is None:
            print(f"watchtower: dashboard {uid}: not in Grafana; nothing pulled", file=sys.stderr)
            failed += 1
            continue
        mine = code.get(uid)
        text = _read(mine.source) if mine else None
        pulled = pull.dashboard_file(have.model, mine.source if mine else None, text, (settings.datasource_uid,))
        (out / pulled.name).write_text(pulled.text, encoding="utf-8")
        state_word = "edited in Grafana" if pulled.changed else "same as code"
        print(f"{out / pulled.name}: dashboard {uid} ({state_word}; {have.who() or 'no version information'})")
        if have.folder_uid != state.folder.uid:
            print(f"watchtower: dashboard {uid}: in folder {have.folder_uid or 'General'!r} in Grafana; the folder "
                  f"is collectors.grafana.folder_uid ({state.folder.uid!r}) and is not pulled", file=sys.stderr)
    if args.alerts_out is not None:
        failed += _pull_rules(state, now, settings, Path(args.alerts_out))
    _problems(state)
    return EXIT_DRIFT if failed or state.problems else EXIT_OK


def _read(source: str) -> str | None:
    try:
        return Path(source).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def _pull_rules(state: DesiredState, now: LiveState, settings: GrafanaSettings, out: Path) -> int:
    """Edited rules into copies of their rule files under ``out``; the rest named with the reason."""
    from watchtower.provisioning import rulepull  # with pull: only for this command

    files, problems = _desired().rule_sources(settings)
    result = rulepull.pull_rules(files, state, now.rules, now.group_intervals, settings.datasource_uid)
    if result.files:
        out.mkdir(parents=True, exist_ok=True)
    for name, text in sorted(result.files.items()):
        (out / name).write_text(text, encoding="utf-8")
    for p in result.pulled:
        assert p.edit is not None
        fields = ", ".join(p.edit.fields) or "nothing"
        print(f"{out / os.path.basename(p.source)}: alert-rule {p.uid} {p.title!r} (edited in Grafana: {fields})")
    for group, source, interval in result.intervals:
        print(f"{out / os.path.basename(source)}: rule-group {group} (interval edited in Grafana: {interval})")
    for p in result.not_pulled:
        print(f"watchtower: alert-rule {p.uid} {p.title!r}: cannot map back to a rule file: {p.reason}", file=sys.stderr)
    for problem in problems:
        print(f"watchtower: {problem.location}: {problem.reason}: {problem.detail}", file=sys.stderr)
    if not result.pulled and not result.not_pulled and not result.intervals:
        print("alert rules: none edited in Grafana")
    return len(result.not_pulled) + len(problems)


__all__ = ["add_commands"]
