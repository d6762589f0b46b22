#!/usr/bin/env python3
"""Write dashboards/*.json, watchtower's Grafana dashboards, from the definitions below.

The JSON files are what Grafana imports and what the provisioner uploads; this script keeps
their boilerplate (datasource and cluster variables, fixed uids, grid positions, links)
consistent. Edit here, run ``python3 scripts/build_dashboards.py``, commit both;
tests/e2e/test_dashboards.py fails when the JSON files differ from what this writes.
``--check`` only compares (exit 1 when a file is stale).

Every query selects ``cluster=~"$cluster"``: the cluster label comes from the Prometheus
scrape job (a target label), as in alerts/alertmanager.yaml; "All" (``.*``) also matches
series without it. Only metrics listed in docs/metrics.md (plus Prometheus' own ``up``) are used.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

OUT = Path(__file__).resolve().parents[1] / "dashboards"
SCHEMA_VERSION = 39
TAG = "watchtower"
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
C = 'cluster=~"$cluster"'
DAY = 86400

GREEN, ORANGE, RED, BLUE = "green", "orange", "red", "blue"


def steps(*pairs: tuple[float | None, str]) -> dict[str, Any]:
    return {"mode": "absolute", "steps": [{"value": v, "color": c} for v, c in pairs]}


OK_IS_ONE = [{"type": "value", "options": {"1": {"text": "OK", "color": GREEN}, "0": {"text": "FAIL", "color": RED}}}]
UP_DOWN = [{"type": "value", "options": {"1": {"text": "UP", "color": GREEN}, "0": {"text": "DOWN", "color": RED}}}]
ZERO_GOOD = steps((None, GREEN), (1, RED))
TIME_LEFT = steps((None, RED), (7 * DAY, ORANGE), (30 * DAY, GREEN))


def target(expr: str, legend: str = "", ref: str = "A", table: bool = False) -> dict[str, Any]:
    t: dict[str, Any] = {"datasource": DATASOURCE, "refId": ref, "expr": expr, "legendFormat": legend or "__auto"}
    if table:
        t.update(format="table", instant=True, range=False)
    else:
        t.update(range=True)
    return t


class Layout:
    """Places panels left to right in rows of 24 grid units."""

    def __init__(self) -> None:
        self.x = self.y = self.row_height = 0
        self.next_id = 1

    def place(self, w: int, h: int) -> dict[str, int]:
        if self.x + w > 24:
            self.x, self.y, self.row_height = 0, self.y + self.row_height, 0
        pos = {"x": self.x, "y": self.y, "w": w, "h": h}
        self.x += w
        self.row_height = max(self.row_height, h)
        return pos

    def row(self, title: str) -> dict[str, Any]:
        if self.x:
            self.x, self.y, self.row_height = 0, self.y + self.row_height, 0
        panel = {"type": "row", "title": title, "id": self.take_id(), "collapsed": False, "panels": [],
                 "gridPos": {"x": 0, "y": self.y, "w": 24, "h": 1}}
        self.y += 1
        return panel

    def take_id(self) -> int:
        self.next_id += 1
        return self.next_id - 1


def panel(
    layout: Layout, kind: str, title: str, description: str, targets: Sequence[dict[str, Any]], w: int, h: int,
    *, unit: str | None = None, thresholds: dict[str, Any] | None = None, mappings: list[Any] | None = None,
    no_value: str | None = None, options: dict[str, Any] | None = None, custom: dict[str, Any] | None = None,
    overrides: list[Any] | None = None, transformations: list[Any] | None = None, decimals: int | None = None,
) -> dict[str, Any]:
    defaults: dict[str, Any] = {"mappings": mappings or []}
    if unit:
        defaults["unit"] = unit
    if thresholds:
        defaults["thresholds"] = thresholds
        defaults["color"] = {"mode": "thresholds"}
    if no_value is not None:
        defaults["noValue"] = no_value
    if decimals is not None:
        defaults["decimals"] = decimals
    if custom:
        defaults["custom"] = custom
    result: dict[str, Any] = {
        "type": kind, "title": title, "description": description, "id": layout.take_id(),
        "datasource": DATASOURCE, "gridPos": layout.place(w, h),
        "targets": list(targets), "fieldConfig": {"defaults": defaults, "overrides": overrides or []},
        "options": options or {},
    }
    if transformations:
        result["transformations"] = transformations
    return result


def stat(layout: Layout, title: str, description: str, expr: str, *, legend: str = "", w: int = 4, h: int = 4,
         text_mode: str = "value", **kw: Any) -> dict[str, Any]:
    options = {"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
               "colorMode": "background", "graphMode": "none", "textMode": text_mode, "justifyMode": "auto",
               "orientation": "auto"}
    return panel(layout, "stat", title, description, [target(expr, legend)], w, h, options=options, **kw)


def table(layout: Layout, title: str, description: str, expr: str, *, hide: Sequence[str] = (),
          rename: dict[str, str] | None = None, w: int = 24, h: int = 8, value_unit: str | None = None,
          value_thresholds: dict[str, Any] | None = None, value_mappings: list[Any] | None = None,
          sort_by: str | None = None, desc: bool = False) -> dict[str, Any]:
    """An instant query as a table: one row per series, label columns, the value last."""
    hidden = {name: True for name in ("Time", "__name__", *hide)}
    renamed = {"Value": "value", **(rename or {})}
    value_name = renamed["Value"]
    value_props: list[dict[str, Any]] = []
    if value_unit:
        value_props.append({"id": "unit", "value": value_unit})
    if value_thresholds:
        value_props += [{"id": "thresholds", "value": value_thresholds}, {"id": "color", "value": {"mode": "thresholds"}}]
    if value_mappings:
        value_props.append({"id": "mappings", "value": value_mappings})
    if value_thresholds or value_mappings:
        value_props.append({"id": "custom.cellOptions", "value": {"type": "color-background"}})
    overrides = [{"matcher": {"id": "byName", "options": value_name}, "properties": value_props}] if value_props else []
    options: dict[str, Any] = {"showHeader": True, "cellHeight": "sm", "footer": {"show": False}}
    if sort_by:
        options["sortBy"] = [{"displayName": sort_by, "desc": desc}]
    return panel(
        layout, "table", title, description, [target(expr, table=True)], w, h, overrides=overrides,
        options=options, transformations=[{"id": "organize", "options": {"excludeByName": hidden, "renameByName": renamed}}],
    )


def timeseries(layout: Layout, title: str, description: str, targets: Sequence[dict[str, Any]], *, w: int = 12,
               h: int = 8, unit: str | None = None, **kw: Any) -> dict[str, Any]:
    options = {"legend": {"displayMode": "table", "placement": "right", "showLegend": True, "calcs": ["lastNotNull"]},
               "tooltip": {"mode": "multi", "sort": "none"}}
    return panel(layout, "timeseries", title, description, targets, w, h, unit=unit, options=options,
                 custom={"drawStyle": "line", "lineWidth": 1, "fillOpacity": 0, "showPoints": "never",
                         "spanNulls": False}, **kw)


def state_timeline(layout: Layout, title: str, description: str, expr: str, legend: str, mappings: list[Any], *,
                   w: int = 12, h: int = 8) -> dict[str, Any]:
    options = {"showValue": "auto", "mergeValues": True, "rowHeight": 0.9, "alignValue": "left",
               "legend": {"showLegend": False, "displayMode": "list", "placement": "bottom"},
               "tooltip": {"mode": "single", "sort": "none"}}
    return panel(layout, "state-timeline", title, description, [target(expr, legend)], w, h, mappings=mappings,
                 thresholds=steps((None, BLUE)), options=options, custom={"lineWidth": 0, "fillOpacity": 80})


def variables(extra: Sequence[dict[str, Any]] = ()) -> dict[str, Any]:
    datasource = {"name": "datasource", "label": "Data source", "type": "datasource", "query": "prometheus",
                  "current": {}, "hide": 0, "includeAll": False, "multi": False, "options": [], "refresh": 1,
                  "regex": "", "skipUrlSync": False}
    cluster = query_variable("cluster", "Cluster", "label_values(watchtower_build_info, cluster)")
    return {"list": [datasource, cluster, *extra]}


def query_variable(name: str, label: str, query: str) -> dict[str, Any]:
    return {"name": name, "label": label, "type": "query", "datasource": DATASOURCE,
            "definition": query, "query": {"query": query, "refId": f"{name}-variable"},
            "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
            "includeAll": True, "allValue": ".*", "multi": True, "refresh": 2, "sort": 1, "hide": 0,
            "options": [], "regex": "", "skipUrlSync": False}


def dashboard(uid: str, title: str, description: str, panels: list[dict[str, Any]],
              extra_variables: Sequence[dict[str, Any]] = ()) -> dict[str, Any]:
    return {
        "uid": uid, "title": title, "description": description, "tags": [TAG, "kubernetes", "kubeadm"],
        "timezone": "browser", "editable": True, "graphTooltip": 1, "schemaVersion": SCHEMA_VERSION,
        "time": {"from": "now-6h", "to": "now"}, "refresh": "1m", "fiscalYearStartMonth": 0, "liveNow": False,
        "weekStart": "", "timepicker": {},
        "annotations": {"list": [{
            "builtIn": 1, "datasource": {"type": "grafana", "uid": "-- Grafana --"}, "enable": True, "hide": True,
            "iconColor": "rgba(0, 211, 255, 1)", "name": "Annotations & Alerts", "type": "dashboard"}]},
        "links": [{"title": "watchtower", "type": "dashboards", "tags": [TAG], "asDropdown": True,
                   "includeVars": True, "keepTime": True, "icon": "external link", "targetBlank": False,
                   "tooltip": "", "url": ""}],
        "templating": variables(extra_variables),
        "panels": panels,
    }


# --- the dashboards ------------------------------------------------------------------------

def overview() -> dict[str, Any]:
    lay = Layout()
    p = [
        lay.row("Deadlines"),
        stat(lay, "Soonest certificate expiry", "Time until the first certificate watchtower sees expires "
             "(any source). Red under 7 days, orange under 30.",
             f"min(watchtower_cert_not_after_timestamp_seconds{{{C}}}) - time()", unit="dtdurations",
             thresholds=TIME_LEFT),
        stat(lay, "Certificates expiring within 30 days", "How many certificates have less than 30 days left.",
             f"sum((watchtower_cert_not_after_timestamp_seconds{{{C}}} - time()) < bool {30 * DAY})",
             thresholds=steps((None, GREEN), (1, ORANGE)), no_value="0"),
        stat(lay, "kubeadm certificate deadline", "Time until the first kubeadm leaf certificate expires: the "
             "hard deadline for the next upgrade (kubeadm upgrade renews them).",
             f"min(watchtower_upgrade_cert_deadline_timestamp_seconds{{{C}}}) - time()", unit="dtdurations",
             thresholds=TIME_LEFT),
        stat(lay, "Next upgrade due in", "Policy: upgrade every four months. Negative = overdue.",
             f"min(watchtower_upgrade_next_due_timestamp_seconds{{{C}}}) - time()", unit="dtdurations",
             thresholds=steps((None, RED), (0, ORANGE), (14 * DAY, GREEN))),
        stat(lay, "Minors behind latest", "Kubernetes minor releases between the running control plane and "
             "the latest release.", f"max(watchtower_kubernetes_minors_behind{{{C}}})",
             thresholds=steps((None, GREEN), (1, ORANGE), (2, RED))),
        stat(lay, "Upgrade due after cert deadline", "1 when following the upgrade policy would let kubeadm "
             "certificates expire first: renew them (or upgrade) before the deadline.",
             f"max(watchtower_upgrade_due_after_cert_deadline{{{C}}})",
             mappings=[{"type": "value", "options": {"0": {"text": "no", "color": GREEN},
                                                     "1": {"text": "YES", "color": RED}}}],
             thresholds=ZERO_GOOD),
        lay.row("Control plane"),
        stat(lay, "Nodes holding each VIP", "Exactly one node must hold each keepalived VIP: 0 = VIP lost, "
             "2+ = split-brain or a stale address.", f"sum by (vip) (watchtower_vip_held{{{C}}})",
             legend="{{vip}}", thresholds=steps((None, RED), (1, GREEN), (2, RED)), text_mode="value_and_name"),
        stat(lay, "Apiservers down", "Control-plane apiservers whose /livez does not answer 200.",
             f'sum(1 - watchtower_apiserver_up{{{C}, role="apiserver"}})', thresholds=ZERO_GOOD),
        stat(lay, "VIP unreachable", "VIPs through which GET /readyz of the apiserver fails.",
             f"sum(1 - watchtower_vip_reachable{{{C}}})", thresholds=ZERO_GOOD),
        stat(lay, "HAProxy backends without servers", "HAProxy backends (on any node) with no server up.",
             f"sum(1 - watchtower_haproxy_backend_up{{{C}}})", thresholds=ZERO_GOOD),
        stat(lay, "HAProxy servers down", "HAProxy backend servers marked DOWN or in maintenance.",
             f"sum(1 - watchtower_haproxy_server_up{{{C}}})", thresholds=steps((None, GREEN), (1, ORANGE))),
        stat(lay, "etcd members without leader", "etcd members that know no leader (or cannot be asked).",
             # members probed minus members with a leader; has_leader is absent while a member is down
             f"count(watchtower_etcd_up{{{C}}}) - (sum(watchtower_etcd_has_leader{{{C}}}) or vector(0))",
             thresholds=ZERO_GOOD),
        lay.row("Nodes and watchtower"),
        stat(lay, "Nodes not Ready", "Nodes whose Ready condition is False or Unknown.",
             f'sum(watchtower_node_condition{{{C}, condition="Ready", status!="true"}})', thresholds=ZERO_GOOD),
        stat(lay, "Nodes", "Nodes in the cluster.", f"max(watchtower_nodes{{{C}}})",
             thresholds=steps((None, BLUE))),
        stat(lay, "Collectors failing", "watchtower collectors whose last run failed; their data is the last "
             "good run's.", f"sum(1 - watchtower_collector_success{{{C}}})", thresholds=ZERO_GOOD),
        stat(lay, "watchtower targets down", "watchtower instances Prometheus cannot scrape.",
             f'sum(1 - up{{job=~".*watchtower.*", {C}}})', thresholds=ZERO_GOOD),
        stat(lay, "Oldest collector data", "Age of the oldest collector's last successful run.",
             f"time() - min(watchtower_collector_last_success_timestamp_seconds{{{C}}})", unit="s",
             thresholds=steps((None, GREEN), (900, ORANGE), (3600, RED))),
        stat(lay, "watchtower versions", "Running watchtower versions.",
             f"count by (version) (watchtower_build_info{{{C}}})", legend="{{version}}",
             text_mode="name", thresholds=steps((None, BLUE))),
        lay.row("Trends"),
        timeseries(lay, "Certificates: days left (soonest 10)", "The ten certificates closest to expiry.",
                   [target(f"bottomk(10, (watchtower_cert_not_after_timestamp_seconds{{{C}}} - time()) / {DAY})",
                           "{{name}} {{location}}")], unit="d", thresholds=steps((None, RED), (7, ORANGE), (30, GREEN))),
        table(lay, "Collectors", "Every watchtower collector: last run OK or failed.",
              f"watchtower_collector_success{{{C}}}", hide=("job",), rename={"Value": "last run"}, w=12,
              value_mappings=OK_IS_ONE, sort_by="last run"),
    ]
    return dashboard("watchtower-overview", "watchtower / Overview",
                     "One-glance health of a kubeadm control plane: deadlines, VIP, apiservers, HAProxy, etcd, "
                     "nodes and watchtower itself.", p)


def certificates() -> dict[str, Any]:
    lay = Layout()
    s = f'{C}, source=~"$source"'
    p = [
        lay.row("Time left"),
        table(lay, "Certificates by time left", "Every certificate, soonest expiry first. Lifetime left is the "
              "share of its validity period remaining (the alerts use min(30 days, 20 %) and min(7 days, 5 %)).",
              f"sort(watchtower_cert_not_after_timestamp_seconds{{{s}}} - time())",
              hide=("job",), rename={"Value": "time left"}, h=12, value_unit="dtdurations",
              value_thresholds=TIME_LEFT, sort_by="time left"),
        stat(lay, "Soonest expiry by source", "Time left of the first certificate to expire, per source "
             "(kubeadm, file, kubeconfig, endpoint, secret).",
             f"min by (source) (watchtower_cert_not_after_timestamp_seconds{{{s}}}) - time()", legend="{{source}}",
             unit="dtdurations", thresholds=TIME_LEFT, text_mode="value_and_name", w=12, h=5),
        stat(lay, "Certificates by source", "Certificates found in the last run, per source.",
             f"sum by (source) (watchtower_cert_certificates{{{s}}})", legend="{{source}}",
             thresholds=steps((None, BLUE)), text_mode="value_and_name", w=12, h=5),
        timeseries(lay, "Days left (soonest 10)", "The ten certificates closest to expiry over time; a jump up "
                   "is a renewal.", [target(f"bottomk(10, (watchtower_cert_not_after_timestamp_seconds{{{s}}} - "
                                            f"time()) / {DAY})", "{{name}} {{location}}")],
                   unit="d", w=12),
        timeseries(lay, "Lifetime left (soonest 10)", "Share of each certificate's validity period left.",
                   [target(f"bottomk(10, (watchtower_cert_not_after_timestamp_seconds{{{s}}} - time()) / "
                           f"(watchtower_cert_not_after_timestamp_seconds{{{s}}} - "
                           f"watchtower_cert_not_before_timestamp_seconds{{{s}}}))", "{{name}} {{location}}")],
                   unit="percentunit", w=12),
        lay.row("Checks"),
        table(lay, "Chain verification", "Each certificate's chain: FAIL with the reason first.",
              f"sort(watchtower_cert_chain_valid{{{s}}})", hide=("job",), rename={"Value": "chain"}, w=12,
              value_mappings=OK_IS_ONE),
        table(lay, "Private key matches certificate", "The key next to each certificate is its key.",
              f"sort(watchtower_cert_key_matches{{{s}}})", hide=("job",), rename={"Value": "key"}, w=12,
              value_mappings=OK_IS_ONE),
        table(lay, "apiserver SANs cover VIPs and endpoint", "pki/apiserver.crt names every VIP and the "
              "control-plane endpoint (name = the address checked).", f"sort(watchtower_cert_san_covers{{{s}}})",
              hide=("job",), rename={"Value": "covered"}, w=12, h=6, value_mappings=OK_IS_ONE),
        table(lay, "Served certificate = certificate on disk", "The apiserver serves pki/apiserver.crt; FAIL "
              "after a renewal without restarting it.", f"sort(watchtower_cert_served_matches_disk{{{C}}})",
              hide=("job",), rename={"Value": "same"}, w=12, h=6, value_mappings=OK_IS_ONE),
        table(lay, "Kubeconfig CA = cluster CA", "Each kubeadm kubeconfig embeds pki/ca.crt.",
              f"sort(watchtower_cert_kubeconfig_ca_matches_cluster_ca{{{C}}})", hide=("job",),
              rename={"Value": "same"}, w=12, h=6, value_mappings=OK_IS_ONE),
        table(lay, "Certificate outlives its issuer", "1 = the certificate expires after its CA.",
              f"sort_desc(watchtower_cert_expires_after_issuer{{{s}}})", hide=("job",),
              rename={"Value": "outlives"}, w=12, h=6,
              value_mappings=[{"type": "value", "options": {"0": {"text": "no", "color": GREEN},
                                                            "1": {"text": "YES", "color": RED}}}]),
        table(lay, "Read errors", "Items the last run could not read, by source and reason.",
              f"watchtower_cert_read_errors{{{s}}}", hide=("job",), rename={"Value": "items"}, h=5,
              value_thresholds=ZERO_GOOD),
    ]
    source = query_variable("source", "Source", f"label_values(watchtower_cert_not_after_timestamp_seconds{{{C}}}, source)")
    return dashboard("watchtower-certificates", "watchtower / Certificates",
                     "Certificates by residual time and source, and the checks on them.", p, [source])


def control_plane() -> dict[str, Any]:
    lay = Layout()
    p = [
        lay.row("apiservers"),
        state_timeline(lay, "apiserver /livez", "Each endpoint's /livez over time (role apiserver, vip, endpoint).",
                       f"watchtower_apiserver_up{{{C}}}", "{{role}} {{endpoint}}", UP_DOWN),
        state_timeline(lay, "apiserver /readyz", "Each endpoint's /readyz over time.",
                       f"watchtower_apiserver_ready{{{C}}}", "{{role}} {{endpoint}}", OK_IS_ONE),
        table(lay, "apiserver versions", "gitVersion per endpoint; two minors = an upgrade in progress.",
              f"watchtower_apiserver_version_info{{{C}}}", hide=("job", "Value"), w=8, h=7),
        table(lay, "/readyz checks", "Every check /readyz?verbose lists: failing first.",
              f"sort_desc(watchtower_apiserver_check_failed{{{C}}})", hide=("job",), rename={"Value": "failing"},
              w=8, h=7, value_mappings=[{"type": "value", "options": {"0": {"text": "ok", "color": GREEN},
                                                                      "1": {"text": "FAILING", "color": RED}}}]),
        timeseries(lay, "Probe duration", "Wall time of each probe.",
                   [target(f"watchtower_apiserver_probe_duration_seconds{{{C}}}", "{{endpoint}} {{path}}")],
                   unit="s", w=8, h=7),
        lay.row("VIP and keepalived"),
        state_timeline(lay, "VIP holder over time", "Which node holds each VIP; exactly one row per VIP should "
                       "be 'held' at any time.", f"watchtower_vip_held{{{C}}}", "{{vip}} on {{node}}",
                       [{"type": "value", "options": {"1": {"text": "held", "color": GREEN},
                                                      "0": {"text": "-", "color": "transparent"}}}]),
        stat(lay, "Nodes holding each VIP", "1 is right; 0 = lost, 2+ = split-brain.",
             f"sum by (vip) (watchtower_vip_held{{{C}}})", legend="{{vip}}",
             thresholds=steps((None, RED), (1, GREEN), (2, RED)), text_mode="value_and_name", w=6, h=8),
        stat(lay, "apiserver through VIP", "GET /readyz through each VIP.", f"watchtower_vip_reachable{{{C}}}",
             legend="{{vip}}", mappings=OK_IS_ONE, thresholds=steps((None, RED), (1, GREEN)),
             text_mode="value_and_name", w=6, h=8),
        table(lay, "keepalived state now", "Current VRRP state per node and instance.",
              f"watchtower_keepalived_state{{{C}}} == 1", hide=("job", "Value"), w=12, h=6),
        timeseries(lay, "keepalived priority", "Effective VRRP priority per node.",
                   [target(f"watchtower_keepalived_priority{{{C}}}", "{{node}} {{vrrp_instance}}")], w=12, h=6),
        lay.row("HAProxy"),
        state_timeline(lay, "HAProxy servers", "Each backend server as HAProxy on each node sees it.",
                       f"watchtower_haproxy_server_up{{{C}}}", "{{instance}} {{proxy}}/{{server}}", UP_DOWN),
        timeseries(lay, "Active servers per backend", "Servers up per backend and node.",
                   [target(f"watchtower_haproxy_backend_active_servers{{{C}}}", "{{instance}} {{proxy}}")],
                   decimals=0),
        table(lay, "Last health check", "The result of each server's last health check (L4CON: nothing "
              "listens; L6*: TLS; L7*: HTTP).", f"watchtower_haproxy_server_check_status{{{C}}} == 1",
              hide=("job", "Value"), w=16, h=6),
        stat(lay, "HAProxy stats readable", "watchtower could read HAProxy's stats.",
             f"watchtower_haproxy_up{{{C}}}", legend="{{instance}}", mappings=OK_IS_ONE,
             thresholds=steps((None, RED), (1, GREEN)), text_mode="value_and_name", w=8, h=6),
        lay.row("etcd"),
        stat(lay, "etcd reachable", "/health answered.", f"watchtower_etcd_up{{{C}}}", legend="{{endpoint}}",
             mappings=UP_DOWN, thresholds=steps((None, RED), (1, GREEN)), text_mode="value_and_name", w=6),
        stat(lay, "etcd has leader", "The member knows a leader.", f"watchtower_etcd_has_leader{{{C}}}",
             legend="{{endpoint}}", mappings=OK_IS_ONE, thresholds=steps((None, RED), (1, GREEN)),
             text_mode="value_and_name", w=6),
        stat(lay, "etcd healthy", "/health says healthy (no alarm such as NOSPACE).",
             f"watchtower_etcd_healthy{{{C}}}", legend="{{endpoint}}", mappings=OK_IS_ONE,
             thresholds=steps((None, RED), (1, GREEN)), text_mode="value_and_name", w=6),
        stat(lay, "etcd leader changes (1h)", "Leader elections seen in the last hour.",
             f"sum(increase(watchtower_etcd_leader_changes_total{{{C}}}[1h]))", decimals=0,
             thresholds=steps((None, GREEN), (3, ORANGE)), w=6),
        timeseries(lay, "etcd database size", "File size, the part in use (the rest is freed by defrag) and "
                   "the quota at which etcd stops accepting writes.",
                   [target(f"watchtower_etcd_db_size_bytes{{{C}}}", "size {{endpoint}}", "A"),
                    target(f"watchtower_etcd_db_size_in_use_bytes{{{C}}}", "in use {{endpoint}}", "B"),
                    target(f"watchtower_etcd_db_quota_bytes{{{C}}}", "quota {{endpoint}}", "C")],
                   unit="bytes", w=24),
    ]
    return dashboard("watchtower-control-plane", "watchtower / Control plane",
                     "apiserver endpoints, who holds the VIP over time, HAProxy backends and etcd.", p)


def nodes_upgrades() -> dict[str, Any]:
    lay = Layout()
    p = [
        lay.row("Upgrade policy"),
        table(lay, "Control-plane version", "By source: /version of the apiserver, kubeadm's ClusterConfiguration.",
              f"watchtower_kubernetes_version_info{{{C}}}", hide=("job", "Value"), w=8, h=5),
        table(lay, "Latest release", "Newest release overall and of the running minor.",
              f"watchtower_kubernetes_latest_version_info{{{C}}}", hide=("job", "Value"), w=8, h=5),
        table(lay, "Last upgrade", "When the control plane was last upgraded, and how watchtower knows.",
              f"watchtower_upgrade_last_timestamp_seconds{{{C}}} * 1000", hide=("job",),
              rename={"Value": "last upgrade"}, w=8, h=5, value_unit="dateTimeAsIso"),
        stat(lay, "Next upgrade due in", "Last upgrade + the policy interval (4 months). Negative = overdue.",
             f"min(watchtower_upgrade_next_due_timestamp_seconds{{{C}}}) - time()", unit="dtdurations",
             thresholds=steps((None, RED), (0, ORANGE), (14 * DAY, GREEN))),
        stat(lay, "kubeadm certificate deadline", "First kubeadm leaf certificate to expire.",
             f"min(watchtower_upgrade_cert_deadline_timestamp_seconds{{{C}}}) - time()", unit="dtdurations",
             thresholds=TIME_LEFT),
        stat(lay, "Minors behind", "Minor releases behind the latest.",
             f"max(watchtower_kubernetes_minors_behind{{{C}}})", thresholds=steps((None, GREEN), (1, ORANGE), (2, RED))),
        stat(lay, "Upgrades needed", "kubeadm upgrades (one minor at a time) to reach the latest release.",
             f"max(watchtower_kubernetes_upgrades_needed{{{C}}})", thresholds=steps((None, GREEN), (1, ORANGE))),
        stat(lay, "Running minor end of life in", "Support of the running minor ends.",
             f"min(watchtower_kubernetes_minor_eol_timestamp_seconds{{{C}}}) - time()", unit="dtdurations",
             thresholds=steps((None, RED), (30 * DAY, ORANGE), (90 * DAY, GREEN))),
        stat(lay, "Policy interval", "How often the policy wants an upgrade.",
             f"max(watchtower_upgrade_policy_interval_seconds{{{C}}})", unit="dtdurations",
             thresholds=steps((None, BLUE))),
        lay.row("Upgrade blockers: APIs the next minors remove"),
        table(lay, "Removed APIs in use: minors until removal",
              "Each removed API something still uses (objects or requests), with the minors until the release "
              "that stops serving it: 1 = the next upgrade breaks it, 0 or less = already gone. Names: "
              "`watchtower check --collector removed_apis` or the status page.",
              f"max by (group, version, kind, removed_in, replacement) (watchtower_removed_api_minors_until_removal{{{C}}})",
              rename={"Value": "minors until removal"}, w=12, h=6, sort_by="minors until removal",
              value_thresholds=steps((None, RED), (2, ORANGE), (4, GREEN))),
        table(lay, "Objects using removed APIs", "Objects declared with a removed API version, by where they were "
              "found: live (kubectl's last-applied-configuration) or helm (a deployed release's manifest).",
              f"sum by (group, version, kind, removed_in, source) (watchtower_removed_api_objects{{{C}}})",
              rename={"Value": "objects"}, w=6, h=6),
        table(lay, "Clients calling removed APIs", "Apiservers whose apiserver_requested_deprecated_apis reports "
              "requests to a removed API since they started (the audit log names the callers).",
              f"max by (group, version, resource, removed_in) (watchtower_removed_api_requests{{{C}}})",
              rename={"Value": "apiservers"}, w=6, h=6),
        lay.row("Nodes"),
        state_timeline(lay, "Ready over time", "Each node's Ready condition.",
                       # one series per condition with the current status as a label: 1 when Ready is true,
                       # 0 when it is false or unknown (the status="true" series is gone then)
                       f'max without (status) (watchtower_node_condition{{{C}, condition="Ready", status="true"}}) '
                       f'or max without (status) (watchtower_node_condition{{{C}, condition="Ready", status!="true"}}) * 0',
                       "{{node}}",
                       [{"type": "value", "options": {"1": {"text": "Ready", "color": GREEN},
                                                      "0": {"text": "NOT READY", "color": RED}}}], w=24),
        table(lay, "Nodes", "Every node: roles, versions, OS.", f"watchtower_node_info{{{C}}}",
              hide=("job", "Value", "instance"), w=24, h=7),
        table(lay, "Conditions now", "Each node condition's current status (Ready should be true, pressures false).",
              f"watchtower_node_condition{{{C}}} == 1", hide=("job", "Value", "instance"), w=12, h=8,
              sort_by="status"),
        table(lay, "Node taints", "node.kubernetes.io/* taints (not-ready, unreachable, pressure, unschedulable).",
              f"watchtower_node_taint{{{C}}}", hide=("job", "Value", "instance"), w=12, h=8),
        stat(lay, "Cordoned nodes", "Nodes marked unschedulable.", f"sum(watchtower_node_unschedulable{{{C}}})",
             thresholds=steps((None, GREEN), (1, ORANGE))),
        stat(lay, "Max kubelet minor skew", "apiserver minor − kubelet minor; allowed 0..3.",
             f"max(watchtower_node_kubelet_minor_skew{{{C}}})", thresholds=steps((None, GREEN), (3, ORANGE), (4, RED))),
        timeseries(lay, "Ready transitions (15m)", "Ready status changes per node in 15 minutes (flapping).",
                   [target(f"increase(watchtower_node_ready_transitions_total{{{C}}}[15m])", "{{node}}")],
                   w=16, h=4, decimals=0),
        lay.row("OS and container-runtime lifecycle"),
        stat(lay, "First OS end of support in", "The earliest end of standard (security) support among the nodes' "
             "OS releases (endoflife.date, the packaged snapshot or static dates). Negative = passed.",
             f"min(watchtower_node_os_eol_timestamp_seconds{{{C}}}) - time()", unit="dtdurations",
             thresholds=steps((None, RED), (0, ORANGE), (90 * DAY, GREEN))),
        stat(lay, "First runtime end of life in", "The earliest end of life among the nodes' container runtime "
             "release lines. Negative = passed.",
             f"min(watchtower_node_runtime_eol_timestamp_seconds{{{C}}}) - time()", unit="dtdurations",
             thresholds=steps((None, RED), (0, ORANGE), (90 * DAY, GREEN))),
        stat(lay, "Lifecycle data age", "How old the lifecycle data is: since the last endoflife.date fetch, or "
             "since the packaged snapshot was taken when the site cannot be reached.",
             f"time() - max(watchtower_node_lifecycle_data_timestamp_seconds{{{C}}})", unit="dtdurations",
             thresholds=steps((None, GREEN), (30 * DAY, ORANGE), (365 * DAY, RED))),
        stat(lay, "Control-plane OS releases", "Distinct OS releases on control-plane nodes (1 = all the same).",
             f'count(count by (distribution, release) (watchtower_node_os_eol_timestamp_seconds{{{C}}} and on (instance, job, node) '
             f'watchtower_node_info{{{C}, roles=~"(.*,)?(control-plane|master)(,.*)?"}}))',
             thresholds=steps((None, GREEN), (2, ORANGE))),
        table(lay, "OS releases", "Nodes per OS release (unknown: an osImage watchtower does not parse, never guessed).",
              f"count by (distribution, release) (watchtower_node_os_eol_timestamp_seconds{{{C}}})", rename={"Value": "nodes"},
              w=8, h=6),
        table(lay, "OS end of standard support", "Per OS release: end of standard security support (NaN: not known).",
              f"min by (distribution, release) (watchtower_node_os_eol_timestamp_seconds{{{C}}}) * 1000",
              rename={"Value": "standard support ends"}, w=8, h=6, value_unit="dateTimeAsIso"),
        table(lay, "OS end of extended support", "Per OS release: end of extended support (Ubuntu ESM, Debian LTS, "
              "RHEL ELS), covered only with that programme.",
              f"min by (distribution, release) (watchtower_node_os_extended_eol_timestamp_seconds{{{C}}}) * 1000",
              rename={"Value": "extended support ends"}, w=8, h=6, value_unit="dateTimeAsIso"),
        table(lay, "Container runtimes", "Nodes per container runtime and version.",
              f"count by (runtime, version) (watchtower_node_runtime_eol_timestamp_seconds{{{C}}})", rename={"Value": "nodes"},
              w=12, h=6),
        table(lay, "Runtime end of life", "Per runtime version: end of life of its release line (NaN: not known).",
              f"min by (runtime, version) (watchtower_node_runtime_eol_timestamp_seconds{{{C}}}) * 1000",
              rename={"Value": "end of life"}, w=12, h=6, value_unit="dateTimeAsIso"),
    ]
    return dashboard("watchtower-nodes-upgrades", "watchtower / Nodes & upgrades",
                     "Node readiness and versions, the upgrade-every-four-months policy and the APIs the next upgrades remove.", p)


DASHBOARDS = {
    "overview.json": overview,
    "certificates.json": certificates,
    "control-plane.json": control_plane,
    "nodes-upgrades.json": nodes_upgrades,
}


def rendered() -> Iterator[tuple[Path, str]]:
    for filename, build in DASHBOARDS.items():
        yield OUT / filename, json.dumps(build(), indent=2, ensure_ascii=False) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="only compare; exit 1 when a file is stale")
    args = parser.parse_args(argv)
    stale = []
    for path, text in rendered():
        if path.exists() and path.read_text(encoding="utf-8") == text:
            continue
        stale.append(path)
        if not args.check:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
    for path in stale:
        print(f"{'stale' if args.check else 'wrote'}: {path.relative_to(OUT.parent)}")
    return 1 if args.check and stale else 0


if __name__ == "__main__":
    sys.exit(main())
