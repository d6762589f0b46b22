"""The odd-input corpus (tests/corpus) through the real ``watchtower check certs``.

Every case is run as a subprocess, as cron or CI runs it: its exit status, its JSON document
and an empty stderr (no Python warnings, no traceback) are checked against the expectation the
case states. The table output of every case is checked for agreement with the exit status: no
row says OK about a certificate the status is about, and a non-zero status names its cause.
"""

from __future__ import annotations

import contextlib
import io
import json
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.corpus import Case, build, endpoint_cases
from tests.support.certs import check_certs
from tests.support.services import free_port
from tests.support.tls_servers import SilentServer
from watchtower.app import cli


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> list[Case]:
    return build(tmp_path_factory.mktemp("corpus"))


def _run(case: Case) -> tuple[Case, int, str, str]:
    done = check_certs(*case.args, "--output", "json")
    return case, done.returncode, done.stdout, done.stderr


def test_corpus_is_big_enough_and_states_every_result(corpus: list[Case]) -> None:
    assert len(corpus) >= 30
    assert len({c.name for c in corpus}) == len(corpus)
    assert all(c.why and c.status in {"ok", "warning", "critical", "unknown"} for c in corpus)
    assert {c.status for c in corpus} == {"ok", "warning", "critical", "unknown"}


