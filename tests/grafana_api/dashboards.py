"""Folders, dashboards and dashboard version history, kept the way Grafana keeps them.

Every save (the API, a UI save, a restore) goes through ``_store_dashboard``, which mirrors
grafana/grafana pkg/services/dashboards/database/database.go (``saveDashboard`` and
``getExistingDashboardByIDOrUIDForUpdate``): a stale ``version`` without ``overwrite`` is
``ErrDashboardVersionMismatch`` (412, status ``version-mismatch``); with ``overwrite`` the
stored version is taken; a new dashboard gets version 1, an update the stored version + 1;
``created``/``createdBy`` are set once, ``updated``/``updatedBy`` on every save, and each save
adds a ``dashboard_version`` row (``parentVersion``, ``restoredFrom``, ``message``,
``createdBy``, the whole model as ``data``). The history is read through
pkg/api/dashboard.go (``GetDashboardVersions``, ``GetDashboardVersion``,
``RestoreDashboardVersion``).
"""

from __future__ import annotations

import copy
from typing import Any

from tests.grafana_api.common import _UID_RE, ROLES, UID_MAX, ApiError, Identity, ServerBase, _now, _slug, _uid_error

VERSIONS_LIMIT_DEFAULT = 1000  # dashboard_versions docs: "Defaults to 1000 if not set"


