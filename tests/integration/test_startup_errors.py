"""Issue 17, defects 3 and 4: every start-up failure and every bad config is one line and exit 2.

Each case runs the real ``watchtower run`` (or ``config check``) as a child process with a
bounded timeout, and checks: exit status 2, exactly one line on stderr, nothing on stdout, the
line names the cause (the field, the file, the address), and no secret value appears anywhere.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import trustme

from tests.support.processes import REPO, python_env
from tests.support.services import free_port

SECRET = "s3cr3t-CANARY-4711"


def _watchtower(*args: str, env: dict[str, str] | None = None, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "watchtower", *args], cwd=REPO, env={**python_env(), **(env or {})},
                          capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL, check=False)


def _one_line_exit_2(done: subprocess.CompletedProcess[str], *expected: str) -> str:
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2, (done.returncode, done.stderr[-3000:])
    assert len(lines) == 1, done.stderr
    assert "Traceback" not in done.stderr
    for text in expected:
        assert text in lines[0], (text, lines[0])
    assert SECRET not in done.stderr and SECRET not in done.stdout
    return lines[0]


def _config(tmp_path: Path, text: str) -> str:
    path = tmp_path / "config.yaml"
    path.write_text(text)
    return str(path)


def test_port_in_use(tmp_path: Path) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen(1)
        port = holder.getsockname()[1]
        done = _watchtower("run", "--listen", f"127.0.0.1:{port}", "--config", _config(tmp_path, "{}\n"))
    _one_line_exit_2(done, f"127.0.0.1:{port}", "already in use")


def test_address_not_on_this_host(tmp_path: Path) -> None:
    done = _watchtower("run", "--listen", f"198.51.100.7:{free_port()}", "--config", _config(tmp_path, "{}\n"))
    _one_line_exit_2(done, "198.51.100.7", "not an address of this host")


def test_host_name_that_does_not_resolve(tmp_path: Path) -> None:
    done = _watchtower("run", "--listen", "no-such-host.invalid:9847", "--config", _config(tmp_path, "{}\n"))
    _one_line_exit_2(done, "no-such-host.invalid")


@pytest.mark.parametrize("missing", ["cert", "key"])
def test_missing_tls_file_is_named(tmp_path: Path, missing: str) -> None:
    cert = trustme.CA().issue_cert("127.0.0.1")
    cert_file, key_file = tmp_path / "tls.crt", tmp_path / "tls.key"
    cert.cert_chain_pems[0].write_to_path(str(cert_file))
    cert.private_key_pem.write_to_path(str(key_file))
    gone = cert_file if missing == "cert" else key_file
    gone.unlink()
    config = _config(tmp_path, f"server: {{listen: '127.0.0.1:{free_port()}', tls_cert_file: {cert_file}, "
                               f"tls_key_file: {key_file}}}\n")
    _one_line_exit_2(_watchtower("run", "--config", config), f"tls_{missing}_file", str(gone))


def test_tls_key_that_does_not_match_is_named(tmp_path: Path) -> None:
    ca = trustme.CA()
    one, other = ca.issue_cert("127.0.0.1"), ca.issue_cert("127.0.0.2")
    cert_file, key_file = tmp_path / "tls.crt", tmp_path / "tls.key"
    one.cert_chain_pems[0].write_to_path(str(cert_file))
    other.private_key_pem.write_to_path(str(key_file))
    config = _config(tmp_path, f"server: {{listen: '127.0.0.1:{free_port()}', tls_cert_file: {cert_file}, "
                               f"tls_key_file: {key_file}}}\n")
    _one_line_exit_2(_watchtower("run", "--config", config), str(cert_file), str(key_file))


def test_tls_file_that_is_a_fifo_is_refused_not_read(tmp_path: Path) -> None:
    key_file, fifo = tmp_path / "tls.key", tmp_path / "tls.crt"
    key_file.write_text("x")
    os.mkfifo(fifo)
    config = _config(tmp_path, f"server: {{listen: '127.0.0.1:{free_port()}', tls_cert_file: {fifo}, "
                               f"tls_key_file: {key_file}}}\n")
    _one_line_exit_2(_watchtower("run", "--config", config, timeout=20), str(fifo), "not a regular file")


def test_non_utf8_config(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_bytes(b"cluster: caf\xe9\n")
    for command in (["run", "--config", str(path)], ["config", "check", str(path)]):
        _one_line_exit_2(_watchtower(*command), str(path), "UTF-8")


def test_config_that_is_a_fifo(tmp_path: Path) -> None:
    fifo = tmp_path / "config.yaml"
    os.mkfifo(fifo)
    _one_line_exit_2(_watchtower("config", "check", str(fifo), timeout=20), str(fifo), "not a regular file")


def test_unreadable_basic_auth_secret_names_the_file_not_the_value(tmp_path: Path) -> None:
    config = _config(tmp_path, f"server: {{listen: '127.0.0.1:{free_port()}', basic_auth: "
                               f"{{username: u, password_file: {tmp_path / 'absent'}}}}}\n")
    _one_line_exit_2(_watchtower("run", "--config", config), str(tmp_path / "absent"))
def test_huge_interval_is_refused_by_config_check_and_run(tmp_path: Path) -> None:
    config = _config(tmp_path, "collectors: {certs: {interval: 99999999999d}}\n")
    for command in (["run", "--config", config], ["config", "check", config]):
        _one_line_exit_2(_watchtower(*command), "collectors.certs.interval")




# -- bad configs: exit 2 naming the field, never echoing a secret ---------------------------------


BAD_CONFIGS = [
    ("cluster: a\ncluster: b\n", "cluster", "duplicate"),
    ("collectors:\n  certs: {interval: 1m}\ncollectors:\n  vip: {interval: 1m}\n", "collectors", "duplicate"),
    ("collectors: {certs: {interval: 1ms}}\n", "collectors.certs.interval", "1s"),
    ("collectors: {certs: {interval: 8d}}\n", "collectors.certs.interval", "7d"),
    ("collectors: {certs: {interval: 1m, timeout: 2m}}\n", "collectors.certs.timeout", "interval"),
    ("collectors: {certs: {interval: 1m, timeout: 0s}}\n", "collectors.certs.timeout", ""),
    ("collectors: {certs: {endpoint_timeout: 0s}}\n", "collectors.certs.endpoint_timeout", ""),
    ("collectors: {certs: {warning_before: 7d, critical_before: 30d}}\n", "collectors.certs.critical_before", ""),
    ("collectors: {certs: {warning_fraction: 0.05, critical_fraction: 0.2}}\n", "collectors.certs.critical_fraction",
     ""),
    ("kubernetes: {request_timeout: 0}\n", "kubernetes.request_timeout", ""),
    (f"server: {{basic_auth: 'prom:{SECRET}'}}\n", "server.basic_auth", ""),
    (f"server: {{basic_auth: {{username: prom, password: {SECRET}}}}}\n", "server.basic_auth.password", ""),
    (f"server: {{basic_auth: {{username: prom, password_file: {{value: {SECRET}}}}}}}\n",
     "server.basic_auth.password_file", ""),
    (f"server: {{basic_auth: {{username: prom, password_file: [{SECRET}]}}}}\n",
     "server.basic_auth.password_file", ""),
    (f"server: {{basic_auth: {{username: prom, password_env: '{SECRET}'}}}}\n",
     "server.basic_auth.password_env", "variable name"),
    (f"server: {{basic_auth: {{username: prom, password_file: 'hunter2 {SECRET}'}}}}\n",
     "server.basic_auth.password_file", "path"),
    (f"server: {{basic_auth: {{username: prom, password_env: X, password_file: {SECRET}}}}}\n",
     "server.basic_auth.password", ""),
]


@pytest.mark.parametrize(("text", "field", "hint"), BAD_CONFIGS)
def test_bad_config_exits_2_naming_the_field_without_the_secret(tmp_path: Path, text: str, field: str,
                                                                 hint: str) -> None:
    config = _config(tmp_path, text)
    for command in (["config", "check", config], ["run", "--config", config]):
        line = _one_line_exit_2(_watchtower(*command), field, hint)
        assert SECRET not in line
