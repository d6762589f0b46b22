"""The alerting provisioning API's rules and rule groups (provenance checks: common.ServerBase)."""

from __future__ import annotations

import copy
from typing import Any

from tests.grafana_api.common import (
    EXEC_ERR_STATES,
    NO_DATA_STATES,
    ApiError,
    ServerBase,
    _now,
    _uid_error,
    format_prometheus_duration,
    pre_save,
    prometheus_duration_seconds,
)


class AlertingMixin(ServerBase):
    """``/api/v1/provisioning/alert-rules`` and ``.../folder/:uid/rule-groups/:group``."""

    # ---- alert rules -------------------------------------------------------------------

    def _validate_rule(self, rule: Any, uid: str) -> dict[str, Any]:
        st = self.state
        if not isinstance(rule, dict):
            raise ApiError(400, "bad request data")
        error = _uid_error(uid, "invalid alert rule")
        if error:
            raise error
        title = rule.get("title")
        if not isinstance(title, str) or not title.strip() or len(title) > 190:
            raise ApiError(400, "invalid alert rule: title is empty or longer than 190 characters")
        group = rule.get("ruleGroup")
        if not isinstance(group, str) or not group.strip() or len(group) > 190:
            raise ApiError(400, "invalid alert rule: rule group name is empty or longer than 190 characters")
        folder_uid = rule.get("folderUID")
        if not folder_uid:
            raise ApiError(400, "invalid alert rule: folderUID must be set")
        if folder_uid not in st.folders:
            raise ApiError(400, f"invalid alert rule: folder '{folder_uid}' does not exist")
        data = rule.get("data")
        if not isinstance(data, list) or not data:
            raise ApiError(400, "invalid alert rule: no queries or expressions are found")
        refs = []
        for item in data:
            if not isinstance(item, dict) or not item.get("refId") or not item.get("datasourceUid") or not isinstance(item.get("model"), dict):
                raise ApiError(400, "invalid alert rule: each query needs refId, datasourceUid and a model")
            refs.append(item["refId"])
        if len(set(refs)) != len(refs):
            raise ApiError(400, "invalid alert rule: refIds must be unique")
        if rule.get("condition") not in refs:
            raise ApiError(400, f"invalid alert rule: condition {rule.get('condition')!r} does not exist in the queries")
        if rule.get("noDataState") not in NO_DATA_STATES:
            raise ApiError(400, f"invalid alert rule: unknown noDataState {rule.get('noDataState')!r}")
        if rule.get("execErrState") not in EXEC_ERR_STATES:
            raise ApiError(400, f"invalid alert rule: unknown execErrState {rule.get('execErrState')!r}")
        try:
            for_seconds = prometheus_duration_seconds(rule.get("for") or "0s")
        except ValueError as exc:
            raise ApiError(400, f"invalid alert rule: {exc}") from None
        for field in ("labels", "annotations"):
            values = rule.get(field) or {}
            if not isinstance(values, dict) or not all(isinstance(v, str) for v in values.values()):
                raise ApiError(400, f"invalid alert rule: {field} must map names to strings")
        for other in st.rules.values():
            if other["uid"] != uid and other["folderUID"] == folder_uid and other["title"] == title:
                # api_provisioning.go maps ErrAlertRuleUniqueConstraintViolation to 400 (not 409)
                raise ApiError(400, "failed to save alert rule: a conflicting alert rule is found: "
                                    "rule title under the same organisation and folder should be unique")
        # ``updated``: the rule store stamps every insert and update (pkg/services/ngalert/store/
        # alert_rule.go, InsertAlertRules/UpdateAlertRules set ``Updated = time.Now()``) and the
        # provisioning API shows it (api/tooling/definitions/provisioning_alert_rules.go).
        return {
            "uid": uid, "orgID": 1, "folderUID": folder_uid, "ruleGroup": group, "title": title,
            "condition": rule["condition"], "data": [pre_save(q) for q in data], "updated": _now(),
            "noDataState": rule["noDataState"], "execErrState": rule["execErrState"],
            "for": format_prometheus_duration(for_seconds), "annotations": dict(rule.get("annotations") or {}),
            "labels": dict(rule.get("labels") or {}), "isPaused": bool(rule.get("isPaused", False)),
        }

    def _rule_view(self, rule: dict[str, Any]) -> dict[str, Any]:
        view = copy.deepcopy(rule)
        prov = self.state.provenance.get(("rule", rule["uid"]), "")
        if prov:
            view["provenance"] = prov
        return view

    def _rules(self, method: str, uid: str | None, payload: Any, prov: str) -> tuple[int, Any]:
        st = self.state
        if method == "GET" and uid is None:
            return 200, [self._rule_view(r) for r in st.rules.values()]
        if method == "POST" and uid is None:
            new_uid = (payload or {}).get("uid") or f"r{next(st.ids):08d}"
            if new_uid in st.rules:
                raise ApiError(409, f"an alert rule with uid '{new_uid}' already exists")
            rule = self._validate_rule(payload, new_uid)
            rule["id"] = next(st.ids)
            st.group_intervals.setdefault((rule["folderUID"], rule["ruleGroup"]), 60)
            st.rules[new_uid] = rule
            st.provenance[("rule", new_uid)] = prov
            return 201, self._rule_view(rule)
        if method == "DELETE" and uid is not None and uid not in st.rules:
            # api_provisioning.go RouteDeleteAlertRule: DeleteAlertRule finds no stored provenance
            # and deletes nothing without an error, so a missing rule is 204 like a deleted one
            return 204, None
        if uid is None or uid not in st.rules:
            raise ApiError(404, "rule not found")
        if method == "GET":
            return 200, self._rule_view(st.rules[uid])
        if method == "PUT":
            self._check_rule_provenance(uid, prov, "update")
            rule = self._validate_rule(payload, uid)
            rule["id"] = st.rules[uid]["id"]
            st.group_intervals.setdefault((rule["folderUID"], rule["ruleGroup"]), 60)
            st.rules[uid] = rule
            st.provenance[("rule", uid)] = prov
            return 200, self._rule_view(rule)
        if method == "DELETE":
            self._check_rule_provenance(uid, prov, "delete")
            gone = st.rules.pop(uid)
            st.provenance.pop(("rule", uid), None)
            if not any(r["folderUID"] == gone["folderUID"] and r["ruleGroup"] == gone["ruleGroup"] for r in st.rules.values()):
                st.group_intervals.pop((gone["folderUID"], gone["ruleGroup"]), None)
            return 204, None
        raise ApiError(405, "Method not allowed")

    def _rule_group(self, method: str, folder_uid: str, group: str, payload: Any, prov: str) -> tuple[int, Any]:
        """GET/PUT a whole rule group: its evaluation interval and its rules (PUT replaces them)."""
        st = self.state
        members = [r for r in st.rules.values() if r["folderUID"] == folder_uid and r["ruleGroup"] == group]
        if method == "GET":
            if not members:
                raise ApiError(404, "rule group does not exist")
            return 200, {"title": group, "folderUid": folder_uid, "interval": st.group_intervals[(folder_uid, group)],
                         "rules": [self._rule_view(r) for r in members]}
        if method != "PUT":
            raise ApiError(405, "Method not allowed")
        if folder_uid not in st.folders:
            raise ApiError(400, f"invalid alert rule: folder '{folder_uid}' does not exist")
        if not isinstance(payload, dict) or not isinstance(payload.get("rules"), list):
            raise ApiError(400, "bad request data")
        interval = payload.get("interval")
        if not isinstance(interval, int) or isinstance(interval, bool) or interval <= 0 or interval % 10:
            raise ApiError(400, "invalid rule group: interval must be a positive multiple of the base interval 10s")
        validated = []
        for body in payload["rules"]:
            uid = (body or {}).get("uid") or f"r{next(st.ids):08d}"
            if uid in st.rules:
                self._check_provenance("rule", uid, prov)
            rule = self._validate_rule({**body, "folderUID": folder_uid, "ruleGroup": group}, uid)
            rule["id"] = st.rules[uid]["id"] if uid in st.rules else next(st.ids)
            validated.append(rule)
        keep = {r["uid"] for r in validated}
        for old in members:
            if old["uid"] not in keep:
                self._check_provenance("rule", old["uid"], prov)
        for old in members:
            if old["uid"] not in keep:
                del st.rules[old["uid"]]
                st.provenance.pop(("rule", old["uid"]), None)
        for rule in validated:
            st.rules[rule["uid"]] = rule
            st.provenance[("rule", rule["uid"])] = prov
        st.group_intervals[(folder_uid, group)] = interval
        return 200, {"title": group, "folderUid": folder_uid, "interval": interval,
                     "rules": [self._rule_view(r) for r in validated]}

