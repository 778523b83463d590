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


def test_the_landing_reshape_queues_parsed_records_again(staging) -> None:  # type: ignore[no-untyped-def]
    """Migration 0005 changes the landing tables' shape: a record parsed but not staged is parsed again later."""
    from alembic import command
    from qualys_cmdb.staging.migrate import alembic_config
    from sqlalchemy import text

    cfg = alembic_config()
    with staging.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0004")
    try:
        with staging.begin() as conn:
            conn.execute(
                text(
                    """INSERT INTO qcmdb.sync_queue
                        (direction, source, schedule, run_id, status, api, format, page_no, request, parsed_at)
                    VALUES ('download', 's', 'daily', 'r1', 'Processing', 'csam', 'json', 1, '{}', now()),
                           ('download', 's', 'daily', 'r1', 'Success', 'csam', 'json', 2, '{}', now())"""
                )
            )
            conn.execute(
                text(
                    """INSERT INTO qcmdb.landing_software (queue_id, source, asset_id, software_key, name)
                    VALUES (1, 's', 7, 'k', 'Widget')"""
                )
            )
        assert upgrade(staging) == head_revision()
        with staging.connect() as conn:
            queue = conn.execute(text("SELECT status, parsed_at, notes FROM qcmdb.sync_queue ORDER BY id")).all()
            left = conn.execute(text("SELECT count(*) FROM qcmdb.landing_software")).scalar_one()
        assert [q.status for q in queue] == ["Queued", "Success"]
        assert queue[0].parsed_at is None and "0005" in queue[0].notes
        assert left == 0
    finally:
        upgrade(staging)


def test_0008_moves_a_long_failure_reason_into_its_detail_and_back(staging) -> None:  # type: ignore[no-untyped-def]
    """Migration 0008: a failed asset's reason longer than a line keeps its first error (one line, at most 200
    characters) and the whole text moves to ``failure_detail``; a downgrade puts the whole text back."""
    from alembic import command
    from qualys_cmdb.staging.migrate import alembic_config
    from sqlalchemy import text

    long_reason = (
        "cmdb_ci_iot: INVALID_INPUT_DATA: In payload invalid data source [Qualys] exist. You need to provide a "
        "valid choice value from field [discovery_source] in table [cmdb_ci]; cmdb_ci_ip_address: INVALID_INPUT_DATA:"
        " In payload invalid data source [Qualys] exist."
    )
    huge = "cmdb_ci_hardware: MISSING_MATCHING_ATTRIBUTES: Add these input values in payload item '" + "x" * 900 + "'"
    cfg = alembic_config()
    with staging.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0007")
    try:
        with staging.begin() as conn:
            conn.execute(
                text(
                    """INSERT INTO qcmdb.asset_classification
                        (schedule, source, asset_id, mapping_version, content_hash, state, reason, failure_code)
                    VALUES ('t', 's', 1, 'v', 'h', 'failed', :long, 'INVALID_INPUT_DATA'),
                           ('t', 's', 2, 'v', 'h', 'failed', :huge, 'MISSING_MATCHING_ATTRIBUTES'),
                           ('t', 's', 3, 'v', 'h', 'failed', 'NO_CLASS: no rule matches', 'NO_CLASS'),
                           ('t', 's', 4, 'v', 'h', 'loaded', 'truncated: name; written', NULL)"""
                ),
                {"long": long_reason, "huge": huge},
            )
        assert upgrade(staging) == head_revision()
        with staging.connect() as conn:
            rows = conn.execute(
                text("SELECT reason, failure_detail FROM qcmdb.asset_classification ORDER BY asset_id")
            ).all()
        assert rows[0] == (long_reason.split("; ")[0], long_reason)
        assert rows[1][0] == huge[:199] + "…" and len(rows[1][0]) == 200 and rows[1][1] == huge
        assert rows[2] == ("NO_CLASS: no rule matches", None)  # short already
        assert rows[3] == ("truncated: name; written", None)  # not failed: a load note
        with staging.begin() as conn:
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "0007")
        with staging.connect() as conn:
            back = conn.execute(text("SELECT reason FROM qcmdb.asset_classification ORDER BY asset_id")).scalars()
            assert list(back) == [long_reason, huge, "NO_CLASS: no rule matches", "truncated: name; written"]
    finally:
        upgrade(staging)
