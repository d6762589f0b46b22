"""Typed details: what a collector tells ``check``, ``/api/status`` and the status page beyond metrics.

Each collector returns a frozen, slotted dataclass deriving from ``Details``. Its fields keep
their real types (Unix times as floats, enums, nested dataclasses); the JSON form is made here,
in one place, so nothing writes a timestamp as a string only to parse it back. A field's JSON key,
its timestamp formatting and whether a None is left out are declared with ``json_field``.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Callable, Mapping
from typing import Any, Literal, TypeVar, overload

from watchtower.core.formatting import rfc3339

__all__ = ["NO_DETAILS", "Details", "Failure", "TimeFormat", "json_field", "jsonable"]

T = TypeVar("T")
TimeFormat = Literal["rfc3339", "rfc3339_seconds"]

_KEY = "watchtower.json_key"
_TIME = "watchtower.json_time"
_OMIT_NONE = "watchtower.json_omit_none"
_FLATTEN = "watchtower.json_flatten"
_CONVERT = "watchtower.json_convert"


def _metadata(key: str | None, time: TimeFormat | None, omit_none: bool, flatten: bool,
              convert: Callable[[Any], Any] | None) -> dict[str, object]:
    out: dict[str, object] = {_FLATTEN: True} if flatten else {}
    if convert is not None:
        out[_CONVERT] = convert
    if key is not None:
        out[_KEY] = key
    if time is not None:
        out[_TIME] = time
    if omit_none:
        out[_OMIT_NONE] = True
    return out


@overload
def json_field(*, default: T, key: str | None = None, time: TimeFormat | None = None,
               omit_none: bool = False, flatten: bool = False,
               convert: Callable[[Any], Any] | None = None) -> T: ...


@overload
def json_field(*, default_factory: Callable[[], T], key: str | None = None, time: TimeFormat | None = None,
               omit_none: bool = False, flatten: bool = False,
               convert: Callable[[Any], Any] | None = None) -> T: ...


@overload
def json_field(*, key: str | None = None, time: TimeFormat | None = None, omit_none: bool = False, flatten: bool = False,
               convert: Callable[[Any], Any] | None = None) -> Any: ...


def json_field(*, default: Any = dataclasses.MISSING, default_factory: Any = dataclasses.MISSING,
               key: str | None = None, time: TimeFormat | None = None, omit_none: bool = False,
               flatten: bool = False, convert: Callable[[Any], Any] | None = None) -> Any:
    """A dataclass field with its JSON form declared: ``key`` (when the name is not a Python name,
    e.g. ``from``), ``time`` (a Unix time written as RFC 3339, fraction kept or ``_seconds``
    whole), ``omit_none`` (left out of the JSON while None), ``flatten`` (a nested dataclass whose
    fields join this one's, nothing while None), ``convert`` (a function giving the JSON value of a
    value that is not None: ``str`` for a version, ``format_duration`` for a lead time)."""
    metadata = _metadata(key, time, omit_none, flatten, convert)
    if default_factory is not dataclasses.MISSING:
        return dataclasses.field(default_factory=default_factory, metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


def jsonable(value: object) -> Any:
    """``value`` as JSON-ready data: dataclasses by field (``json_field`` honoured), enums by label or
    value, mappings with string keys, sequences and sets as lists (sets sorted)."""
    if isinstance(value, enum.Enum):  # before int: Severity is an IntEnum
        label = getattr(value, "label", None)
        return label if isinstance(label, str) else value.value
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, Details):
        return value.to_json()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _fields(value)
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (frozenset, set)):
        return sorted(jsonable(v) for v in value)
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    raise TypeError(f"not JSON-able: {type(value).__name__}")


def _fields(value: object) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for field in dataclasses.fields(value):  # type: ignore[arg-type]  # checked by the caller
        item = getattr(value, field.name)
        meta = field.metadata
        if item is None and (meta.get(_OMIT_NONE) or meta.get(_FLATTEN)):
            continue
        if meta.get(_FLATTEN):
            out.update(jsonable(item))
            continue
        time, convert = meta.get(_TIME), meta.get(_CONVERT)
        if convert is not None and item is not None:
            out[meta.get(_KEY, field.name)] = jsonable(convert(item))
        elif time is not None and item is not None:
            out[meta.get(_KEY, field.name)] = rfc3339(float(item), whole_seconds=time == "rfc3339_seconds")
        else:
            out[meta.get(_KEY, field.name)] = jsonable(item)
    return out


class Details:
    """Base of every collector's details dataclass (``@dataclass(frozen=True, slots=True)``).

    ``to_json`` is the one JSON form (``check --output json``, ``/api/status``, the status page);
    ``check_table`` is the collector's section of ``watchtower check``'s table, None for none.
    """

    __slots__ = ()

    def to_json(self) -> dict[str, Any]:
        if dataclasses.is_dataclass(self):
            return _fields(self)
        return {}

    def check_table(self, color: bool = False) -> list[str] | None:
        return None


@dataclasses.dataclass(frozen=True, slots=True)
class _NoDetails(Details):
    """A run with nothing to tell beyond metrics and findings: left out of ``details`` entirely."""


NO_DETAILS: Details = _NoDetails()


@dataclasses.dataclass(frozen=True, slots=True)
class Failure:
    """Why something could not be read, as details show it (an ``ItemError`` without its location)."""

    reason: str
    detail: str = ""

