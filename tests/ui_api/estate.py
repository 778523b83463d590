"""The set-up the UI API test modules share: a clean staging database, the two simulators, Airflow users, and one
run of schedule ``t`` whose assets wait for approval; then a client of Airflow's API server app logged in as each
user."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from tests.conftest import REPO, SimHandle, start_sim, write_config

SN_AUTH = ("sn_integration", "sn-Passw0rd")


@dataclass
class WaitingRun:
    """What :func:`waiting_run` started: the simulators and the DAG run."""

    qualys: SimHandle
    cmdb: Any
    run: Any


@contextmanager
def waiting_run(engine: Any, tmp_path: Path, passwords: dict[str, str]) -> Iterator[WaitingRun]:
    """Empty staging, start both simulators (stopped on exit), define the CMDB connection ``servicenow_default``
    and the users of ``passwords`` (admin is admin, viewer is viewer, any other is a user), and run schedule ``t``
    once without auto-approval."""
    from airflow.dag_processing.dagbag import DagBag
    from qualys_cmdb.staging.schema import metadata

    from simulators.servicenow.server import ServiceNowSimulator

    names = ", ".join(f'"{t.schema}"."{t.name}"' for t in metadata.sorted_tables)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY"))
    roles = {"admin": "admin", "viewer": "viewer"}
    with pytest.MonkeyPatch.context() as mp:
        qualys = start_sim(mp, assets=40)
        cmdb = ServiceNowSimulator(host="127.0.0.1", port=0).start()
        try:
            mp.setenv(
                "AIRFLOW_CONN_SERVICENOW_DEFAULT",
                json.dumps({"conn_type": "servicenow", "host": cmdb.url, "login": SN_AUTH[0], "password": SN_AUTH[1]}),
            )
            password_file = tmp_path / "passwords.json"
            password_file.write_text(json.dumps(passwords))
            users = ",".join(f"{u}:{roles.get(u, 'user')}" for u in passwords)
            mp.setenv("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS", users)
            mp.setenv("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE", str(password_file))
            mp.setenv("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS", "False")
            write_config(tmp_path, mp, schedule_extra="    auto_approve: false")
            path = tmp_path / "qualys_cmdb.yaml"
            path.write_text(path.read_text() + "  cmdb_connection_id: servicenow_default\n")
            run = (
                DagBag(dag_folder=str(REPO / "dags"))
                .get_dag("qualys_to_cmdb__t")
                .test(logical_date=datetime(2026, 1, 1, tzinfo=UTC))
            )
            yield WaitingRun(qualys, cmdb, run)
        finally:
            qualys.sim.stop()
            cmdb.stop()


def logged_in_client(passwords: dict[str, str]) -> Any:
    """A test client of Airflow's API server app (the plugin mounted) with a token per user in ``client.tokens``."""
    from airflow.api_fastapi.app import create_app
    from fastapi.testclient import TestClient

    client = TestClient(create_app())
    client.tokens = {}  # type: ignore[attr-defined]
    for user, password in passwords.items():
        response = client.post("/auth/token", json={"username": user, "password": password})
        assert response.status_code in (200, 201), response.text
        client.tokens[user] = response.json()["access_token"]  # type: ignore[attr-defined]
    return client
