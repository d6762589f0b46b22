"""Build step only (metadata lives in pyproject.toml): ship dashboards/ and alerts/ in the wheel.

The repository's ``dashboards/*.json`` and ``alerts/*.rules.yaml`` are the single source; this
copies them into ``watchtower/_data/`` of the build, where ``watchtower`` reads them with
``importlib.resources`` after a plain ``pip install``. An editable install reads the checkout.
"""

from __future__ import annotations

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
BUNDLED = (("dashboards", "*.json"), ("alerts", "*.rules.yaml"))


class BuildPyWithData(build_py):
    """``build_py`` plus the bundled data files (skipped for editable installs)."""

    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return
        for name, pattern in BUNDLED:
            sources = sorted((ROOT / name).glob(pattern))
            if not sources:
                raise SystemExit(f"setup.py: no {pattern} in {ROOT / name}; the wheel would ship without them")
            target = Path(self.build_lib) / "watchtower" / "_data" / name
            self.mkpath(str(target))
            for source in sources:
                self.copy_file(str(source), str(target / source.name))


setup(cmdclass={"build_py": BuildPyWithData})
