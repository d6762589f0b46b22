"""``core.lazy.lazy_module``: imported at the first attribute read, once, from any thread.

Real modules written to a temporary directory; the second reads a stand-in of the first while it
is itself being imported through a stand-in (what a collector's module does when it loads
another lazily), from several threads at once: no deadlock, one module object for all.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from watchtower.core.lazy import lazy_module


@pytest.fixture
def modules(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    prefix = f"wt_lazy_probe_{tmp_path.name.replace('-', '_')}"
    (tmp_path / f"{prefix}_base.py").write_text("import time\ntime.sleep(0.05)\nVALUE = 41\n")
    (tmp_path / f"{prefix}_top.py").write_text(
        "from watchtower.core.lazy import lazy_module\n"
        f"base = lazy_module({prefix + '_base'!r})\n"
        "VALUE = base.VALUE + 1  # a stand-in read while this module is being imported\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield prefix
    for name in (f"{prefix}_base", f"{prefix}_top"):
        sys.modules.pop(name, None)


def test_a_missing_name_raises_attribute_error(modules: str) -> None:
    with pytest.raises(AttributeError):
        _ = lazy_module(f"{modules}_base").NOT_THERE


def test_nothing_is_imported_until_an_attribute_is_read(modules: str) -> None:
    top = lazy_module(f"{modules}_top")
    assert f"{modules}_top" not in sys.modules
    seen: list[int] = []
    reader = threading.Thread(target=lambda: seen.append(top.VALUE), daemon=True)
    reader.start()
    reader.join(10)  # bounded: a stand-in that deadlocks on a nested first use fails here
    assert seen == [42]
    assert f"{modules}_top" in sys.modules and f"{modules}_base" in sys.modules


def test_a_first_use_from_many_threads_at_once_imports_once(modules: str) -> None:
    top = lazy_module(f"{modules}_top")
    start = threading.Barrier(8)
    seen: list[int] = []

    def read() -> None:
        start.wait(5)
        seen.append(top.VALUE)

    threads = [threading.Thread(target=read, daemon=True) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)  # bounded: a deadlock fails here instead of hanging the suite
    assert not any(t.is_alive() for t in threads)
    assert seen == [42] * 8
    assert top._module is sys.modules[f"{modules}_top"]
