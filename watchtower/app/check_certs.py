"""``watchtower check certs``: the certs collector once over the inputs named on the command line; no config needed."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from watchtower.collectors.base import CollectorContext
from watchtower.core import reasons
from watchtower.core.lazy import lazy_module
from watchtower.core.results import CollectResult, Severity, Status
from watchtower.core.settings import ConfigError, Seconds, SecretRef, cli_duration

if TYPE_CHECKING:
    from watchtower.collectors import certs
    from watchtower.collectors.certs import details as certs_details
    from watchtower.collectors.certs import settings as certs_settings
    from watchtower.collectors.certs import table as certs_table
else:  # loaded when `check certs` runs: other commands never import them
    certs = lazy_module("watchtower.collectors.certs")
    certs_details = lazy_module("watchtower.collectors.certs.details")
    certs_settings = lazy_module("watchtower.collectors.certs.settings")
    certs_table = lazy_module("watchtower.collectors.certs.table")


def _check_settings(args: argparse.Namespace) -> certs_settings.CertsSettings:
    endpoints = tuple(certs_settings.EndpointSettings(e, args.server_name, args.ca_file) for e in args.endpoint)
    settings = certs_settings.CertsSettings(
        enabled=True, paths=tuple(args.paths), endpoints=endpoints, kubeadm=bool(args.kubeadm),
        kubeadm_root=args.kubeadm or "/etc/kubernetes", kubelet_pki_dir=args.kubelet_pki_dir, endpoint_timeout=Seconds(args.timeout),
        pkcs12_passphrase=SecretRef(file=args.passphrase_file) if args.passphrase_file else None,
        apiserver_endpoints=(),
    )
    settings.validate("check certs")
    return settings


EXIT_STATUS_HELP = """exit status (the monitoring-plugins convention):
  0  OK        every input was read and every certificate is fine
  1  WARNING   a certificate needs attention soon, or a check warns (e.g. a SHA-1 signature)
  2  CRITICAL  a certificate is expired, not yet valid or about to expire, or a check failed
  3  UNKNOWN   no critical finding, but an input could not be read, matched nothing, held no
               certificate or could not be reached: what it holds is not known
