"""Rendering the status page from a status document: order, escaping, no secrets, same data as JSON."""

from __future__ import annotations

import datetime
import re
from html.parser import HTMLParser

from tests.support import collectors as tc
from watchtower.app import report
from watchtower.app.cli import run_collectors_once
from watchtower.app.statuspage import MAX_ROWS, render_page, residual


def _doc(**overrides):
    doc = {
        "status": "critical", "cluster": "prod-1", "version": "0.1.0", "generated_at": "2026-11-26T10:00:00Z",
        "collectors": [
            {"name": "certs", "ran": True, "success": True, "severity": "ok", "last_success": "2026-11-26T09:59:00Z",
             "failure_reason": None, "failure_detail": "", "errors": [
                 {"location": "/etc/kubernetes/pki/broken.crt", "reason": "parse_error", "detail": "truncated PEM"}]},
            {"name": "etcd", "ran": True, "success": False, "severity": "critical", "last_success": None,
             "failure_reason": "timeout", "failure_detail": "no result within the 10s timeout", "errors": []},
        ],
        "findings": [
            {"section": "Certificates", "subject": "apiserver", "severity": "critical", "message": "expired 2d ago"},
            {"section": "Certificates", "subject": "front-proxy-client", "severity": "warning", "message": "expires in 20d"},
            {"section": "Certificates", "subject": "ca", "severity": "ok", "message": "expires in 9y"},
        ],
        "details": {
            "upgrade": {"current": "v1.30.2", "latest": "v1.31.1", "due": "2027-01-01"},
            "certs": {"certificates": [
                {"name": "ca", "location": "/etc/kubernetes/pki/ca.crt", "not_after": "2035-01-01T00:00:00Z",
                 "source": "kubeadm", "severity": "ok", "issuer": "kubernetes"},
                {"name": "apiserver", "location": "/etc/kubernetes/pki/apiserver.crt",
                 "not_after": "2026-11-24T00:00:00Z", "source": "kubeadm", "severity": "critical", "issuer": "kubernetes"},
            ]},
            "vip": {"vips": [{"vip": "198.51.100.100", "held": True, "interface": "eth0"}]},
        },
    }
    doc.update(overrides)
    return doc


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.text: list[str] = []

    def handle_data(self, data: str) -> None:
        if data.strip():
            self.text.append(data.strip())


def _text(html: str) -> str:
    parser = _Text()
    parser.feed(html)
    return "\n".join(parser.text)


def test_overall_state_first_then_attention_then_certificates_by_residual_time() -> None:
    html = render_page(_doc())
    text = _text(html)
    assert text.index("CRITICAL") < text.index("Needs attention") < text.index("Certificates")
    certs = html[html.index("id='certs'"):]
    assert certs.index("apiserver") < certs.index("/etc/kubernetes/pki/ca.crt")  # soonest expiry first
    assert "<header class='critical'" in html
    # warning findings need attention, ok ones do not
    attention = html[html.index("id='attention'"):html.index("id='certs'")]
    assert "front-proxy-client" in attention and "expires in 9y" not in attention


def test_sections_follow_on_call_order_and_collectors_show_last_error() -> None:
    html = render_page(_doc())
    assert html.index("id='certs'") < html.index("id='vip'") < html.index("id='upgrade'") < html.index("id='collectors'")
    collectors = html[html.index("id='collectors'"):]
    assert "timeout: no result within the 10s timeout" in collectors
    assert "/etc/kubernetes/pki/broken.crt: parse_error" in collectors


def test_page_is_self_contained_and_refreshes() -> None:
    html = render_page(_doc())
    assert "<script" not in html
    assert not re.search(r"(src|href)=['\"]https?://", html), "no external assets"
    assert "http-equiv='refresh'" in html and "name='viewport'" in html


def test_everything_is_escaped() -> None:
    doc = _doc(findings=[{"section": "<b>x</b>", "subject": "<script>alert(1)</script>", "severity": "critical",
                          "message": "a & b"}])
    html = render_page(doc)
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "a &amp; b" in html


def test_rows_are_bounded() -> None:
    many = [{"section": "S", "subject": f"s{i}", "severity": "warning", "message": "m"} for i in range(MAX_ROWS + 7)]
    html = render_page(_doc(findings=many))
    assert "7 more in /api/status" in html


def test_residual_time() -> None:
    now = datetime.datetime(2026, 11, 26, tzinfo=datetime.UTC)
    assert residual("2027-11-26T00:00:00Z", now) == "365d"
    assert residual("2026-11-26T05:30:00Z", now) == "5h"
    assert residual("2026-11-25T00:00:00Z", now) == "expired"
    assert residual("garbage", now) == ""


def test_page_shows_what_the_status_document_holds() -> None:
    view = run_collectors_once([tc.GoodCollector(tc.settings(), tc.context()),
                                tc.CriticalCollector(tc.settings(), tc.context())])
    doc = report.status_document(view, now=0.0, cluster="c1")
    html = render_page(doc)
    for finding in doc["findings"]:
        if finding["severity"] != "ok":
            assert finding["message"] in html
    for collector in doc["collectors"]:
        assert collector["name"] in html
    assert "c1" in html and doc["status"].upper() in html
