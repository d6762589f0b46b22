"""Alerts travel the whole real path: watchtower → Prometheus → Alertmanager → email and Slack.

Real processes: ``watchtower run`` (its config file, a free loopback port; one reads a real
HAProxy 2.6 whose only backend the test kills and restarts, a kubeadm PKI whose apiserver.crt
the test lets run out and renews, and the test kube-apiserver whose /readyz through the "VIP"
the test breaks and mends), Prometheus 2.42
scraping it and evaluating the repository's alert rules (copies with ``for: 0s``; the long
``for:`` durations are promtool's job), Alertmanager 0.25 running alerts/alertmanager.yaml
with only addresses, secret file paths and timers replaced, an SMTP server that demands the
password from the password file, and an HTTP server standing in for Slack's incoming webhook
and for the dead man's switch. Each test changes what watchtower sees, waits for the
notification with the expected text, undoes the change and waits for the resolved one.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

import pytest

from tests.kubeapi import KubeAPIServer
from tests.support.alert_sinks import MailSink, ReceivedMail, ReceivedPost, WebhookSink
from tests.support.amconfig import SinkSecrets, alertmanager_config_for_test
from tests.support.haproxy import HAProxyLab
from tests.support.kubeadm_pki import DAY, KubeadmPKI, issue, utcnow
from tests.support.processes import WatchtowerDaemon
from tests.support.promstack import Alertmanager, Prometheus, rules_without_for
from tests.support.services import wait_for

pytestmark = [
    pytest.mark.prometheus, pytest.mark.alertmanager, pytest.mark.haproxy, pytest.mark.slow,
    # the SMTP sink takes AUTH without TLS on loopback on purpose (Go allows that only for localhost)
    pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS"),
]

CLUSTER = "e2e-lab"
SMTP_USER = "watchtower@example.org"
SMTP_PASSWORD = "smtp-secret-4f1c"  # reaches Alertmanager only through smtp_auth_password_file
SLACK_PATH = "/services/T000/B000/slack-secret-9a7e"  # reaches Alertmanager only through api_url_file
HEARTBEAT_TOKEN = "heartbeat-secret-77d2"
DELIVERY_TIMEOUT = 20.0


SECRETS = SinkSecrets(SMTP_PASSWORD, SLACK_PATH, HEARTBEAT_TOKEN)


@dataclasses.dataclass
class Stack:
    prometheus: Prometheus
    alertmanager: Alertmanager
    mail: MailSink
    webhooks: WebhookSink
    watchtowers: dict[str, WatchtowerDaemon]
    haproxy: HAProxyLab
    pki: KubeadmPKI
    kube: KubeAPIServer

    def slack_messages(self) -> list[ReceivedPost]:
        return self.webhooks.posts(SLACK_PATH)

    def wait_for_mail(self, status: str, alertname: str, since: float, *texts: str) -> ReceivedMail:
        """The first email after ``since`` whose subject says STATUS and ALERTNAME and whose body has ``texts``."""
        def found() -> ReceivedMail | None:
            return next((m for m in self.mail.messages if m.arrived >= since and _matches(
                m.subject, m.text, status, alertname, texts)), None)
        return self._wait(found, f"{status} email for {alertname} containing {texts}")

    def wait_for_slack(self, status: str, alertname: str, since: float, *texts: str) -> ReceivedPost:
        def found() -> ReceivedPost | None:
            return next((p for p in self.slack_messages() if p.arrived >= since and _matches(
                _slack_title(p), _slack_text(p), status, alertname, texts)), None)
        return self._wait(found, f"{status} Slack message for {alertname} containing {texts}")

    def wait_for_page(self, alertname: str, since: float, facts: tuple[str, ...], **labels: str) -> tuple[ReceivedMail, ReceivedPost]:
        """A critical alert: firing in Prometheus, then an email to on-call AND a Slack message
        with ``facts``; prints the latencies."""
        active_at = self.active_since(alertname, **labels)
        mail = self.wait_for_mail("firing", alertname, since, *facts)
        slack = self.wait_for_slack("firing", alertname, since, *facts)
        _report(f"{alertname} email", since, active_at, mail.arrived)
        _report(f"{alertname} Slack", since, active_at, slack.arrived)
        assert mail.rcpt_tos == ("k8s-oncall@example.org",) and "critical:" in mail.text
        assert slack.body["channel"] == "#k8s-oncall"
        return mail, slack

    def wait_for_resolved_page(self, alertname: str, since: float, *texts: str) -> None:
        mail = self.wait_for_mail("resolved", alertname, since, *texts, "resolved:")
        slack = self.wait_for_slack("resolved", alertname, since, *texts, "resolved:")
        print(f"[latency] {alertname} resolved: fix→email {mail.arrived - since:.2f}s, →Slack {slack.arrived - since:.2f}s")

    def wait_for_inhibited(self, alertname: str) -> dict[str, Any]:
        """``alertname`` as Alertmanager holds it, once an inhibition rule suppresses it."""
        inhibited = self._wait(lambda: [a for a in self.alertmanager.alerts(f'alertname="{alertname}"')
                                        if a["status"]["inhibitedBy"]], f"{alertname} inhibited")
        assert inhibited[0]["status"]["state"] == "suppressed"
        return inhibited[0]

    def _wait(self, found: Callable[[], Any], what: str) -> Any:
        try:
            return wait_for(found, DELIVERY_TIMEOUT, interval=0.02, what=what)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{self.diagnostics()}") from None

    def diagnostics(self) -> str:
        mails = [f"  {m.subject}" for m in self.mail.messages]
        slack = [f"  {_slack_title(p)}" for p in self.slack_messages()]
        firing = [f"  {a['labels'].get('alertname')} {a['state']} {a['labels']}" for a in self.prometheus.alerts()]
        return "\n".join(["emails:", *mails, "slack:", *slack, "prometheus alerts:", *firing,
                          "--- alertmanager log ---", self.alertmanager.log_tail(15)])

    def active_since(self, alertname: str, **labels: str) -> float:
        """When Prometheus started firing ``alertname`` (its activeAt), as Unix time."""
        def firing() -> float | None:
            for alert in self.prometheus.alerts():
                if alert["state"] == "firing" and alert["labels"].get("alertname") == alertname and all(
                        alert["labels"].get(k) == v for k, v in labels.items()):
                    return _parse_time(alert["activeAt"])
            return None
        return self._wait(firing, f"{alertname} firing in Prometheus")


def _slack_title(post: ReceivedPost) -> str:
    return " ".join(str(a.get("title", "")) for a in post.body.get("attachments", [])) if isinstance(post.body, dict) else ""


def _slack_text(post: ReceivedPost) -> str:
    return " ".join(str(a.get("text", "")) for a in post.body.get("attachments", [])) if isinstance(post.body, dict) else ""


def _matches(title: str, text: str, status: str, alertname: str, texts: tuple[str, ...]) -> bool:
    return title.startswith(f"[{status.upper()}") and alertname in title and all(t in text for t in texts)


def _parse_time(text: str) -> float:
    # Prometheus: 2026-11-26T11:20:01.123456789Z; Python wants at most microseconds.
    head, _, frac = text.rstrip("Z").partition(".")
    return datetime.fromisoformat(f"{head}.{(frac or '0')[:6]}+00:00").timestamp()


def _report(what: str, changed_at: float, active_at: float, arrived: float) -> None:
    print(f"\n[latency] {what}: condition→delivery {arrived - changed_at:.2f}s, "
          f"Prometheus firing (activeAt)→delivery {arrived - active_at:.2f}s")


def _address(daemon: WatchtowerDaemon) -> str:
    return daemon.url.removeprefix("http://")


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """Sinks, a one-backend HAProxy, a kubeadm PKI, the test kube-apiserver (also playing the
    VIP, on 127.0.0.1) with a NotReady node, two watchtowers ("main" reads all of these, "spare"
    nothing), Alertmanager and Prometheus; everything started here is stopped here, by PID."""
    workdir = tmp_path_factory.mktemp("alert-delivery")
    with contextlib.ExitStack() as started:
        mail = started.enter_context(MailSink(username=SMTP_USER, password=SMTP_PASSWORD))
        webhooks = started.enter_context(WebhookSink())
        (workdir / "haproxy").mkdir()
        haproxy = started.enter_context(HAProxyLab(workdir / "haproxy", backends=1))
        pki = KubeadmPKI.build(workdir / "node", vip=None)
        kube = started.enter_context(KubeAPIServer(workdir / "kubeapi"))
        kube.add_node("cp1", roles=["control-plane"])
        kube.add_node("w1", roles=[], ready=False)
        (workdir / "kube-token").write_text(kube.token)
        main_config = {
            "cluster": CLUSTER,
            "control_plane": {"vips": ["127.0.0.1"]},
            "kubernetes": {"kubeconfig": str(kube.write_kubeconfig(workdir / "kubeconfig"))},
            "scheduling": {"min_interval": "250ms"},  # fast lab runs (the default floor is 1s)
            "collectors": {
                "haproxy": {"enabled": True, "interval": "250ms", "stats_socket": str(haproxy.socket_path)},
                "certs": {"enabled": True, "interval": "250ms", "kubeadm": True, "kubeadm_root": str(pki.root),
                          "kubelet_pki_dir": str(pki.kubelet_dir), "apiserver_endpoints": []},
                "apiserver": {"enabled": True, "interval": "1s", "timeout": "900ms", "probe_timeout": "800ms",
                              "port": kube.port, "ca_file": str(kube.ca_file),
                              "token_file": str(workdir / "kube-token")},
                "nodes": {"enabled": True, "interval": "250ms", "lifecycle": {"source": "snapshot"}},
                "vip": {"enabled": False},  # the VIP would be "held" on lo; KubeVIPLost is not this test's
                "upgrade": {"enabled": False},  # would fetch releases from the internet
            },
        }
        watchtowers = {
            "main": started.enter_context(WatchtowerDaemon(workdir, main_config, "watchtower-main")),
            "spare": started.enter_context(WatchtowerDaemon(workdir, {"cluster": CLUSTER}, "watchtower-spare")),
        }
        alertmanager = Alertmanager(workdir / "am", alertmanager_config_for_test(workdir / "am", mail.port, webhooks, SECRETS))
        started.callback(alertmanager.stop)
        alertmanager.start_and_wait()
        prometheus = Prometheus(
            workdir / "prom",
            targets={"watchtower": [_address(w) for w in watchtowers.values()]},
            rule_files=rules_without_for(workdir / "rules"),
            alertmanagers=[alertmanager.address],
            target_labels={"cluster": CLUSTER},
        )
        started.callback(prometheus.stop)
        prometheus.start_and_wait()
        prometheus.wait_for_up("watchtower")
        yield Stack(prometheus, alertmanager, mail, webhooks, watchtowers, haproxy, pki, kube)


def test_watchdog_reaches_the_heartbeat_receiver_with_its_token_only(stack: Stack) -> None:
    post = stack._wait(lambda: next(iter(stack.webhooks.posts("/heartbeat")), None), "Watchdog heartbeat")
    assert post.headers.get("Authorization") == f"Bearer {HEARTBEAT_TOKEN}"
    assert [a["labels"]["alertname"] for a in post.body["alerts"]] == ["Watchdog"]
    assert post.body["receiver"] == "heartbeat"
    # never to people
    assert not any("Watchdog" in m.subject for m in stack.mail.messages)
    assert not any("Watchdog" in _slack_title(p) for p in stack.slack_messages())


def test_watchtower_down_is_emailed_then_resolved(stack: Stack) -> None:
    """A warning: email (the ticket receiver) but no Slack page; SMTP AUTH used the password file."""
    spare = stack.watchtowers["spare"]
    address = _address(spare)
    stopped_at = time.time()
    spare.__exit__()
    active_at = stack.active_since("WatchtowerDown", instance=address)
    mail = stack.wait_for_mail("firing", "WatchtowerDown", stopped_at, f"The watchtower target {address}",
                               f"instance={address}", "Runbook: docs/runbooks/WatchtowerDown.md")
    _report("WatchtowerDown email", stopped_at, active_at, mail.arrived)
    assert mail.authenticated_as == SMTP_USER and stack.mail.failed_logins == 0
    assert mail.rcpt_tos == ("k8s-tickets@example.org",)
    assert f"({CLUSTER})" in mail.subject and "warning:" in mail.text

    restarted_at = time.time()
    spare.__enter__()  # same port
    resolved = stack.wait_for_mail("resolved", "WatchtowerDown", restarted_at, f"instance={address}", "resolved:")
    print(f"[latency] WatchtowerDown resolved email: restart→delivery {resolved.arrived - restarted_at:.2f}s")
    assert not any("WatchtowerDown" in _slack_title(p) for p in stack.slack_messages()), "a warning must not page"


def test_haproxy_backend_without_servers_pages_by_email_and_slack_then_resolves(stack: Stack) -> None:
    """A control-plane critical: the only apiserver behind HAProxy dies → email AND Slack."""
    instance = _address(stack.watchtowers["main"])
    facts = (f"HAProxy on {instance} reports backend apiservers DOWN", "instance=" + instance, "proxy=apiservers",
             "Runbook: docs/runbooks/HAProxyBackendNoServersUp.md")
    killed_at = time.time()
    stack.haproxy.kill_backend(0)
    stack.wait_for_page("HAProxyBackendNoServersUp", killed_at, facts, instance=instance)
    # the per-server warning of the same backend is inhibited by the critical (alertmanager.yaml)
    assert stack.wait_for_inhibited("HAProxyBackendServerDown")["labels"]["proxy"] == "apiservers"

    restarted_at = time.time()
    stack.haproxy.start_backend(0)
    stack.wait_for_resolved_page("HAProxyBackendNoServersUp", restarted_at, *facts[1:])


def _write_apiserver_cert(pki: KubeadmPKI, days_left: float) -> str:
    """Re-issue pki/apiserver.crt (+ key) as a one-year certificate with ``days_left``; its serial."""
    not_after = utcnow() + days_left * DAY
    renewed = issue("kube-apiserver", pki.issued["ca"], server=True, sans=["kubernetes", "127.0.0.1"],
                    not_before=not_after - 365 * DAY, not_after=not_after)
    (pki.pki / "apiserver.key").write_bytes(renewed.key_pem)
    tmp = pki.pki / "apiserver.crt.new"
    tmp.write_bytes(renewed.cert_pem)
    tmp.replace(pki.pki / "apiserver.crt")  # atomic, as a careful renewal script does
    return f"{renewed.cert.serial_number:X}".rjust(2 * ((renewed.cert.serial_number.bit_length() + 7) // 8), "0")


def test_expiring_certificate_pages_by_email_and_slack_then_resolves_after_renewal(stack: Stack) -> None:
    """kubeadm's apiserver.crt with 2 days of its year left: critical (< min(7d, 5 %))."""
    instance = _address(stack.watchtowers["main"])
    location = str(stack.pki.pki / "apiserver.crt")
    changed_at = time.time()
    serial = _write_apiserver_cert(stack.pki, days_left=2)
    facts = (f"The kubeadm certificate CN=kube-apiserver (serial {serial},", "issued by kubernetes)",
             f"at {location} on {instance} expires in 1d 23h", "Runbook: docs/runbooks/CertificateExpiringCritical.md")
    mail, slack = stack.wait_for_page("CertificateExpiringCritical", changed_at, facts, serial=serial)
    assert "Certificate apiserver (kube-apiserver) expires in 1d 23h" in mail.text
    assert "name=apiserver" in mail.text and "source=kubeadm" in slack.body["attachments"][0]["text"]

    renewed_at = time.time()
    _write_apiserver_cert(stack.pki, days_left=365)  # `kubeadm certs renew apiserver`
    stack.wait_for_resolved_page("CertificateExpiringCritical", renewed_at, f"serial {serial}")


