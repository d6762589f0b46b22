"""Metric families of this package, declared once (see ``watchtower.core.families``)."""

from __future__ import annotations

from watchtower.core.families import Family

KUBERNETES_VERSION = Family(
    "watchtower_kubernetes_version", "info",
    "Control-plane Kubernetes version, by where it was read.",
    ("version", "minor", "source"),
)
KUBERNETES_LATEST_VERSION = Family(
    "watchtower_kubernetes_latest_version", "info",
    "Newest Kubernetes release per the release source: channel stable (newest overall) or stable-1.X "
    "(newest patch of the running minor).",
    ("version", "minor", "channel"),
)
KUBERNETES_MINORS_BEHIND = Family(
    "watchtower_kubernetes_minors_behind", "gauge",
    "Minor releases between the running (lowest) control-plane version and the latest release.",
    (),
)
KUBERNETES_UPGRADES_NEEDED = Family(
    "watchtower_kubernetes_upgrades_needed", "gauge",
    "kubeadm upgrades needed to reach the latest release, one minor at a time (a patch-only difference is"
    " one).",
    (),
)
KUBERNETES_MINOR_EOL_TIMESTAMP_SECONDS = Family(
    "watchtower_kubernetes_minor_eol_timestamp_seconds", "gauge",
    "End of life of the running minor release.",
    ("minor",),
)
UPGRADE_LAST_TIMESTAMP_SECONDS = Family(
    "watchtower_upgrade_last_timestamp_seconds", "gauge",
    "When the control plane was last upgraded (0 when unknown); evidence: observed, kubeadm_backup, "
    "apiserver_cert or unknown.",
    ("evidence",),
)
UPGRADE_NEXT_DUE_TIMESTAMP_SECONDS = Family(
    "watchtower_upgrade_next_due_timestamp_seconds", "gauge",
    "When the next upgrade is due under the policy (last upgrade + upgrade_every); absent while the last "
    "upgrade is unknown.",
    (),
)
UPGRADE_POLICY_INTERVAL_SECONDS = Family(
    "watchtower_upgrade_policy_interval_seconds", "gauge",
    "The policy's upgrade interval (for calendar months: as it applies to the last upgrade).",
    (),
)
UPGRADE_REMINDER_LEAD_SECONDS = Family(
    "watchtower_upgrade_reminder_lead_seconds", "gauge",
    "How long before the due date to remind (reminder_lead).",
    (),
)
UPGRADE_CERT_DEADLINE_TIMESTAMP_SECONDS = Family(
    "watchtower_upgrade_cert_deadline_timestamp_seconds", "gauge",
    "Earliest not-after among the kubeadm leaf certificates under the kubeadm root: the hard upgrade "
    "deadline.",
    ("certificate",),
)
UPGRADE_DUE_AFTER_CERT_DEADLINE = Family(
    "watchtower_upgrade_due_after_cert_deadline", "gauge",
    "1 when the next due date falls after the certificate deadline (waiting for the due date lets "
    "certificates expire), else 0.",
    (),
)
KUBERNETES_RELEASE_FETCH_TIMESTAMP_SECONDS = Family(
    "watchtower_kubernetes_release_fetch_timestamp_seconds", "gauge",
    "When the release data in use was fetched (stale while the source fails; absent for static values).",
    (),
)
