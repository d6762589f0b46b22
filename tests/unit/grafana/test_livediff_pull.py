"""The pure halves of `grafana diff` and `grafana pull`: field diffs, their rendering, pulled files."""

from __future__ import annotations

import json

import pytest

from watchtower.provisioning.livediff import MISSING, FieldChange, compare, diff_values, render
from watchtower.provisioning.pull import dashboard_file
from watchtower.provisioning.settings import bundled


def test_lists_with_an_identity_are_compared_item_by_item() -> None:
    code = {"panels": [{"id": 1, "title": "a"}, {"id": 2, "title": "b", "gridPos": {"x": 0}}]}
    live = {"panels": [{"id": 2, "title": "b", "gridPos": {"x": 12}}, {"id": 3, "title": "new"}]}
    changes = diff_values(code, live)
    assert changes == [
        FieldChange(("panels", '[id=1 "a"]'), {"id": 1, "title": "a"}, MISSING),
        FieldChange(("panels", '[id=2 "b"]', "gridPos", "x"), 0, 12),
        FieldChange(("panels", '[id=3 "new"]'), MISSING, {"id": 3, "title": "new"}),
    ]


def test_a_moved_item_is_one_order_change() -> None:
    code = {"list": [{"name": "a"}, {"name": "b"}]}
    live = {"list": [{"name": "b"}, {"name": "a"}]}
    assert diff_values(code, live) == [FieldChange(("list", "(order by name)"), ["a", "b"], ["b", "a"])]


def test_scalar_lists_and_lists_without_identity() -> None:
    assert diff_values({"tags": ["a"]}, {"tags": ["a", "b"]}) == [FieldChange(("tags",), ["a"], ["a", "b"])]
    assert diff_values([{"x": 1}], [{"x": 2}]) == [FieldChange(("[0]", "x"), 1, 2)]


def test_render_groups_panel_changes_and_counts() -> None:
    diffs = [
        compare("dashboard", "d", "D", {"panels": [{"id": 2, "title": "t"}]}, {"panels": [{"id": 2, "title": "u"}]},
                "version 3, updated 2026-01-01T00:00:00Z by oncall"),
        compare("alert-rule", "r", "R", {"for": "5m"}, {"for": "5m"}),
        compare("contact-point", "c", "C (email)", {"a": 1}, None),
    ]
    assert render(diffs) == (
        'dashboard d "D": differs from code (version 3, updated 2026-01-01T00:00:00Z by oncall)\n'
        '  panel id=2 "t":\n'
        '    title: "t" -> "u"\n'
        'contact-point c "C (email)": missing in Grafana\n'
        "diff: 1 differs, 1 missing, 1 same\n")
    assert 'alert-rule r "R": same as code' in render(diffs, show_same=True)


def test_added_and_removed_panels_read_as_such() -> None:
    diff = compare("dashboard", "d", "D", {"panels": [{"id": 1, "title": "a", "type": "stat"}]},
                   {"panels": [{"id": 2, "title": "b", "type": "text"}]})
    assert render([diff]).splitlines()[1:3] == ['  panel id=1 "a" (stat): removed in Grafana',
                                                '  panel id=2 "b" (text): added in Grafana']


def test_long_values_are_cut() -> None:
    change = FieldChange(("expr",), "x" * 300, "y")
    assert len(change.line()) < 130 and change.line().endswith('-> "y"')


@pytest.mark.parametrize("name", sorted(p.name for p in bundled("dashboards").iterdir() if p.name.endswith(".json")))
def test_pulling_an_unedited_shipped_dashboard_gives_its_file_byte_for_byte(name: str) -> None:
    text = (bundled("dashboards") / name).read_text(encoding="utf-8")
    live = {**json.loads(text), "id": 17, "version": 4}  # what Grafana adds
    pulled = dashboard_file(live, f"dashboards/{name}", text, ("prometheus",))
    assert (pulled.name, pulled.changed) == (name, False)
    assert pulled.text == text


def test_a_dashboard_not_in_code_gets_sorted_keys_and_its_uid_as_name() -> None:
    pulled = dashboard_file({"uid": "mine", "title": "T", "id": 3, "panels": []}, None, None, ("prometheus",))
    assert pulled.name == "mine.json" and pulled.changed
    assert pulled.text == '{\n  "panels": [],\n  "title": "T",\n  "uid": "mine"\n}\n'
