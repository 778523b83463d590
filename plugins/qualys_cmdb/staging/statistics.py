"""The planner's statistics of the staging tables, brought up to date by the step that changed them.

A step that rewrites a large share of a table (a first sync stages 50,000 assets; classify writes as many
classifications) leaves PostgreSQL's statistics describing the table as it was. Autovacuum would ANALYZE it, but only
after its next nap (a minute by default) and the next step plans its statements at once: on a table the planner
believes empty it picks nested loops over hundreds of thousands of rows (classify went from 11 s to more than 3 min at
50,000 assets). So the step that changed the table analyzes it before it hands over, when the change is large enough
that autovacuum would have done so too (the same 10 % rule); a small change leaves the work to autovacuum.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Connection, text

from qualys_cmdb.staging.schema import SCHEMA

#: The share of a table's rows (as the planner believes them) a step must have changed to analyze it itself:
#: autovacuum's default ``autovacuum_analyze_scale_factor``.
STALE_SHARE = 0.1


def planned_rows(conn: Connection, table: str) -> float:
    """How many rows the planner believes ``table`` (in the staging schema) holds: -1 when it was never analyzed."""
    found = conn.execute(
        text(
            "SELECT c.reltuples FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = :schema AND c.relname = :table"
        ),
        {"schema": SCHEMA, "table": table},
    ).scalar()
    return -1.0 if found is None else float(found)


def refresh_statistics(conn: Connection, tables: Iterable[str], *, changed: int, of: str) -> list[str]:
    """ANALYZE those of ``tables`` that a step changing ``changed`` rows of the table ``of`` made stale: all of them
    when ``changed`` is at least :data:`STALE_SHARE` of the rows the planner believes ``of`` holds (an asset's detail
    rows change with it), and any never analyzed. Returns the tables analyzed."""
    if changed <= 0:
        return []
    basis = planned_rows(conn, of)
    large = basis < 0 or changed >= STALE_SHARE * max(basis, 1.0)
    analyzed = []
    for table in dict.fromkeys(tables):
        if large or planned_rows(conn, table) < 0:
            conn.execute(text(f'ANALYZE "{SCHEMA}"."{table}"'))
            analyzed.append(table)
    return analyzed
