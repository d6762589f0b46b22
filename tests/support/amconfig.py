"""alerts/alertmanager.yaml made runnable on loopback: local sinks, secret files, fast timers.

Receivers, routes, grouping, inhibition and templates stay as shipped, so the end-to-end tests
exercise the example configuration itself, not a look-alike.
"""

from __future__ import annotations

import dataclasses
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from tests.support.alert_sinks import WebhookSink
from tests.support.promstack import ALERTS


@dataclasses.dataclass(frozen=True)
class SinkSecrets:
    """The secrets Alertmanager reads from files; a test checks that none reaches a log."""

    smtp_password: str
    slack_path: str  # the secret part of the Slack webhook URL
    heartbeat_token: str


def walk_routes(route: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield route
    for child in route.get("routes") or []:
        yield from walk_routes(child)


def alertmanager_config_for_test(
    workdir: Path, smtp_port: int, webhooks: WebhookSink, secrets: SinkSecrets,
    heartbeat_urls: list[str] | None = None, watchdog_repeat: str | None = None,
) -> Path:
    """alerts/alertmanager.yaml with local sinks, secret files in ``workdir`` and fast timers.

    ``heartbeat_urls`` replaces the heartbeat receiver's webhook(s) (default: the sink's
    /heartbeat); ``watchdog_repeat`` shortens the Watchdog route's repeat_interval.
    """
    secret_dir = workdir / "secrets"
    secret_dir.mkdir(parents=True, exist_ok=True)
    # no trailing newline: Alertmanager 0.25 sends the password file's bytes verbatim
    (secret_dir / "smtp-password").write_text(secrets.smtp_password)
    (secret_dir / "slack-webhook-url").write_text(webhooks.url(secrets.slack_path) + "\n")
    (secret_dir / "heartbeat-token").write_text(secrets.heartbeat_token + "\n")
    doc = yaml.safe_load((ALERTS / "alertmanager.yaml").read_text())
    doc["global"].update(
        smtp_smarthost=f"127.0.0.1:{smtp_port}", smtp_require_tls=False,
        smtp_auth_password_file=str(secret_dir / "smtp-password"),
    )
    for route in walk_routes(doc["route"]):
        if "group_wait" in route or route is doc["route"]:
            route["group_wait"] = "0s"
        if "group_interval" in route or route is doc["route"]:
            route["group_interval"] = "100ms"
        if watchdog_repeat and 'alertname="Watchdog"' in (route.get("matchers") or []):
            route["repeat_interval"] = watchdog_repeat
    for receiver in doc["receivers"]:
        for slack in receiver.get("slack_configs") or []:
            slack["api_url_file"] = str(secret_dir / "slack-webhook-url")
        hooks = receiver.get("webhook_configs") or []
        if hooks:
            template = hooks[0]
            urls = heartbeat_urls or [webhooks.url("/heartbeat")]
            receiver["webhook_configs"] = [
                {**template, "url": url, "http_config": {"authorization": {
                    **template["http_config"]["authorization"],
                    "credentials_file": str(secret_dir / "heartbeat-token")}}}
                for url in urls
            ]
    config = workdir / "alertmanager.yaml"
    config.write_text(yaml.safe_dump(doc, sort_keys=False))
    shutil.copy(ALERTS / "alertmanager.tmpl", workdir / "alertmanager.tmpl")
    text = config.read_text()
    assert secrets.smtp_password not in text and secrets.slack_path not in text
    return config