class DashboardsMixin(ServerBase):
    """``/api/folders``, ``/api/dashboards/db``, ``/api/dashboards/uid/:uid`` (+ versions, restore)."""

    # ---- folders -----------------------------------------------------------------------

    def _folder_view(self, folder: dict[str, Any]) -> dict[str, Any]:
        return {**folder, "url": f"/dashboards/f/{folder['uid']}/{_slug(folder['title'])}"}

    def _folders(self, method: str, uid: str | None, payload: Any, role: str) -> tuple[int, Any]:
        st = self.state
        if method == "GET" and uid is None:
            return 200, [{"id": f["id"], "uid": f["uid"], "title": f["title"]} for f in st.folders.values()]
        if method == "GET":
            if uid not in st.folders:
                raise ApiError(404, "folder not found", status="not-found")
            return 200, self._folder_view(st.folders[uid])
        self._require(role, "Editor", "folders:create" if method == "POST" else "folders:write")
        if method == "POST" and uid is None:
            if not isinstance(payload, dict):
                raise ApiError(400, "bad request data")
            title = payload.get("title")
            if not isinstance(title, str) or not title.strip():
                raise ApiError(400, "folder title cannot be empty")
            new_uid = payload.get("uid") or f"f{next(st.ids):08d}"
            error = _uid_error(new_uid, "folder")
            if error:
                raise error
            if new_uid in st.folders:
                raise ApiError(409, "a folder with the same uid already exists")
            if any(f["title"] == title for f in st.folders.values()):
                raise ApiError(409, "a folder or dashboard in the general folder with the same name already exists")
            folder = {"id": next(st.ids), "uid": new_uid, "title": title, "version": 1, "created": _now(), "updated": _now()}
            st.folders[new_uid] = folder
            return 200, self._folder_view(folder)
        if uid not in st.folders:
            raise ApiError(404, "folder not found", status="not-found")
        folder = st.folders[uid]
        if method == "PUT":
            if not isinstance(payload, dict):
                raise ApiError(400, "bad request data")
            if not payload.get("overwrite") and payload.get("version") != folder["version"]:
                raise ApiError(412, "the folder has been changed by someone else", status="version-mismatch")
            if payload.get("title"):
                folder.update(title=payload["title"])
            folder.update(version=folder["version"] + 1, updated=_now())
            return 200, self._folder_view(folder)
        if method == "DELETE":
            if any(r["folderUID"] == uid for r in st.rules.values()):
                raise ApiError(400, "folder cannot be deleted: folder contains alert rules")
            for duid in [d for d, v in st.dashboards.items() if v["folderUid"] == uid]:
                del st.dashboards[duid]
                st.dashboard_versions.pop(duid, None)
            del st.folders[uid]
            return 200, {"message": "Folder deleted", "id": folder["id"], "title": folder["title"]}
        raise ApiError(405, "Method not allowed")

    # ---- dashboards --------------------------------------------------------------------

    def _save_dashboard(self, payload: Any, who: Identity) -> tuple[int, Any]:
        """POST /api/dashboards/db (pkg/api/dashboard.go ``PostDashboard``)."""
        if not isinstance(payload, dict) or not isinstance(payload.get("dashboard"), dict):
            raise ApiError(400, "bad request data: dashboard is required")
        return self._store_dashboard(copy.deepcopy(payload["dashboard"]), payload.get("folderUid") or "",
                                     bool(payload.get("overwrite")), str(payload.get("message") or ""), who)

    def _store_dashboard(self, dashboard: dict[str, Any], folder_uid: str, overwrite: bool, message: str,
                         who: Identity, restored_from: int = 0) -> tuple[int, Any]:
        st = self.state
        title = dashboard.get("title")
        if not isinstance(title, str) or not title.strip():
            raise ApiError(400, "Dashboard title cannot be empty", status="empty-name")
        uid = dashboard.get("uid") or f"d{next(st.ids):08d}"
        if not isinstance(uid, str):
            raise ApiError(400, "bad request data: uid must be a string")
        if len(uid) > UID_MAX:
            raise ApiError(400, "uid too long, max 40 characters", status="uid-too-long")
        if not _UID_RE.match(uid):
            raise ApiError(400, "uid contains illegal characters", status="invalid-uid")
        if folder_uid and folder_uid not in st.folders:
            raise ApiError(400, "folder not found", status="folder-not-found")
        existing = st.dashboards.get(uid)
        if existing is not None and not overwrite and dashboard.get("version") != existing["version"]:
            raise ApiError(412, "The dashboard has been changed by someone else", status="version-mismatch")
        for other_uid, other in st.dashboards.items():
            if other_uid != uid and other["folderUid"] == folder_uid and other["dashboard"]["title"] == title and not overwrite:
                raise ApiError(412, "A dashboard with the same name in the folder already exists", status="name-exists")
        parent = existing["version"] if existing else 0
        version = parent + 1
        dash_id = existing["id"] if existing else next(st.ids)
        now = _now()
        dashboard.update(id=dash_id, uid=uid, version=version)
        st.dashboards[uid] = {
            "dashboard": dashboard, "folderUid": folder_uid, "version": version, "id": dash_id,
            "created": existing["created"] if existing else now,
            "createdBy": existing["createdBy"] if existing else who.login,
            "updated": now, "updatedBy": who.login, "message": message,
        }
        st.dashboard_versions.setdefault(uid, []).append({
            "id": next(st.version_ids), "dashboardId": dash_id, "uid": uid, "parentVersion": parent,
            "restoredFrom": restored_from, "version": version, "created": now, "createdBy": who.login,
            "message": message, "data": copy.deepcopy(dashboard),
        })
        return 200, {"id": dash_id, "uid": uid, "url": f"/d/{uid}/{_slug(title)}", "status": "success",
                     "version": version, "slug": _slug(title), "folderUid": folder_uid}

    def _dashboard(self, method: str, uid: str, role: str) -> tuple[int, Any]:
        st = self.state
        if uid not in st.dashboards:
            raise ApiError(404, "Dashboard not found")
        stored = st.dashboards[uid]
        if method == "GET":
            # pkg/api/dashboard.go GetDashboard: meta carries version, created/updated and the
            # logins of createdBy/updatedBy ("Anonymous" for id <= 0, which this server never stores)
            folder = st.folders.get(stored["folderUid"])
            title = stored["dashboard"]["title"]
            return 200, {"dashboard": copy.deepcopy(stored["dashboard"]), "meta": {
                "type": "db", "slug": _slug(title), "url": f"/d/{uid}/{_slug(title)}", "version": stored["version"],
                "folderUid": stored["folderUid"], "folderTitle": folder["title"] if folder else "General",
                "provisioned": False, "created": stored["created"], "createdBy": stored["createdBy"],
                "updated": stored["updated"], "updatedBy": stored["updatedBy"],
                "canSave": ROLES[role] >= 1, "canEdit": ROLES[role] >= 1,
            }}
        if method == "DELETE":
            self._require(role, "Editor", "dashboards:delete")
            del st.dashboards[uid]
            st.dashboard_versions.pop(uid, None)
            return 200, {"title": stored["dashboard"]["title"], "message": "Dashboard deleted", "id": stored["id"]}
        raise ApiError(405, "Method not allowed")

    # ---- versions ----------------------------------------------------------------------

    def _versions(self, uid: str, query: dict[str, list[str]]) -> tuple[int, Any]:
        """GET /api/dashboards/uid/:uid/versions: newest first, ``limit``/``start`` as Grafana reads
        them (``c.QueryInt``: a missing or bad value is 0, and limit 0 means the default 1000)."""
        if uid not in self.state.dashboards:
            raise ApiError(404, "Dashboard not found")
        limit, start = _query_int(query, "limit"), _query_int(query, "start")
        rows = list(reversed(self.state.dashboard_versions.get(uid, [])))
        rows = rows[start:start + (limit if limit > 0 else VERSIONS_LIMIT_DEFAULT)]
        return 200, {"continueToken": "", "versions": [{k: v for k, v in r.items() if k != "data"} for r in rows]}

    def _version(self, uid: str, number: str) -> tuple[int, Any]:
        """GET /api/dashboards/uid/:uid/versions/:id (``:id`` is the version number)."""
        stored = self.state.dashboards.get(uid)
        if stored is None:
            raise ApiError(404, "Dashboard not found")
        try:
            wanted = int(number)
        except ValueError:
            raise ApiError(400, f"strconv.ParseInt: parsing {number!r}: invalid syntax") from None
        for row in self.state.dashboard_versions.get(uid, []):
            if row["version"] == wanted:
                return 200, copy.deepcopy(row)
        # the handler answers a missing version with 500, not 404
        raise ApiError(500, f"Dashboard version {wanted} not found for dashboardId {stored['id']}")

    def _restore(self, uid: str, payload: Any, who: Identity) -> tuple[int, Any]:
        """POST /api/dashboards/uid/:uid/restore ``{"version": N}``: saves version N's model as a
        new version (``restoredFrom`` N, message "Restored from version N"); 400 when identical."""
        self._require(who.role, "Editor", "dashboards:write")
        stored = self.state.dashboards.get(uid)
        if stored is None:
            raise ApiError(404, "Dashboard not found")
        if not isinstance(payload, dict) or not isinstance(payload.get("version"), int):
            raise ApiError(400, "bad request data")
        row = next((r for r in self.state.dashboard_versions.get(uid, []) if r["version"] == payload["version"]), None)
        if row is None:
            raise ApiError(404, "Dashboard version not found")
        ignored = ("id", "uid", "version")
        if {k: v for k, v in row["data"].items() if k not in ignored} == \
                {k: v for k, v in stored["dashboard"].items() if k not in ignored}:
            raise ApiError(400, "Current dashboard is identical to the specified version")
        model = {**copy.deepcopy(row["data"]), "version": stored["version"], "uid": uid}
        return self._store_dashboard(model, stored["folderUid"], False, f"Restored from version {row['version']}",
                                     who, restored_from=row["version"])


def _query_int(query: dict[str, list[str]], name: str) -> int:
    try:
        return max(0, int((query.get(name) or ["0"])[0]))
    except ValueError:
        return 0
