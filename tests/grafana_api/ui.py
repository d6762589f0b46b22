"""UI-style edits: what a person does in Grafana's UI, as the requests the UI sends.

Grafana's dashboard editor loads ``GET /api/dashboards/uid/:uid`` and saves with ``POST
/api/dashboards/db`` as the signed-in user: the model it loaded (its ``id`` and ``version``,
so a concurrent save is a 412), the folder it is in, ``overwrite: false`` and the message typed
in the save dialog (grafana/grafana public/app/features/dashboard/components/SaveDashboard/
useDashboardSave.tsx: the folder from ``dashboard.meta.folderUid``, then
app/features/manage-dashboards/state/actions ``saveDashboard`` → ``POST /api/dashboards/db``).
Variable values the person looked at are not saved unless "Save current variable values as
dashboard default" is ticked (forms/SaveDashboardForm.tsx), so ``current`` stays as loaded.
The frontend's schema migration on load (DashboardMigrator) is not imitated here.
"""

from __future__ import annotations

import base64
import json
import ssl
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

from tests.grafana_api.common import ApiError, ServerBase, _now


def find_panel(model: dict[str, Any], title: str) -> dict[str, Any]:
    """The panel titled ``title`` (also inside collapsed rows); KeyError if there is none."""
    for panel in model.get("panels") or []:
        if panel.get("title") == title:
            return panel
        for inner in panel.get("panels") or []:
            if inner.get("title") == title:
                return inner
    raise KeyError(f"no panel titled {title!r}")


class UIMixin(ServerBase):
    """``ui_edit_dashboard`` (over HTTP, as a user or service account) and ``ui_edit_rule``."""

    url: str
    users: dict[str, tuple[str, str]]
    _lock: Any

    def ui_request(self, method: str, path: str, body: Any = None, *, login: str = "oncall",
                   token: str | None = None) -> Any:
        """One request as the UI would send it, signed in as ``login`` (or with ``token``)."""
        if token is not None:
            auth = f"Bearer {token}"
        else:
            auth = "Basic " + base64.b64encode(f"{login}:{self.users[login][0]}".encode()).decode()
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(f"{self.url}{path}", data=data, method=method, headers={
            "Authorization": auth, "Content-Type": "application/json", "Accept": "application/json"})
        context = ssl._create_unverified_context() if self.url.startswith("https") else None
        try:
            with urllib.request.urlopen(request, timeout=5, context=context) as response:
                text = response.read()
        except urllib.error.HTTPError as exc:
            answer = json.loads(exc.read() or b"{}")
            raise ApiError(exc.code, str(answer.get("message")), **{k: v for k, v in answer.items() if k != "message"}) from None
        return json.loads(text) if text else None

    def ui_edit_dashboard(self, uid: str, edit: Callable[[dict[str, Any]], object], *, login: str = "oncall",
                          token: str | None = None, message: str = "edited in the UI") -> int:
        """Load the dashboard, let ``edit`` change the model in place, save it like the UI does.

        Returns the new version. ``login`` (a user of ``users``) or ``token`` (a service
        account) is who Grafana records as ``updatedBy`` and in the version history.
        """
        loaded = self.ui_request("GET", f"/api/dashboards/uid/{uid}", login=login, token=token)
        model = loaded["dashboard"]
        edit(model)
        saved = self.ui_request("POST", "/api/dashboards/db", {
            "dashboard": model, "folderUid": loaded["meta"].get("folderUid") or "", "overwrite": False,
            "message": message,
        }, login=login, token=token)
        return int(saved["version"])

    def ui_edit_rule(self, uid: str, **changes: Any) -> None:
        """What Grafana's UI (ruler API) allows: editing a rule only if it has no provenance."""
        with self._lock:
            prov = self.state.provenance.get(("rule", uid), "")
            if prov:
                raise ApiError(400, f"cannot edit a provisioned rule (provenance '{prov}') from the UI")
            self.state.rules[uid].update(changes, updated=_now())
