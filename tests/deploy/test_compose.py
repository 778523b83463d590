"""The deployment files agree with scripts/topology.py, the shipped configuration and each other.

docker-compose.yaml (read with yaml.safe_load; no Docker engine needed), Dockerfile, .dockerignore, .env.example
and the PostgreSQL init script: same services and profiles as the topology, the same environment in every Airflow
service, the connection ids the configuration names, no credential in the image, ports on 127.0.0.1 only.
"""

from __future__ import annotations

import importlib.util
import json
import re
import shlex
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml
from qualys_cmdb.staging.database import STAGING_CONN_ID, STAGING_DB

REPO = Path(__file__).resolve().parents[2]


def _load_topology() -> ModuleType:
    """scripts/topology.py, imported by path (scripts/ is not on every test run's path)."""
    spec = importlib.util.spec_from_file_location("qcmdb_topology", REPO / "scripts/topology.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


topology = _load_topology()
COMPOSE: dict[str, Any] = yaml.safe_load((REPO / "docker-compose.yaml").read_text())
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]
AIRFLOW_SERVICES = [s for s in topology.SERVICES if s.env]  # the ones running the `airflow` command
OTHER_SERVICES = [s for s in topology.SERVICES if not s.env]

# Compose interpolation: `$$` is a literal dollar; `${NAME}`, `${NAME:-default}`, `${NAME:?error}`…; `$NAME`.
_INTERPOLATION = re.compile(r"\$\$|\$\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?::?[-?+][^}]*)?\}|\$(?P<bare>[A-Za-z_]\w*)")


def _strings(node: Any) -> Iterator[str]:
    """Every string of a loaded YAML document, keys included."""
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for key, value in node.items():
            yield from _strings(key)
            yield from _strings(value)
    elif isinstance(node, list):
        for item in node:
            yield from _strings(item)


def _variables(text: str) -> set[str]:
    return {m["braced"] or m["bare"] for m in _INTERPOLATION.finditer(text) if m["braced"] or m["bare"]}


def _env(service: str) -> dict[str, str]:
    environment = SERVICES[service].get("environment") or {}
    if isinstance(environment, list):  # the `- NAME=value` form
        environment = dict(item.split("=", 1) for item in environment)
    return {str(k): str(v) for k, v in environment.items()}


def _command(service: str) -> list[str]:
    command = SERVICES[service].get("command") or []
    return shlex.split(command) if isinstance(command, str) else [str(part) for part in command]


def _env_example() -> dict[str, str]:
    values = {}
    for line in (REPO / ".env.example").read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, sep, value = line.partition("=")
            assert sep, f".env.example: not NAME=value: {line!r}"
            values[name.strip()] = value.strip()
    return values


def _connections(service: str) -> dict[str, dict[str, Any]]:
    """The Airflow connections (id → JSON as written) in a service's environment."""
    return {
        name.removeprefix("AIRFLOW_CONN_").lower(): json.loads(value)
        for name, value in _env(service).items()
        if name.startswith("AIRFLOW_CONN_")
    }


def _dockerfile() -> list[str]:
    """The Dockerfile's instructions, continuation lines joined, comments dropped."""
    instructions: list[str] = []
    current = ""
    for line in (REPO / "Dockerfile").read_text().splitlines():
        if line.lstrip().startswith("#") and not current:
            continue
        current += line.rstrip().removesuffix("\\") + " "
        if not line.rstrip().endswith("\\"):
            if current.strip():
                instructions.append(" ".join(current.split()))
            current = ""
    return instructions


def test_the_compose_services_are_the_topology_s() -> None:
    assert sorted(SERVICES) == sorted(s.name for s in topology.SERVICES)
    for service in topology.SERVICES:
        assert SERVICES[service.name].get("profiles", []) == ([service.profile] if service.profile else []), service


def test_every_airflow_service_carries_the_topology_environment() -> None:
    assert "x-airflow-common" in COMPOSE
    for service in AIRFLOW_SERVICES:
        missing = set(service.env) - set(_env(service.name))
        assert not missing, f"{service.name} lacks {sorted(missing)}"
        assert SERVICES[service.name]["image"] == COMPOSE["x-airflow-common"]["image"], service.name


