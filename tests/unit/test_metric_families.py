"""Metric families are declared once (``families.py`` in each package) and documented.

Every declared family is in docs/metrics.md with its type and labels; every documented
``watchtower_`` metric is declared; no module builds a ``watchtower_`` family from a literal name
outside the declarations; each collector's families start with its declared ``metric_prefixes``.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from collections.abc import Mapping
from pathlib import Path

import watchtower
from watchtower.app.registry import REGISTRY
from watchtower.core.families import Family

ROOT = Path(__file__).resolve().parents[2]
ROW = re.compile(r"^\| `(watchtower_[a-z0-9_]+)` \|([^|]*)\|([^|]*)\|", re.MULTILINE)


def declared() -> dict[str, list[Family]]:
    """module name → the Family values it declares (module level, or in a mapping)."""
    out: dict[str, list[Family]] = {}
    for info in pkgutil.walk_packages(watchtower.__path__, "watchtower."):
        if info.name.rsplit(".", 1)[-1] != "families" or info.name == "watchtower.core.families":
            continue
        module = importlib.import_module(info.name)
        found: list[Family] = []
        for value in vars(module).values():
            if isinstance(value, Family):
                found.append(value)
            elif isinstance(value, Mapping):
                found += [v for v in value.values() if isinstance(v, Family)]
        out[info.name] = found
    return out


def documented() -> dict[str, tuple[str, str]]:
    """exposed name → (type column, labels column); "certificate labels" stands for the certs label table."""
    text = (ROOT / "docs" / "metrics.md").read_text()
    table = re.search(r"\*\*Certificate labels\*\*.*?\n\n((?:\|.*\n)+)", text, re.DOTALL)
    assert table is not None, "the certs section's label table"
    cert_labels = " ".join(re.findall(r"^\| ([^|]*)\|", table.group(1), re.MULTILINE))
    return {name: (kind, cert_labels if labels.strip() == "certificate labels" else labels)
            for name, kind, labels in ROW.findall(text)}


def test_every_declared_family_is_documented_with_its_type_and_labels() -> None:
    docs = documented()
    families = [f for fams in declared().values() for f in fams]
    assert len(families) > 90
    problems = []
    for family in families:
        if family.exposed not in docs:
            problems.append(f"{family.exposed}: not in docs/metrics.md")
            continue
        kind, labels = docs[family.exposed]
        if family.type not in kind or (family.type == "gauge" and "info" in kind):
            problems.append(f"{family.exposed}: declared {family.type}, documented {kind.strip()!r}")
        missing = [label for label in family.labels if f"`{label}`" not in labels]
        if missing:
            problems.append(f"{family.exposed}: labels {missing} not documented")
    assert problems == []


def test_every_documented_metric_is_declared_once() -> None:
    exposed = [f.exposed for fams in declared().values() for f in fams]
    assert len(exposed) == len(set(exposed)), "a family declared twice"
    assert sorted(set(documented()) - set(exposed)) == []


def test_no_family_is_built_from_a_literal_name_outside_the_declarations() -> None:
    literal = re.compile(r"(?:Gauge|Counter|Info)MetricFamily\(\s*f?[\"']watchtower_|CompactFamily\(\s*f?[\"']watchtower_")
    offenders = [str(path.relative_to(ROOT)) for path in (ROOT / "watchtower").rglob("*.py")
                 if path.name != "families.py" and literal.search(path.read_text())]
    assert offenders == []


def test_each_collectors_families_start_with_its_metric_prefixes() -> None:
    modules = declared()
    for name, cls in REGISTRY.items():
        package = cls.__module__ if f"{cls.__module__}.families" in modules else cls.__module__.rsplit(".", 1)[0]
        families = modules.get(f"{package}.families")
        assert families, f"{name}: no {package}.families module"
        stray = [f.name for f in families if not f.name.startswith(cls.metric_prefixes)]
        assert stray == [], f"{name}: {stray} outside {cls.metric_prefixes}"


def test_a_family_builds_only_as_its_declared_type() -> None:
    family = Family("watchtower_x", "counter", "X.", ("a",))
    assert family.exposed == "watchtower_x_total" and family.counter().name == "watchtower_x"
    try:
        family.gauge()
    except TypeError as exc:
        assert "declared a counter" in str(exc)
    else:
        raise AssertionError("a counter built as a gauge")
