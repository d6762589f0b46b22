"""``/livez``, ``/readyz`` and ``/healthz`` rendered byte for byte like kube-apiserver's.

Probes and collectors parse this text (``[+]etcd ok`` / ``[-]etcd failed: reason withheld``, the
final ``readyz check passed``) and act on the HTTP code, so the format, the ``verbose`` and
``exclude`` parameters and the per-check sub-paths follow k8s.io/apiserver/pkg/server/healthz.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

LIVEZ_CHECKS: tuple[str, ...] = (
    "ping",
    "log",
    "etcd",
    "poststarthook/start-apiserver-admission-initializer",
    "poststarthook/generic-apiserver-start-informers",
    "poststarthook/priority-and-fairness-config-consumer",
    "poststarthook/priority-and-fairness-filter",
    "poststarthook/storage-object-count-tracker-hook",
    "poststarthook/start-apiextensions-informers",
    "poststarthook/start-apiextensions-controllers",
    "poststarthook/crd-informer-synced",
    "poststarthook/start-system-namespaces-controller",
    "poststarthook/bootstrap-controller",
    "poststarthook/rbac/bootstrap-roles",
    "poststarthook/scheduling/bootstrap-system-priority-classes",
    "poststarthook/priority-and-fairness-config-producer",
    "poststarthook/start-cluster-authentication-info-controller",
    "poststarthook/start-kube-apiserver-identity-lease-controller",
    "poststarthook/aggregator-reload-proxy-client-cert",
    "poststarthook/start-kube-aggregator-informers",
    "poststarthook/apiservice-registration-controller",
    "poststarthook/apiservice-status-available-controller",
    "poststarthook/kube-apiserver-autoregistration",
    "autoregister-completion",
    "poststarthook/apiservice-openapi-controller",
)
# readyz adds these three to the livez set, in these positions.
READYZ_CHECKS: tuple[str, ...] = LIVEZ_CHECKS[:3] + ("etcd-readiness", "informer-sync") + LIVEZ_CHECKS[3:] + ("shutdown",)

NOT_FOUND = (404, "404 page not found\n")


def _checks(defaults: Sequence[str], state: bool | Mapping[str, bool] | None) -> dict[str, bool]:
    """Every default check healthy, then overridden: a bool sets all, a mapping sets (or adds) named ones."""
    if isinstance(state, bool):
        return {name: state for name in defaults}
    checks = {name: True for name in defaults}
    checks.update(state or {})
    return checks


@dataclass
class Health:
    """The current result of every check of each endpoint (``healthz`` shares livez's checks)."""

    livez: dict[str, bool] = field(default_factory=lambda: _checks(LIVEZ_CHECKS, None))
    readyz: dict[str, bool] = field(default_factory=lambda: _checks(READYZ_CHECKS, None))

    @classmethod
    def build(cls, livez: bool | Mapping[str, bool] = True, readyz_checks: Mapping[str, bool] | None = None) -> Health:
        return cls(_checks(LIVEZ_CHECKS, livez), _checks(READYZ_CHECKS, readyz_checks))

    def checks_for(self, endpoint: str) -> dict[str, bool]:
        return self.readyz if endpoint == "readyz" else self.livez


def _quoted(names: Sequence[str]) -> str:
    return ",".join(f'"{name}"' for name in names)


def render(endpoint: str, checks: Mapping[str, bool], query: Mapping[str, list[str]], check: str | None = None) -> tuple[int, str]:
    """(HTTP code, text body) for ``/<endpoint>`` or ``/<endpoint>/<check>``."""
    if check is not None:
        if check not in checks:
            return NOT_FOUND
        return (200, "ok") if checks[check] else (500, "internal server error: reason withheld\n")
    excluded = {name.strip() for value in query.get("exclude", []) for name in value.split(",") if name.strip()}
    lines = []
    unknown = sorted(excluded - checks.keys())
    if unknown:
        lines.append(f"warn: some health checks cannot be excluded: no matches for {_quoted(unknown)}")
    failed = False
    for name, ok in checks.items():
        if name in excluded:
            lines.append(f"[+]{name} excluded: ok")
        elif ok:
            lines.append(f"[+]{name} ok")
        else:
            failed = True
            lines.append(f"[-]{name} failed: reason withheld")
    if failed:
        return 500, "\n".join(lines) + f"\n{endpoint} check failed\n"
    if "verbose" in query:
        return 200, "\n".join(lines) + f"\n{endpoint} check passed\n"
    return 200, "ok"
