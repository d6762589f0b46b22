"""Declared dependencies: floors that are tested, and none that replaces another's import package.

grafana-client >= 4 pulled niquests and urllib3-future, which installs its own ``urllib3``
package over urllib3's: the kubernetes client and requests then ran on an HTTP library neither
is tested with. The closure of watchtower's runtime dependencies (as installed here) must not
contain a distribution that ships a top-level package another one in the closure ships.
tests/integration/test_wheel_install.py checks the same in a fresh venv.
"""

from __future__ import annotations

import importlib.metadata as md
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
DEPENDENCIES = [Requirement(r) for r in PYPROJECT["project"]["dependencies"]]
CONSTRAINTS = ROOT / "scripts" / "lowest-constraints.txt"


def _closure() -> dict[str, md.Distribution]:
    """Every installed distribution the runtime dependencies pull in, by canonical name."""
    seen: dict[str, md.Distribution] = {}
    todo = list(DEPENDENCIES)
    while todo:
        req = todo.pop()
        if req.marker is not None and not req.marker.evaluate({"extra": ""}):
            continue
        name = canonicalize_name(req.name)
        if name in seen:
            continue
        try:
            dist = md.distribution(req.name)
        except md.PackageNotFoundError:
            pytest.fail(f"{req.name} (needed by watchtower) is not installed")
        seen[name] = dist
        todo.extend(Requirement(r) for r in dist.requires or [])
    return seen


def _top_level_packages(dist: md.Distribution) -> set[str]:
    names = set()
    for f in dist.files or []:
        parts = Path(str(f)).parts
        if len(parts) > 1 and parts[-1] == "__init__.py" and not parts[0].endswith((".dist-info", ".data")):
            names.add(parts[0])
    return names


def test_no_dependency_replaces_another_distributions_package() -> None:
    owners: dict[str, list[str]] = {}
    for name, dist in _closure().items():
        for package in _top_level_packages(dist):
            owners.setdefault(package, []).append(name)
    shared = {pkg: sorted(names) for pkg, names in owners.items() if len(names) > 1}
    assert not shared, f"two distributions in watchtower's dependencies ship the same import package: {shared}"
    assert owners.get("urllib3") == ["urllib3"], f"urllib3 must come from the urllib3 distribution: {owners.get('urllib3')}"


def test_no_grafana_client_or_niquests_in_the_closure() -> None:
    assert not {"grafana-client", "niquests", "urllib3-future", "qh3"} & set(_closure())


def test_every_direct_dependency_has_its_floor_in_the_lowest_constraints() -> None:
    pinned = {}
    for line in CONSTRAINTS.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, version = line.partition("==")
            pinned[canonicalize_name(name)] = version
    for req in DEPENDENCIES:
        floors = [s.version for s in req.specifier if s.operator == ">="]
        assert len(floors) == 1, f"{req}: every dependency needs exactly one >= floor"
        pin = pinned.get(canonicalize_name(req.name))
        assert pin is not None and Version(pin) == Version(floors[0]), \
            f"{req.name}: floor {floors[0]} but scripts/lowest-constraints.txt pins {pin}"
    assert set(pinned) == {canonicalize_name(r.name) for r in DEPENDENCIES}


def test_installed_kubernetes_has_what_watchtower_calls() -> None:
    """kube.get_json uses ApiClient.param_serialize, which kubernetes 29.0.0-36.0.x lack."""
    import kubernetes.client

    assert hasattr(kubernetes.client.ApiClient, "param_serialize"), md.version("kubernetes")
