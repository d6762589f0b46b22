"""The out-of-band HA topology of deploy/ha/, for real, on loopback: notified exactly once.

Two "hosts", each a watchtower, a Prometheus (deploy/ha/prometheus.yml with only addresses and
timers replaced) and an Alertmanager started with the cluster flags of
deploy/ha/prometheus-alertmanager.service.d/cluster.conf, gossiping with the other one. Both
watchtowers watch the same certificate directory; both Prometheus servers send to both
Alertmanagers, which run alerts/alertmanager.yaml down to a real SMTP server and a Slack
stand-in. A critical certificate alert must arrive exactly once by email and once by Slack;
then the Alertmanager that sent it is SIGKILLed mid-incident, a new alert must still arrive
exactly once, and when the killed one comes back (same storage, nothing written at the kill)
nothing is sent again. Gossip and evaluation timers are shortened so this takes seconds.
"""

from __future__ import annotations

import contextlib
import dataclasses
import shlex
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.alert_sinks import MailSink, WebhookSink
from tests.support.amconfig import SinkSecrets, alertmanager_config_for_test
from tests.support.kubeadm_pki import DAY, Issued, issue, utcnow
from tests.support.processes import WatchtowerDaemon
from tests.support.promstack import Alertmanager, Prometheus, ha_prometheus_config, rules_without_for
from tests.support.services import free_port, wait_for

pytestmark = [
    pytest.mark.prometheus, pytest.mark.alertmanager, pytest.mark.slow,
    pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS"),
]

ROOT = Path(__file__).resolve().parents[2]
HA = ROOT / "deploy" / "ha"
CLUSTER = "ha-lab"
SECRETS = SinkSecrets("smtp-secret-ha-31c9", "/services/T000/B000/slack-secret-ha-5e1d", "heartbeat-secret-ha-0b7a")
SMTP_USER = "watchtower@example.org"
PEER_TIMEOUT = 1.5  # --cluster.peer-timeout: how long the second Alertmanager waits for the first
# Fast gossip for a test; the shipped drop-in keeps Alertmanager's defaults.
FAST_GOSSIP = [
    "--cluster.gossip-interval=50ms", "--cluster.pushpull-interval=1s", f"--cluster.peer-timeout={PEER_TIMEOUT:g}s",
    "--cluster.probe-interval=200ms", "--cluster.probe-timeout=100ms", "--cluster.reconnect-interval=500ms",
    "--cluster.settle-timeout=10s",
]
DELIVERY_TIMEOUT = 20.0
# After a delivery, how long a duplicate would take at worst: the other peer's wait, a gossip
# round trip and a few group intervals and Prometheus re-sends.
QUIET = 2 * PEER_TIMEOUT + 2.0


def drop_in_exec_start() -> list[str]:
    """The ExecStart= of the shipped Alertmanager drop-in, as argv (systemd's line continuations)."""
    lines = (HA / "prometheus-alertmanager.service.d" / "cluster.conf").read_text().replace("\\\n", " ").splitlines()
    (command,) = [line.split("=", 1)[1] for line in lines if line.startswith("ExecStart=") and line.strip() != "ExecStart="]
    return shlex.split(command)


def cluster_args(own: int, peer: int) -> list[str]:
    """The drop-in's --cluster.* flags with the two hosts' gossip addresses on loopback."""
    args = []
    for arg in drop_in_exec_start():
        flag = arg.split("=", 1)[0]
        if flag in ("--cluster.listen-address", "--cluster.advertise-address"):
            args.append(f"{flag}=127.0.0.1:{own}")
        elif flag == "--cluster.peer":
            args.append(f"{flag}=127.0.0.1:{peer}")
        elif flag.startswith("--cluster."):
            args.append(arg)
    assert {a.split("=")[0] for a in args} >= {"--cluster.listen-address", "--cluster.peer"}, drop_in_exec_start()
    return args + FAST_GOSSIP


@dataclasses.dataclass
class Host:
    name: str
    watchtower: WatchtowerDaemon
    prometheus: Prometheus
    alertmanager: Alertmanager


