"""20,000 applied objects and 200 Helm releases on a 1.15 test API: the removed_apis collector's time and memory.

Objects: 20,000 Deployments, listed through extensions/v1beta1 (as a 1.15 apiserver serves them),
each with kubectl's last-applied annotation; one in ten was applied as extensions/v1beta1 (2,000
blockers), the rest as apps/v1. Helm: 200 deployed releases (Helm's Secret encoding), 10 objects
each, one of them an extensions/v1beta1 Ingress. Plus an apiserver /metrics text.

Time: ``RemovedApisCollector.collect()`` in this process vs the baseline of listing the same
objects and Secrets page by page as plain JSON and doing nothing with them (what reading costs).
Memory: peak RSS (VmHWM) of a real ``watchtower run`` whose removed_apis collector has run three
times and served /metrics once, vs an idle ``watchtower run`` measured in the same run; target:
growth ≤ 60 MB.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import yaml

from bench.daemon import measure
from bench.harness import Line, median_seconds
from tests.kubeapi import KubeAPIServer
from tests.support import helm_release as hr
from tests.support import legacy_cluster as lc

OBJECTS = 20_000
BLOCKER_EVERY = 10
RELEASES = 200
PAGE_SIZE = 500


def _populate(api: KubeAPIServer) -> None:
    lc.serve_1_15(api)
    for i in range(OBJECTS):
        lc.add_deployment(api, f"team-{i % 50:02d}", f"app-{i:05d}", "extensions/v1beta1" if i % BLOCKER_EVERY == 0 else "apps/v1")
    for r in range(RELEASES):
        name, namespace = f"rel-{r:03d}", f"team-{r % 50:02d}"
        docs = [f"---\n# Source: chart/templates/cm-{k}.yaml\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}-{k}\n"
                f"data:\n  key: \"{'x' * 200}\"\n" for k in range(9)]
        docs.append(f"---\n# Source: chart/templates/ingress.yaml\napiVersion: extensions/v1beta1\nkind: Ingress\n"
                    f"metadata:\n  name: {name}\nspec:\n  backend: {{serviceName: {name}, servicePort: 80}}\n")
        document = hr.release_document(name, namespace, "".join(docs), revision=1)
        api.add_secret(namespace, hr.secret_name(name, 1), type="helm.sh/release.v1",
                       data={"release": hr.encode_release(document)}, labels=hr.secret_labels(name, 1, "deployed"))
    api.set_metrics(lc.METRICS_1_15)


def _config(directory: Path, kubeconfig: Path | None, interval: str = "15s") -> Path:
    from watchtower.collectors import REGISTRY

    collectors: dict[str, object] = {name: {"enabled": False} for name in REGISTRY}
    data: dict[str, object] = {"collectors": collectors, "log": {"level": "warning"}}
    if kubeconfig is not None:
        collectors["removed_apis"] = {"enabled": True, "interval": interval, "helm_releases": True}
        data["kubernetes"] = {"kubeconfig": str(kubeconfig), "page_size": PAGE_SIZE, "request_timeout": 60}
    path = directory / ("removed.yaml" if kubeconfig else "idle.yaml")
    path.write_text(yaml.safe_dump(data))
    return path


def run() -> list[Line]:
    from watchtower.app import config as config_mod
    from watchtower.collectors.base import CollectorContext
    from watchtower.collectors.removed_apis import RemovedApisCollector
    from watchtower.io.kube import KubeClientFactory, list_json_pages

    with tempfile.TemporaryDirectory(prefix="wt-bench-removed-") as tmp, KubeAPIServer(Path(tmp) / "api") as api:
        directory = Path(tmp)
        _populate(api)
        kubeconfig = api.write_kubeconfig(directory / "kubeconfig", auth="token")
        config = config_mod.load(_config(directory, kubeconfig))
        context = CollectorContext(config=config, kube=KubeClientFactory(config.kubernetes))
        collector = RemovedApisCollector(config.collectors["removed_apis"], context)
        api_client = context.kube.api_client()

        def read_only() -> int:
            """The same lists, page by page as plain JSON, doing nothing with the items."""
            n = sum(1 for _ in list_json_pages(api_client, "/apis/extensions/v1beta1/deployments", PAGE_SIZE, 60))
            return n + sum(1 for _ in list_json_pages(api_client, "/api/v1/secrets", 20, 60,
                                                      fieldSelector="type=helm.sh/release.v1", labelSelector="owner=helm,status=deployed"))

        assert read_only() == OBJECTS + RELEASES
        baseline = median_seconds(read_only, repeat=3, gc_on=True)
        collect = median_seconds(collector.collect, repeat=3, gc_on=True)
        details = collector.collect().details.to_json()
        assert details["blockers_total"] == OBJECTS // BLOCKER_EVERY + RELEASES, details["blockers_total"]
        assert details["checked"] == {"apiserver_metrics": 1, "helm": RELEASES, "live": OBJECTS}, details["checked"]

        idle_mb = measure(_config(directory, None))["hwm"]
        peak_mb = measure(_config(directory, kubeconfig), collector="removed_apis", runs=3, timeout=600)["hwm"]

    return [
        Line("removed_apis_collect_20000", collect, "s", baseline, "s", "<= 3"),
        Line("removed_apis_daemon_peak_rss_20000", peak_mb, "MB", idle_mb, "MB"),
        Line("removed_apis_daemon_rss_growth_20000", peak_mb - idle_mb, "MB", target="<= 60", target_on_value=True),
    ]
