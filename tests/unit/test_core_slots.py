"""``core.slots.slot_setters``: each setter writes its own slot of a frozen class; a name that is not
one of the class's slots is refused when the setters are made, not at the first write."""

from __future__ import annotations

import dataclasses

import pytest

from watchtower.core.slots import slot_setters


@dataclasses.dataclass(frozen=True, slots=True, init=False)
class _Pair:
    left: int
    right: str


@dataclasses.dataclass(frozen=True, slots=True)
class _Child(_Pair):
    extra: float = 0.0


def test_each_setter_writes_its_slot_of_a_frozen_instance() -> None:
    set_right, set_left = slot_setters(_Pair, "right", "left")
    pair = object.__new__(_Pair)
    set_left(pair, 1)
    set_right(pair, "one")
    assert (pair.left, pair.right) == (1, "one")
    with pytest.raises(dataclasses.FrozenInstanceError):
        pair.left = 2  # type: ignore[misc]
    set_left(pair, 2)  # the setter is not stopped by frozen=True, which guards only __setattr__
    assert (pair.left, pair.right) == (2, "one")


@pytest.mark.parametrize("cls, name", [(_Pair, "middle"), (_Pair, "__init__"), (_Child, "left")])
def test_a_name_that_is_not_the_classes_own_slot_is_refused(cls: type, name: str) -> None:
    with pytest.raises(TypeError, match=rf"{cls.__name__}\.{name} is not a slot"):
        slot_setters(cls, name)