@dataclasses.dataclass
class Pair:
    hosts: list[Host]
    mail: MailSink
    webhooks: WebhookSink
    certs: Path
    ca: Issued

    def emails(self, alertname: str) -> list[Any]:
        return [m for m in self.mail.messages if m.subject.startswith("[FIRING") and f"] {alertname} " in m.subject]

    def slack(self, alertname: str) -> list[Any]:
        return [p for p in self.webhooks.posts(SECRETS.slack_path)
                if any(str(a.get("title", "")).startswith("[FIRING") and f"] {alertname} " in str(a.get("title", ""))
                       for a in p.body.get("attachments", []))]

    def counts(self, alertname: str) -> tuple[int, int]:
        return len(self.emails(alertname)), len(self.slack(alertname))

    def write_cert(self, name: str, days_left: float) -> None:
        """A one-year certificate signed by the lab CA with ``days_left`` (negative: expired)."""
        not_after = utcnow() + days_left * DAY
        leaf = issue(f"{name}.example.org", self.ca, server=True, not_before=not_after - 365 * DAY, not_after=not_after)
        tmp = self.certs / f".{name}.tmp"
        tmp.write_bytes(leaf.cert_pem)
        tmp.replace(self.certs / f"{name}.pem")

    def diagnostics(self) -> str:
        parts = ["emails:", *(f"  {m.subject}" for m in self.mail.messages)]
        for host in self.hosts:
            parts += [f"--- {host.name} alertmanager ({'running' if host.alertmanager.running() else 'down'}) ---",
                      host.alertmanager.log_tail(10)]
        return "\n".join(parts)

    def wait_delivered(self, alertname: str, since: float) -> tuple[float, float]:
        """Arrival times (email, Slack) of the first notification of ``alertname``."""
        try:
            mail = wait_for(lambda: self.emails(alertname), DELIVERY_TIMEOUT, interval=0.02, what=f"{alertname} email")
            slack = wait_for(lambda: self.slack(alertname), DELIVERY_TIMEOUT, interval=0.02, what=f"{alertname} Slack")
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{self.diagnostics()}") from None
        mail_at, slack_at = mail[0].arrived, slack[0].arrived
        print(f"\n[ha] {alertname}: change→email {mail_at - since:.2f}s, change→Slack {slack_at - since:.2f}s")
        return mail_at, slack_at

    def assert_exactly_once(self, alertname: str, quiet: float = QUIET) -> None:
        """One email and one Slack message, and still one after ``quiet`` seconds."""
        time.sleep(quiet)
        emails, slack = self.counts(alertname)
        print(f"[ha] {alertname}: {emails} email(s), {slack} Slack message(s) after {quiet:.1f}s of quiet")
        assert (emails, slack) == (1, 1), self.diagnostics()


def wait_for_cluster(alertmanagers: list[Alertmanager], timeout: float = 30.0) -> None:
    def ready() -> bool:
        for am in alertmanagers:
            cluster = am.status()["cluster"]
            if cluster["status"] != "ready" or len(cluster.get("peers") or []) != len(alertmanagers):
                return False
        return True

    alertmanagers[0].wait_until(ready, timeout, f"{len(alertmanagers)} Alertmanagers clustered and ready")


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    workdir = tmp_path_factory.mktemp("alerting-ha")
    certs = workdir / "certs"
    certs.mkdir()
    ca = issue("ha-lab-ca", is_ca=True, days=3650)
    (certs / "ca.pem").write_bytes(ca.cert_pem)
    with contextlib.ExitStack() as started:
        mail = started.enter_context(MailSink(username=SMTP_USER, password=SECRETS.smtp_password))
        webhooks = started.enter_context(WebhookSink())
        am_config = alertmanager_config_for_test(workdir / "am", mail.port, webhooks, SECRETS)
        ports = {"a": (free_port(), free_port()), "b": (free_port(), free_port())}  # (web, gossip)
        rules = rules_without_for(workdir / "rules")
        watchtower_config = {"cluster": CLUSTER, "scheduling": {"min_interval": "250ms"}, "collectors": {
            "certs": {"interval": "250ms", "kubeadm": False, "apiserver_endpoints": [], "paths": [str(certs / "*.pem")]},
            **{name: {"enabled": False} for name in ("apiserver", "vip", "haproxy", "etcd", "nodes", "upgrade", "grafana")},
        }}
        alertmanagers = {}
        for name, other in (("a", "b"), ("b", "a")):
            am = Alertmanager(workdir / f"am-{name}", am_config,
                              cluster_args(own=ports[name][1], peer=ports[other][1]), port=ports[name][0])
            started.callback(am.stop)
            am.start()
            alertmanagers[name] = am
        for am in alertmanagers.values():
            am.wait_until(lambda am=am: am.status(), 20, "alertmanager API")
        wait_for_cluster(list(alertmanagers.values()))
        hosts = []
        for name in ("a", "b"):
            daemon = started.enter_context(WatchtowerDaemon(workdir, watchtower_config, f"watchtower-{name}"))
            prometheus = Prometheus(workdir / f"prom-{name}", {}, config=ha_prometheus_config(
                f"oob-{name}", [daemon.url.removeprefix("http://")], [am.address for am in alertmanagers.values()],
                rules, CLUSTER))
            started.callback(prometheus.stop)
            prometheus.start_and_wait()
            hosts.append(Host(name, daemon, prometheus, alertmanagers[name]))
        for host in hosts:
            host.prometheus.wait_for_up("watchtower")
        yield Pair(hosts, mail, webhooks, certs, ca)


