"""The alerting provisioning API's contact points (secrets redacted on read) and notification policy tree."""

from __future__ import annotations

import copy
import re
from typing import Any

from tests.grafana_api.common import (
    KNOWN_INTEGRATIONS,
    REDACTED,
    SECURE_FIELDS,
    ApiError,
    GrafanaState,
    ServerBase,
    _uid_error,
    prometheus_duration_seconds,
)


class NotificationsMixin(ServerBase):
    """``/api/v1/provisioning/contact-points`` (+ ``/export``) and ``/api/v1/provisioning/policies``."""

    secrets_readable: bool

    def _contact_view(self, point: dict[str, Any]) -> dict[str, Any]:
        view = copy.deepcopy(point)
        for key in SECURE_FIELDS.get(point["type"], ()):
            if key in view["settings"]:
                view["settings"][key] = REDACTED
        prov = self.state.provenance.get(("contact-point", point["uid"]), "")
        if prov:
            view["provenance"] = prov
        return view

    def _export_contact_points(self, query: dict[str, list[str]]) -> tuple[int, Any]:
        """The file-provisioning export; ``decrypt=true`` (admins only) includes the secrets."""
        decrypt = (query.get("decrypt") or ["false"])[0] == "true"
        if decrypt and not self.secrets_readable:
            raise ApiError(403, "You'll need additional permissions to perform this action. "
                                "Permissions needed: alert.provisioning.secrets:read", title="Access denied")
        if (query.get("format") or ["yaml"])[0] != "json":
            raise ApiError(400, "this test server exports only format=json")
        by_name: dict[str, list[dict[str, Any]]] = {}
        for point in self.state.contact_points.values():
            view = copy.deepcopy(point) if decrypt else self._contact_view(point)
            by_name.setdefault(point["name"], []).append({
                "uid": view["uid"], "type": view["type"], "settings": view["settings"],
                "disableResolveMessage": view["disableResolveMessage"]})
        return 200, {"apiVersion": 1, "contactPoints": [
            {"orgId": 1, "name": name, "receivers": receivers} for name, receivers in by_name.items()]}

    def _validate_contact_point(self, payload: Any, uid: str, stored: dict[str, Any] | None) -> dict[str, Any]:
        if not isinstance(payload, dict):
            raise ApiError(400, "bad request data")
        error = _uid_error(uid, "invalid object specification")
        if error:
            raise error
        name, kind, settings = payload.get("name"), payload.get("type"), payload.get("settings")
        if not isinstance(name, str) or not name.strip():
            raise ApiError(400, "invalid object specification: contact point name must not be empty")
        if kind not in KNOWN_INTEGRATIONS:
            raise ApiError(400, f"invalid object specification: unknown contact point type {kind!r}")
        if not isinstance(settings, dict):
            raise ApiError(400, "invalid object specification: settings must be an object")
        settings = copy.deepcopy(settings)
        for key in SECURE_FIELDS.get(kind, ()):
            if settings.get(key) == REDACTED:  # Grafana keeps the stored secret
                if stored is None or stored["type"] != kind or key not in stored["settings"]:
                    raise ApiError(400, f"invalid object specification: {key} is redacted but nothing is stored")
                settings[key] = stored["settings"][key]
        if kind == "email" and not settings.get("addresses"):
            raise ApiError(400, "invalid object specification: could not find addresses in settings")
        if kind == "slack":
            if not settings.get("url") and not settings.get("token"):
                raise ApiError(400, "invalid object specification: token must be specified when using the Slack chat API")
            if settings.get("url") and not re.match(r"^https?://", settings["url"]):
                # echoes the value, as some Grafana validation errors do: clients must scrub secrets
                raise ApiError(400, f"invalid object specification: invalid URL {settings['url']!r}")
        return {"uid": uid, "name": name, "type": kind, "settings": settings,
                "disableResolveMessage": bool(payload.get("disableResolveMessage", False))}

    def _contact_points(self, method: str, uid: str | None, payload: Any, prov: str,
                        query: dict[str, list[str]]) -> tuple[int, Any]:
        st = self.state
        if method == "GET" and uid is None:
            name = (query.get("name") or [None])[0]
            return 200, [self._contact_view(p) for p in st.contact_points.values() if name is None or p["name"] == name]
        if method == "POST" and uid is None:
            new_uid = (payload or {}).get("uid") or f"c{next(st.ids):08d}"
            if new_uid in st.contact_points:
                raise ApiError(409, f"contact point with uid '{new_uid}' already exists")
            point = self._validate_contact_point(payload, new_uid, None)
            st.contact_points[new_uid] = point
            st.provenance[("contact-point", new_uid)] = prov
            return 202, self._contact_view(point)
        if uid is None or uid not in st.contact_points:
            raise ApiError(404, "contact point not found")
        if method == "PUT":
            self._check_provenance("contact-point", uid, prov)
            point = self._validate_contact_point(payload, uid, st.contact_points[uid])
            old_name = st.contact_points[uid]["name"]
            if old_name != point["name"] and self._last_of_name_in_use(uid, old_name):
                raise ApiError(409, f"contact point '{old_name}' is used by a notification policy")
            st.contact_points[uid] = point
            st.provenance[("contact-point", uid)] = prov
            return 202, {"message": "contactpoint updated"}
        if method == "DELETE":
            self._check_provenance("contact-point", uid, prov)
            name = st.contact_points[uid]["name"]
            if self._last_of_name_in_use(uid, name):
                raise ApiError(409, f"contact point '{name}' is used by a notification policy")
            del st.contact_points[uid]
            st.provenance.pop(("contact-point", uid), None)
            return 202, {"message": "contactpoint deleted"}
        raise ApiError(405, "Method not allowed")

    def _receivers_in(self, route: dict[str, Any]) -> set[str]:
        names = {route["receiver"]} if route.get("receiver") else set()
        for child in route.get("routes") or []:
            names |= self._receivers_in(child)
        return names

    def _last_of_name_in_use(self, uid: str, name: str) -> bool:
        others = [p for u, p in self.state.contact_points.items() if u != uid and p["name"] == name]
        return not others and name in self._receivers_in(self.state.policy)

    # ---- notification policies ---------------------------------------------------------

    def _policies(self, method: str, payload: Any, prov: str) -> tuple[int, Any]:
        st = self.state
        if method == "GET":
            view = copy.deepcopy(st.policy)
            stored = st.provenance.get(("policy", "root"), "")
            if stored:
                view["provenance"] = stored
            return 200, view
        if method == "PUT":
            if not isinstance(payload, dict) or not payload.get("receiver"):
                raise ApiError(400, "invalid object specification: root route must specify a default receiver")
            names = {p["name"] for p in st.contact_points.values()}
            for receiver in sorted(self._receivers_in(payload)):
                if receiver not in names:
                    raise ApiError(400, f"invalid object specification: receiver '{receiver}' does not exist")
            for field in ("group_wait", "group_interval", "repeat_interval"):
                if field in payload:
                    try:
                        prometheus_duration_seconds(payload[field])
                    except (ValueError, TypeError):
                        raise ApiError(400, f"invalid object specification: {field}: not a duration") from None
            self._check_provenance("policy", "root", prov)
            st.policy = {k: v for k, v in copy.deepcopy(payload).items() if k != "provenance"}
            st.provenance[("policy", "root")] = prov
            return 202, {"message": "policies updated"}
        if method == "DELETE":
            self._check_provenance("policy", "root", prov)
            st.policy = GrafanaState().policy
            st.provenance.pop(("policy", "root"), None)
            return 202, {"message": "policies resetted"}
        raise ApiError(405, "Method not allowed")

