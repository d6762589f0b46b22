"""Certificates made the cron-script way, with the ``openssl`` CLI, to cross-check watchtower.

``OpenSSLCA(directory)`` makes a self-signed root with ``openssl req -x509``, then issues leaves
with ``openssl ca`` (which, unlike ``req``/``x509`` in OpenSSL 3.0, accepts explicit
``-startdate``/``-enddate``, so expired and not-yet-valid certificates are possible).
``openssl_facts(path)`` reads ``-enddate -serial`` back as openssl prints them.
"""

from __future__ import annotations

import datetime
import subprocess
from pathlib import Path

from tests.support.services import require_binary

_CA_CONFIG = """\
[ ca ]
default_ca = CA_default
[ CA_default ]
database = {dir}/index.txt
new_certs_dir = {dir}/newcerts
serial = {dir}/serial
default_md = sha256
policy = policy_any
unique_subject = no
copy_extensions = copy
[ policy_any ]
commonName = supplied
"""


def openssl(*args: str, cwd: Path | None = None) -> str:
    done = subprocess.run([require_binary("openssl"), *args], capture_output=True, text=True, timeout=60, cwd=cwd)
    if done.returncode != 0:
        raise AssertionError(f"openssl {' '.join(args)} failed: {done.stderr}")
    return done.stdout


def _stamp(when: datetime.datetime) -> str:
    return when.astimezone(datetime.UTC).strftime("%Y%m%d%H%M%SZ")


class OpenSSLCA:
    """A CA kept in ``directory/ca`` that issues EC P-256 leaves into files you name."""

    def __init__(self, directory: Path, cn: str = "openssl-test-ca", days: int = 3650) -> None:
        self.work = directory / "ca"
        (self.work / "newcerts").mkdir(parents=True, exist_ok=True)
        (self.work / "index.txt").write_text("")
        (self.work / "serial").write_text("1000\n")
        (self.work / "ca.cnf").write_text(_CA_CONFIG.format(dir=self.work))
        self.key = self.work / "ca.key"
        self.cert = self.work / "ca.crt"
        openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                "-keyout", str(self.key), "-out", str(self.cert), "-days", str(days), "-subj", f"/CN={cn}")

    def issue(
        self, out: Path, cn: str, *, days: int | None = 365, start: datetime.datetime | None = None,
        end: datetime.datetime | None = None, serial: int | None = None, key_out: Path | None = None,
    ) -> Path:
        """Issue a leaf into ``out`` (PEM); ``start``/``end`` override ``days``."""
        key = key_out or (self.work / f"{out.name}.key")
        csr = self.work / f"{out.name}.csr"
        openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                "-keyout", str(key), "-out", str(csr), "-subj", f"/CN={cn}")
        if serial is not None:
            text = f"{serial:X}"
            (self.work / "serial").write_text(("0" * (len(text) % 2)) + text + "\n")
        args = ["ca", "-batch", "-notext", "-config", str(self.work / "ca.cnf"), "-keyfile", str(self.key),
                "-cert", str(self.cert), "-in", str(csr), "-out", str(out)]
        if start is not None or end is not None:
            now = datetime.datetime.now(datetime.UTC)
            args += ["-startdate", _stamp(start or now - datetime.timedelta(hours=1)),
                     "-enddate", _stamp(end or now + datetime.timedelta(days=days or 365))]
        else:
            args += ["-days", str(days)]
        openssl(*args)
        return out


def openssl_facts(path: Path, inform: str = "PEM") -> tuple[datetime.datetime, str]:
    """(notAfter, serial) exactly as ``openssl x509 -noout -enddate -serial`` reports them."""
    out = openssl("x509", "-in", str(path), "-inform", inform, "-noout", "-enddate", "-serial")
    fields = dict(line.split("=", 1) for line in out.strip().splitlines())
    not_after = datetime.datetime.strptime(fields["notAfter"], "%b %d %H:%M:%S %Y GMT").replace(
        tzinfo=datetime.UTC)
    return not_after, fields["serial"]
