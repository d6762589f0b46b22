"""Prometheus alert templates read as Go templates: which functions they call, and their Grafana form.

Grafana expands a Grafana-managed rule's labels and annotations with Prometheus' template
expander plus a few functions of its own (grafana/grafana pkg/services/ngalert/state/template/
template.go and funcs.go), but its ``query`` is a no-op that returns nothing, and its data differ:
``$value``/top-level ``.Value`` is Grafana's evaluation *string*
(``[ var='B' labels={...} value=1 ]``), while the numbers are in ``$values.<refId>.Value``.
So a converted template may call only ``GRAFANA_FUNCTIONS``, and ``$value`` becomes
``$values.VALUE.Value`` (the VALUE expression of the converted rule). Pure text processing:
no Go template engine runs here.
"""

from __future__ import annotations

import re

# text/template's builtins (Go's text/template/funcs.go)
GO_BUILTINS = frozenset({
    "and", "call", "html", "index", "slice", "js", "len", "not", "or", "print", "printf", "println",
    "urlquery", "eq", "ge", "gt", "le", "lt", "ne",
})
# Prometheus' template expander (prometheus/template/template.go) minus what needs a query
# result: Grafana's ``query`` returns nothing, so ``query``, ``first``, ``label``, ``value``,
# ``strvalue`` and ``sortByLabel`` can never show anything there. Functions newer than the
# Prometheus vendored by older Grafana releases (toTime, parseDuration, stripPort, ...) are left out.
PROMETHEUS_FUNCTIONS = frozenset({
    "args", "reReplaceAll", "safeHtml", "match", "title", "toUpper", "toLower", "graphLink", "tableLink",
    "humanize", "humanize1024", "humanizeDuration", "humanizePercentage", "humanizeTimestamp",
    "pathPrefix", "externalURL",
})
# Grafana's own (pkg/services/ngalert/state/template/funcs.go defaultFuncs)
GRAFANA_OWN_FUNCTIONS = frozenset({
    "filterLabels", "filterLabelsRe", "graphLink", "removeLabels", "removeLabelsRe", "tableLink", "mergeLabelValues",
})
GRAFANA_FUNCTIONS = GO_BUILTINS | PROMETHEUS_FUNCTIONS | GRAFANA_OWN_FUNCTIONS

KEYWORDS = frozenset({"if", "else", "end", "range", "with", "define", "template", "block", "break", "continue",
                      "nil", "true", "false"})

_ACTION_RE = re.compile(r"\{\{(-\s)?(.*?)(\s-)?\}\}", re.DOTALL)
_TOKEN_RE = re.compile(
    r'"(?:\\.|[^"\\])*"'                      # interpreted string
    r"|`[^`]*`"                                # raw string
    r"|'(?:\\.|[^'\\])*'"                      # character constant
    r"|[0-9][0-9a-fA-FxX_.eEpP+-]*"            # number
    r"|\$[A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)*"     # variable (with fields)
    r"|\.[A-Za-z0-9_]+(?:\.[A-Za-z0-9_]+)*"    # field chain
    r"|[A-Za-z_][A-Za-z0-9_]*"                 # identifier: keyword or function
    r"|\S"
)
VALUE_REF = "VALUE"
GRAFANA_VALUE = f"$values.{VALUE_REF}.Value"


def _actions(text: str) -> list[re.Match[str]]:
    return [m for m in _ACTION_RE.finditer(text) if not m.group(2).lstrip().startswith("/*")]


def functions(text: str) -> set[str]:
    """Every function a template calls (identifiers in actions that are not keywords)."""
    found: set[str] = set()
    for action in _actions(text):
        for token in _TOKEN_RE.findall(action.group(2)):
            if (token[0].isalpha() or token[0] == "_") and token not in KEYWORDS:
                found.add(token)
    return found


def unsupported(text: str) -> list[str]:
    """The functions of ``text`` that a Grafana-managed rule cannot run, sorted."""
    return sorted(functions(text) - GRAFANA_FUNCTIONS)


def _rewrite(text: str, value_used: list[bool]) -> str:
    out: list[str] = []
    last = 0
    scopes: list[bool] = []  # per open block: is the dot rebound in the current branch?
    for action in _actions(text):
        inner = action.group(2)
        tokens = _TOKEN_RE.findall(inner)
        words = [t for t in tokens if t[0].isalpha()]
        head = words[0] if words else ""
        # a block's pipeline is evaluated with the dot of the enclosing branch
        top_level = not any(scopes[:-1] if head == "else" else scopes)
        if head in ("with", "range", "define", "block"):
            scopes.append(True)
        elif head == "if":
            scopes.append(False)
        elif head == "else" and scopes:
            scopes[-1] = len(words) > 1 and words[1] in ("with", "range")
        elif head == "end" and scopes:
            scopes.pop()

        def convert(m: re.Match[str], top_level: bool = top_level) -> str:
            token = m.group(0)
            if token == "$value" or (top_level and token == ".Value"):
                value_used.append(True)
                return GRAFANA_VALUE
            return token

        out.append(text[last:action.start(2)])
        out.append(_TOKEN_RE.sub(convert, inner))
        last = action.end(2)
    out.append(text[last:])
    return "".join(out)


def convert(text: str) -> str:
    """A Prometheus template in Grafana's terms: ``$value`` and top-level ``.Value`` → ``$values.VALUE.Value``."""
    return _rewrite(text, [])


def uses_value(text: str) -> bool:
    """Does the template read the sample value (so the rule needs its VALUE expression)?"""
    used: list[bool] = []
    _rewrite(text, used)
    return bool(used)


def fallback(key: str, missing: list[str]) -> str:
    """The Grafana annotation for one that needs functions Grafana does not run."""
    return (f"This {key} needs Prometheus template functions that Grafana-managed alerts do not run "
            f"({', '.join(missing)}); the same alert from Prometheus/Alertmanager carries the full text. "
            "Labels: {{ $labels }}")
