"""Grafana's provisioning-file interpolation (``$VAR``, ``${VAR}``, ``$__env{}``, ``$__file{}``)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

_EXPANDER_RE = re.compile(r"\$__(\w+)\{(.*?)\}")
_SHELL_SPECIAL = set("*#$@!?-0123456789")


def _go_expand_env(text: str, env: Mapping[str, str]) -> str:
    """Go's ``os.ExpandEnv``: ``$NAME``/``${NAME}`` → value or ""; bad ``${`` syntax is eaten;
    a ``$`` followed by anything else stays (``$1`` is the special variable "1", so "")."""
    out: list[str] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch != "$" or i + 1 >= len(text):
            out.append(ch)
            i += 1
            continue
        rest = text[i + 1:]
        if rest[0] == "{":
            if len(rest) > 2 and rest[1] in _SHELL_SPECIAL and rest[2] == "}":
                name, width = rest[1], 3
            else:
                end = rest.find("}")
                name, width = (rest[1:end], end + 1) if end > 1 else ("", 2 if end == 1 else 1)
        elif rest[0] in _SHELL_SPECIAL:
            name, width = rest[0], 1
        else:
            m = re.match(r"[A-Za-z0-9_]*", rest)
            name = m.group(0) if m else ""
            width = len(name)
        if name:
            out.append(env.get(name, ""))
        elif width == 0:
            out.append("$")
        i += 1 + width
    return "".join(out)


def interpolate(value: str, env: Mapping[str, str]) -> str:
    """One interpolated provisioning string, as Grafana reads it from a file.

    Mirrors grafana/grafana pkg/services/provisioning/values/values.go (interpolateValue): the
    text is split on ``$$`` (a literal ``$``), each part gets ``$__env{}``/``$__file{}``
    (pkg/setting ExpandVar) and then ``os.ExpandEnv``, and the parts are joined with ``$``.
    """
    def expander(m: re.Match[str]) -> str:
        kind, arg = m.group(1), m.group(2)
        if kind == "env":
            return env.get(arg, "")
        if kind == "file":
            with open(arg, encoding="utf-8") as fh:
                return fh.read().strip()
        return m.group(0)

    return "$".join(_go_expand_env(_EXPANDER_RE.sub(expander, part), env) for part in value.split("$$"))


def _interpolate_tree(value: Any, env: Mapping[str, str]) -> Any:
    """values.JSONValue.Value(): every string in a nested structure interpolated."""
    if isinstance(value, str):
        return interpolate(value, env)
    if isinstance(value, dict):
        return {k: _interpolate_tree(v, env) for k, v in value.items()}
    if isinstance(value, list):
        return [_interpolate_tree(v, env) for v in value]
    return value

