"""Change one alert's fields inside a Prometheus rule file's text, keeping everything else; pure.

A pulled rule must give a git diff that is the edit only, so the file is not re-dumped (that
would lose comments, folded text and key order): the parser's marks locate the value to
change and only that text is replaced; a new key is inserted after its siblings, a removed
one deleted with its lines. After every change the whole file is parsed again and compared
with what was meant; any other outcome is an ``EditError`` and nothing is written.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

import yaml

_FIELDS = ("expr", "for", "labels", "annotations")


class EditError(ValueError):
    """The edit could not be made safely (the file's layout is not one this editor handles)."""


@dataclasses.dataclass(frozen=True)
class RuleEdit:
    """New values for one alert of a rule file: ``fields`` maps expr/for (text) and labels/
    annotations (whole mappings) to what the file should say."""

    group: str
    alert: str
    occurrence: int  # the n-th rule with this alert name in the group (0 = first)
    fields: Mapping[str, Any]


def _find(mapping: yaml.MappingNode, key: str) -> tuple[yaml.Node, yaml.Node] | None:
    for k, v in mapping.value:
        if isinstance(k, yaml.ScalarNode) and k.value == key:
            return k, v
    return None


def _group_node(text: str, group_name: str) -> yaml.MappingNode:
    root = yaml.compose(text)
    groups = _find(root, "groups") if isinstance(root, yaml.MappingNode) else None
    if groups is None or not isinstance(groups[1], yaml.SequenceNode):
        raise EditError("no 'groups' list")
    for group in groups[1].value:
        name = _find(group, "name") if isinstance(group, yaml.MappingNode) else None
        if name is not None and name[1].value == group_name:
            assert isinstance(group, yaml.MappingNode)
            return group
    raise EditError(f"group {group_name!r} not found")


def _rule_node(text: str, edit: RuleEdit) -> yaml.MappingNode:
    group = _group_node(text, edit.group)
    rules = _find(group, "rules")
    if rules is not None and isinstance(rules[1], yaml.SequenceNode):
        seen = 0
        for rule in rules[1].value:
            alert = _find(rule, "alert") if isinstance(rule, yaml.MappingNode) else None
            if alert is not None and alert[1].value == edit.alert:
                if seen == edit.occurrence:
                    assert isinstance(rule, yaml.MappingNode)
                    return rule
                seen += 1
    raise EditError(f"alert {edit.alert!r} (#{edit.occurrence + 1}) not found in group {edit.group!r}")


def _end(text: str, node: yaml.Node) -> int:
    """Where a value's own text ends (a block scalar's trailing line breaks are not its text)."""
    end = node.end_mark.index
    while end > node.start_mark.index and text[end - 1] in "\n\r ":
        end -= 1
    return end


def _line_end(text: str, index: int) -> int:
    """The end of the line ``index`` is on (before its line break): after any trailing comment."""
    end = text.find("\n", index)
    return len(text) if end < 0 else end


def _scalar(value: str, indent: int) -> str:
    """``value`` as YAML scalar text for a key at column ``indent - 2``."""
    if "\n" in value.rstrip("\n") and not any(line != line.rstrip() for line in value.split("\n")):
        head = "|" if value.endswith("\n") else "|-"
        body = value.removesuffix("\n")
        return head + "".join("\n" + (" " * indent + line if line else "") for line in body.split("\n"))
    dumped = yaml.safe_dump(value, allow_unicode=True, width=1_000_000, default_style=None)
    return dumped.removesuffix("\n...\n").rstrip("\n")


def _render(value: Any, indent: int) -> str:
    if isinstance(value, str):
        return _scalar(value, indent)
    return yaml.safe_dump(value, default_flow_style=True, allow_unicode=True, width=1_000_000, sort_keys=False).rstrip("\n")


def _set_scalar(text: str, rule: yaml.MappingNode, key: str, value: str, anchor: str = "expr") -> str:
    found = _find(rule, key)
    col = rule.value[0][0].start_mark.column
    if found is not None:
        node = found[1]
        return text[:node.start_mark.index] + _render(value, col + 2) + text[_end(text, node):]
    after = _find(rule, anchor) or rule.value[-1]
    at = _line_end(text, _end(text, after[1]))
    return text[:at] + "\n" + " " * col + f"{key}: " + _render(value, col + 2) + text[at:]


def _set_mapping(text: str, rule: yaml.MappingNode, key: str, wanted: Mapping[str, str]) -> str:
    found = _find(rule, key)
    col = rule.value[0][0].start_mark.column
    if found is None:
        if not wanted:
            return text
        at = _line_end(text, _end(text, rule.value[-1][1]))
        lines = "".join(f"\n{' ' * (col + 2)}{k}: {_render(v, col + 4)}" for k, v in wanted.items())
        return text[:at] + f"\n{' ' * col}{key}:" + lines + text[at:]
    node = found[1]
    if not isinstance(node, yaml.MappingNode) or node.flow_style or not node.value:
        return text[:node.start_mark.index] + _render(dict(wanted), col + 2) + text[_end(text, node):]
    # one change at a time, from the end of the file backwards, so earlier marks stay valid
    inner_col = node.value[0][0].start_mark.column
    have = {k.value: (k, v) for k, v in node.value}
    last_end = _line_end(text, _end(text, node.value[-1][1]))
    additions = "".join(f"\n{' ' * inner_col}{k}: {_render(v, inner_col + 2)}" for k, v in wanted.items() if k not in have)
    edits: list[tuple[int, int, str]] = [(last_end, last_end, additions)] if additions else []
    for name, (k_node, v_node) in have.items():
        if name not in wanted:
            start = text.rfind("\n", 0, k_node.start_mark.index)
            edits.append((start, _line_end(text, _end(text, v_node)), ""))
        elif v_node.value != wanted[name] or not isinstance(v_node, yaml.ScalarNode):
            edits.append((v_node.start_mark.index, _end(text, v_node), _render(wanted[name], inner_col + 2)))
    for start, end, new in sorted(edits, key=lambda e: (e[0], e[1]), reverse=True):
        text = text[:start] + new + text[end:]
    return text


def _expect_rule(out: Any, edit: RuleEdit) -> None:
    """What the parsed file must be after ``edit`` (changed in place)."""
    for group in out.get("groups") or []:
        if group.get("name") != edit.group:
            continue
        matches = [r for r in group.get("rules") or [] if isinstance(r, dict) and r.get("alert") == edit.alert]
        rule = matches[edit.occurrence]
        for key, value in edit.fields.items():
            if key in ("labels", "annotations") and not value and key not in rule:
                continue
            rule[key] = dict(value) if isinstance(value, Mapping) else value


def _checked(text: str, expect: Callable[[Any], None], change: Callable[[str], str], what: str) -> str:
    """``change(text)``, accepted only if the file then parses to what ``expect`` makes of it."""
    try:
        expected = copy.deepcopy(yaml.safe_load(text))
        expect(expected)
        text = change(text)
        after = yaml.safe_load(text)
    except (yaml.YAMLError, IndexError, AttributeError, TypeError, KeyError) as exc:
        raise EditError(f"the file could not be edited in place ({type(exc).__name__})") from None
    if after != expected:
        raise EditError(f"editing the file in place would change more than {what}; not written")
    return text


def apply(text: str, edit: RuleEdit) -> str:
    """``text`` with the alert's fields set as ``edit`` says; EditError if that cannot be done exactly."""
    unknown = set(edit.fields) - set(_FIELDS)
    if unknown:
        raise EditError(f"cannot edit {sorted(unknown)}")

    def change(text: str) -> str:
        for key, value in edit.fields.items():
            rule = _rule_node(text, edit)
            setter = _set_mapping if key in ("labels", "annotations") else _set_scalar
            text = setter(text, rule, key, value)
        return text

    return _checked(text, lambda data: _expect_rule(data, edit), change, "the rule")


def set_group_interval(text: str, group: str, interval: str) -> str:
    """``text`` with the group's evaluation ``interval`` set (inserted after its name if absent)."""
    def expect(data: Any) -> None:
        for g in data.get("groups") or []:
            if isinstance(g, dict) and g.get("name") == group:
                g["interval"] = interval

    return _checked(text, expect, lambda t: _set_scalar(t, _group_node(t, group), "interval", interval, anchor="name"),
                    "the group's interval")


__all__ = ["EditError", "RuleEdit", "apply", "set_group_interval"]