def _in_process(case: Case) -> tuple[Case, int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main(["check", "certs", *case.args, "--output", "json"])
    return case, code, out.getvalue(), err.getvalue()


def _failures(results: list[tuple[Case, int, str, str]]) -> list[str]:
    failures = []
    for case, code, stdout, stderr in results:
        problems = [] if code == case.exit else [f"exit {code}, expected {case.exit}"]
        if stderr.strip():
            problems.append(f"stderr not empty: {stderr.strip()[:300]}")
        try:
            problems += case.problems(json.loads(stdout))
        except json.JSONDecodeError:
            problems.append(f"not JSON: {stdout[:200]}")
        if problems:
            failures.append(f"{case.name} ({case.why}): {'; '.join(problems)}")
    return failures


def test_every_corpus_case_through_the_cli(corpus: list[Case]) -> None:
    """All cases through ``cli.main`` (argument parsing to exit status), JSON checked."""
    failures = _failures([_in_process(case) for case in corpus])
    assert not failures, "\n".join(failures)


# One case per outcome, plus the ones whose certificates make Python libraries warn: as processes.
AS_PROCESSES = ("serial 0", "negative serial", "SHA-1 self-signed root",
                "SHA-1-signed leaf", "expired certificate", "key-only PEM")


def test_corpus_cases_as_processes_print_no_python_warnings(corpus: list[Case]) -> None:
    chosen = [c for c in corpus if c.name in AS_PROCESSES]
    assert len(chosen) == len(AS_PROCESSES)
    with ThreadPoolExecutor(max_workers=3) as pool:
        failures = _failures(list(pool.map(_run, chosen)))
    assert not failures, "\n".join(failures)


def _table(case: Case) -> tuple[int, str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = cli.main(["check", "certs", *case.args])
    return code, out.getvalue()


def table_problems(code: int, text: str) -> list[str]:
    """Where a table disagrees with its exit status."""
    lines = text.splitlines()
    status_at = next((i for i, line in enumerate(lines) if line.startswith("status: ")), None)
    if status_at is None:
        return ["no status line"]
    word = lines[status_at].split()[1]
    expected = ["OK", "WARNING", "CRITICAL", "UNKNOWN"][code]
    problems = [] if word == expected else [f"status line says {word}, exit {code}"]
    why = [line for line in lines[status_at + 1:] if line.startswith("  ")]
    if code and not why:
        problems.append("a non-zero status that names no cause")
    if code in (1, 2):
        rows = [line for line in lines[1:] if line and not line.startswith(("error:", "check failed:", "note:",
                                                                            "status:", " ", "no certificates"))]
        if rows and not any(expected in row or (code == 2 and ("EXPIRED" in row or "NOT YET VALID" in row))
                            for row in rows):
            problems.append(f"no row shows {expected} although the run exits {code}")
    return problems


def test_table_status_always_agrees_with_the_exit_status(corpus: list[Case]) -> None:
    failures = []
    for case in corpus:
        code, text = _table(case)
        problems = ([] if code == case.exit else [f"exit {code}"]) + table_problems(code, text)
        if problems:
            failures.append(f"{case.name}: {problems}\n{text}")
    assert not failures, "\n".join(failures)


def test_table_checker_catches_disagreement() -> None:
    ok_row = "CERTIFICATE  EXPIRES  STATUS\n/x.pem  Jan 01, 2030  OK\n\nstatus: CRITICAL (exit 2)\n  critical: x\n"
    assert table_problems(2, ok_row) == ["no row shows CRITICAL although the run exits 2"]
    assert table_problems(3, "no certificates found\n\nstatus: UNKNOWN (exit 3)\n") == [
        "a non-zero status that names no cause"]
    assert table_problems(0, "status: CRITICAL (exit 2)\n") == ["status line says CRITICAL, exit 0"]


@contextlib.contextmanager
def plain_text_server() -> Iterator[str]:
    """Answers every connection with an HTTP error in plain text: a port that is not TLS."""
    sock = socket.create_server(("127.0.0.1", 0))
    sock.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = sock.accept()
            except OSError:
                continue
            with conn:
                conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{sock.getsockname()[1]}"
    finally:
        stop.set()
        thread.join(5)
        sock.close()


def test_unreachable_endpoints_are_unknown_within_their_timeout() -> None:
    with plain_text_server() as plain, SilentServer() as silent:
        cases = endpoint_cases(f"127.0.0.1:{free_port()}", plain, silent.address)
        for case in cases:
            start = time.monotonic()
            _, code, stdout, stderr = _run(case)
            took = time.monotonic() - start
            doc = json.loads(stdout)
            assert code == case.exit == 3, (case.name, stdout, stderr)
            assert not case.problems(doc), (case.name, case.problems(doc), doc["inputs"])
            assert not stderr.strip(), stderr
            assert took < 10, f"{case.name} took {took:.1f}s"


def test_a_corpus_directory_at_once_reports_each_input(corpus: list[Case], tmp_path: Path) -> None:
    """Several inputs in one run: each judged on its own in ``inputs``; the worst decides the exit."""
    by_name = {c.name: c for c in corpus}
    fine, missing, key_only = by_name["DER certificate"], by_name["missing file"], by_name["key-only PEM"]
    done = check_certs(fine.args[0], missing.args[0], key_only.args[0], "--output", "json")
    doc = json.loads(done.stdout)
    assert done.returncode == 3 and doc["status"] == "unknown"
    assert [(i["input"], i["status"]) for i in doc["inputs"]] == [
        (fine.args[0], "ok"), (missing.args[0], "unknown"), (key_only.args[0], "unknown")]
    expired = by_name["expired certificate"]
    done = check_certs(fine.args[0], missing.args[0], expired.args[0])
    assert done.returncode == 2, done.stdout  # critical wins over unknown
    assert "expired" in done.stdout.split("status: CRITICAL", 1)[1]


def test_check_with_a_config_judges_configured_inputs_the_same_way(corpus: list[Case], tmp_path: Path) -> None:
    """`watchtower check` (the certs collector from a config) is UNKNOWN for a configured path that
    holds no certificate, as `check certs` is; the metric counts it as a read error."""
    by_name = {c.name: c for c in corpus}
    key_only, fine = by_name["key-only PEM"].args[0], by_name["DER certificate"].args[0]
    config = tmp_path / "c.yaml"
    config.write_text(f"collectors:\n  certs: {{paths: ['{key_only}', '{fine}'], kubeadm: false}}\n")
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = cli.main(["check", "--config", str(config), "--collector", "certs", "--output", "json"])
    doc = json.loads(out.getvalue())
    assert code == 3 and doc["status"] == "unknown"
    (certs,) = doc["collectors"]
    assert [(e["location"], e["reason"]) for e in certs["errors"]] == [(key_only, "no_certificate")]
    assert {i["input"]: i["status"] for i in doc["details"]["certs"]["inputs"]} == {key_only: "unknown", fine: "ok"}
