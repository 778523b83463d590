"""The staging schema: Alembic migrations build exactly the tables the code declares."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from qualys_cmdb.staging.migrate import current_revision, head_revision, upgrade
from qualys_cmdb.staging.schema import SCHEMA, metadata


def test_migrations_reach_head_and_match_the_declared_schema(engine) -> None:  # type: ignore[no-untyped-def]
    assert upgrade(engine) == head_revision() == current_revision(engine)
    with engine.connect() as conn:
        ctx = MigrationContext.configure(
            conn,
            opts={
                "include_schemas": True,
                "version_table_schema": SCHEMA,
                "include_name": lambda name, type_, parent: type_ != "schema" or name == SCHEMA,
            },
        )
        assert compare_metadata(ctx, metadata) == []


def test_upgrading_twice_is_harmless(engine) -> None:  # type: ignore[no-untyped-def]
    assert upgrade(engine) == upgrade(engine) == head_revision()
