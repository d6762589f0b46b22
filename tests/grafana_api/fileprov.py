"""Grafana's file provisioning of alerting objects, as it loads them at start-up (provenance "file")."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

import yaml

from tests.grafana_api.alerting import AlertingMixin
from tests.grafana_api.common import _now, prometheus_duration_seconds
from tests.grafana_api.interpolation import _interpolate_tree, interpolate


class FileProvisioningMixin(AlertingMixin):
    """``provision_file(text, env)``: what Grafana reads from provisioning/alerting/*.yaml."""

    _lock: Any

    def provision_file(self, text: str, env: Mapping[str, str] | None = None) -> None:
        """Load an alerting provisioning file the way Grafana does at start-up (provenance "file").

        Mirrors grafana/grafana pkg/services/provisioning/alerting/rules_types.go: group name,
        folder, interval and every rule field are interpolated (values.StringValue /
        StringMapValue ``.Value()``), except ``annotations`` and each query's ``model``, which
        are taken raw (``.Raw``; newer releases expand only braced ``${VAR}`` in annotations, so a
        Go template such as ``{{ $labels.x }}`` is kept as written either way). Contact points
        (contact_point_types.go) and policies (notification_policy_types.go) are interpolated.
        Queries then go through PreSave like every other rule write.
        """
        env = dict(env or {})
        doc = yaml.safe_load(text) or {}
        with self._lock:
            st = self.state
            for group in doc.get("groups") or []:
                name = interpolate(str(group["name"]), env)
                folder_title = interpolate(str(group["folder"]), env)
                interval = int(prometheus_duration_seconds(interpolate(str(group.get("interval") or "1m"), env)))
                folder = next((f for f in st.folders.values() if f["title"] == folder_title), None)
                if folder is None:  # the file provisioner creates a missing folder by title
                    uid = f"f{next(st.ids):08d}"
                    folder = {"id": next(st.ids), "uid": uid, "title": folder_title, "version": 1,
                              "created": _now(), "updated": _now()}
                    st.folders[uid] = folder
                for raw in group.get("rules") or []:
                    rule = {
                        "uid": interpolate(str(raw["uid"]), env),
                        "title": interpolate(str(raw["title"]), env),
                        "ruleGroup": name, "folderUID": folder["uid"],
                        "condition": interpolate(str(raw["condition"]), env),
                        "noDataState": interpolate(str(raw.get("noDataState") or "NoData"), env),
                        "execErrState": interpolate(str(raw.get("execErrState") or "Alerting"), env),
                        "for": interpolate(str(raw.get("for") or "0s"), env),
                        "labels": {k: interpolate(str(v), env) for k, v in (raw.get("labels") or {}).items()},
                        "annotations": {k: str(v) for k, v in (raw.get("annotations") or {}).items()},  # raw
                        "isPaused": bool(raw.get("isPaused", False)),
                        "data": [{
                            "refId": interpolate(str(q["refId"]), env),
                            "queryType": interpolate(str(q.get("queryType") or ""), env),
                            "relativeTimeRange": copy.deepcopy(q.get("relativeTimeRange") or {"from": 0, "to": 0}),
                            "datasourceUid": interpolate(str(q["datasourceUid"]), env),
                            "model": copy.deepcopy(q["model"]),  # raw
                        } for q in raw.get("data") or []],
                    }
                    stored = self._validate_rule(rule, rule["uid"])
                    stored["id"] = st.rules[rule["uid"]]["id"] if rule["uid"] in st.rules else next(st.ids)
                    st.rules[rule["uid"]] = stored
                    st.provenance[("rule", rule["uid"])] = "file"
                st.group_intervals[(folder["uid"], name)] = interval
            for point in doc.get("contactPoints") or []:
                point_name = interpolate(str(point["name"]), env)
                for receiver in point.get("receivers") or []:
                    uid = interpolate(str(receiver["uid"]), env)
                    st.contact_points[uid] = {
                        "uid": uid, "name": point_name, "type": interpolate(str(receiver["type"]), env),
                        "settings": _interpolate_tree(receiver.get("settings") or {}, env),
                        "disableResolveMessage": bool(receiver.get("disableResolveMessage", False)),
                    }
                    st.provenance[("contact-point", uid)] = "file"
            for policy in doc.get("policies") or []:
                st.policy = {k: v for k, v in _interpolate_tree(policy, env).items() if k != "orgId"}
                st.provenance[("policy", "root")] = "file"
