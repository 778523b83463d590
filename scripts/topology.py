"""The production topology, once: what `docker-compose.yaml` deploys and what `make e2e` runs natively here.

`tests/deploy/` checks that the compose file and this description agree (same services, same environment names,
same connection ids), and `scripts/e2e.py` starts its processes from it, so neither can rot on its own.

Each Airflow service is the `airflow` command with ``args``; ``replicas`` is how many `make e2e` starts (compose
scales the worker with ``--scale airflow-worker=N``). ``profile`` marks services compose starts only on request.
"""

from __future__ import annotations

from dataclasses import dataclass, field

#: Airflow connection ids the deployment defines (as ``AIRFLOW_CONN_<ID upper-cased>`` environment variables or in a
#: secrets backend): the staging database and, in the demo profile, the two simulators.
STAGING_CONNECTION = "qualys_cmdb_staging"
DEMO_CONNECTIONS = ("qualys_demo", "servicenow_demo")

#: Environment every Airflow service shares (names only; values come from `.env` / the e2e runner).
AIRFLOW_ENV = (
    "AIRFLOW__CORE__EXECUTOR",
    "AIRFLOW__CORE__AUTH_MANAGER",
    "AIRFLOW__CORE__FERNET_KEY",
    "AIRFLOW__CORE__LOAD_EXAMPLES",
    "AIRFLOW__CORE__DAGS_FOLDER",
    "AIRFLOW__CORE__EXECUTION_API_SERVER_URL",
    "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN",
    "AIRFLOW__CELERY__BROKER_URL",
    "AIRFLOW__CELERY__RESULT_BACKEND",
    "AIRFLOW__API_AUTH__JWT_SECRET",
    "AIRFLOW__API__SECRET_KEY",
    "AIRFLOW_CONN_QUALYS_CMDB_STAGING",
    "QUALYS_CMDB_CONFIG",
    "QUALYS_CMDB_MAPPINGS",
)


@dataclass(frozen=True)
class Service:
    """One service of the topology."""

    name: str
    args: tuple[str, ...] = ()  # `airflow …` arguments; empty for non-Airflow services
    replicas: int = 1
    profile: str | None = None
    env: tuple[str, ...] = field(default=AIRFLOW_ENV)


SERVICES: tuple[Service, ...] = (
    Service("postgres", env=()),
    Service("redis", env=()),
    Service("airflow-init", ("db", "migrate")),  # plus the admin user and `qcmdb db upgrade`
    Service("airflow-apiserver", ("api-server",)),
    Service("airflow-scheduler", ("scheduler",)),
    Service("airflow-dag-processor", ("dag-processor",)),
    Service("airflow-triggerer", ("triggerer",)),
    Service("airflow-worker", ("celery", "worker"), replicas=2),
    Service("flower", ("celery", "flower"), profile="flower"),
    Service("qualys-simulator", profile="demo", env=()),
    Service("servicenow-simulator", profile="demo", env=()),
)


def service(name: str) -> Service:
    """The service called ``name``."""
    return next(s for s in SERVICES if s.name == name)
