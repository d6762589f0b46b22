"""The provisioner's settings: where Grafana is, how to authenticate, and what to provision."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Literal

from watchtower.core.sections import CollectorSettings
from watchtower.core.settings import ConfigError, Seconds, SecretRef

GRAFANA_UID_MAX = 40  # Grafana rejects longer uids for folders, dashboards, rules and contact points
_UID_RE = re.compile(r"^[a-zA-Z0-9\-_]+$")

DriftPolicy = Literal["keep", "backup", "overwrite"]
DriftKind = Literal["dashboard", "rule-group", "contact-point"]
DRIFT_KINDS: tuple[DriftKind, ...] = ("dashboard", "rule-group", "contact-point")
DEFAULT_DRIFT_POLICY: DriftPolicy = "backup"

# dashboards/ and alerts/ of a source checkout (an editable install or the tests)
_SOURCE_ROOT = Path(__file__).resolve().parents[2]


def bundled(name: str) -> Traversable:
    """``dashboards`` or ``alerts`` as shipped: inside the installed package (setup.py copies the
    repository's directories into ``watchtower/_data/`` of the wheel), else the source checkout's."""
    packaged = resources.files("watchtower") / "_data" / name
    return packaged if packaged.is_dir() else _SOURCE_ROOT / name


def uid_problem(uid: object) -> str | None:
    """Why ``uid`` is not a valid Grafana uid, or None."""
    if not isinstance(uid, str) or not uid:
        return "a uid must be a non-empty string"
    if len(uid) > GRAFANA_UID_MAX:
        return f"uid {uid!r} is {len(uid)} characters long; Grafana allows at most {GRAFANA_UID_MAX}"
    if not _UID_RE.match(uid):
        return f"uid {uid!r} may only contain letters, digits, '-' and '_'"
    return None


@dataclasses.dataclass(frozen=True)
class GrafanaSettings(CollectorSettings):
    """Where Grafana is, how to authenticate, and what to provision there.

    Authentication is a service-account ``token`` (``token_file``/``token_env``) or, for a
    Grafana without persistent storage whose service accounts vanish on restart, the admin
    ``username`` plus ``password_file``/``password_env``.
    """

    interval: Seconds = Seconds(300)
    timeout: Seconds = Seconds(120)
    url: str = ""
    token: SecretRef | None = None
    username: str | None = None
    password: SecretRef | None = None
    ca_file: str | None = None
    insecure: bool = False
    request_timeout: Seconds = Seconds(10)
    retry_max_delay: Seconds = Seconds(30)
    disable_provenance: bool = False
    folder_uid: str = "watchtower"
    folder_title: str = "watchtower"
    datasource_uid: str = "prometheus"
    dashboards_dir: str | None = None
    alerts_dir: str | None = None
    contact_point: str = "watchtower"
    email_addresses: tuple[str, ...] = ()
    slack_webhook: SecretRef | None = None
    slack_channel: str | None = None
    manage_policy: bool = True
    group_by: tuple[str, ...] = ("cluster", "alertname")
    group_wait: Seconds = Seconds(30)
    group_interval: Seconds = Seconds(300)
    repeat_interval: Seconds = Seconds(4 * 3600)
    # an object edited in Grafana (not in code): one policy, or one per kind (unlisted: backup)
    on_drift: DriftPolicy | Mapping[DriftKind, DriftPolicy] = DEFAULT_DRIFT_POLICY
    backup_dir: str | None = None  # edited/deleted objects are saved here (normalised, no secrets)
    state_file: str | None = None  # what was last written, per object; unset: memory only

    def drift_policy(self, kind: str) -> DriftPolicy:
        """The ``on_drift`` policy for one kind of object."""
        if isinstance(self.on_drift, str):
            return self.on_drift
        return self.on_drift.get(kind, DEFAULT_DRIFT_POLICY)  # type: ignore[call-overload, no-any-return]

    def validate(self, path: str) -> None:
        super().validate(path)
        if self.url and not re.match(r"^https?://[^/]+", self.url):
            raise ConfigError(f"{path}.url", self.url, "an http:// or https:// URL")
        if "@" in self.url.split("://", 1)[-1].split("/", 1)[0]:
            raise ConfigError(f"{path}.url", "<redacted>", "a URL without credentials (use token_file or username + password_file)")
        if self.token is not None and self.password is not None:
            raise ConfigError(f"{path}.token_file", "<redacted>", "either a token or username + password, not both")
        if (self.username is None) != (self.password is None):
            raise ConfigError(f"{path}.username", self.username, "username and password_file/password_env together")
        problem = uid_problem(self.folder_uid)
        if problem:
            raise ConfigError(f"{path}.folder_uid", self.folder_uid, problem)
        if not self.folder_title.strip():
            raise ConfigError(f"{path}.folder_title", self.folder_title, "a non-empty title")
        if not self.contact_point.strip():
            raise ConfigError(f"{path}.contact_point", self.contact_point, "a non-empty contact point name")
        for i, address in enumerate(self.email_addresses):
            if "@" not in address or any(c in address for c in " ;,"):
                raise ConfigError(f"{path}.email_addresses[{i}]", address, "one e-mail address per entry")
        for name in ("backup_dir", "state_file"):
            value = getattr(self, name)
            if value is not None and not value.startswith("/"):
                raise ConfigError(f"{path}.{name}", value, "an absolute path")
        if self.request_timeout <= 0:
            raise ConfigError(f"{path}.request_timeout", self.request_timeout, "a duration above 0s")

    def dashboards_path(self) -> Traversable:
        """``dashboards_dir``, else the dashboards shipped with watchtower."""
        return Path(self.dashboards_dir) if self.dashboards_dir else bundled("dashboards")

    def alerts_path(self) -> Traversable:
        """``alerts_dir``, else the alert rules shipped with watchtower."""
        return Path(self.alerts_dir) if self.alerts_dir else bundled("alerts")
