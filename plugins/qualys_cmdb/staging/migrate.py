"""Schema migrations of the staging database (Alembic), run by ``qcmdb db upgrade`` and before every DAG run."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

from qualys_cmdb.staging.schema import SCHEMA

_MIGRATIONS = Path(__file__).with_name("migrations")


def alembic_config() -> Config:
    """The Alembic configuration pointing at the package's migrations."""
    cfg = Config()
    cfg.set_main_option("script_location", str(_MIGRATIONS))
    return cfg


def head_revision() -> str:
    """The newest migration shipped with the package."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at (None before the first upgrade)."""
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"version_table_schema": SCHEMA})
        return ctx.get_current_revision()


def upgrade(engine: Engine, revision: str = "head") -> str:
    """Bring the staging schema to ``revision``; returns the revision reached. Safe to run concurrently."""
    cfg = alembic_config()
    with engine.begin() as conn:
        # One migrator at a time: parallel tasks may all try on a fresh database.
        conn.exec_driver_sql("SELECT pg_advisory_xact_lock(7243019)")
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)
    return current_revision(engine) or ""


def is_current(engine: Engine) -> bool:
    """True when the database is at the package's head revision."""
    return current_revision(engine) == head_revision()
