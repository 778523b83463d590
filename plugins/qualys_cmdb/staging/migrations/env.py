"""Alembic environment for the staging schema; run through :func:`qualys_cmdb.staging.migrate.upgrade`."""

from __future__ import annotations

from alembic import context
from sqlalchemy import text

from qualys_cmdb.staging.schema import SCHEMA, metadata

config = context.config
connection = config.attributes["connection"]
connection.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{SCHEMA}"'))
context.configure(
    connection=connection,
    target_metadata=metadata,
    version_table_schema=SCHEMA,
    include_schemas=True,
    include_name=lambda name, type_, parent: type_ != "schema" or name == SCHEMA,
)
with context.begin_transaction():
    context.run_migrations()
