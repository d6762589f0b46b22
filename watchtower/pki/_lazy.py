"""Laziness: cryptography loaded on first use, so a process that never reads a certificate never pays
for it; values computed on first read (``_once``).

Importing ``cryptography.x509`` maps its Rust extension (about 8 MB of RSS and tens of
milliseconds): a daemon whose certs collector does not run, or ``watchtower version``, should not.
The stand-in is ``watchtower.core.lazy.lazy_module``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar, overload

from watchtower.core.lazy import lazy_module

__all__ = ["_once", "lazy_module"]

_T = TypeVar("_T")


class _once(Generic[_T]):  # lower case: used like functools.cached_property
    """A value computed on first read and kept in the slot ``_NAME`` (None until then).

    Like ``functools.cached_property`` but for a slotted class, and without its lock (Python 3.11
    takes it on every first read, a measurable share of a 10k-certificate scan); a racing second
    computation is harmless.
    """

    def __init__(self, func: Callable[[Any], _T]) -> None:
        self.func = func
        self.slot = "_" + func.__name__
        self.__doc__ = func.__doc__

    @overload
    def __get__(self, instance: None, owner: type | None = None) -> _once[_T]: ...

    @overload
    def __get__(self, instance: object, owner: type | None = None) -> _T: ...

    def __get__(self, instance: object, owner: type | None = None) -> _T | _once[_T]:
        if instance is None:
            return self
        value: _T | None = getattr(instance, self.slot, None)  # an unset slot: not computed yet
        if value is None:
            value = self.func(instance)
            object.__setattr__(instance, self.slot, value)
        return value

