"""The wheel, installed into a fresh venv outside the source tree, works on its own.

This is what a user gets from ``pip install kube-watchtower``: no checkout on sys.path, no
editable install. The venv first gets requests + urllib3 (what a typical environment already
has); installing watchtower must not replace the ``urllib3`` import package (grafana-client >= 4
pulled urllib3-future, which does). Then the smoke test: ``render --out`` finds the dashboards
and rules shipped inside the package, ``check certs --kubeadm`` reads a generated kubeadm tree,
and ``run`` serves /metrics.
"""

from __future__ import annotations

import base64
import datetime
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.support.kubeadm_tree import KubeadmTree
from tests.support.services import free_port

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ("pyproject.toml", "setup.py", "MANIFEST.in", "README.md", "watchtower", "dashboards", "alerts")
URLLIB3_PROBE = """
import importlib.metadata as md, json, urllib3
owners = sorted({d.metadata["Name"] for d in md.distributions()
                 for f in (d.files or []) if str(f).replace("\\\\", "/") == "urllib3/__init__.py"})
print(json.dumps({"module": urllib3.__version__, "dist": md.version("urllib3"), "owners": owners}))
"""


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return env


def _run(argv: list[str | Path], cwd: Path, timeout: float = 600, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([str(a) for a in argv], cwd=cwd, env=_env(), capture_output=True, text=True, timeout=timeout)
    if check and done.returncode != 0:
        raise AssertionError(f"{argv} exited {done.returncode}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return done


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict[str, object]]:
    """(work dir, venv bin dir, urllib3 before watchtower) with the wheel installed."""
    work = tmp_path_factory.mktemp("wheel-install")
    src = work / "src"  # build from a copy: an in-tree build would leave build/ and egg-info behind
    src.mkdir()
    for name in SOURCES:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, src / name, ignore=shutil.ignore_patterns("__pycache__", "tests"))
        else:
            shutil.copy2(source, src / name)
    _run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", work / "dist", src], cwd=work)
    wheels = sorted((work / "dist").glob("kube_watchtower-*.whl"))
    assert len(wheels) == 1
    _run([sys.executable, "-m", "venv", work / "venv"], cwd=work)
    bin_dir = work / "venv" / "bin"
    _run([bin_dir / "python", "-m", "pip", "install", "-q", "requests", "urllib3"], cwd=work)
    before = json.loads(_run([bin_dir / "python", "-c", URLLIB3_PROBE], cwd=work).stdout)
    _run([bin_dir / "python", "-m", "pip", "install", "-q", wheels[0]], cwd=work)
    return work, bin_dir, before


def test_urllib3_is_still_the_urllib3_distribution(venv: tuple[Path, Path, dict[str, object]]) -> None:
    work, bin_dir, before = venv
    after = json.loads(_run([bin_dir / "python", "-c", URLLIB3_PROBE], cwd=work).stdout)
    assert before["module"] == before["dist"] and before["owners"] == ["urllib3"]
    assert after["module"] == before["module"], f"installing watchtower changed urllib3: {before} -> {after}"
    assert after["owners"] == ["urllib3"], f"another distribution ships the urllib3 package: {after['owners']}"


def test_package_is_imported_from_the_venv(venv: tuple[Path, Path, dict[str, object]]) -> None:
    work, bin_dir, _ = venv
    where = _run([bin_dir / "python", "-c", "import watchtower; print(watchtower.__file__)"], cwd=work).stdout.strip()
    assert where.startswith(str(work / "venv")), where
    assert not Path(where).is_relative_to(ROOT)


def test_render_writes_the_packaged_dashboards_and_rules(venv: tuple[Path, Path, dict[str, object]]) -> None:
    work, bin_dir, _ = venv
    out = work / "render"
    done = _run([bin_dir / "watchtower", "render", "--out", out], cwd=work)
    assert done.returncode == 0, done.stderr
    dashboards = sorted(p.name for p in (out / "grafana" / "dashboards").glob("*.json"))
    assert len(dashboards) == len(list((ROOT / "dashboards").glob("*.json"))) > 0
    alerting = yaml.safe_load((out / "grafana/provisioning/alerting/watchtower.yaml").read_text())
    rules = [r for g in alerting["groups"] for r in g["rules"]]
    assert len(rules) >= 30
    prometheus_rule = yaml.safe_load((out / "prometheus/watchtower-prometheusrule.yaml").read_text())
    assert {g["name"] for g in prometheus_rule["spec"]["groups"]} >= {g["name"] for g in alerting["groups"]}


def test_check_certs_on_a_generated_kubeadm_tree(venv: tuple[Path, Path, dict[str, object]]) -> None:
    work, bin_dir, _ = venv
    now = datetime.datetime.now(datetime.UTC)
    tree = KubeadmTree(work / "kubernetes", now - datetime.timedelta(days=30))
    tree.control_plane(now - datetime.timedelta(days=10))
    for conf in ("admin.conf", "controller-manager.conf", "scheduler.conf"):
        _with_real_key(tree, conf, now - datetime.timedelta(days=10))
    done = _run([bin_dir / "watchtower", "check", "certs", "--kubeadm", work / "kubernetes", "--output", "json"],
                cwd=work, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(done.stdout)
    text = json.dumps(report)
    assert "apiserver" in text and "front-proxy" in text


def _with_real_key(tree: KubeadmTree, name: str, issued: datetime.datetime) -> None:
    """The tree helper's kubeconfigs carry a placeholder key; kubeadm's carry the real one."""
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])).issuer_name(tree.ca.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(tree.ca_not_before).not_valid_after(issued + datetime.timedelta(days=365))
            .sign(tree.ca_key, hashes.SHA256()))
    doc = yaml.safe_load((tree.root / name).read_text())
    doc["users"][0]["user"] = {
        "client-certificate-data": base64.b64encode(cert.public_bytes(serialization.Encoding.PEM)).decode(),
        "client-key-data": base64.b64encode(key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())).decode(),
    }
    tree.write(name, yaml.safe_dump(doc))


def test_run_serves_metrics(venv: tuple[Path, Path, dict[str, object]]) -> None:
    work, bin_dir, _ = venv
    port = free_port()
    proc = subprocess.Popen([str(bin_dir / "watchtower"), "run", "--listen", f"127.0.0.1:{port}"], cwd=work, env=_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 30
        body = ""
        while time.monotonic() < deadline:
            try:
                answer = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=2)
                if answer.status_code == 200 and "watchtower_collector_success" in answer.text:
                    body = answer.text
                    break
            except requests.ConnectionError:
                pass
            assert proc.poll() is None, "watchtower run exited early"
            time.sleep(0.2)
        assert "watchtower_build_info" in body or "watchtower_collector_success" in body, "no watchtower metrics"
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            output, _ = proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            output, _ = proc.communicate()
    assert proc.returncode == 0, output[-3000:]
