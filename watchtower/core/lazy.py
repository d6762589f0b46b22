"""Modules loaded on first use, so a process that never needs one never pays for it.

``lazy_module(name)`` stands for the module and imports it at the first attribute read. No lock of
its own: importlib's per-module locks make a concurrent first use safe, and a global lock could
deadlock once a module loaded through one stand-in reads another while it is being imported. Used for
cryptography (its Rust extension is about 8 MB of RSS) and for each collector's implementation:
the registry, the config and ``enabled: auto`` need only a collector's class and settings, so a
daemon imports the parse/read/export code of the collectors that run, not of all of them.

Declare it beside a ``TYPE_CHECKING`` import of the same module, so mypy and the import-linter
contracts still see the dependency::

    if TYPE_CHECKING:
        from watchtower.collectors.etcd import export
    else:
        export = lazy_module("watchtower.collectors.etcd.export")
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any


class _LazyModule:
    """A module imported at its first attribute read."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._module: ModuleType | None = None

    def _load(self) -> ModuleType:
        module = importlib.import_module(self._name)  # two threads at once: both get sys.modules' one
        self._module = module
        return module

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
