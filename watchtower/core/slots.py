"""Writing the fields of a frozen, slotted class cheaply, for objects a scan makes by the thousand.

A frozen dataclass's generated ``__init__`` (and any frozen class's own) writes each field with
``object.__setattr__(self, name, value)``, which finds the slot by name on every write. The slot's
member descriptor can write it directly: 0.37 → 0.22 µs for a four-field record, and a 10k-certificate
cold scan makes several such objects per certificate.
"""

from __future__ import annotations

import types
from collections.abc import Callable
from typing import Any

__all__ = ["slot_setters"]


def slot_setters(cls: type, *names: str) -> tuple[Callable[[Any, Any], None], ...]:
    """The setter of each slot of ``cls`` named, in order: ``setter(obj, value)`` writes it even when the
    class is frozen. TypeError for a name that is not a slot defined by ``cls`` itself."""
    setters = []
    for name in names:
        descriptor = vars(cls).get(name)
        if not isinstance(descriptor, types.MemberDescriptorType):
            raise TypeError(f"{cls.__name__}.{name} is not a slot of {cls.__name__}")
        setters.append(descriptor.__set__)
    return tuple(setters)
