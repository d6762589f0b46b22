from __future__ import annotations

import json
from pathlib import Path

import pytest

from watchtower.upgrades.kubeversion import parse_version
from watchtower.upgrades.state import StateFile, UpgradeState, from_json, observe, to_json


def test_first_observation_is_not_an_upgrade() -> None:
    state, changed = observe(None, parse_version("v1.30.2"), 100.0)
    assert changed and state.highest_version == "v1.30.2" and state.first_seen_at == 100.0
    assert state.last_upgrade is None


def test_only_a_higher_version_is_an_upgrade() -> None:
    state, _ = observe(None, parse_version("v1.30.2"), 100.0)
    same, changed = observe(state, parse_version("v1.30.2"), 200.0)
    assert not changed and same is state
    upgraded, changed = observe(state, parse_version("v1.31.0"), 300.0)
    assert changed and upgraded.last_upgrade is not None
    assert (upgraded.last_upgrade.at, upgraded.last_upgrade.from_version, upgraded.last_upgrade.to_version) == (
        300.0, "v1.30.2", "v1.31.0")
    # a rolling upgrade behind the VIP shows the old version again: not an upgrade, not a downgrade
    back, changed = observe(upgraded, parse_version("v1.30.2"), 310.0)
    assert not changed and back.last_upgrade == upgraded.last_upgrade
    again, changed = observe(back, parse_version("v1.31.0"), 320.0)
    assert not changed and again.last_upgrade is not None and again.last_upgrade.at == 300.0


def test_json_round_trip_and_history_limit() -> None:
    state: UpgradeState | None = None
    for i in range(30):
        state, _ = observe(state, parse_version(f"v1.{i}.0"), float(i))
    assert state is not None and len(state.history) == 20
    assert from_json(to_json(state)) == state


@pytest.mark.parametrize("text", ["{", "[]", '{"schema": 2}', '{"schema": 1, "highest_version": "x", "first_seen_at": 1}',
                                  '{"schema": 1, "highest_version": "v1.30.2", "first_seen_at": 1, "last_upgrade": {"at": "x"}}'])
def test_bad_state_text_is_refused(text: str) -> None:
    with pytest.raises(ValueError):
        from_json(text)


def test_state_file_atomic_save_and_corrupt_file_moved_aside(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "state.json"
    store = StateFile(path)
    assert store.load() is None
    state, _ = observe(None, parse_version("v1.30.2"), 5.0)
    store.save(state)
    assert json.loads(path.read_text())["highest_version"] == "v1.30.2"
    assert [p.name for p in path.parent.iterdir()] == ["state.json"]  # no temporary file left behind
    assert StateFile(path).load() == state
    path.write_text("{half a file")
    with pytest.raises(ValueError, match="moved to state.json.corrupt"):
        StateFile(path).load()
    assert not path.exists() and (path.parent / "state.json.corrupt").read_text() == "{half a file"


def test_an_upgrade_while_watchtower_was_down_is_dated_by_the_kubeadm_backup() -> None:
    state, _ = observe(None, parse_version("v1.30.2"), 1000.0)
    # restarted at 9000; kubeadm's backup says the upgrade ran at 5000: that is when it happened
    upgraded, _ = observe(state, parse_version("v1.31.0"), 9000.0, happened_at=5000.0)
    assert upgraded.last_upgrade is not None and upgraded.last_upgrade.at == 5000.0
    # a backup older than what watchtower already watched belongs to an earlier upgrade
    again, _ = observe(upgraded, parse_version("v1.32.0"), 20000.0, happened_at=4000.0)
    assert again.last_upgrade is not None and again.last_upgrade.at == 20000.0
    # and a timestamp from the future (clock skew) is not believed either
    later, _ = observe(again, parse_version("v1.33.0"), 30000.0, happened_at=31000.0)
    assert later.last_upgrade is not None and later.last_upgrade.at == 30000.0


def test_first_load_removes_stale_temporaries_of_killed_saves_only(tmp_path) -> None:
    """A SIGKILL mid-save leaves ``.state.json.XXXX.tmp``: old ones go at start, a fresh one stays."""
    import os
    import time

    from watchtower.upgrades.state import StateFile

    path = tmp_path / "state.json"
    stale, fresh, other = (tmp_path / ".state.json.a1b2.tmp", tmp_path / ".state.json.c3d4.tmp",
                           tmp_path / ".other.json.e5f6.tmp")
    for leftover in (stale, fresh, other):
        leftover.write_text("{")
    old = time.time() - 3600
    os.utime(stale, (old, old))
    os.utime(other, (old, old))
    assert StateFile(path).load() is None
    assert not stale.exists() and fresh.exists() and other.exists()
