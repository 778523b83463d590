"""The production topology of scripts/topology.py, run natively on 127.0.0.1 (no container engine needed).

PostgreSQL is the embedded server (pgserver) under .qcmdb/e2e, Redis is Debian's ``redis-server``, the simulators
are the wheel's ``qcmdb sim``; every Airflow service is ``airflow <args>`` from the e2e virtualenv, started
``replicas`` times, each in a process group of its own, with every name of ``topology.AIRFLOW_ENV`` set. The few
flags added here (``LOCAL_ARGS``) only keep the services on 127.0.0.1 and tell the replicas apart. Each
component's output goes to .qcmdb/e2e-logs/<name>.log.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import e2e_config
import requests
import topology
from e2e_env import API_PORT, HOME, LOGS, PASSWORDS, REPO, airflow_env, demo_env, free_port, stop_process_groups, ui_env
from e2e_env import start_simulators as start_demo_simulators

REDIS_SERVER = Path(os.environ.get("REDIS_SERVER", "/usr/bin/redis-server"))
WORKER_CONCURRENCY = 1  # one task at a time per worker: a mapped step spreads over both of them (2 cores here)
HEARTBEAT_TIMEOUT_S = 30  # a killed worker's task is failed (and retried) this long after its last heartbeat
#: Flags added to a service's topology ``args`` here: bind to 127.0.0.1, no log servers on 0.0.0.0.
LOCAL_ARGS: dict[str, list[str]] = {
    "airflow-apiserver": ["-H", "127.0.0.1", "-p", str(API_PORT), "--workers", "1"],
    "airflow-scheduler": ["--skip-serve-logs"],
    "airflow-triggerer": ["--skip-serve-logs"],
    "airflow-worker": ["--skip-serve-logs", "--concurrency", str(WORKER_CONCURRENCY)],
}
#: Task instances record ``[core] hostname_callable``'s answer: each worker answers its own name.
HOSTNAME_MODULE = "qcmdb_e2e_hostname"
TASK_LOGS = LOGS / "tasks"  # the task instances' logs (the workers write them, the api-server reads them)


class TopologyError(RuntimeError):
    """A component did not start or did not become ready."""


@dataclass
class Stack:
    """The running topology: its processes (by name), environment and addresses."""

    env: dict[str, str]
    bin: Path
    workdir: Path  # every component's working directory: outside the repository
    api_url: str = ""
    qualys_url: str = ""
    cmdb_url: str = ""
    procs: dict[str, subprocess.Popen[Any]] = field(default_factory=dict)
    workers: dict[str, str] = field(default_factory=dict)  # worker process name → the hostname its tasks record
    started: list[str] = field(default_factory=list)  # what was started, in order (for the report)
    skipped: list[str] = field(default_factory=list)

    def log(self, name: str) -> Path:
        return LOGS / f"{name}.log"

    def run(self, *cmd: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        """A command of the e2e virtualenv (``airflow …``, ``qcmdb …``) with the services' environment."""
        return subprocess.run(
            [str(self.bin / cmd[0]), *cmd[1:]],
            env=self.env,
            cwd=self.workdir,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def kill_group(self, name: str) -> None:
        """SIGKILL to a component's whole process group (a crashed machine, as far as Airflow can tell); checks
        that none of its processes (a task runner that left the group included) survived."""
        proc = self.procs.pop(name)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        deadline = time.monotonic() + 10
        while _group_alive(proc.pid) or _processes_of_worker(self.workers.get(name, "")):
            if time.monotonic() > deadline:
                survivors = _processes_of_worker(self.workers.get(name, ""))
                raise TopologyError(f"{name} (process group {proc.pid}) still has processes after SIGKILL: {survivors}")
            time.sleep(0.2)

    def stop(self) -> None:
        """SIGTERM to every process group started here, SIGKILL to what is left; then the embedded PostgreSQL."""
        stop_process_groups(reversed(list(self.procs.values())))
        self.procs.clear()
        stop_postgres()
        shutil.rmtree(self.workdir, ignore_errors=True)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _processes_of_worker(hostname: str) -> list[int]:
    """The processes started by the worker answering ``hostname`` (they inherit its environment)."""
    import psutil

    found = []
    for proc in psutil.process_iter(["pid"]):
        with contextlib.suppress(psutil.Error):
            if hostname and proc.environ().get("QCMDB_E2E_HOSTNAME") == hostname:
                found.append(proc.pid)
    return found


def stop_postgres() -> None:
    """Stop the e2e's embedded PostgreSQL (.qcmdb/e2e/pgdata) if it runs."""
    from qualys_cmdb.staging.database import stop_embedded

    with contextlib.suppress(Exception):
        stop_embedded()


def fresh_state() -> None:
    """An empty .qcmdb/e2e (database, Airflow home, CMDB file) and .qcmdb/e2e-logs for this run."""
    stop_postgres()
    shutil.rmtree(HOME, ignore_errors=True)
    shutil.rmtree(LOGS, ignore_errors=True)
    HOME.mkdir(parents=True)
    LOGS.mkdir(parents=True)


def _popen(stack: Stack, name: str, cmd: list[str], env: dict[str, str] | None = None) -> subprocess.Popen[Any]:
    with stack.log(name).open("w") as out:
        proc = subprocess.Popen(
            cmd,
            env=env or stack.env,
            cwd=stack.workdir,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # a process group of its own: stopped (or killed) with its children
        )
    stack.procs[name] = proc
    stack.started.append(name)
    return proc


def _wait(what: str, ready: Callable[[], bool], timeout: float, stack: Stack, logs: str) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        for name, proc in stack.procs.items():
            if proc.poll() is not None:
                raise TopologyError(f"{name} exited {proc.returncode} while waiting for {what} (see {stack.log(name)})")
        if time.monotonic() > deadline:
            raise TopologyError(f"{what} not ready after {timeout:.0f} s (see {LOGS / logs})")
        time.sleep(0.5)


# ----------------------------------------------------------------------------------------------- non-Airflow services
def start_postgres(stack: Stack) -> None:
    """The embedded PostgreSQL: Airflow's metadata database ``airflow`` and the staging database (unix socket)."""
    stack.env.update(airflow_env())
    stack.started.append("postgres")


def start_redis(stack: Stack) -> None:
    """Redis on a free port of 127.0.0.1, nothing persisted: the Celery broker."""
    if not REDIS_SERVER.exists():
        raise TopologyError(f"{REDIS_SERVER} is missing: `make e2e` installs Debian's redis-server")
    port = free_port()
    data = HOME / "redis"
    data.mkdir()
    cmd = [str(REDIS_SERVER), "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no"]
    _popen(stack, "redis", [*cmd, "--dir", str(data), "--protected-mode", "yes"])
    stack.env["AIRFLOW__CELERY__BROKER_URL"] = f"redis://127.0.0.1:{port}/0"
    _wait("redis", lambda: _redis_ping(port), 30, stack, "redis.log")


def _redis_ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def start_simulators(stack: Stack) -> None:
    """The Qualys and ServiceNow simulators of the wheel (``qcmdb sim``) and the connections pointing at them."""
    sims: list[subprocess.Popen[str]] = []
    try:
        stack.qualys_url, stack.cmdb_url = start_demo_simulators(stack.env, sims, new_session=True)
    finally:
        for name, proc in zip(("qualys-simulator", "servicenow-simulator"), sims, strict=False):
            stack.procs[name] = proc
            stack.started.append(name)
            _drain(proc, stack.log(name))


def _drain(proc: subprocess.Popen[str], path: Path) -> None:
    from ui import _drain as drain  # copies a simulator's further output to its log (a full pipe would block it)

    drain(proc, path)


# --------------------------------------------------------------------------------------------------------- Airflow
def contract_env(stack: Stack) -> None:
    """The values of every name in ``topology.AIRFLOW_ENV`` (plus what running natively needs)."""
    env = stack.env
    airflow_db = env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
    from qualys_cmdb.staging.database import embedded_url

    staging = embedded_url()
    env.update(
        AIRFLOW__CORE__EXECUTOR="CeleryExecutor",
        AIRFLOW__CORE__FERNET_KEY=base64.urlsafe_b64encode(os.urandom(32)).decode(),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__CORE__DAGS_FOLDER=str(REPO / "dags"),
        AIRFLOW__CELERY__RESULT_BACKEND=f"db+{airflow_db}",
        AIRFLOW_CONN_QUALYS_CMDB_STAGING=json.dumps(
            {
                "conn_type": "postgres",
                "host": staging.query["host"],
                "login": staging.username,
                "schema": staging.database,
            }
        ),
        QUALYS_CMDB_CONFIG=str(e2e_config.write_config(HOME / "qualys_cmdb.yaml")),
        QUALYS_CMDB_MAPPINGS=str(REPO / "include/mappings"),
        # running natively, on two cores
        AIRFLOW__CORE__PARALLELISM="8",
        AIRFLOW__LOGGING__LOGGING_LEVEL="INFO",
        AIRFLOW__LOGGING__BASE_LOG_FOLDER=str(TASK_LOGS),
        AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT=str(HEARTBEAT_TIMEOUT_S),
        AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL="5",
    )
    for name in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME"):  # nothing of the repository's venv leaks in
        env.pop(name, None)
    missing = [name for name in topology.AIRFLOW_ENV if not env.get(name)]
    if missing:
        raise TopologyError(f"no value for {missing} of topology.AIRFLOW_ENV")


def airflow_init(stack: Stack, service: topology.Service) -> None:
    """``airflow-init``: its topology args (``db migrate``), then the staging schema (``qcmdb db upgrade``); the
    users are the SimpleAuthManager's, from the environment."""
    for cmd in (("airflow", *service.args), ("qcmdb", "db", "upgrade")):
        with stack.log("airflow-init").open("a") as out:
            out.write(f"$ {' '.join(cmd)}\n")
            result = stack.run(*cmd)
            out.write(result.stdout + result.stderr)
        if result.returncode != 0:
            raise TopologyError(f"{' '.join(cmd)} exited {result.returncode} (see {stack.log('airflow-init')})")
    stack.started.append("airflow-init")


def _hostname_module() -> Path:
    """A module answering ``[core] hostname_callable`` with the worker's own name (both workers share one host)."""
    folder = HOME / "worker-hostname"
    folder.mkdir(exist_ok=True)
    (folder / f"{HOSTNAME_MODULE}.py").write_text(
        '"""Written by scripts/e2e_topology.py: the name of this e2e worker."""\n\nimport os\n\n\n'
        "def hostname() -> str:\n"
        '    return os.environ["QCMDB_E2E_HOSTNAME"]\n'
    )
    return folder


def start_airflow_service(stack: Stack, service: topology.Service) -> None:
    """``replicas`` processes of ``airflow <args>`` (workers: each with a hostname of its own)."""
    for n in range(1, service.replicas + 1):
        name = service.name if service.replicas == 1 else f"{service.name}-{n}"
        args = [*service.args, *LOCAL_ARGS.get(service.name, [])]
        env = stack.env
        if service.args[:2] == ("celery", "worker"):
            hostname = f"e2e-worker-{n}"
            args += ["--celery-hostname", f"{hostname}@%h"]
            env = dict(
                stack.env,
                PYTHONPATH=str(_hostname_module()),
                QCMDB_E2E_HOSTNAME=hostname,
                AIRFLOW__CORE__HOSTNAME_CALLABLE=f"{HOSTNAME_MODULE}.hostname",
            )
            stack.workers[name] = hostname
        _popen(stack, name, [str(stack.bin / "airflow"), *args], env)


def _healthy(url: str) -> bool:
    try:
        health = requests.get(f"{url}/api/v2/monitor/health", timeout=3).json()
    except (requests.RequestException, ValueError):
        return False
    return all(part.get("status") == "healthy" for part in health.values() if isinstance(part, dict))


def _workers_answer(stack: Stack) -> Callable[[], bool]:
    from celery import Celery

    app = Celery(broker=stack.env["AIRFLOW__CELERY__BROKER_URL"])
    expected = set(stack.workers.values())

    def ready() -> bool:
        answers = app.control.ping(timeout=1.0) or []
        names = {name.split("@", 1)[0] for answer in answers for name in answer}
        return expected <= names

    return ready


# ----------------------------------------------------------------------------------------------------------- all
#: How each service without ``args`` (not the ``airflow`` command) runs here.
NATIVE: dict[str, Callable[[Stack], None]] = {
    "postgres": start_postgres,
    "redis": start_redis,
    "qualys-simulator": start_simulators,  # starts both simulators
    "servicenow-simulator": lambda stack: None,
}
PROFILES = {None, "demo"}  # compose profiles the e2e runs (the simulators are the demo profile)


def start(bin_dir: Path) -> Stack:
    """The stack to start (:func:`start_services`) and to stop, with its working directory outside the repository."""
    demo_env.BIN = bin_dir  # the simulators and PATH come from the e2e virtualenv
    return Stack(env={}, bin=bin_dir, workdir=Path(tempfile.mkdtemp(prefix="qcmdb-e2e-")))


def start_services(stack: Stack) -> None:
    """The other services first (the Airflow ones need their addresses), then airflow-init, then Airflow's."""
    stack.api_url = f"http://127.0.0.1:{API_PORT}"
    services = [s for s in topology.SERVICES if s.profile in PROFILES]
    stack.skipped = [f"{s.name} (compose profile {s.profile})" for s in topology.SERVICES if s not in services]
    for service in services:
        if not service.env:
            if service.name not in NATIVE:
                raise TopologyError(f"topology service {service.name} has no native runner in scripts/e2e_topology.py")
            NATIVE[service.name](stack)
    stack.env.update(ui_env(stack.env))
    contract_env(stack)
    for service in services:
        if service.env:
            (airflow_init if service.name == "airflow-init" else start_airflow_service)(stack, service)
    _wait(
        "Airflow (api-server health: metadatabase, scheduler, triggerer, dag-processor)",
        lambda: _healthy(stack.api_url),
        240,
        stack,
        "airflow-*.log",
    )
    _wait(
        f"both Celery workers ({', '.join(stack.workers.values())})",
        _workers_answer(stack),
        120,
        stack,
        "airflow-worker-*.log",
    )


def admin_password() -> str:
    """The generated password of the SimpleAuthManager user ``admin``."""
    return str(json.loads(PASSWORDS.read_text())["admin"])
