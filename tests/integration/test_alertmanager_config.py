"""alerts/alertmanager.yaml passes Debian's `amtool check-config` and routes as documented.

The end-to-end delivery test (tests/e2e/test_alert_delivery.py) runs this same file in a real
Alertmanager; here only amtool's static checks, which take milliseconds.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from tests.support.services import require_binary

ALERTS = Path(__file__).resolve().parents[2] / "alerts"
CONFIG = ALERTS / "alertmanager.yaml"

pytestmark = pytest.mark.alertmanager


def _amtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([require_binary("amtool"), *args], capture_output=True, text=True, timeout=60, cwd="/")


def test_check_config() -> None:
    done = _amtool("check-config", str(CONFIG))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 templates" in done.stdout, done.stdout  # alertmanager.tmpl found relative to the config


def test_check_config_rejects_a_wrong_key(tmp_path: Path) -> None:
    """Guard against a checker that passes anything: a misspelt secret field must fail."""
    broken = tmp_path / "alertmanager.yaml"
    broken.write_text(CONFIG.read_text().replace("api_url_file:", "api_url_fille:"))
    (tmp_path / "alertmanager.tmpl").write_text((ALERTS / "alertmanager.tmpl").read_text())
    done = _amtool("check-config", str(broken))
    assert done.returncode != 0 and "api_url_fille" in done.stdout + done.stderr, done.stdout + done.stderr


@pytest.mark.parametrize(
    ("labels", "receiver"),
    [
        (("alertname=Watchdog", "severity=info"), "heartbeat"),
        (("alertname=CertificateExpiring", "severity=critical", "cluster=prod-1"), "oncall"),
        (("alertname=CertificateExpiring", "severity=warning", "cluster=prod-1"), "ticket"),
        (("alertname=UpgradeDueSoon", "severity=info"), "ticket"),
        (("alertname=SomethingWithoutSeverity",), "ticket"),
    ],
)
def test_routes(labels: tuple[str, ...], receiver: str) -> None:
    done = _amtool("config", "routes", "test", f"--config.file={CONFIG}", f"--verify.receivers={receiver}", *labels)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.strip() == receiver


def test_secrets_come_from_files() -> None:
    """No inline secret: the SMTP password and the Slack webhook URL are *_file references."""
    config = yaml.safe_load(CONFIG.read_text())
    assert "smtp_auth_password" not in config["global"] and config["global"]["smtp_auth_password_file"]
    slack = [s for r in config["receivers"] for s in r.get("slack_configs", [])]
    emails = [e for r in config["receivers"] for e in r.get("email_configs", [])]
    assert slack and all("api_url" not in s and s["api_url_file"] for s in slack)
    assert emails and all("auth_password" not in e for e in emails)
    assert config["route"]["group_by"] == ["cluster", "alertname"]
