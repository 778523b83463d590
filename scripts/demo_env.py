"""The demo's environment, shared by `make demo` (scripts/demo.py) and `make ui` (scripts/ui.py).

The embedded PostgreSQL under .qcmdb/ (Airflow metadata database ``airflow`` + staging database ``qualys_cmdb``),
Airflow configured with ``AIRFLOW_HOME=.qcmdb/airflow``, the DAG folder ``dags/`` and the shipped configuration, and
the Qualys and ServiceNow simulators on 127.0.0.1 reachable as the Airflow connections ``qualys_demo`` and
``servicenow_demo``.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
HOME = Path(os.environ.get("QUALYS_CMDB_HOME") or REPO / ".qcmdb").resolve()
ASSETS = int(os.environ.get("DEMO_ASSETS", "500"))
SIM_USER, SIM_PASSWORD = "qualys_demo", "demo-Passw0rd"  # the simulators' own demo accounts, not real secrets
SN_USER, SN_PASSWORD = "sn_integration", "sn-Passw0rd"


def run(cmd: list[str], env: dict[str, str], quiet: bool = False) -> subprocess.CompletedProcess[str]:
    """Run a command, echoed first; exit with its output when it fails."""
    print(f"$ {' '.join(cmd)}", flush=True)
    result = subprocess.run(cmd, env=env, text=True, capture_output=quiet)
    if result.returncode != 0:
        if quiet:
            print(result.stdout[-4000:], result.stderr[-4000:], sep="\n")
        raise SystemExit(f"{Path(sys.argv[0]).stem} failed: {' '.join(cmd)} exited {result.returncode}")
    return result


def airflow_env() -> dict[str, str]:
    """The environment of every Airflow and qcmdb command: starts the embedded PostgreSQL if needed."""
    HOME.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, QUALYS_CMDB_HOME=str(HOME))
    sys.path.insert(0, str(REPO / "plugins"))
    from qualys_cmdb.staging.database import embedded_url

    airflow_url = embedded_url("airflow").render_as_string(hide_password=False)
    embedded_url("qualys_cmdb")
    env.update(
        AIRFLOW_HOME=str(HOME / "airflow"),
        AIRFLOW__CORE__DAGS_FOLDER=str(REPO / "dags"),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=airflow_url,
        AIRFLOW__LOGGING__LOGGING_LEVEL="WARNING",
        QUALYS_CMDB_CONFIG=str(REPO / "include/config/qualys_cmdb.yaml"),
        PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
    )
    return env


def start(cmd: list[str], env: dict[str, str], new_session: bool = False) -> tuple[subprocess.Popen[str], str]:
    """Start a simulator; returns the process and the URL it printed on its first line.

    ``new_session``: in a process group of its own (stopped with ``os.killpg``, not by the terminal's Ctrl-C).
    """
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, text=True, start_new_session=new_session)
    line = proc.stdout.readline() if proc.stdout else ""
    if "http://" not in line:
        proc.terminate()
        raise SystemExit(f"a simulator did not start: {line!r}")
    return proc, line.strip().rsplit(" ", 1)[-1]


def start_simulators(
    env: dict[str, str], procs: list[subprocess.Popen[str]], new_session: bool = False
) -> tuple[str, str]:
    """Start the Qualys and ServiceNow simulators (appended to ``procs`` as they start, so that the caller stops
    them whatever happens) and point the connections ``qualys_demo`` and ``servicenow_demo`` in ``env`` at them.

    Returns the two simulators' URLs (Qualys, ServiceNow).
    """
    qualys, url = start(
        [
            str(BIN / "qcmdb"),
            "sim",
            "qualys",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--assets",
            str(ASSETS),
            "--seed",
            "1",
            "--user",
            SIM_USER,
            "--password",
            SIM_PASSWORD,
        ],
        env,
        new_session,
    )
    procs.append(qualys)
    cmdb, cmdb_url = start(
        [
            str(BIN / "qcmdb"),
            "sim",
            "servicenow",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--data",
            str(HOME / "servicenow.sqlite3"),
            "--user",
            SN_USER,
            "--password",
            SN_PASSWORD,
        ],
        env,
        new_session,
    )
    procs.append(cmdb)
    print(
        f"Qualys simulator ({ASSETS} assets) at {url}; ServiceNow simulator at {cmdb_url} "
        f"(its CMDB is kept in {HOME / 'servicenow.sqlite3'})"
    )
    env["AIRFLOW_CONN_QUALYS_DEMO"] = json.dumps(
        {
            "conn_type": "qualys",
            "host": url,
            "login": SIM_USER,
            "password": SIM_PASSWORD,
            "extra": {"gateway_url": url},
        }
    )
    env["AIRFLOW_CONN_SERVICENOW_DEMO"] = json.dumps(
        {"conn_type": "servicenow", "host": cmdb_url, "login": SN_USER, "password": SN_PASSWORD}
    )
    return url, cmdb_url


def stop_process_groups(procs: Iterable[subprocess.Popen[Any]], grace_s: float = 30) -> None:
    """SIGTERM to each process's group, then SIGKILL to what is left of the groups (LocalExecutor workers)."""
    procs = list(procs)
    for proc in procs:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    for proc in procs:
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=10)
