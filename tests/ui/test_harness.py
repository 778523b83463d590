"""The browser-test harness itself: Airflow's servers answer, users log in, the DAG list shows the shipped DAGs."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from tests.ui.conftest import SHIPPED_CONFIG, AirflowUI, login, screenshot


@pytest.fixture(scope="module")
def shipped_dag_ids() -> list[str]:
    """The DAG ids the shipped configuration defines (include/config/qualys_cmdb.yaml)."""
    from qualys_cmdb.dag_factory import build_dags

    dag_ids = sorted(build_dags(str(SHIPPED_CONFIG)))
    assert {"qualys_to_cmdb__demo", "cmdb_to_qualys__acquisitions"} <= set(dag_ids)
    return dag_ids


def test_health_and_tokens(airflow_ui: AirflowUI, shipped_dag_ids: list[str]) -> None:
    health = requests.get(f"{airflow_ui.url}/api/v2/monitor/health", timeout=10)
    assert health.ok
    assert {part: value["status"] for part, value in health.json().items()} == {
        "metadatabase": "healthy",
        "scheduler": "healthy",
        "triggerer": "healthy",
        "dag_processor": "healthy",
    }

    viewer = {"Authorization": f"Bearer {airflow_ui.token('viewer')}"}
    assert requests.get(f"{airflow_ui.url}/api/v2/dags", headers=viewer, timeout=30).status_code == 200
    wrong = requests.post(
        f"{airflow_ui.url}/auth/token", json={"username": "viewer", "password": "not-the-password"}, timeout=30
    )
    assert wrong.status_code == 401
    assert requests.get(f"{airflow_ui.url}/api/v2/dags", timeout=30).status_code == 401

    # The roles are the configured ones: a viewer may not pause a DAG, an operator may.
    airflow_ui.wait_for_dags(shipped_dag_ids[0])
    patch = f"{airflow_ui.url}/api/v2/dags/{shipped_dag_ids[0]}"
    assert requests.patch(patch, json={"is_paused": True}, headers=viewer, timeout=30).status_code == 403
    allowed = requests.patch(patch, json={"is_paused": True}, headers=airflow_ui.headers("operator"), timeout=30)
    assert allowed.status_code == 200, allowed.text


def test_admin_logs_in_and_sees_the_shipped_dags(airflow_ui: AirflowUI, page: Any, shipped_dag_ids: list[str]) -> None:
    from playwright.sync_api import expect

    airflow_ui.wait_for_dags(*shipped_dag_ids)
    login(page, airflow_ui, "admin", "/dags")

    assert page.url == f"{airflow_ui.url}/dags"
    for dag_id in shipped_dag_ids:
        expect(page.get_by_role("link", name=dag_id, exact=True)).to_be_visible()
    screenshot(page, "airflow-dag-list")