def test_other_services_get_no_airflow_secrets() -> None:
    for service in OTHER_SERVICES:
        leaked = {name for name in _env(service.name) if name.startswith(("AIRFLOW_CONN_", "AIRFLOW__"))}
        assert not leaked, f"{service.name} gets {sorted(leaked)}"


def test_airflow_commands_are_the_topology_s() -> None:
    for service in AIRFLOW_SERVICES:
        if service.name != "airflow-init":  # the image's entrypoint runs `airflow <command>`
            assert _command(service.name) == list(service.args), service.name


def test_airflow_init_migrates_both_databases_and_creates_the_admin() -> None:
    script = "\n".join(_command("airflow-init"))
    migrate = script.find("airflow " + " ".join(topology.service("airflow-init").args))
    upgrade = script.find("qcmdb db upgrade")
    assert migrate >= 0 and "airflow db migrate" in script
    assert upgrade > migrate, "the staging schema is migrated after the metadata database"
    assert "airflow users create" in script  # FabAuthManager
    assert "SIMPLE_AUTH_MANAGER_PASSWORDS_FILE" in script  # SimpleAuthManager
    assert "pip install" not in script


def test_the_connections_are_the_staging_database_and_the_demo_simulators() -> None:
    assert topology.STAGING_CONNECTION == STAGING_CONN_ID
    for service in AIRFLOW_SERVICES:
        assert set(_connections(service.name)) == {topology.STAGING_CONNECTION, *topology.DEMO_CONNECTIONS}

    connections = _connections("airflow-scheduler")
    staging = connections[topology.STAGING_CONNECTION]
    assert staging["conn_type"] == "postgres"
    assert staging["host"] == "postgres" and staging["schema"] == STAGING_DB
    simulators = {s.name: s for s in topology.SERVICES if s.profile == "demo"}
    for conn_id in topology.DEMO_CONNECTIONS:
        host = connections[conn_id]["host"]
        name, port = re.fullmatch(r"http://([a-z-]+):(\d+)", host).groups()  # type: ignore[union-attr]
        assert name in simulators, f"{conn_id} points at {name}, not a service of the demo profile"
        assert f"--port={port}" in _command(name)
    for conn_id, conn in connections.items():  # credentials come from .env, never written here
        for field in ("login", "password"):
            assert field not in conn or _variables(conn[field]), f"{conn_id}: {field} is written in the file"


def test_the_demo_connections_are_the_ones_the_shipped_configuration_names() -> None:
    def connection_ids(node: Any) -> Iterator[str]:
        if isinstance(node, dict):
            for key, value in node.items():
                if str(key).endswith("connection_id") and isinstance(value, str):
                    yield value
                yield from connection_ids(value)
        elif isinstance(node, list):
            for item in node:
                yield from connection_ids(item)

    config = yaml.safe_load((REPO / "include/config/qualys_cmdb.yaml").read_text())
    assert set(connection_ids(config)) == set(topology.DEMO_CONNECTIONS)


def test_env_example_lists_every_variable_the_compose_file_uses() -> None:
    used = set().union(*(_variables(s) for s in _strings(COMPOSE)))
    listed = _env_example()
    assert used - set(listed) == set(), "used in docker-compose.yaml, missing from .env.example"
    assert set(listed) - used == set(), "in .env.example, used nowhere"


def test_env_example_leaves_the_secrets_blank() -> None:
    required = {m["braced"] for s in _strings(COMPOSE) for m in re.finditer(r"\$\{(?P<braced>\w+):\?", s)}
    assert {"POSTGRES_PASSWORD", "AIRFLOW_FERNET_KEY", "AIRFLOW_JWT_SECRET", "AIRFLOW_API_SECRET_KEY"} <= required
    for name, value in _env_example().items():
        secret = re.search(r"PASSWORD|SECRET|FERNET|TOKEN", name) and not name.startswith("DEMO_")
        if name in required or secret:
            assert value == "", f".env.example gives {name} a value: leave it blank, with how to generate it"


def test_published_ports_are_bound_to_localhost() -> None:
    published = 0
    for name, service in SERVICES.items():
        for port in service.get("ports", []):
            assert isinstance(port, str) and port.startswith("127.0.0.1:"), f"{name}: {port!r}"
            published += 1
    assert published and SERVICES["airflow-apiserver"]["ports"] == ["127.0.0.1:8080:8080"]