def test_one_notification_per_alert_through_a_killed_and_rejoined_alertmanager(pair: Pair) -> None:
    # 1. Both Prometheus servers fire the same alert at both Alertmanagers: one email, one Slack.
    changed_at = time.time()
    pair.write_cert("api", days_left=2)
    pair.wait_delivered("CertificateExpiringCritical", changed_at)
    for host in pair.hosts:  # both pipelines really carry it: each Prometheus fires it
        host.prometheus.wait_until(lambda host=host: any(
            a["labels"]["alertname"] == "CertificateExpiringCritical" and a["state"] == "firing"
            for a in host.prometheus.alerts()), DELIVERY_TIMEOUT, f"CertificateExpiringCritical firing on {host.name}")
        held = host.alertmanager.alerts('alertname="CertificateExpiringCritical"')
        assert len(held) == 1 and "replica" not in held[0]["labels"], held  # one alert, not one per replica
    pair.assert_exactly_once("CertificateExpiringCritical")

    # 2. The Alertmanager that notifies first dies (SIGKILL) while the incident goes on; a new
    #    alert still arrives, once, through the survivor. Alertmanager orders the peers by name:
    #    position 0 sends at once, position 1 waits --cluster.peer-timeout and sends only what
    #    position 0 has not (gossiped notification log).
    victim = min(pair.hosts, key=lambda h: h.alertmanager.status()["cluster"]["name"])
    survivor = next(h for h in pair.hosts if h is not victim)
    sent = {h.name: h.alertmanager.metric("alertmanager_notifications_total", integration="email") for h in pair.hosts}
    print(f"[ha] emails sent per Alertmanager (all alerts): {sent}; killing {victim.name}, the first in the cluster")
    assert sent[victim.name] > 0, sent
    victim.alertmanager.kill()
    killed_at = time.time()
    pair.write_cert("etcd", days_left=-1)
    pair.wait_delivered("CertificateExpired", killed_at)
    pair.assert_exactly_once("CertificateExpired")
    assert pair.counts("CertificateExpiringCritical") == (1, 1)

    # 3. The killed one comes back with its old storage (stale: nothing was written at the
    #    kill), rejoins, receives both alerts from both Prometheus servers again, and sends nothing.
    restarted_at = time.time()
    victim.alertmanager.start()
    wait_for_cluster([victim.alertmanager, survivor.alertmanager])
    print(f"[ha] {victim.name} rejoined the cluster {time.time() - restarted_at:.2f}s after its restart")
    wait_for(lambda: len(victim.alertmanager.alerts('severity="critical"')) >= 2, DELIVERY_TIMEOUT,
             what="the rejoined Alertmanager holds both critical alerts")
    time.sleep(QUIET)
    assert victim.alertmanager.metric("alertmanager_notifications_total", integration="email") == 0
    assert victim.alertmanager.metric("alertmanager_notifications_total", integration="slack") == 0
    for alertname in ("CertificateExpiringCritical", "CertificateExpired"):
        emails, slack = pair.counts(alertname)
        print(f"[ha] after the rejoin: {alertname} {emails} email(s), {slack} Slack message(s)")
        assert (emails, slack) == (1, 1), pair.diagnostics()
    subjects = sorted(m.subject for m in pair.mail.messages)
    print("[ha] every email the pair sent: " + "; ".join(subjects))


def test_no_secret_in_any_log(pair: Pair) -> None:
    for host in pair.hosts:
        for log in (host.alertmanager.log_file, host.prometheus.log_file, host.watchtower.log):
            text = log.read_text(errors="replace")
            for secret in (SECRETS.smtp_password, SECRETS.slack_path, SECRETS.heartbeat_token):
                assert secret not in text, f"{secret!r} in {log}"
