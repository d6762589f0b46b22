"""Repository-wide pytest setup.

Subprocesses started by tests (``python -m watchtower``, ``watchtower run``) must run the code of
this checkout, not whatever copy of the package pip installed last, so the checkout goes first
on PYTHONPATH for every child process.
"""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent
os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
