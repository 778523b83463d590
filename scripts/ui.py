"""`make ui`: Airflow's UI over the demo data, on http://127.0.0.1:8080 (``UI_PORT``), until Ctrl-C.

Runs the demo first when it has not been run yet (no .qcmdb/demo-summary.json). Then, with the demo's environment
(embedded PostgreSQL under .qcmdb/, ``AIRFLOW_HOME=.qcmdb/airflow``, DAG folder ``dags/``, the shipped configuration,
the connections ``qualys_demo`` and ``servicenow_demo`` pointing at the two simulators started here), starts
Airflow's api-server, scheduler, dag-processor and triggerer, each in a process group of its own and bound to
127.0.0.1 (no serve-logs servers). Users ``admin`` (role admin) and ``viewer`` (role viewer) log in with the
SimpleAuthManager; their passwords are generated once and kept in .qcmdb/ui-passwords.json, the JWT secret and the
API secret key in .qcmdb/ui-secrets.json. The components' output goes to .qcmdb/ui-logs/. Ctrl-C stops everything
started here (the embedded PostgreSQL keeps running; `make clean` stops it).
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from types import FrameType

from demo_env import BIN, HOME, REPO, airflow_env, run, start_simulators, stop_process_groups

PORT = int(os.environ.get("UI_PORT", "8080"))
USERS = {"admin": "admin", "viewer": "viewer"}  # user name → SimpleAuthManager role
PASSWORDS = HOME / "ui-passwords.json"
SECRETS = HOME / "ui-secrets.json"
LOGS = HOME / "ui-logs"
COMPONENTS = {
    "api-server": ["api-server", "-H", "127.0.0.1", "-p", str(PORT)],
    "scheduler": ["scheduler", "--skip-serve-logs"],
    "dag-processor": ["dag-processor"],
    "triggerer": ["triggerer", "--skip-serve-logs"],
}


def _write_private(path: Path, data: dict[str, str]) -> None:
    """Write a JSON file only its owner can read."""
    path.touch(mode=0o600, exist_ok=True)
    path.chmod(0o600)
    path.write_text(json.dumps(data, indent=2) + "\n")


def _kept(path: Path, names: list[str], make: Callable[[], str]) -> dict[str, str]:
    """The values kept in ``path``, with a new value from ``make()`` for each name that has none yet."""
    values: dict[str, str] = json.loads(path.read_text()) if path.exists() else {}
    missing = [name for name in names if not values.get(name)]
    for name in missing:
        values[name] = make()
    if missing or not path.exists():
        _write_private(path, values)
    return values


def ui_env(env: dict[str, str]) -> dict[str, str]:
    """The demo's environment plus the UI's: executor, bindings, auth manager, users and secrets."""
    _kept(PASSWORDS, list(USERS), lambda: secrets.token_urlsafe(12))
    kept = _kept(SECRETS, ["jwt_secret", "api_secret_key"], lambda: secrets.token_urlsafe(32))
    base_url = f"http://127.0.0.1:{PORT}"
    return dict(
        env,
        AIRFLOW__CORE__EXECUTOR="LocalExecutor",
        AIRFLOW__CORE__PARALLELISM="4",
        AIRFLOW__API__HOST="127.0.0.1",
        AIRFLOW__API__PORT=str(PORT),
        AIRFLOW__API__BASE_URL=base_url,
        AIRFLOW__CORE__EXECUTION_API_SERVER_URL=f"{base_url}/execution/",
        AIRFLOW__CORE__AUTH_MANAGER="airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager",
        AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS=",".join(f"{user}:{role}" for user, role in USERS.items()),
        AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS="False",
        AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE=str(PASSWORDS),
        AIRFLOW__API_AUTH__JWT_SECRET=kept["jwt_secret"],
        AIRFLOW__API__SECRET_KEY=kept["api_secret_key"],
        # the connection form's Test button (off by default in Airflow): a Qualys or ServiceNow connection's test
        # tells apart wrong credentials, missing API access and an unreachable server
        AIRFLOW__CORE__TEST_CONNECTION="Enabled",
    )


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _health(url: str) -> dict[str, dict[str, str]] | None:
    try:
        with urllib.request.urlopen(f"{url}/api/v2/monitor/health", timeout=3) as response:  # noqa: S310 - 127.0.0.1
            return dict(json.loads(response.read()))
    except (urllib.error.URLError, ConnectionError, TimeoutError, ValueError):
        return None


def _stop(procs: dict[str, subprocess.Popen[str]]) -> None:
    """SIGTERM to every process group started here, then SIGKILL to what is left after 30 s."""
    stop_process_groups(procs.values())


def _drain(proc: subprocess.Popen[str], path: Path) -> None:
    """Copy a simulator's further output into its log file (a full pipe would block it)."""

    def copy() -> None:
        with path.open("w") as log:
            for line in proc.stdout or ():
                log.write(line)
                log.flush()

    threading.Thread(target=copy, daemon=True).start()


