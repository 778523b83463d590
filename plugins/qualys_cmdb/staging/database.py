"""Where the staging database is: the Airflow connection ``qualys_cmdb_staging``, or an embedded PostgreSQL.

With no such connection, the project runs a real PostgreSQL from the ``pgserver`` package (unix socket only, no
TCP port) with its data under ``$QUALYS_CMDB_HOME`` (default ``./.qcmdb``). The embedded server outlives the
process that started it, so the DAG's tasks, the CLI and the demo share it; ``qcmdb embedded stop`` stops it.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import warnings
from pathlib import Path
from typing import Any

import msgspec
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import URL

STAGING_CONN_ID = "qualys_cmdb_staging"
HOME_ENV = "QUALYS_CMDB_HOME"
STAGING_DB = "qualys_cmdb"

log = logging.getLogger(__name__)
logging.getLogger("pgserver").setLevel(logging.WARNING)  # its start-up chatter is not for our users
_engines: dict[str, Engine] = {}
_lock = threading.Lock()


def home() -> Path:
    """The project's state folder (embedded Postgres data, demo summary)."""
    return Path(os.environ.get(HOME_ENV) or Path.cwd() / ".qcmdb").resolve()


def embedded_server(start: bool = True) -> Any:
    """The embedded PostgreSQL server under :func:`home`, started if needed (``pgserver.PostgresServer``)."""
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset (containers, CI); pgserver then uses /tmp, which is fine.
        warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR")
        import pgserver  # imported lazily: only the embedded default needs it

    data = home() / "pgdata"
    data.parent.mkdir(parents=True, exist_ok=True)
    if not start and not (data / "postmaster.pid").exists():
        return None
    # cleanup_mode=None: keep the server running for the other processes (tasks, CLI) that share it.
    return pgserver.get_server(data, cleanup_mode=None)


def stop_embedded() -> bool:
    """Stop the embedded server if it runs; returns whether it was running."""
    data = home() / "pgdata"
    if not (data / "postmaster.pid").exists():
        return False
    from pgserver._commands import pg_ctl

    # pgserver runs PostgreSQL as the 'pgserver' system user when we are root (initdb refuses root).
    pg_ctl(["-w", "stop"], pgdata=data, user="pgserver" if os.geteuid() == 0 else None)
    return True


def embedded_url(database: str = STAGING_DB) -> URL:
    """A SQLAlchemy URL for ``database`` on the embedded server, creating the database if it is missing."""
    if not re.fullmatch(r"[a-z_][a-z0-9_]*", database):
        raise ValueError(f"invalid database name {database!r}")
    server = embedded_server()
    socket_dir = server.get_postmaster_info().socket_dir
    exists = server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{database}';")  # noqa: S608 - checked name
    if "1 row" not in exists:
        server.psql(f'CREATE DATABASE "{database}";')
    return URL.create("postgresql+psycopg", username="postgres", database=database, query={"host": str(socket_dir)})


def _connection_url() -> URL | None:
    """The URL of the Airflow connection ``qualys_cmdb_staging``, or None when it is not defined."""
    try:
        from airflow.sdk import BaseHook

        conn = BaseHook.get_connection(STAGING_CONN_ID)
    except Exception as exc:  # AirflowNotFoundException and friends: no connection configured
        if "isn't defined" in str(exc) or "not found" in str(exc).lower() or type(exc).__name__.endswith("NotFound"):
            return None
        raise
    extra = conn.extra_dejson
    query: dict[str, str] = {}
    host = conn.host or ""
    if host.startswith("/"):  # a unix-socket directory
        query["host"] = host
        host = ""
    for key in ("sslmode", "sslrootcert", "sslcert", "sslkey", "options", "application_name"):
        if key in extra:
            query[key] = str(extra[key])
    return URL.create(
        "postgresql+psycopg",
        username=conn.login or None,
        password=conn.password or None,
        host=host or None,
        port=conn.port or None,
        database=conn.schema or STAGING_DB,
        query=query,
    )


def staging_url() -> URL:
    """The staging database's URL: the Airflow connection if defined, else the embedded server."""
    return _connection_url() or embedded_url()


def get_engine(url: URL | None = None) -> Engine:
    """A pooled engine for the staging database (one per process and URL)."""
    url = url or staging_url()
    key = url.render_as_string(hide_password=False)
    with _lock:
        engine = _engines.get(key)
        if engine is None:
            # JSON and JSONB values (a batch's payloads, detail rows) decoded by msgspec: several times json.loads'
            # speed, the same Python objects
            engine = create_engine(
                url, pool_pre_ping=True, pool_size=4, max_overflow=4, json_deserializer=msgspec.json.decode
            )
            _engines[key] = engine
        return engine


def check(engine: Engine) -> str:
    """The server version, proving the database answers."""
    with engine.connect() as conn:
        return str(conn.execute(text("SHOW server_version")).scalar_one())
