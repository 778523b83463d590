"""The plugin's pages and endpoints through Airflow's real API server app (in-process TestClient, real auth manager,
real staging Postgres, a real DAG run for the data): who may see and change what."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from tests.conftest import REPO, SimHandle, write_config

PASSWORDS = {"admin": "admin-pw", "viewer": "viewer-pw", "runner": "runner-pw"}
PAGES = ["/", "/approvals", "/failed", "/assets", "/software", "/queue", "/uploads", "/log", "/sources"]


@pytest.fixture
def ui(
    airflow_db: None,
    staging: Any,
    qualys_sim: SimHandle,
    cmdb: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Any:
    """Airflow's API server app with the plugin, users admin / viewer / runner (role user), and one DAG run whose
    assets wait for approval."""
    passwords = tmp_path / "passwords.json"
    passwords.write_text(json.dumps(PASSWORDS))
    monkeypatch.setenv("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS", "admin:admin,viewer:viewer,runner:user")
    monkeypatch.setenv("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE", str(passwords))
    monkeypatch.setenv("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS", "False")
    write_config(tmp_path, monkeypatch, schedule_extra="    auto_approve: false")
    path = tmp_path / "qualys_cmdb.yaml"
    path.write_text(path.read_text() + "  cmdb_connection_id: servicenow_default\n")
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(REPO / "dags"))
    bag.get_dag("qualys_to_cmdb__t").test(logical_date=datetime(2026, 1, 1, tzinfo=UTC))
    from airflow.api_fastapi.app import create_app
    from fastapi.testclient import TestClient

    client = TestClient(create_app())
    client.tokens = {}  # type: ignore[attr-defined]
    for user, password in PASSWORDS.items():
        response = client.post("/auth/token", json={"username": user, "password": password})
        assert response.status_code in (200, 201), response.text
        client.tokens[user] = response.json()["access_token"]  # type: ignore[attr-defined]
    return client


def _auth(ui: Any, user: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {ui.tokens[user]}"}


def _csrf(ui: Any, user: str) -> str:
    page = ui.get("/qualys-cmdb/approvals", headers=_auth(ui, user))
    assert page.status_code == 200
    match = re.search(r'name="csrf_token" value="([0-9a-f]+)"', page.text)
    assert match, "every form carries a token"
    return match.group(1)


def _pending(staging: Any) -> list[str]:
    from qualys_cmdb.staging.schema import asset_classification as c

    with staging.connect() as conn:
        rows = conn.execute(select(c.c.source, c.c.asset_id, c.c.schedule).where(c.c.state == "pending")).all()
    return [f"{s}|{a}|{sch}" for s, a, sch in rows]


def test_every_page_needs_an_authenticated_user(ui: Any) -> None:
    for page in PAGES:
        assert ui.get(f"/qualys-cmdb{page}").status_code == 401, page
        assert ui.get(f"/qualys-cmdb{page}", headers={"Authorization": "Bearer not-a-token"}).status_code == 403
        response = ui.get(f"/qualys-cmdb{page}", headers=_auth(ui, "viewer"))
        assert response.status_code == 200, (page, response.text[:500])
    assert ui.get("/qualys-cmdb/api/reports").status_code == 401
    assert ui.post("/qualys-cmdb/approvals/decide", data={"action": "approved:selected"}).status_code == 401
    html = ui.get("/qualys-cmdb/queue", headers={**_auth(ui, "viewer"), "Accept": "text/html"})
    assert "Sync queue" in html.text


def test_a_viewer_may_look_but_not_decide(ui: Any, staging: Any) -> None:
    pending = _pending(staging)
    assert pending, "the DAG run left assets waiting for approval"
    response = ui.post(
        "/qualys-cmdb/approvals/decide",
        data={"action": "approved:selected", "assets": pending[:2], "csrf_token": _csrf(ui, "viewer")},
        headers=_auth(ui, "viewer"),
        follow_redirects=False,
    )
    assert response.status_code == 403
    assert "may not run qualys_to_cmdb__t" in response.text
    assert _pending(staging) == pending


def test_cross_site_and_tokenless_posts_are_refused(ui: Any, staging: Any) -> None:
    pending = _pending(staging)
    form = {"action": "approved:selected", "assets": pending[:1]}
    evil = ui.post(
        "/qualys-cmdb/approvals/decide",
        data={**form, "csrf_token": _csrf(ui, "admin")},
        headers={**_auth(ui, "admin"), "Origin": "https://evil.example"},
        follow_redirects=False,
    )
    assert evil.status_code == 403 and "cross-site" in evil.text
    tokenless = ui.post("/qualys-cmdb/approvals/decide", data=form, headers=_auth(ui, "admin"), follow_redirects=False)
    assert tokenless.status_code == 403
    forged = ui.post(
        "/qualys-cmdb/approvals/decide",
        data={**form, "csrf_token": "0" * 64},
        headers=_auth(ui, "admin"),
        follow_redirects=False,
    )
    assert forged.status_code == 403
    assert _pending(staging) == pending


def test_a_user_allowed_to_run_the_dag_decides_and_it_is_recorded(ui: Any, staging: Any) -> None:
    pending = _pending(staging)
    response = ui.post(
        "/qualys-cmdb/approvals/decide",
        data={"action": "approved:selected", "assets": pending[:3], "csrf_token": _csrf(ui, "runner")},
        headers={**_auth(ui, "runner"), "Origin": "http://testserver"},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    assert "3+asset" in response.headers["location"] or "3%20asset" in response.headers["location"]
    from qualys_cmdb.staging.schema import approval_decision

    with staging.connect() as conn:
        decided = conn.execute(select(approval_decision.c.decided_by, approval_decision.c.decision)).all()
    assert decided == [("runner", "approved")] * 3
    assert len(_pending(staging)) == len(pending) - 3
