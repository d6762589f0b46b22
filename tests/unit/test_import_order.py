"""Every watchtower module imports on its own, whichever is imported first.

An import cycle (config → collectors → a collector → kube → config) only breaks when a
particular module happens to be imported first, so the rest of the suite can hide it. One
child interpreter imports each module with all watchtower modules forgotten before each one.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

_SCRIPT = """
import importlib, sys, traceback
failed = []
for name in sys.argv[1:]:
    for loaded in [m for m in sys.modules if m == "watchtower" or m.startswith("watchtower.")]:
        del sys.modules[loaded]
    try:
        importlib.import_module(name)
    except Exception:
        failed.append(name + ": " + traceback.format_exc().strip().splitlines()[-1])
print("\\n".join(failed))
sys.exit(1 if failed else 0)
"""


def _modules() -> list[str]:
    names = []
    for path in sorted((ROOT / "watchtower").rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__main__":
            continue
        if parts[-1] == "__init__":
            parts.pop()
        names.append(".".join(parts))
    return names


def test_every_module_imports_first() -> None:
    modules = _modules()
    assert "watchtower.config" in modules and "watchtower.kube" in modules
    done = subprocess.run([sys.executable, "-c", _SCRIPT, *modules], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