A duplicate certificate is not an error. The last lines name what caused a non-zero status."""

MAX_REASONS = 10  # lines naming what caused the status; the JSON has them all


def _certs_details(result: CollectResult) -> certs_details.CertsDetails:
    if not isinstance(result.details, certs_details.CertsDetails):
        raise TypeError("the certs collector's details are CertsDetails")
    return result.details


def check_status(result: CollectResult) -> tuple[Status, list[str]]:
    """The overall status of one ``check certs`` run and the lines that say why (empty for OK)."""
    details = _certs_details(result)
    worst = max((f.severity for f in result.findings), default=Severity.OK)
    unknown = [i for i in details.input_rows() if i["status"] == "unknown"]
    stray = [e for e in details.error_rows() if e.get("input") is None]
    status = Status.judge(worst, bool(unknown or stray))
    why: list[str] = []
    if status in (Status.CRITICAL, Status.WARNING):
        why = [f"{f.severity.label}: {f.subject}: {f.message}" for f in sorted(
            result.findings, key=lambda f: -f.severity) if f.severity is Severity(status.value)]
    elif status is Status.UNKNOWN:
        why = [f"unknown: {i['input']}: {i['reason']}: {i['detail']}" for i in unknown]
        why += [f"unknown: {e['location']}: {e['reason']}: {e['detail']}" for e in stray]
    if len(why) > MAX_REASONS:
        why = why[:MAX_REASONS] + [f"... and {len(why) - MAX_REASONS} more (--output json has them all)"]
    return status, why


def cmd_check_certs(args: argparse.Namespace) -> int:
    """``watchtower check certs``: the collector once over the given inputs; no config needed."""
    if not (args.paths or args.endpoint or args.kubeadm):
        raise ConfigError("check certs", None, "at least one PATH, --endpoint or --kubeadm")
    if not 0 < args.deadline <= 86400:
        raise ConfigError("--deadline", args.deadline, "a duration above 0s, at most 1d")
    collector = certs.CertsCollector(_check_settings(args), args.context_for(args.config))
    result = collector.collect(budget=float(args.deadline))
    hung = any(e.reason == reasons.TIMEOUT and "deadline" in e.detail for e in result.errors)
    status, why = check_status(result)  # a hung item is an unread input: UNKNOWN at best
    details = _certs_details(result)
    notes = [n for n in details.note_rows() if not (args.kubeadm and n["kind"] == "kubeadm_root")]
    if args.output == "json":
        doc = details.to_json()
        doc["errors"] = [{"location": e["location"], "reason": e["reason"], "detail": e["detail"], "input": e["input"]}
                         for e in doc["errors"]]
        doc["notes"] = notes
        doc["findings"] = [{"subject": f.subject, "severity": f.severity.label, "message": f.message}
                           for f in sorted(result.findings, key=lambda f: (-f.severity, f.subject))]
        doc["status"] = status.label
        # Compact by default: json's C encoder is only used without indent (3.4x faster at 10k certificates).
        text = json.dumps(doc, indent=2) if args.pretty else json.dumps(doc, separators=(",", ":"))
        sys.stdout.write(text + "\n")
    else:
        color = sys.stdout.isatty() and "NO_COLOR" not in os.environ
        lines = certs_table.render_table(details, color) or ["no certificates found"]
        for e in details.error_rows():
            lines.append(f"error: {e['location']}: {e['reason']}: {e['detail']}")
        for check in details.check_rows():
            if not check["ok"]:
                lines.append(f"check failed: {check['check']}: {check['subject']}: {check['message']}")
        for note in notes:
            lines.append(f"note: {note['location']} {note['message']}")
        shown = status.label.upper()
        if color:
            shown = f"{certs_table._COLORS.get(status.label, '')}{shown}\033[0m"
        lines += ["", f"status: {shown} (exit {status.value})", *(f"  {line}" for line in why)]
        sys.stdout.write("\n".join(lines) + "\n")
    sys.stdout.flush()
    if hung:  # a read still blocks on a worker thread: do not wait for it at interpreter exit
        sys.stderr.flush()
        os._exit(status.value)
    return status.value


def add_command(subparsers: Any, common_parent: argparse.ArgumentParser,
            context_for: Callable[[str | None], CollectorContext]) -> None:
    """``context_for(config_path)``: the application's context builder (collectors do not load configs)."""
    parser = subparsers.add_parser(
        "certs", parents=[common_parent], help="certificate expiry of files, kubeconfigs and TLS endpoints",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Report every certificate in PATHs (files, directories, globs; PEM, DER, PKCS#7, "
                    "PKCS#12; kubeconfigs,\nalso found by content in directories) and at TLS endpoints, like "
                    "`kubeadm certs check-expiration`. Needs no config file.\n\n" + EXIT_STATUS_HELP)
    parser.add_argument("paths", nargs="*", metavar="PATH")
    parser.add_argument("--endpoint", action="append", default=[], metavar="HOST:PORT",
                        help="TLS endpoint to fetch the presented chain from (repeatable)")
    parser.add_argument("--server-name", metavar="NAME", help="SNI / host name to verify for --endpoint")
    parser.add_argument("--ca-file", metavar="FILE", help="CA bundle to verify --endpoint with (default: system)")
    parser.add_argument("--kubeadm", nargs="?", const="/etc/kubernetes", metavar="ROOT",
                        help="also discover kubeadm's certificates under ROOT (default /etc/kubernetes)")
    parser.add_argument("--kubelet-pki-dir", default="/var/lib/kubelet/pki", metavar="DIR",
                        help="the kubelet's certificates, with --kubeadm (default /var/lib/kubelet/pki)")
    parser.add_argument("--passphrase-file", metavar="FILE", help="PKCS#12 passphrase file")
    parser.add_argument("--timeout", type=cli_duration, default=Seconds(5), metavar="DURATION",
                        help="per endpoint, e.g. 5s or 1m (default 5s)")
    parser.add_argument("--deadline", type=cli_duration, default=Seconds(120), metavar="DURATION",
                        help="for the whole check (default 2m): then print what was read and name what "
                             "hung (status UNKNOWN at best)")
    parser.add_argument("--output", "-o", choices=["table", "json"], default="table")
    parser.add_argument("--pretty", action="store_true",
                        help="with --output json: indented for people (default: compact, one line)")
    parser.set_defaults(func=cmd_check_certs, context_for=context_for)
