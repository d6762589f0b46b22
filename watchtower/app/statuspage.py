"""The human status page at ``/``: one glance for on-call when Grafana is down too.

Rendered on the server from the same document as ``/api/status`` (``report.status_document``),
so the two can never disagree. No JavaScript, no external assets, auto-refresh by a meta tag,
readable on a phone. Every value is HTML-escaped; the page shows only what the document holds,
and the document holds no configuration, so no secret can reach it.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Mapping, Sequence
from html import escape
from types import MappingProxyType
from typing import Any

from watchtower.app.registry import REGISTRY
from watchtower.core.formatting import human_duration

REFRESH_SECONDS = 30
MAX_ROWS = 500  # a page for people, not an export: /api/status has everything

# Sections in registry order (the order on-call reads them), titled by each collector's ``title``;
# details of a collector the registry does not know follow alphabetically under their name.
SECTIONS: Mapping[str, str] = MappingProxyType({name: cls.title for name, cls in REGISTRY.items()})
_SEVERITY_WORDS = {"ok", "warning", "critical", "unknown"}
# Collectors' own status words that mean "critical" for colouring (e.g. a certificate's "expired").
_CRITICAL_WORDS = {"expired", "not_yet_valid", "down", "failed", "lost"}

_CSS = """
:root{--ok:#1a7f37;--warning:#9a6700;--critical:#cf222e;--unknown:#6639ba;--muted:#57606a;--line:#d0d7de}
*{box-sizing:border-box}body{font:15px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;color:#1f2328;background:#f6f8fa}
header{padding:14px 18px;color:#fff}header h1{margin:0;font-size:22px}header p{margin:2px 0 0;opacity:.9}
header.ok{background:var(--ok)}header.warning{background:var(--warning)}header.critical{background:var(--critical)}header.unknown{background:var(--unknown)}
main{padding:8px 12px 24px;max-width:1200px;margin:auto}section{background:#fff;border:1px solid var(--line);border-radius:6px;margin:12px 0;padding:8px 12px;overflow-x:auto}
h2{font-size:17px;margin:6px 0 8px}h3{font-size:15px;margin:10px 0 4px;color:var(--muted)}
table{border-collapse:collapse;width:100%;font-size:14px}th,td{text-align:left;padding:4px 8px;border-bottom:1px solid var(--line);vertical-align:top;overflow-wrap:break-word}
th{color:var(--muted);font-weight:600;white-space:nowrap}tr.critical td:first-child{border-left:4px solid var(--critical)}tr.warning td:first-child{border-left:4px solid var(--warning)}
.badge{display:inline-block;padding:0 6px;border-radius:10px;font-size:12px;font-weight:600;color:#fff}
.badge.ok{background:var(--ok)}.badge.warning{background:var(--warning)}.badge.critical{background:var(--critical)}.badge.unknown{background:var(--unknown)}
tr.unknown td:first-child{border-left:4px solid var(--unknown)}section.blind{border-left:6px solid var(--unknown)}code{background:#eaeef2;padding:1px 4px;border-radius:4px}
.muted{color:var(--muted)}footer{font-size:12px;color:var(--muted);text-align:center;padding:8px}
@media (max-width:600px){body{font-size:14px}th,td{padding:3px 4px}main{padding:4px}}
"""


def render_page(doc: Mapping[str, Any], sections: Mapping[str, str] = SECTIONS) -> str:
    """The whole HTML page for a status document; ``sections``: collector name → title, in page order."""
    status = str(doc.get("status", "ok"))
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        "<meta name='viewport' content='width=device-width, initial-scale=1'>",
        f"<meta http-equiv='refresh' content='{REFRESH_SECONDS}'>",
        f"<title>{escape(status.upper())} · watchtower{_cluster_suffix(doc)}</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<header class='{_css_class(status)}' id='overall'><h1>{escape(status.upper())}</h1>",
        f"<p>watchtower{_cluster_suffix(doc)} · {_summary(doc)}</p></header><main>",
        _blind(doc.get("blind")),
        _attention(doc.get("findings", ()), status),
        _plan(doc.get("plan")),
        _certificates(doc.get("details", {}).get("certs")),
    ]
    details = doc.get("details", {})
    for name in _ordered(details, sections):
        if name != "certs":
            parts.append(_details_section(sections.get(name, name), name, details[name]))
    parts.append(_collectors(doc.get("collectors", ()), doc.get("skipped") or {}))
    generated = doc.get("generated_at") or ""
    parts.append(
        f"<footer>generated {escape(str(generated))} · refreshes every {REFRESH_SECONDS}s · "
        "<a href='/api/status'>/api/status</a> · <a href='/metrics'>/metrics</a></footer></main></body></html>"
    )
    return "".join(parts)


def _cluster_suffix(doc: Mapping[str, Any]) -> str:
    cluster = doc.get("cluster")
    return f" · {escape(str(cluster))}" if cluster else ""


def _css_class(severity: object) -> str:
    text = str(severity).lower()
    if text in _CRITICAL_WORDS:
        return "critical"
    return text if text in _SEVERITY_WORDS else ""


def _badge(severity: object) -> str:
    cls = _css_class(severity)
    return f"<span class='badge {cls}'>{escape(str(severity).upper())}</span>" if cls else escape(str(severity))


def _summary(doc: Mapping[str, Any]) -> str:
    findings = doc.get("findings", ())
    critical = sum(1 for f in findings if f.get("severity") == "critical")
    warning = sum(1 for f in findings if f.get("severity") == "warning")
    failed = [c["name"] for c in doc.get("collectors", ()) if c.get("ran") and not c.get("success")]
    words = [f"{critical} critical", f"{warning} warning"]
    if failed:
        words.append("failing collectors: " + ", ".join(failed))
    if doc.get("blind"):
        words.append("blind: nothing is being watched")
    elif doc.get("status") == "unknown":
        words.append("could not look everywhere")
    return escape(" · ".join(words))


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:]


def _blind(blind: Mapping[str, Any] | None) -> str:
    """Why watchtower sees nothing: each collector with why it is not running, and what to try first."""
    if not blind:
        return ""
    rows = "".join(f"<tr class='unknown'><td>{escape(str(c['name']))}</td><td>{escape(str(c['why']))}</td></tr>"
                   for c in blind.get("collectors", ()))
    return ("<section id='blind' class='blind'><h2>Why watchtower is blind</h2>"
            f"<p>{escape(_sentence(str(blind.get('reason', ''))))}. No alert can fire from this watchtower until a collector "
            "runs: the state is UNKNOWN, not OK.</p>"
            f"<table><thead><tr><th>collector</th><th>why it is not watching</th></tr></thead><tbody>{rows}</tbody>"
            f"</table><p>Try first: <code>{escape(str(blind.get('first_command', '')))}</code> — "
            f"{escape(str(blind.get('first_command_why', '')))}.</p></section>")


def _ordered(details: Mapping[str, Any], sections: Mapping[str, str]) -> list[str]:
    known = [n for n in sections if n in details]
    return known + sorted(n for n in details if n not in sections)


def _attention(findings: Iterable[Mapping[str, Any]], status: str = "ok") -> str:
    rows = [f for f in findings if f.get("severity") in ("critical", "warning")]
    if not rows:
        text = ("No finding — but watchtower could not look everywhere, so this is not an all-clear "
                "(see the collectors below)." if status == "unknown" else "Nothing: every finding is ok.")
        return f"<section id='attention'><h2>Needs attention</h2><p class='muted'>{text}</p></section>"
    body = "".join(
        f"<tr class='{_css_class(f['severity'])}'><td>{_badge(f['severity'])}</td><td>{escape(str(f['section']))}</td>"
        f"<td>{escape(str(f['subject']))}</td><td>{escape(str(f['message']))}</td></tr>"
        for f in rows[:MAX_ROWS]
    )
    return ("<section id='attention'><h2>Needs attention</h2><table><thead><tr><th>status</th><th>section</th>"
            f"<th>subject</th><th>finding</th></tr></thead><tbody>{body}</tbody></table>{_more(rows)}</section>")


def _more(rows: Sequence[object]) -> str:
    return f"<p class='muted'>{len(rows) - MAX_ROWS} more in /api/status</p>" if len(rows) > MAX_ROWS else ""


def residual(not_after: str | None, now: datetime.datetime | None = None) -> str:
    """Time left until an RFC 3339 instant, like kubeadm prints it: ``364d``, ``5h``, ``expired``."""
    if not not_after:
        return ""
    try:
        instant = datetime.datetime.fromisoformat(not_after)
    except ValueError:
        return ""
    now = now or datetime.datetime.now(datetime.UTC)
    seconds = (instant - now).total_seconds()
    if seconds <= 0:
        return "expired"
    return human_duration(seconds)


_CERT_INTERNALS = {"certificates", "now", "thresholds"}  # shown elsewhere, or only for scripts


def _certificates(certs: Mapping[str, Any] | None) -> str:
    if not certs:
        return ""
    items = sorted(certs.get("certificates", ()), key=lambda c: str(c.get("not_after", "")))
    if not items:
        return "<section id='certs'><h2>Certificates</h2><p class='muted'>No certificates found.</p></section>"
    rows = []
    for cert in items[:MAX_ROWS]:
        severity = cert.get("severity") or cert.get("status") or ""
        name = cert.get("name") or cert.get("subject") or ""
        rows.append(
            f"<tr class='{_css_class(severity)}'><td>{_badge(severity) if severity else ''}</td>"
            f"<td>{escape(str(name))}</td><td>{escape(residual(cert.get('not_after')))}</td>"
            f"<td>{escape(str(cert.get('not_after', '')))}</td><td>{escape(str(cert.get('source', '')))}</td>"
            f"<td>{escape(str(cert.get('location', '')))}</td>"
            f"<td>{escape(str(cert.get('issuer_cn') or cert.get('issuer', '')))}</td></tr>"
        )
    extra = {k: v for k, v in certs.items() if k not in _CERT_INTERNALS}
    return ("<section id='certs'><h2>Certificates</h2><table><thead><tr><th>urgency</th><th>name</th><th>left</th>"
            "<th>expires</th><th>source</th><th>location</th><th>issuer</th></tr></thead><tbody>"
            + "".join(rows) + f"</tbody></table>{_more(items)}{_generic(extra)}</section>")


_PLAN_SEVERITY = {0: "ok", 1: "warning", 2: "critical"}


def _plan(plan: Mapping[str, Any] | None) -> str:
    """The upgrade plan (``watchtower plan upgrade``): verdict, hops with notes and blockers, deadlines."""
    if not plan:
        return ""
    severity = _PLAN_SEVERITY.get(int(plan.get("exit_code") or 0), "critical")
    head = (f"<p class='{_css_class(severity)}'>{_badge(severity)} {escape(str(plan.get('current')))} → "
            f"{escape(str(plan.get('latest')))}: {len(plan.get('hops') or ())} hop(s) at {plan.get('days_per_hop')} days "
            f"each, done {escape(str(plan.get('finish') or '?')[:10])}; {escape('; '.join(plan.get('reasons') or ()))}</p>")
    hops = "".join(
        f"<tr><td>{h['number']}</td><td>{escape(str(h['from']))}</td><td>{escape(str(h['target'] or 'v' + h['minor'] + '.x (newest patch unknown)'))}</td>"
        f"<td>{escape(str(h['eol'] or 'unknown')[:10])}</td><td>{escape(str(h['finish_by'])[:10])}</td>"
        f"<td>{escape('; '.join(h['notes']))}</td><td>{escape('; '.join(b['summary'] for b in h['blockers'])) or '–'}</td></tr>"
        for h in plan.get("hops") or ())
    table = ("<table><thead><tr><th>hop</th><th>from</th><th>to</th><th>end of life</th><th>done by</th>"
             f"<th>kubeadm notes</th><th>blockers</th></tr></thead><tbody>{hops}</tbody></table>") if hops else ""
    deadlines = "".join(
        f"<tr class='{_css_class('critical' if d['before_finish'] or d['days_left'] < 0 else 'ok')}'>"
        f"<td>{escape(str(d['what']))}</td><td>{escape(str(d['at'])[:10])}</td><td>{d['days_left']}</td>"
        f"<td>{'yes' if d['before_finish'] else 'no'}</td></tr>" for d in plan.get("deadlines") or ())
    deadline_table = ("<h3>deadlines</h3><table><thead><tr><th>deadline</th><th>date</th><th>days left</th>"
                      f"<th>before the last hop</th></tr></thead><tbody>{deadlines}</tbody></table>") if deadlines else ""
    return f"<section id='plan'><h2>Upgrade plan</h2>{head}{table}{deadline_table}</section>"


def _details_section(title: str, name: str, details: Mapping[str, Any]) -> str:
    return f"<section id='{escape(name)}'><h2>{escape(title)}</h2>{_generic(details)}</section>"


def _generic(details: Mapping[str, Any]) -> str:
    """Any collector's details: scalars as a key/value table, lists of records as tables."""
    scalars = {k: v for k, v in details.items() if not isinstance(v, (list, tuple, Mapping))}
    out = []
    if scalars:
        out.append("<table>" + "".join(
            f"<tr><th>{escape(str(k))}</th><td>{_cell(v)}</td></tr>" for k, v in scalars.items()
        ) + "</table>")
    for key, value in details.items():
        if isinstance(value, Mapping):
            out.append(f"<h3>{escape(str(key))}</h3>{_generic(value)}")
        elif isinstance(value, (list, tuple)):
            out.append(f"<h3>{escape(str(key))}</h3>{_records(value)}")
    return "".join(out)


def _records(items: Sequence[Any]) -> str:
    if not items:
        return "<p class='muted'>none</p>"
    if not all(isinstance(i, Mapping) for i in items):
        return "<p>" + ", ".join(_cell(i) for i in items[:MAX_ROWS]) + "</p>"
    columns: list[str] = []
    for item in items[:MAX_ROWS]:
        columns += [k for k in item if k not in columns]
    head = "".join(f"<th>{escape(str(c))}</th>" for c in columns)
    rows = []
    for item in items[:MAX_ROWS]:
        severity = item.get("severity") or item.get("status") or ""
        cells = "".join(
            f"<td>{_badge(item.get(c)) if c in ('severity', 'status') else _cell(item.get(c, ''))}</td>"
            for c in columns
        )
        rows.append(f"<tr class='{_css_class(severity)}'>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>{_more(items)}"


def _cell(value: object) -> str:
    if value is None:
        return "<span class='muted'>–</span>"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (list, tuple)):
        return escape(", ".join(str(v) for v in value))
    if isinstance(value, Mapping):
        return escape(", ".join(f"{k}={v}" for k, v in value.items()))
    return escape(str(value))


def _collectors(collectors: Iterable[Mapping[str, Any]], skipped: Mapping[str, str] | None = None) -> str:
    rows = []
    for c in collectors:
        state = "ok" if c.get("success") else ("waiting for first run" if not c.get("ran") else "failed")
        last_error = c.get("failure_detail") or ""
        if c.get("failure_reason"):
            last_error = f"{c['failure_reason']}: {last_error}"
        item_errors = c.get("errors") or []
        if item_errors:
            first = item_errors[0]
            suffix = f" (+{len(item_errors) - 1} more)" if len(item_errors) > 1 else ""
            last_error = (last_error + "; " if last_error else "") + f"{first['location']}: {first['reason']}{suffix}"
        rows.append(
            f"<tr class='{_css_class(c.get('severity'))}'><td>{escape(str(c.get('name')))}</td><td>{escape(state)}</td>"
            f"<td>{escape(str(c.get('last_success') or 'never'))}</td><td>{escape(last_error)}</td></tr>"
        )
    for name, reason in sorted((skipped or {}).items()):
        rows.append(f"<tr><td>{escape(str(name))}</td><td>not running</td><td>–</td><td>{escape(str(reason))}</td></tr>")
    return ("<section id='collectors'><h2>Collectors</h2><table><thead><tr><th>collector</th><th>state</th>"
            "<th>last success</th><th>last error</th></tr></thead><tbody>" + "".join(rows) + "</tbody></table></section>")
