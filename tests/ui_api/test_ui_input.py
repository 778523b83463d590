"""Input the database cannot take: a NUL character (U+0000) in a query parameter, a form field or a path parameter gets
a clear 400, as an error page or as JSON like every other error of the app, never a 500 from PostgreSQL. Through
Airflow's real API server app (in-process TestClient, real auth manager, real staging Postgres)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import write_config

PASSWORDS = {"admin": "admin-pw"}


@pytest.fixture
def ui(airflow_db: None, staging: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Airflow's API server app with the plugin, one admin, an empty staging database and one configured schedule."""
    passwords = tmp_path / "passwords.json"
    passwords.write_text(json.dumps(PASSWORDS))
    monkeypatch.setenv("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS", "admin:admin")
    monkeypatch.setenv("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE", str(passwords))
    monkeypatch.setenv("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS", "False")
    write_config(tmp_path, monkeypatch)
    from airflow.api_fastapi.app import create_app
    from fastapi.testclient import TestClient

    client = TestClient(create_app())
    response = client.post("/auth/token", json={"username": "admin", "password": PASSWORDS["admin"]})
    assert response.status_code in (200, 201), response.text
    client.headers["Authorization"] = f"Bearer {response.json()['access_token']}"
    return client


HTML = {"Accept": "text/html"}


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/log", {"search": "adm\0in"}),
        ("/assets", {"os_name": "Windows\0"}),
        ("/software", {"search": "\0"}),
        ("/queue", {"run": "manual__\0"}),
        ("/approvals", {"schedule": "t", "tag": "x\0y"}),
        ("/log", {"se\0arch": "x"}),  # in a name too
    ],
)
def test_a_nul_in_a_filter_of_a_page_is_a_400_error_page(ui: Any, path: str, params: dict[str, str]) -> None:
    clean = {k.replace("\0", ""): v.replace("\0", "") for k, v in params.items()}
    assert ui.get(f"/qualys-cmdb{path}", params=clean, headers=HTML).status_code == 200
    response = ui.get(f"/qualys-cmdb{path}", params=params, headers=HTML)
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("text/html")
    assert "<h1>400</h1>" in response.text
    shown = next(k for k, v in params.items() if "\0" in k + v).replace("\0", "\\u0000")
    assert f"the query parameter &#39;{shown}&#39; holds a NUL character" in response.text


def test_a_nul_in_a_parameter_of_a_json_endpoint_is_a_400_json_error(ui: Any) -> None:
    assert ui.get("/qualys-cmdb/api/reports", params={"source": "sim"}).status_code == 200
    response = ui.get("/qualys-cmdb/api/reports", params={"source": "s\0m"})
    assert response.status_code == 400
    assert "NUL character" in response.json()["detail"] and "source" in response.json()["detail"]


def test_a_nul_in_a_form_field_or_a_path_parameter_is_a_400(ui: Any) -> None:
    page = ui.get("/qualys-cmdb/approvals").text
    token = re.search(r'name="csrf_token" value="([0-9a-f]+)"', page).group(1)  # type: ignore[union-attr]
    form = {"csrf_token": token, "columns": ["name", "os"], "back": "/approvals"}
    saved = ui.post("/qualys-cmdb/approvals/columns", data=form, follow_redirects=False)
    assert saved.status_code == 303
    for field, value in (("back", "/approvals\0"), ("columns", ["name", "o\0s"])):
        refused = ui.post("/qualys-cmdb/approvals/columns", data={**form, field: value}, follow_redirects=False)
        assert refused.status_code == 400 and f"form field '{field}'" in refused.json()["detail"], refused.text
    overview = ui.post("/qualys-cmdb/overview/preferences", data={"csrf_token": token, "show": "pending\0"})
    assert overview.status_code == 400  # an endpoint that reads its form itself
    path = ui.post("/qualys-cmdb/sources/si%00m/test", data={"csrf_token": token}, follow_redirects=False)
    assert path.status_code == 400 and "path parameter 'name'" in path.json()["detail"]


def test_a_nul_does_not_get_past_authentication(ui: Any) -> None:
    anonymous = ui.get("/qualys-cmdb/log", params={"search": "\0"}, headers={"Authorization": ""})
    assert anonymous.status_code == 401
