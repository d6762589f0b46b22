"""What each collector thread is working on, so a run that hangs is reported by the item it hangs in.

A reader notes the file, endpoint or request it is about to wait on; when a run exceeds its
timeout, the scheduler (or ``check certs``'s deadline) names that item instead of only saying
"timeout". One dictionary write per item, keyed by thread; no locks needed (GIL-atomic).
"""

from __future__ import annotations

import threading

_current: dict[int, str] = {}


def note(item: str) -> None:
    """Record that this thread is now working on ``item`` (a path, ``host:port``, a request)."""
    _current[threading.get_ident()] = item


def current(thread: threading.Thread) -> str | None:
    """The last item ``thread`` noted, if it is still running and noted one."""
    return _current.get(thread.ident) if thread.ident is not None else None


def clear() -> None:
    """Forget this thread's item (at the end of a run, so finished threads leave nothing behind)."""
    _current.pop(threading.get_ident(), None)