def test_the_worker_scales() -> None:
    worker = SERVICES["airflow-worker"]
    assert "container_name" not in worker and "ports" not in worker
    assert "replicas" not in worker.get("deploy", {})  # `--scale airflow-worker=N` decides
    assert topology.service("airflow-worker").replicas > 1  # what `make e2e` runs


def test_healthchecks_and_start_order() -> None:
    for name, service in SERVICES.items():
        if name != "airflow-init":
            assert "healthcheck" in service, name
    for service in AIRFLOW_SERVICES:
        depends = SERVICES[service.name]["depends_on"]
        assert depends["postgres"]["condition"] == depends["redis"]["condition"] == "service_healthy"
        if service.name != "airflow-init":
            assert depends["airflow-init"]["condition"] == "service_completed_successfully", service.name
    assert SERVICES["airflow-worker"]["depends_on"]["airflow-apiserver"]["condition"] == "service_healthy"


def test_the_init_script_creates_the_staging_database() -> None:
    mounts = [v for v in SERVICES["postgres"]["volumes"] if ":/docker-entrypoint-initdb.d/" in v]
    assert len(mounts) == 1
    source = REPO / mounts[0].split(":", 1)[0]
    sql = re.sub(r"--[^\n]*", "", source.read_text())
    assert re.search(rf'CREATE\s+DATABASE\s+"?{STAGING_DB}"?\s*;', sql, re.IGNORECASE)
    assert _env("postgres")["POSTGRES_DB"] == "airflow"


def test_the_image_is_the_pinned_airflow_with_the_project_s_wheel() -> None:
    pin = re.search(r"^apache-airflow==(\S+)$", (REPO / "requirements.txt").read_text(), re.MULTILINE)
    assert pin, "requirements.txt pins apache-airflow"
    instructions = _dockerfile()
    bases = [i.split()[1] for i in instructions if i.upper().startswith("FROM ")]
    assert len(bases) >= 2, "a builder stage and the final stage"
    assert all(base == f"apache/airflow:{pin[1]}-python3.11" for base in bases), bases
    runs = [i for i in instructions if i.upper().startswith("RUN ")]
    assert any("pip wheel" in r and "--no-deps" in r for r in runs)
    assert any("pip install" in r and "-r /tmp/requirements.txt" in r for r in runs)
    assert any("pip install" in r and ".whl" in r for r in runs)
    for run in runs:
        assert not re.search(r"pip install\b.*\s(-e|--editable)\b", run), run


def test_the_image_holds_no_credentials() -> None:
    for instruction in _dockerfile():
        if instruction.upper().startswith(("ENV ", "ARG ")):
            assert not re.search(r"PASSW|SECRET|TOKEN|FERNET|_CONN_", instruction, re.IGNORECASE), instruction
    ignored = set((REPO / ".dockerignore").read_text().split())
    assert {".git", ".venv", ".qcmdb", ".env"} <= ignored


def test_the_image_puts_dags_config_and_mappings_where_the_compose_file_looks() -> None:
    env = _env("airflow-scheduler")
    copies = {
        i.split()[-2]: i.split()[-1] for i in _dockerfile() if i.upper().startswith("COPY ") and "--from" not in i
    }
    assert copies["dags/"].rstrip("/") == env["AIRFLOW__CORE__DAGS_FOLDER"]
    include = copies["include/"].rstrip("/")
    assert env["QUALYS_CMDB_CONFIG"] == f"{include}/config/qualys_cmdb.yaml"
    assert env["QUALYS_CMDB_MAPPINGS"] == f"{include}/mappings"
    assert (REPO / "include/config/qualys_cmdb.yaml").is_file() and (REPO / "include/mappings").is_dir()


@pytest.mark.parametrize("name", ["qualys-simulator", "servicenow-simulator"])
def test_the_demo_simulators_listen_for_the_other_containers(name: str) -> None:
    command = _command(name)
    assert command[:3] == ["python", "-m", f"simulators.{name.split('-')[0]}"]
    assert "--host=0.0.0.0" in command  # inside its container; published on 127.0.0.1 only
    assert SERVICES[name]["image"] == COMPOSE["x-airflow-common"]["image"]
    for conn in _connections("airflow-worker").values():
        if name in conn["host"]:
            user = next(a for a in command if a.startswith("--user="))
            password = next(a for a in command if a.startswith("--password="))
            assert _variables(user) == _variables(conn["login"])
            assert _variables(password) == _variables(conn["password"])
