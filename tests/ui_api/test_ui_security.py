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


def test_overview_and_columns_are_remembered_per_user(ui: Any) -> None:
    token = _csrf(ui, "admin")
    saved = ui.post(
        "/qualys-cmdb/overview/preferences",
        data={
            "csrf_token": token,
            "show": ["tag_distribution", "pending", "os_distribution"],
            "order_tag_distribution": "3",
            "order_pending": "1",
            "order_os_distribution": "2",
            "refresh": "60",
        },
        headers=_auth(ui, "admin"),
        follow_redirects=False,
    )
    assert saved.status_code == 303
    page = ui.get("/qualys-cmdb/", headers=_auth(ui, "admin")).text
    shown = re.findall(r'id="report-([a-z_]+)"', page)
    assert shown == ["pending", "os_distribution", "tag_distribution"]
    assert '<meta http-equiv="refresh" content="60">' in page
    # another user keeps the default: every report, no refresh
    other = ui.get("/qualys-cmdb/", headers=_auth(ui, "viewer")).text
    assert len(re.findall(r'id="report-', other)) == 17 and 'http-equiv="refresh"' not in other

    ui.post(
        "/qualys-cmdb/approvals/columns",
        data={"csrf_token": token, "columns": ["name", "mac_address", "preview_sys_id"]},
        headers=_auth(ui, "admin"),
    )
    approvals = ui.get("/qualys-cmdb/approvals", headers=_auth(ui, "admin")).text
    headings = re.findall(r"<th>([^<]+)</th>", approvals.split("<tbody>")[0])
    assert headings[:3] == ["Name", "MAC address", "Matched CI"]


def test_report_numbers_agree_with_the_lists_they_link_to(ui: Any) -> None:
    reports = ui.get("/qualys-cmdb/api/reports", headers=_auth(ui, "viewer")).json()
    assert len(reports) == 17
    assert reports["pending"]["total"] > 0
    for report_id in ("pending", "asset_categories", "os_distribution", "tag_distribution"):
        for bar in reports[report_id]["rows"][:3]:
            listing = ui.get(bar["href"], headers=_auth(ui, "viewer")).text
            heading = re.search(r"<h1>.*?</h1>", listing, re.S)
            assert heading, listing[:300]
            shown = int(
                re.sub(r"[^\d]", "", re.search(r'<span class="muted"[^>]*>([\d,]+)', heading.group(0)).group(1))
            )  # type: ignore[union-attr]
            assert shown == bar["value"], (report_id, bar)