def test_api_unreachable_through_vip_pages_and_silences_node_noise_then_resolves(stack: Stack) -> None:
    """/readyz through the VIP fails → critical page by email and Slack; the NotReady node's
    warning (already firing) is inhibited meanwhile, as alertmanager.yaml promises."""
    vip = "127.0.0.1"
    stack.active_since("KubeNodeNotReady", node="w1")  # the node noise is there first
    facts = (f"on virtual IP {vip} has failed", f"vip={vip}", "Runbook: docs/runbooks/KubeApiserverUnreachableThroughVIP.md")
    broken_at = time.time()
    stack.kube.set_health(livez=True, readyz_checks={"etcd": False})
    stack.wait_for_page("KubeApiserverUnreachableThroughVIP", broken_at, facts, vip=vip)
    assert stack.wait_for_inhibited("KubeNodeNotReady")["labels"]["node"] == "w1"

    fixed_at = time.time()
    stack.kube.set_health(livez=True, readyz_checks={"etcd": True})
    stack.wait_for_resolved_page("KubeApiserverUnreachableThroughVIP", fixed_at, f"vip={vip}")
    # the node's warning is active again once its inhibitor resolved
    stack._wait(lambda: [a for a in stack.alertmanager.alerts('alertname="KubeNodeNotReady"')
                         if a["status"]["state"] == "active"], "KubeNodeNotReady active again")


def test_no_secret_in_any_log(stack: Stack) -> None:
    """The SMTP password, the Slack webhook path and the heartbeat token stay in their files."""
    logs = [stack.alertmanager.log_file, stack.prometheus.log_file, *(w.log for w in stack.watchtowers.values())]
    for log in logs:
        text = log.read_text(errors="replace")
        for secret in (SMTP_PASSWORD, SLACK_PATH, HEARTBEAT_TOKEN, stack.kube.token):
            assert secret not in text, f"{secret!r} in {log}"
