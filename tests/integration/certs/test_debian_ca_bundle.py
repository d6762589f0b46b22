"""``watchtower check certs /etc/ssl/certs`` on Debian 12's real CA bundle (package ca-certificates).

The expectation is computed independently, with the ``openssl`` CLI: each root's notBefore /
notAfter and signature algorithm as ``openssl x509`` prints them, judged with the documented
default thresholds. The exit status must be what those real dates warrant (expired roots are
expired), and the roots signed with SHA-1 — which ``openssl verify`` accepts and the Python
library cannot verify — must never be critical for it.
"""

from __future__ import annotations

import datetime
import json
import os
import re
from pathlib import Path

import pytest

from tests.support.certs import check_certs
from tests.support.openssl_certs import openssl

CERTS = Path("/etc/ssl/certs")
DAY = 86400.0


def _when(text: str) -> float:
    return datetime.datetime.strptime(text, "%b %d %H:%M:%S %Y GMT").replace(
        tzinfo=datetime.UTC).timestamp()


def openssl_view(path: Path) -> tuple[float, float, str]:
    """(notBefore, notAfter, signature algorithm) as openssl reads the file."""
    text = openssl("x509", "-in", str(path), "-noout", "-startdate", "-enddate", "-text")
    start = _when(re.search(r"^notBefore=(.+)$", text, re.MULTILINE).group(1))  # type: ignore[union-attr]
    end = _when(re.search(r"^notAfter=(.+)$", text, re.MULTILINE).group(1))  # type: ignore[union-attr]
    algorithm = re.search(r"Signature Algorithm: (\S+)", text).group(1)  # type: ignore[union-attr]
    return start, end, algorithm


def expected_urgency(start: float, end: float, now: float) -> str:
    """README "Urgency is relative to lifetime": warning below min(30d, 20%), critical below min(7d, 5%)."""
    lifetime, left = end - start, end - now
    if left <= 0:
        return "expired"
    if start > now:
        return "not_yet_valid"
    if left < min(7 * DAY, 0.05 * lifetime):
        return "critical"
    if left < min(30 * DAY, 0.20 * lifetime):
        return "warning"
    return "ok"


def test_debian_ca_bundle_exit_status_matches_real_expiries() -> None:
    files = sorted(p for p in CERTS.glob("*.pem") if p.is_file())
    if len(files) < 100:
        pytest.skip("no Debian CA bundle in /etc/ssl/certs (scripts/test.sh installs ca-certificates)")
    now = datetime.datetime.now(datetime.UTC).timestamp()
    views = {str(p): openssl_view(p) for p in files}
    urgency = {path: expected_urgency(start, end, now) for path, (start, end, _) in views.items()}
    sha1 = {path for path, (_, _, algorithm) in views.items() if algorithm.startswith("sha1")}
    assert sha1, "Debian 12's bundle holds SHA-1 roots; this test is about them"

    done = check_certs(str(CERTS), "--output", "json")
    assert not done.stderr.strip(), done.stderr  # no Python warnings (serial 0 roots), no traceback
    doc = json.loads(done.stdout)
    rows = {r["location"]: r for r in doc["certificates"] if r["location"] in views}
    assert set(rows) == set(views), "every .pem root is reported"
    for path, want in urgency.items():
        assert rows[path]["status"] == want, (path, rows[path])

    worst = {"ok": 0, "warning": 1}
    expected_exit = max(worst.get(u, 2) for u in urgency.values())
    assert done.returncode == expected_exit, (done.returncode, sorted(p for p, u in urgency.items() if u != "ok"))
    assert doc["status"] == ["ok", "warning", "critical"][expected_exit]
    assert not [c for c in doc["checks"] if not c["ok"] and c.get("reason") == "bad_signature"]

    for path in sha1:
        row = rows[path]
        if urgency[path] in ("ok", "warning"):  # not expired: nothing may make a SHA-1 root critical
            assert row["severity"] != "critical", row
        assert not any(f["severity"] == "critical" and path in f["subject"] and "expire" not in f["message"]
                       for f in doc["findings"]), path

    expired = sorted(os.path.basename(p) for p, u in urgency.items() if u == "expired")
    table = check_certs(str(CERTS))
    assert table.returncode == expected_exit
    tail = table.stdout.split("\nstatus: ", 1)[1]
    for name in expired:  # a non-zero exit names what caused it
        assert name in tail or "more" in tail, name
