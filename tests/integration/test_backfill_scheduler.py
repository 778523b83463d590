"""`airflow backfill create` with a real scheduler: each backfill run re-syncs exactly its own past window (QS-2).

Starts Airflow's api-server (execution API), dag-processor and scheduler (LocalExecutor) as subprocesses bound to
127.0.0.1, with the same metadata database, staging connection and simulator as the other tests; stops them after.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import pytest
import requests
from qualys_cmdb.staging.schema import sync_run
from sqlalchemy import select

from tests.conftest import SimHandle, write_config

DAG_ID = "qualys_to_cmdb__monthly"  # a DAG id of its own: other tests leave "t" serialized with other intervals


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _airflow(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "airflow", *args], env=env, capture_output=True, text=True, timeout=120
    )


@pytest.fixture
def monthly_config(qualys_sim: SimHandle, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A schedule with 30-day intervals (the simulator's assets were last modified during 2025)."""
    path = write_config(tmp_path, monkeypatch, batch=50)
    path.write_text(
        path.read_text().replace("interval: 1h", "interval: 30d").replace("- name: t\n", "- name: monthly\n")
    )
    return path


@pytest.fixture
def airflow_services(airflow_db: None, monthly_config: Path, tmp_path: Path):  # type: ignore[no-untyped-def]
    """api-server, dag-processor and scheduler, started with the test's environment (config, connections)."""
    port = _free_port()
    env = dict(
        os.environ,
        AIRFLOW__CORE__EXECUTOR="LocalExecutor",
        AIRFLOW__CORE__PARALLELISM="2",
        AIRFLOW__API__HOST="127.0.0.1",
        AIRFLOW__API__PORT=str(port),
        AIRFLOW__API__BASE_URL=f"http://127.0.0.1:{port}",
        AIRFLOW__CORE__EXECUTION_API_SERVER_URL=f"http://127.0.0.1:{port}/execution/",
        AIRFLOW__API_AUTH__JWT_SECRET="test-only-jwt-secret-for-this-session",
        AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL="2",
        AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC="1",
        AIRFLOW__LOGGING__BASE_LOG_FOLDER=str(tmp_path / "logs"),
    )
    logs = tmp_path / "service-logs"
    logs.mkdir()
    commands = {
        "api-server": ["api-server", "-H", "127.0.0.1", "-p", str(port), "--workers", "1"],
        "dag-processor": ["dag-processor"],
        "scheduler": ["scheduler", "--skip-serve-logs"],
    }
    procs = {
        name: subprocess.Popen(
            [sys.executable, "-m", "airflow", *cmd],
            env=env,
            stdout=(logs / f"{name}.log").open("w"),
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: its executor workers are stopped with it
        )
        for name, cmd in commands.items()
    }
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            try:
                if requests.get(f"http://127.0.0.1:{port}/api/v2/monitor/health", timeout=2).ok:
                    break
            except requests.ConnectionError:
                pass
            time.sleep(1)
        else:
            pytest.fail("the Airflow api-server did not start: " + (logs / "api-server.log").read_text()[-3000:])
        yield env, logs
    finally:
        for proc in procs.values():
            os.killpg(proc.pid, signal.SIGTERM)
        for proc in procs.values():
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
            with contextlib.suppress(ProcessLookupError):  # leftovers of the group (LocalExecutor workers)
                os.killpg(proc.pid, signal.SIGKILL)


def test_backfill_runs_resync_exactly_their_past_windows(staging, qualys_sim: SimHandle, airflow_services) -> None:  # type: ignore[no-untyped-def]
    env, logs = airflow_services
    deadline = time.monotonic() + 180
    while _airflow("dags", "details", DAG_ID, env=env).returncode != 0:
        assert time.monotonic() < deadline, (logs / "dag-processor.log").read_text()[-3000:]
        time.sleep(2)
    assert _airflow("dags", "unpause", DAG_ID, env=env).returncode == 0  # the scheduler leaves paused DAGs alone
    created = _airflow(
        "backfill", "create", "--dag-id", DAG_ID, "--from-date", "2025-06-01", "--to-date", "2025-08-01", env=env
    )
    assert created.returncode == 0, created.stderr[-3000:]

    deadline = time.monotonic() + 300
    while True:
        with staging.connect() as conn:
            runs = conn.execute(select(sync_run).where(sync_run.c.run_id.like("backfill__%"))).mappings().all()
        done = [r for r in runs if r["status"].startswith("complete")]
        if runs and len(done) == len(runs) and len(runs) >= 2:
            break
        if time.monotonic() > deadline:
            runs_listed = _airflow("dags", "list-runs", DAG_ID, env=env).stdout
            pytest.fail(f"backfill runs did not finish: {runs_listed}\n" + (logs / "scheduler.log").read_text()[-6000:])
        time.sleep(3)

    estate = qualys_sim.estate()["assets"]
    total = 0
    for run in runs:
        (window,) = run["windows"]
        since, until = datetime.fromisoformat(window["since"]), datetime.fromisoformat(window["until"])
        expected = [
            a for a in estate if since < datetime.fromisoformat(a["lastModifiedDate"].replace("Z", "+00:00")) <= until
        ]
        assert window["mainline"] is False
        assert run["assets_fetched"] == len(expected), (run["run_id"], since, until)
        total += len(expected)
    assert total > 0  # the windows did hold modified assets: the check above is not vacuous
