"""Test set-up: a real embedded PostgreSQL (staging + Airflow metadata), Airflow configured in a temp home,
and the Qualys simulator over real HTTP. Environment variables are set before anything imports Airflow.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
_TMP = Path(tempfile.mkdtemp(prefix="qcmdb-tests-"))

os.environ["QUALYS_CMDB_HOME"] = str(_TMP / "home")
os.environ["AIRFLOW_HOME"] = str(_TMP / "airflow")
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(REPO / "dags")
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__CORE__UNIT_TEST_MODE"] = "False"
os.environ["AIRFLOW__LOGGING__LOGGING_LEVEL"] = "WARNING"
(_TMP / "home").mkdir(parents=True)

from qualys_cmdb.staging.database import embedded_url, stop_embedded  # noqa: E402  (after the env is set)

_AIRFLOW_URL = embedded_url("airflow")
_STAGING_URL = embedded_url("qualys_cmdb")
os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = _AIRFLOW_URL.render_as_string(hide_password=False)
os.environ["AIRFLOW_CONN_QUALYS_CMDB_STAGING"] = json.dumps(
    {"conn_type": "postgres", "host": _STAGING_URL.query["host"], "login": "postgres", "schema": "qualys_cmdb"}
)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Close pooled connections, then stop the embedded PostgreSQL this session started."""
    from qualys_cmdb.staging import database

    for engine in database._engines.values():
        engine.dispose()
    with contextlib.suppress(Exception):  # Airflow may never have been set up in this session
        from airflow import settings

        settings.dispose_orm()
    stop_embedded()
    shutil.rmtree(_TMP, ignore_errors=True)


@pytest.fixture(scope="session")
def airflow_db() -> None:
    """Airflow's metadata database, migrated once per session."""
    subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], check=True, capture_output=True)


@pytest.fixture(scope="session")
def engine():  # type: ignore[no-untyped-def]
    """The staging database, migrated to head."""
    from qualys_cmdb.staging.database import get_engine
    from qualys_cmdb.staging.migrate import upgrade

    eng = get_engine()
    upgrade(eng)
    return eng


@pytest.fixture
def staging(engine):  # type: ignore[no-untyped-def]
    """An empty staging database for one test."""
    from qualys_cmdb.staging.schema import metadata
    from sqlalchemy import text

    names = ", ".join(f'"{t.schema}"."{t.name}"' for t in metadata.sorted_tables)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY"))
    return engine


class SimHandle:
    """A running Qualys simulator and the Airflow connection that points at it."""

    def __init__(self, sim, conn_id: str) -> None:  # type: ignore[no-untyped-def]
        self.sim = sim
        self.url: str = sim.url
        self.conn_id = conn_id

    def control(self, path: str, method: str = "POST", **body: object) -> dict:  # type: ignore[type-arg]
        import requests

        response = requests.request(method, f"{self.url}/sim/control/{path}", json=body or None, timeout=30)
        response.raise_for_status()
        return response.json() if response.content else {}

    def estate(self) -> dict:  # type: ignore[type-arg]
        return self.control("estate", method="GET")


def start_sim(monkeypatch: pytest.MonkeyPatch, assets: int, seed: int = 7, conn_id: str = "qualys_test", **kw: object):  # type: ignore[no-untyped-def]
    from simulators.qualys.server import QualysSimulator

    sim = QualysSimulator(
        host="127.0.0.1", port=0, assets=assets, seed=seed, username="qualys_test", password="sim-Passw0rd", **kw
    ).start()
    monkeypatch.setenv(
        f"AIRFLOW_CONN_{conn_id.upper()}",
        json.dumps(
            {
                "conn_type": "qualys",
                "host": sim.url,
                "login": "qualys_test",
                "password": "sim-Passw0rd",
                "extra": {"gateway_url": sim.url},
            }
        ),
    )
    return SimHandle(sim, conn_id)


@pytest.fixture
def qualys_sim(monkeypatch: pytest.MonkeyPatch) -> Iterator[SimHandle]:
    """A Qualys simulator of 40 assets (seed 7) on 127.0.0.1, stopped after the test."""
    handle = start_sim(monkeypatch, assets=40)
    yield handle
    handle.sim.stop()


def write_config(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    *,
    api: str = "csam",
    batch: int = 10,
    schedule_extra: str = "",
    conn_id: str = "qualys_test",
) -> Path:
    """A configuration with one source and one schedule named ``t``; set as $QUALYS_CMDB_CONFIG."""
    path = tmp_path / "qualys_cmdb.yaml"
    path.write_text(
        f"""
sources:
  - name: sim
    api: {api}
    pod: US1
    connection_id: {conn_id}
schedules:
  - name: t
    source: sim
    interval: 1h
    download_assets_since: 2000-01-01T00:00:00Z
    approval_wait_minutes: 0
{schedule_extra}
properties:
  download_batch_size: {batch}
  download_processors: 2
"""
    )
    monkeypatch.setenv("QUALYS_CMDB_CONFIG", str(path))
    return path


@pytest.fixture
def cmdb(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """A ServiceNow simulator on 127.0.0.1, reachable as the Airflow connection ``servicenow_default``."""
    from simulators.servicenow.server import ServiceNowSimulator

    sim = ServiceNowSimulator(host="127.0.0.1", port=0).start()
    monkeypatch.setenv(
        "AIRFLOW_CONN_SERVICENOW_DEFAULT",
        json.dumps({"conn_type": "servicenow", "host": sim.url, "login": "sn_integration", "password": "sn-Passw0rd"}),
    )
    yield sim
    sim.stop()