def _tail(path: Path, chars: int = 3000) -> str:
    return path.read_text(errors="replace")[-chars:] if path.exists() else ""


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt  # SIGTERM or a closed terminal stops everything as Ctrl-C does


def _has_plugin_pages(url: str, password: str) -> bool:
    """Whether the plugin mounts its pages at /qualys-cmdb (asked through the REST API as admin)."""
    request = urllib.request.Request(  # noqa: S310 - http://127.0.0.1, the api-server started here
        f"{url}/auth/token",
        data=json.dumps({"username": "admin", "password": password}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - 127.0.0.1
            token = json.loads(response.read())["access_token"]
        request = urllib.request.Request(  # noqa: S310 - 127.0.0.1
            f"{url}/api/v2/plugins", headers={"Authorization": f"Bearer {token}"}
        )
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - 127.0.0.1
            plugins = json.loads(response.read())["plugins"]
    except (urllib.error.URLError, ConnectionError, TimeoutError, ValueError, KeyError):
        return False
    return any(app.get("url_prefix") == "/qualys-cmdb" for p in plugins for app in p.get("fastapi_apps") or ())


def main() -> int:
    if not (HOME / "demo-summary.json").exists():
        print(f"No demo data yet ({HOME / 'demo-summary.json'} is missing): running the demo first (make demo)\n")
        run([sys.executable, str(REPO / "scripts/demo.py")], dict(os.environ))
        print()
    if not _port_free(PORT):
        raise SystemExit(f"port {PORT} on 127.0.0.1 is in use: stop what uses it or set UI_PORT")
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even when started with SIGINT ignored (`… &`)
    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGHUP, _terminate)
    env = ui_env(airflow_env())
    LOGS.mkdir(exist_ok=True)
    url = f"http://127.0.0.1:{PORT}"
    procs: dict[str, subprocess.Popen[str]] = {}
    sims: list[subprocess.Popen[str]] = []
    try:
        start_simulators(env, sims, new_session=True)
        for n, proc in enumerate(sims):
            procs[f"simulator-{n}"] = proc
            _drain(proc, LOGS / f"simulator-{n}.log")
        run([str(BIN / "airflow"), "db", "migrate"], env, quiet=True)
        run([str(BIN / "qcmdb"), "db", "upgrade"], env, quiet=True)
        started = time.monotonic()
        for name, cmd in COMPONENTS.items():
            with (LOGS / f"{name}.log").open("w") as log:
                procs[name] = subprocess.Popen(
                    [str(BIN / "airflow"), *cmd],
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    text=True,
                    start_new_session=True,  # its own process group: stopped with its workers, not by Ctrl-C
                )
        print(f"Starting Airflow (api-server, scheduler, dag-processor, triggerer; output in {LOGS}) …", flush=True)
        while True:
            for name in COMPONENTS:
                if procs[name].poll() is not None:
                    raise SystemExit(f"airflow {name} exited {procs[name].returncode}:\n{_tail(LOGS / f'{name}.log')}")
            health = _health(url)
            if health and all(part.get("status") == "healthy" for part in health.values()):
                break
            if time.monotonic() - started > 180:
                raise SystemExit(f"Airflow did not become healthy in 180 s: {health}\n{_tail(LOGS / 'api-server.log')}")
            time.sleep(1)
        passwords = json.loads(PASSWORDS.read_text())
        pages = f"  the Qualys CMDB pages: {url}/qualys-cmdb/\n" if _has_plugin_pages(url, passwords["admin"]) else ""
        print(
            f"\nAirflow is ready after {time.monotonic() - started:.0f} s: {url}\n"
            f"  log in as admin / {passwords['admin']}  (viewer too; all passwords are in {PASSWORDS})\n"
            f"{pages}"
            "Ctrl-C stops Airflow and the simulators.",
            flush=True,
        )
        while True:
            for name, proc in procs.items():
                if proc.poll() is not None:
                    log_file = LOGS / f"{name}.log"
                    raise SystemExit(f"{name} exited {proc.returncode}; stopping everything\n{_tail(log_file)}")
            time.sleep(2)
    except KeyboardInterrupt:
        print("\nStopping Airflow and the simulators …", flush=True)
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C does not leave orphans behind
        procs.update({f"simulator-{n}": proc for n, proc in enumerate(sims)})
        _stop(procs)
    print("Stopped.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
