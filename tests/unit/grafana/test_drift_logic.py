"""The pure drift rules: classification, when a drift closes, the state file's JSON."""

from __future__ import annotations

import dataclasses

import pytest

from watchtower.core.settings import SecretRef
from watchtower.provisioning import desired
from watchtower.provisioning.drift import (
    Drift,
    DriftState,
    Observed,
    Written,
    classify,
    from_json,
    merge_drifts,
    still_open,
    to_json,
)
from watchtower.provisioning.guard import tracked_objects, wanted_objects
from watchtower.provisioning.settings import GrafanaSettings


def live(hash_: str, version: int | None = 3) -> Observed:
    return Observed("dashboard", "d", "D", hash_, "{}", version, "2026-12-02T03:00:00Z", "oncall")


@pytest.mark.parametrize(("desired", "observed", "written", "verdict"), [
    ("A", None, None, "missing"),
    ("A", live("A"), None, "in_sync"),
    ("A", live("A"), Written("dashboard", "d", "B", 2), "in_sync"),  # edited to what code now says
    ("B", live("A"), Written("dashboard", "d", "A", 3), "code_changed"),
    ("B", live("A", version=9), Written("dashboard", "d", "A", 3), "code_changed"),  # saved without changes
    ("A", live("X", version=4), Written("dashboard", "d", "A", 3), "edited"),
    ("B", live("X"), Written("dashboard", "d", "A", 3), "edited"),  # both moved: still an edit
    ("A", live("X"), None, "unknown"),
])
def test_classify(desired: str, observed: Observed | None, written: Written | None, verdict: str) -> None:
    assert classify(desired, observed, written) == verdict


DRIFT = Drift("dashboard", "d", "D", 100.0, "oncall", "X", "kept")


def test_kept_drift_open_while_the_edit_is_live() -> None:
    assert still_open(DRIFT, "edited", "A", lambda d: False)
    assert not still_open(DRIFT, "in_sync", "A", lambda d: False)  # reverted in Grafana
    assert not still_open(DRIFT, "edited", "X", lambda d: False)  # pulled into code
    assert not still_open(DRIFT, "edited", None, lambda d: False)  # no longer in code


def test_backed_up_drift_open_while_a_backup_exists() -> None:
    backed = dataclasses.replace(DRIFT, action="backed_up", backup="/b/x.json")
    assert still_open(backed, "in_sync", "A", lambda d: True)
    assert not still_open(backed, "in_sync", "A", lambda d: False)
    assert not still_open(dataclasses.replace(DRIFT, action="overwritten"), "in_sync", "A", lambda d: True)


def test_merge_keeps_the_first_since_of_the_same_edit() -> None:
    later = dataclasses.replace(DRIFT, since=500.0)
    assert merge_drifts([DRIFT], [later])[0].since == 100.0
    other_edit = dataclasses.replace(DRIFT, since=500.0, hash="Y")
    assert merge_drifts([DRIFT], [other_edit])[0].since == 500.0


def test_state_json_round_trip_and_errors() -> None:
    state = DriftState((Written("dashboard", "d", "A", 3, 1.0),), (DRIFT,))
    assert from_json(to_json(state)) == state
    for text, message in (("[", "not JSON"), ("{}", "format"), ('{"format": 1, "written": [3]}', r"written\[0\]"),
                          ('{"format": 1, "drifts": [{"kind": "x"}]}', r"drifts\[0\]")):
        with pytest.raises(ValueError, match=message):
            from_json(text)


def test_tracked_objects_names_what_wanted_objects_hashes() -> None:
    """The run report's list of tracked objects (no hashing) is wanted_objects' keys and titles."""
    settings = GrafanaSettings(url="http://grafana.invalid", email_addresses=("oncall@example.org",),
                               slack_webhook=SecretRef(file="/nonexistent"))
    state = desired.load(settings)
    wanted = wanted_objects(state, settings)
    assert {k for k, _, _ in tracked_objects(state)} == {"dashboard", "rule-group", "contact-point"}
    assert tracked_objects(state) == [(k, u, w.title) for (k, u), w in sorted(wanted.items())]
