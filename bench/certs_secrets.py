"""Peak RSS of the certs collector reading 2,000 and 20,000 TLS Secrets from the test API server.

The test Kubernetes API server runs in this process; the collector runs in a child process
(``python -m bench.certs_secrets CHILD KUBECONFIG``) so its peak RSS is its own. The child
imports everything and builds the API client first, records its RSS, runs one ``collect()``
and reports the peak RSS growth (VmHWM after minus VmRSS before; VmHWM is reset just before the
run, so a peak during imports does not count). Page size is the
default 500, so 20,000 Secrets are 40 pages.

- ``certs_secrets_20k_peak_rss_growth``: target <= 150 MB.
- ``certs_secrets_rss_growth_2k_to_20k``: growth at 20,000 over growth at 2,000 (10x the data);
  report only — well below 10 means memory does not scale with all Secrets at once.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.harness import Line

DISTINCT_CERTS = 200


def _status_mb(field: str) -> float:
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024  # kB
    raise RuntimeError(f"no {field} in /proc/self/status")


def _rss_mb() -> float:
    return _status_mb("VmRSS")


def _peak_mb() -> float:
    return _status_mb("VmHWM")


def _reset_peak() -> None:
    """Linux >= 4.0: writing 5 to clear_refs resets VmHWM (peak RSS) to the current RSS."""
    with open("/proc/self/clear_refs", "w") as handle:
        handle.write("5")


def child(kubeconfig: str) -> None:
    """In the child: build the collector, measure one collect()."""
    from watchtower.app.config import Config, KubernetesConfig
    from watchtower.collectors.base import CollectorContext
    from watchtower.collectors.certs import CertsCollector
    from watchtower.collectors.certs.settings import CertsSettings, SecretsSettings
    from watchtower.io.kube import KubeClientFactory

    config = Config(kubernetes=KubernetesConfig(kubeconfig=kubeconfig))
    context = CollectorContext(config=config, kube=KubeClientFactory(config.kubernetes))
    collector = CertsCollector(CertsSettings(enabled=True, kubeadm=False, secrets=SecretsSettings(enabled=True),
                                             apiserver_endpoints=()), context)
    context.kube.api_client()
    import kubernetes.client  # noqa: F401 - loaded before the baseline measurement

    _reset_peak()  # imports may have peaked higher than where they settled: start the peak afresh
    before = _rss_mb()
    start = time.perf_counter()
    result = collector.collect()
    seconds = time.perf_counter() - start
    peak = _peak_mb()
    print(json.dumps({"before_mb": before, "peak_mb": peak, "seconds": seconds,
                      "series": len(result.metrics[0].samples), "errors": len(result.errors)}))


def _measure(count: int, directory: Path) -> dict[str, float]:
    from tests.kubeapi import KubeAPIServer
    from tests.support.kubeadm_pki import issue

    certs = [issue(f"svc-{i}.bench.test", days=30 + i).cert_pem for i in range(DISTINCT_CERTS)]
    with KubeAPIServer(directory / f"api-{count}") as api:
        for i in range(count):
            api.add_secret(f"ns-{i % 50}", f"tls-{i:06d}", data={"tls.crt": certs[i % DISTINCT_CERTS],
                                                                 "tls.key": b"not read by watchtower"})
        kubeconfig = api.write_kubeconfig(directory / f"kubeconfig-{count}", auth="token")
        done = subprocess.run([sys.executable, "-m", "bench.certs_secrets", "child", str(kubeconfig)],
                              capture_output=True, text=True, timeout=600, env={**os.environ, "PYTHONPATH": os.getcwd()})
    if done.returncode != 0:
        raise RuntimeError(f"child failed: {done.stderr[-2000:]}")
    report = json.loads(done.stdout.strip().splitlines()[-1])
    if report["series"] != count or report["errors"]:
        raise RuntimeError(f"child saw {report['series']} certificates and {report['errors']} errors, expected {count}")
    return report


def run() -> list[Line]:
    with tempfile.TemporaryDirectory(prefix="wt-bench-secrets-") as tmp:
        small = _measure(2_000, Path(tmp))
        large = _measure(20_000, Path(tmp))
    small_growth = small["peak_mb"] - small["before_mb"]
    large_growth = large["peak_mb"] - large["before_mb"]
    return [
        Line("certs_secrets_20k_peak_rss_growth", large_growth, "MB", target="<= 150", target_on_value=True),
        Line("certs_secrets_rss_growth_2k_to_20k", large_growth, "MB", small_growth, "MB"),
        Line("certs_secrets_20k_collect_time", large["seconds"], "s", small["seconds"], "s"),
    ]


if __name__ == "__main__":
    if sys.argv[1:2] == ["child"]:
        child(sys.argv[2])
    else:
        for line in run():
            print(line.render())
