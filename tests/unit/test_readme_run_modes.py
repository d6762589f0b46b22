"""The README's "Three ways to run watchtower" section matches the CLI and the shipped files."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from watchtower.app.cli import build_parser
from watchtower.app.config import DEFAULT_PORT

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()


def section(title: str) -> str:
    start = README.index(f"## {title}\n")
    end = README.find("\n## ", start + 1)
    return README[start:end if end != -1 else None]


SECTION = section("Three ways to run watchtower")


CRON_SCHEDULE = re.compile(r"^([0-9*/,-]+\s+){5}")


def shell_commands(text: str) -> list[list[str]]:
    """Every `watchtower ...` invocation in the section's sh code blocks, as argv (crontab lines too)."""
    commands = []
    for block in re.findall(r"```sh\n(.*?)```", text, re.DOTALL):
        for line in block.replace("\\\n", " ").splitlines():
            line = CRON_SCHEDULE.sub("", line.split(" #", 1)[0].strip())
            if line.startswith("#"):
                continue
            for part in re.split(r"&&|\|\||[|;]", line):
                words = shlex.split(re.split(r"\s[0-9]?[<>]", part, maxsplit=1)[0])
                if words[:1] == ["watchtower"]:
                    commands.append(words)
    return commands


def test_section_names_the_three_ways_and_their_files() -> None:
    for needle in ("helm/watchtower", "deploy/systemd/watchtower.service", "deploy/systemd/config.example.yaml",
                   "watchtower check", "Dockerfile"):
        assert needle in SECTION
    for path in ("helm/watchtower/Chart.yaml", "deploy/systemd/watchtower.service",
                 "deploy/systemd/config.example.yaml", "Dockerfile"):
        assert (ROOT / path).is_file()


@pytest.mark.parametrize("argv", shell_commands(SECTION), ids=" ".join)
def test_every_command_in_the_section_parses(argv: list[str]) -> None:
    args = build_parser().parse_args(argv[1:])  # argparse exits (SystemExit) on anything unknown
    assert args.command in {"run", "check", "config", "version"}


def test_section_has_commands_for_each_way() -> None:
    commands = {" ".join(argv[1:2]) for argv in shell_commands(SECTION)}
    assert {"config", "check"} <= commands
    assert "watchtower run --config /etc/watchtower/config.yaml" in SECTION


def test_scrape_example_uses_the_default_port() -> None:
    assert f"127.0.0.1:{DEFAULT_PORT}" in SECTION
