"""Static checks of the Dockerfile (no container engine runs here, so it cannot be built).

What can be checked without building: a digest-pinned base, a numeric non-root USER in the final
stage, the entrypoint matching the CLI, only runtime dependencies installed, and a build context
that leaves tests and secrets out.
"""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

from watchtower.app.cli import build_parser
from watchtower.app.config import DEFAULT_PORT

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = (ROOT / "Dockerfile").read_text()


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    joined = re.sub(r"\\\n", " ", "\n".join(l for l in text.splitlines() if not l.lstrip().startswith("#")))
    out = []
    for line in joined.splitlines():
        if line.strip():
            word, _, rest = line.strip().partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def final_stage(items: list[tuple[str, str]]) -> list[tuple[str, str]]:
    last_from = max(i for i, (word, _) in enumerate(items) if word == "FROM")
    return items[last_from:]


def test_base_image_is_pinned_by_digest() -> None:
    items = instructions(DOCKERFILE)
    args = dict(a.split("=", 1) for w, a in items if w == "ARG" and "=" in a)
    bases = [a.split()[0] for w, a in items if w == "FROM"]
    assert len(bases) == 2, "a build stage and a runtime stage"
    for base in bases:
        image = args.get(base.strip("${}"), base)
        assert re.fullmatch(r"python:3\.11\.\d+-slim-bookworm@sha256:[0-9a-f]{64}", image), image


def test_final_stage_runs_as_a_numeric_non_root_user() -> None:
    users = [a for w, a in final_stage(instructions(DOCKERFILE)) if w == "USER"]
    assert users == ["65532:65532"]


def test_entrypoint_and_cmd_are_the_cli() -> None:
    stage = dict(final_stage(instructions(DOCKERFILE)))
    entrypoint, cmd = json.loads(stage["ENTRYPOINT"]), json.loads(stage["CMD"])
    assert entrypoint == ["watchtower"]
    assert build_parser().parse_args(cmd).command == "run"
    assert stage["EXPOSE"] == str(DEFAULT_PORT)


def test_only_runtime_dependencies_are_installed() -> None:
    runs = " ".join(a for w, a in instructions(DOCKERFILE) if w == "RUN")
    test_extra = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]["test"]
    for requirement in test_extra:
        name = re.split(r"[<>=!~\[ ]", requirement, maxsplit=1)[0]
        assert name not in runs, f"test dependency {name} in the image"
    assert "[test]" not in runs and " -e " not in runs
    # The runtime installs from the wheels built in stage 1, offline, and nothing else.
    assert re.search(r"pip install [^&]*--no-index --find-links /wheels kube-watchtower", runs)
    assert re.search(r"pip wheel [^&]*--wheel-dir /wheels \.", runs)


def test_build_context_leaves_tests_out() -> None:
    lines = [l.strip() for l in (ROOT / ".dockerignore").read_text().splitlines()
             if l.strip() and not l.startswith("#")]
    assert lines[0] == "*", "an allowlist: everything excluded first"
    allowed = {l[1:].rstrip("/") for l in lines if l.startswith("!")}
    assert "tests" not in " ".join(allowed)
    copied = {source.rstrip("/") for w, a in instructions(DOCKERFILE) if w == "COPY" and "--from" not in a
              for source in a.split()[:-1]}
    assert copied == allowed, "the context holds exactly what COPY uses"


def test_image_wheel_carries_what_the_provisioner_provisions() -> None:
    """The chart's cluster preset once pointed collectors.grafana.{alerts,dashboards}_dir at copies
    under /usr/share; now the wheel carries them (setup.py), so the build stage must see them and
    the chart must not point anywhere else."""
    helpers = (ROOT / "helm" / "watchtower" / "templates" / "_helpers.tpl").read_text()
    assert not re.findall(r"(alerts|dashboards)_dir:", helpers)
    copied = {a.split()[0] for w, a in instructions(DOCKERFILE) if w == "COPY" and "--from" not in a}
    setup_py = (ROOT / "setup.py").read_text()
    for source, bundled in (("dashboards/*.json", '("dashboards", "*.json")'), ("alerts/*.rules.yaml", '("alerts", "*.rules.yaml")')):
        assert source in copied and bundled in setup_py
        assert list(ROOT.glob(source)), f"COPY {source} matches nothing"
    assert {"setup.py", "MANIFEST.in"} <= {s for w, a in instructions(DOCKERFILE) if w == "COPY" for s in a.split()[:-1]}