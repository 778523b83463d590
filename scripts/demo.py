"""`make demo`: the main job end to end on the embedded default.

Starts the embedded PostgreSQL (Airflow metadata + staging) and the Qualys simulator, runs the demo schedule's DAG
with `airflow dags test`, prints the summary and writes it to .qcmdb/demo-summary.json. Everything started here is
stopped here (the embedded PostgreSQL keeps running so the result can be queried; `make clean` stops it).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
HOME = Path(os.environ.get("QUALYS_CMDB_HOME") or REPO / ".qcmdb").resolve()
ASSETS = int(os.environ.get("DEMO_ASSETS", "500"))
CHANGED = 5
SIM_USER, SIM_PASSWORD = "qualys_demo", "demo-Passw0rd"  # the simulators' own demo accounts, not real secrets
SN_USER, SN_PASSWORD = "sn_integration", "sn-Passw0rd"


def run(cmd: list[str], env: dict[str, str], quiet: bool = False) -> subprocess.CompletedProcess[str]:
    print(f"$ {' '.join(cmd)}", flush=True)
    result = subprocess.run(cmd, env=env, text=True, capture_output=quiet)
    if result.returncode != 0:
        if quiet:
            print(result.stdout[-4000:], result.stderr[-4000:], sep="\n")
        raise SystemExit(f"demo failed: {' '.join(cmd)} exited {result.returncode}")
    return result


def _post_json(url: str, body: dict[str, object]) -> dict[str, Any]:
    request = urllib.request.Request(  # noqa: S310 - http://127.0.0.1, the local simulator
        url, data=json.dumps(body).encode(), method="POST", headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - the local simulator
        return dict(json.loads(response.read()))


def start(cmd: list[str], env: dict[str, str]) -> tuple[subprocess.Popen[str], str]:
    """Start a simulator; returns the process and the URL it printed on its first line."""
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline() if proc.stdout else ""
    if "http://" not in line:
        proc.terminate()
        raise SystemExit(f"a simulator did not start: {line!r}")
    return proc, line.strip().rsplit(" ", 1)[-1]


def main() -> int:
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
    sims = []
    try:
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
        )
        sims.append(qualys)
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
        )
        sims.append(cmdb)
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
        run([str(BIN / "airflow"), "db", "migrate"], env, quiet=True)
        run([str(BIN / "qcmdb"), "db", "upgrade"], env)
        run([str(BIN / "qcmdb"), "test-connection", "demo"], env)
        started = time.monotonic()
        run([str(BIN / "airflow"), "dags", "test", "qualys_to_cmdb__demo"], env, quiet=True)
        print(f"DAG run finished in {time.monotonic() - started:.1f} s")
        run([str(BIN / "qcmdb"), "summary", "--schedule", "demo", "--json", str(HOME / "demo-summary.json")], env)
        # The estate changes a little: the next run fetches, classifies and writes only those assets.
        changed = _post_json(f"{url}/sim/control/advance", {"seconds": 0, "modify": CHANGED})["modified"]
        print(f"\n{len(changed)} assets changed in Qualys; running the DAG again")
        run([str(BIN / "airflow"), "dags", "test", "qualys_to_cmdb__demo"], env, quiet=True)
        run(
            [
                str(BIN / "qcmdb"),
                "summary",
                "--schedule",
                "demo",
                "--json",
                str(HOME / "demo-summary-incremental.json"),
            ],
            env,
        )
    finally:
        for proc in sims:
            proc.terminate()
            proc.wait(timeout=15)
    return 0


if __name__ == "__main__":
    sys.exit(main())
