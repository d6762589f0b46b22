"""cryptography loaded on first use, so a process that never reads a certificate never pays for it.

Importing ``cryptography.x509`` maps its Rust extension (about 8 MB of RSS and tens of
milliseconds): a daemon whose certs collector does not run, or ``watchtower version``, should not.
``lazy_module(name)`` stands for the module and imports it (once, under a lock; importlib's own
module locks make a concurrent first use safe too) at the first attribute read.
"""

from __future__ import annotations

import importlib
import threading
from types import ModuleType
from typing import Any

_lock = threading.Lock()


class _LazyModule:
    """A module imported at its first attribute read."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._module: ModuleType | None = None

    def _load(self) -> ModuleType:
        with _lock:
            if self._module is None:
                self._module = importlib.import_module(self._name)
            return self._module

    def __getattr__(self, attribute: str) -> Any:
        """Called only for names not read before: each is then kept on the stand-in, so later reads
        (several per certificate in a scan) are plain attribute lookups."""
        module = self._module if self._module is not None else self._load()
        value = getattr(module, attribute)
        setattr(self, attribute, value)
        return value


def lazy_module(name: str) -> Any:
    """A stand-in for the module ``name`` that imports it when first used."""
    return _LazyModule(name)
