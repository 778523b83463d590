"""Whether the staging database is at the package's newest migration, without loading Alembic.

Importing Alembic and reading its migration scripts costs about 0.2 s, more than a whole Overview page: the operator
UI checks the database once per process, and the first page a process serves should not pay that when nothing is
to be done. The migration files are named after their revision ids (``0009_report_figures.py`` is revision
``0009``, tests/ui_data/test_report_figures.py checks it), so the newest one is the newest file name. Anything else
than an exact match (an older database, a fresh one, an unreadable version table) is left to Alembic
(:func:`qualys_cmdb.staging.migrate.is_current`).
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine, column, select, table
from sqlalchemy.exc import DBAPIError

from qualys_cmdb.staging.schema import SCHEMA

VERSIONS = Path(__file__).with_name("migrations") / "versions"
VERSION_TABLE = table("alembic_version", column("version_num"), schema=SCHEMA)


def newest_file_revision() -> str | None:
    """The revision id of the newest migration file (its name up to the first ``_``)."""
    return max((p.name.split("_", 1)[0] for p in VERSIONS.glob("[0-9]*_*.py")), default=None)


def surely_current(engine: Engine) -> bool:
    """True when the database is at the newest migration for sure; False means "ask Alembic"."""
    newest = newest_file_revision()
    try:
        with engine.connect() as conn:
            version = conn.execute(select(column("version_num")).select_from(VERSION_TABLE)).scalar()
    except DBAPIError:  # no version table yet: a fresh database
        return False
    return newest is not None and version == newest
