"""The one JSON form of collectors' typed details (``watchtower.core.details``)."""

from __future__ import annotations

import dataclasses
import json

import pytest

from watchtower.core.details import NO_DETAILS, Details, Failure, json_field, jsonable
from watchtower.core.results import CollectResult, Severity


@dataclasses.dataclass(frozen=True, slots=True)
class Part:
    a: int
    b: str | None


@dataclasses.dataclass(frozen=True, slots=True)
class Sample(Details):
    name: str
    severity: Severity
    tags: frozenset[str]
    rows: tuple[Part, ...]
    at: float | None = json_field(default=None, time="rfc3339_seconds")
    when: float | None = json_field(default=None, time="rfc3339")
    origin: str = json_field(default="x", key="from")
    error: Failure | None = json_field(default=None, omit_none=True)
    part: Part | None = json_field(default=None, flatten=True)
    by_path: dict[str, float] = dataclasses.field(default_factory=dict)


def test_fields_in_order_with_keys_times_omissions_and_flattening() -> None:
    sample = Sample("n", Severity.WARNING, frozenset({"b", "a"}), (Part(1, None),), at=1800000000.25,
                    when=1800000000.25, part=Part(2, "two"), by_path={"livez": 0.5})
    text = json.dumps(sample.to_json())
    assert text == ('{"name": "n", "severity": "warning", "tags": ["a", "b"], "rows": [{"a": 1, "b": null}], '
                    '"at": "2027-01-15T08:00:00Z", "when": "2027-01-15T08:00:00.250000Z", "from": "x", '
                    '"a": 2, "b": "two", "by_path": {"livez": 0.5}}')
    bare = Sample("n", Severity.OK, frozenset(), (), error=Failure("timeout", "slow")).to_json()
    assert bare["at"] is None and bare["error"] == {"reason": "timeout", "detail": "slow"} and "a" not in bare


def test_details_are_frozen_slotted_and_refuse_unknown_values() -> None:
    sample = Sample("n", Severity.OK, frozenset(), ())
    with pytest.raises(dataclasses.FrozenInstanceError):
        sample.name = "m"  # type: ignore[misc]
    assert not hasattr(sample, "__dict__")
    with pytest.raises(TypeError, match="not JSON-able: object"):
        jsonable(object())


def test_no_details_is_left_out_and_a_result_must_carry_details() -> None:
    assert NO_DETAILS.to_json() == {} and NO_DETAILS.check_table() is None
    assert CollectResult().problems() is None
    assert CollectResult(details=42).problems() == "details must be a watchtower.core.details.Details value"  # type: ignore[arg-type]
