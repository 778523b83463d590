"""*stage*: set-based upsert from landing into the staging tables, in chunks of records (one transaction each).

For the parsed queue records given: pick each asset's newest landing row (an asset may sit in several records),
compare its content hash with the staged one, and for the assets that changed replace the asset row and the detail
kinds the schedule fetches; unchanged assets only get their "last seen" run. Each schedule's own view of its assets
(``schedule_asset``) records which assets it selected and their content as it fetched them. A record processed
again (re-queued, re-run) finds the same hash and changes nothing: no row is ever duplicated, and an older response
never overwrites newer data.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import Connection, Engine, text

from qualys_cmdb.classify.mappings import OsName
from qualys_cmdb.config import DetailFlags
from qualys_cmdb.intake.landing import clear_landing
from qualys_cmdb.intake.os_names import derive_os_categories
from qualys_cmdb.lifetime import Lifetime
from qualys_cmdb.staging.locks import Step, lock_for_transaction
from qualys_cmdb.staging.schema import (
    CHILD_COLUMNS,
    SCHEMA,
    STAGED_CHILDREN,
    landing_asset,
    landing_software,
    landing_software_product,
    schedule_asset,
    staged_asset,
    staged_software,
)
from qualys_cmdb.staging.statistics import refresh_statistics


@dataclass
class StageResult:
    """Counts of one stage step."""

    records: int = 0
    assets: int = 0
    changed: int = 0
    unchanged: int = 0
    software_rows: int = 0
    requeued: list[int] = field(default_factory=list)  # records whose landing rows were lost: parse them again
    os_rows_derived: int = 0  # staged OS rows whose categories were (re)derived from the OS name (hostasset)
    chunks: int = 0  # transactions that staged records
    stopped_reason: str | None = None  # the max transaction lifetime stopped it before every record was staged
    records_left: int = 0  # parsed records left for the next run's stage when it stopped
    analyzed: list[str] = field(default_factory=list)  # tables whose planner statistics this stage refreshed


def _cols(names: list[str], prefix: str = "") -> str:
    return ", ".join(f'{prefix}"{n}"' for n in names)


_ASSET_COLS = [c.name for c in landing_asset.columns if c.name != "queue_id"]
_SOFTWARE_CATALOG_COLS = [c.name for c in staged_software.columns if c.name not in ("first_seen", "last_seen")]


#: Detail kinds a schedule fetches only when its detail flag is on (QS-4); the other kinds come with every asset.
KIND_FLAGS = {
    "open_port": "ports",
    "volume": "volumes",
    "network_interface": "interfaces",
    "processor": "processors",
    "software_install": "software",
}


#: Assets per stage transaction: large enough that a normal run takes few, small enough that the lifetime can stop a
#: first load of a large estate between two.
CHUNK_ASSETS = 10_000


def stage_records(
    engine: Engine,
    schedule: str,
    run_id: str,
    *,
    source: str | None = None,
    details: DetailFlags | None = None,
    os_names: Sequence[OsName] | None = None,
    lifetime: Lifetime | None = None,
) -> StageResult:
    """Stage every parsed record of ``schedule``; mark them Success with per-record notes.

    Staged data is one copy per (source, asset), whichever schedule fetched it; ``schedule_asset`` is each
    schedule's view of it (which assets it selected, the content hash as it fetched them). A schedule replaces only
    the detail kinds its ``details`` flags fetch, so two schedules with different flags never wipe each other's
    rows. Runs under the source's stage lock: a second run of the schedule, or another schedule of the source, waits
    instead of computing its changes from landing rows or staged rows the first one is about to replace. A record
    whose landing rows are not all there (the landing tables are UNLOGGED, and a PostgreSQL crash empties them) is
    never marked Success: it goes back to Queued, its id in ``requeued``, to be parsed again from its stored
    response.

    The records are staged in chunks of about :data:`CHUNK_ASSETS` assets, oldest first, one transaction each (a
    newer response of an asset, in a later chunk, wins as it would in one). Once ``lifetime`` is over, it stops
    after the chunk in hand: the records left stay parsed, with their landing rows, for the next run's stage.

    ``os_names``: the source's records carry OS names without categories (api: hostasset); every staged OS row of the
    source gets its categories from this table (:func:`~qualys_cmdb.intake.os_names.derive_os_categories`), also in
    a run that staged nothing new, so that a change of the table reaches every asset.
    """
    result = StageResult()
    details = details or DetailFlags()
    source_name = source
    while True:
        with engine.begin() as conn:
            source_name = source_name or _source_of(conn, schedule)
            lock_for_transaction(conn, Step.STAGE, source_name)
            parsed = _parsed_records(conn, schedule)
            chunk = _chunk(parsed, CHUNK_ASSETS)
            requeued = _requeue_incomplete(conn, chunk)
            result.requeued += requeued
            queue_ids = [q for q in chunk if q not in requeued]
            if queue_ids:
                _stage_chunk(conn, schedule, run_id, queue_ids, details, result)
        left = len(parsed) - len(chunk)
        if not left:
            break
        if queue_ids and lifetime is not None and lifetime.exceeded():
            result.records_left = left
            result.stopped_reason = lifetime.reason(f"{result.records} record(s) staged in {result.chunks} chunk(s)")
            break
    if os_names is not None:
        with engine.begin() as conn:
            lock_for_transaction(conn, Step.STAGE, source_name or schedule)
            result.os_rows_derived = derive_os_categories(conn, source_name or schedule, os_names)
    if result.changed:
        with engine.begin() as conn:
            result.analyzed = refresh_statistics(
                conn, staged_tables(details), changed=result.changed, of=staged_asset.name
            )
    return result


def staged_tables(details: DetailFlags) -> list[str]:
    """The staging tables a stage with these detail flags writes (the kinds it does not fetch stay as they are)."""
    kinds = [kind for kind in CHILD_COLUMNS if kind not in KIND_FLAGS or getattr(details, KIND_FLAGS[kind])]
    tables = [staged_asset.name, schedule_asset.name, *(STAGED_CHILDREN[kind].name for kind in kinds)]
    return tables + ([staged_software.name] if details.software else [])


def _chunk(parsed: list[tuple[int, int]], assets: int) -> list[int]:
    """The oldest records of ``parsed`` (id, assets) holding about ``assets`` assets (one record at least)."""
    chunk: list[int] = []
    total = 0
    for queue_id, count in parsed:
        if chunk and total + count > assets:
            break
        chunk.append(queue_id)
        total += count
    return chunk


def _stage_chunk(
    conn: Connection, schedule: str, run_id: str, queue_ids: list[int], details: DetailFlags, result: StageResult
) -> None:
    """Stage one chunk of parsed records in the caller's transaction; add its counts to ``result``."""
    _choose(conn, queue_ids)
    assets = _scalar(conn, "SELECT count(*) FROM chosen")
    changed = _view_changes(conn, schedule)
    result.records += len(queue_ids)
    result.assets += assets
    result.changed += changed
    result.unchanged += assets - changed
    result.chunks += 1
    _upsert_assets(conn, run_id)
    for kind in CHILD_COLUMNS:
        if kind in KIND_FLAGS and not getattr(details, KIND_FLAGS[kind]):
            continue  # not fetched by this schedule: another schedule's rows stay
        staged_rows = _replace_children(conn, kind, partial=kind == "ip_address" and not details.interfaces)
        if kind == "software_install":
            result.software_rows += staged_rows
    if details.software:
        _upsert_software_catalog(conn)
    _upsert_view(conn, schedule, run_id)
    _mark_success(conn, queue_ids)
    clear_landing(conn, queue_ids)


def _source_of(conn: Connection, schedule: str) -> str:
    found = conn.execute(
        text(f"SELECT source FROM \"{SCHEMA}\".sync_queue WHERE schedule = :s AND direction = 'download' LIMIT 1"),
        {"s": schedule},
    ).scalar()
    return str(found or schedule)


def _view_changes(conn: Connection, schedule: str) -> int:
    """How many chosen assets are new to the schedule or changed since it last staged them."""
    return _scalar_params(
        conn,
        f"""
        SELECT count(*) FROM chosen c
        LEFT JOIN "{SCHEMA}".schedule_asset v
               ON v.schedule = :schedule AND v.source = c.source AND v.asset_id = c.asset_id
        WHERE v.asset_id IS NULL OR v.content_hash <> c.content_hash
        """,
        {"schedule": schedule},
    )


def _upsert_view(conn: Connection, schedule: str, run_id: str) -> None:
    """The schedule's view: every chosen asset is one of its assets, with the content as it fetched it (an older
    response than what is staged does not move it back)."""
    conn.execute(
        text(
            f"""
            INSERT INTO "{SCHEMA}".schedule_asset AS v (schedule, source, asset_id, content_hash, first_seen_run,
                                                       last_seen_run, changed_run, staged_at, changed_at)
            SELECT :schedule, c.source, c.asset_id, c.content_hash, :run, :run, :run, now(), now()
            FROM chosen c
            JOIN "{SCHEMA}".staged_asset s ON s.source = c.source AND s.asset_id = c.asset_id
            WHERE s.last_modified_date IS NULL OR c.last_modified_date IS NULL
               OR c.last_modified_date >= s.last_modified_date
            ON CONFLICT (schedule, source, asset_id) DO UPDATE SET
                last_seen_run = :run, staged_at = now(), content_hash = excluded.content_hash,
                changed_run = CASE WHEN v.content_hash <> excluded.content_hash THEN :run ELSE v.changed_run END,
                changed_at = CASE WHEN v.content_hash <> excluded.content_hash THEN now() ELSE v.changed_at END
            """
        ),
        {"schedule": schedule, "run": run_id},
    )


def _scalar_params(conn: Connection, sql: str, params: dict[str, object]) -> int:
    return int(conn.execute(text(sql), params).scalar_one())


def _parsed_records(conn: Connection, schedule: str) -> list[tuple[int, int]]:
    """The schedule's records parsed and waiting for stage (id, assets), locked for this transaction."""
    rows = conn.execute(
        text(
            f"""
            SELECT id, coalesce(parsed_assets, record_count, 0) FROM "{SCHEMA}".sync_queue
            WHERE direction = 'download' AND schedule = :schedule AND status = 'Processing'
              AND parsed_at IS NOT NULL
            ORDER BY id FOR UPDATE
            """
        ),
        {"schedule": schedule},
    )
    return [(int(r[0]), int(r[1])) for r in rows]


def _requeue_incomplete(conn: Connection, queue_ids: list[int]) -> list[int]:
    """Send back to Queued the records whose landing rows are fewer than parse landed; returns their ids."""
    if not queue_ids:
        return []
    rows = conn.execute(
        text(
            f"""
            WITH landed AS (
                SELECT queue_id, count(*) AS assets FROM "{SCHEMA}".landing_asset
                WHERE queue_id = ANY(:ids) GROUP BY queue_id
            )
            UPDATE "{SCHEMA}".sync_queue q
            SET status = 'Queued', parsed_at = NULL, parsed_assets = NULL, processor_id = NULL, updated_at = now(),
                notes = concat_ws(' | ', q.notes, format(
                    'landing rows lost before stage (%s of %s assets there; was the database restarted?): '
                    'queued to be parsed again from the stored response', coalesce(l.assets, 0),
                    coalesce(q.parsed_assets, q.record_count)))
            FROM (SELECT i AS id FROM unnest(CAST(:ids AS bigint[])) AS i) ids
            LEFT JOIN landed l ON l.queue_id = ids.id
            WHERE q.id = ids.id
              AND coalesce(l.assets, 0) <> coalesce(q.parsed_assets, q.record_count, coalesce(l.assets, 0))
            RETURNING q.id
            """
        ),
        {"ids": queue_ids},
    )
    return sorted(int(r[0]) for r in rows)


def _scalar(conn: Connection, sql: str) -> int:
    return int(conn.execute(text(sql)).scalar_one())


def _choose(conn: Connection, queue_ids: list[int]) -> None:
    conn.execute(
        text(
            f"""
            CREATE TEMP TABLE chosen ON COMMIT DROP AS
            SELECT DISTINCT ON (source, asset_id) queue_id, source, asset_id, content_hash, last_modified_date
            FROM "{SCHEMA}".landing_asset WHERE queue_id = ANY(:ids)
            ORDER BY source, asset_id, last_modified_date DESC NULLS LAST, queue_id DESC
            """
        ),
        {"ids": queue_ids},
    )
    conn.execute(
        text(
            f"""
            CREATE TEMP TABLE changed ON COMMIT DROP AS
            SELECT c.* FROM chosen c
            LEFT JOIN "{SCHEMA}".staged_asset s ON s.source = c.source AND s.asset_id = c.asset_id
            WHERE (s.asset_id IS NULL OR s.content_hash <> c.content_hash)
              AND (s.last_modified_date IS NULL OR c.last_modified_date IS NULL
                   OR c.last_modified_date >= s.last_modified_date)
            """
        )
    )
    conn.execute(text("CREATE INDEX ON changed (queue_id, source, asset_id); ANALYZE changed; ANALYZE chosen"))


def _upsert_assets(conn: Connection, run_id: str) -> None:
    cols = _ASSET_COLS
    updates = ", ".join(f'"{c}" = excluded."{c}"' for c in cols if c not in ("source", "asset_id"))
    conn.execute(
        text(
            f"""
            INSERT INTO "{SCHEMA}".{staged_asset.name} ({_cols(cols)}, queue_id, first_seen_run, last_seen_run,
                                                      changed_run, staged_at, changed_at)
            SELECT DISTINCT ON (l.source, l.asset_id) {_cols(cols, "l.")}, l.queue_id, :run, :run, :run, now(), now()
            FROM "{SCHEMA}".landing_asset l JOIN changed c USING (queue_id, source, asset_id)
            ON CONFLICT (source, asset_id) DO UPDATE SET {updates}, queue_id = excluded.queue_id,
                last_seen_run = :run, changed_run = :run, staged_at = now(), changed_at = now()
            """
        ),
        {"run": run_id},
    )
    conn.execute(
        text(
            f"""
            UPDATE "{SCHEMA}".staged_asset s SET last_seen_run = :run, staged_at = now()
            FROM chosen c
            WHERE s.source = c.source AND s.asset_id = c.asset_id
              AND NOT EXISTS (SELECT 1 FROM changed x WHERE x.source = c.source AND x.asset_id = c.asset_id)
            """
        ),
        {"run": run_id},
    )


def _replace_children(conn: Connection, kind: str, partial: bool = False) -> int:
    """Replace the ``kind`` rows of the changed assets with their landing rows; the number of rows staged.

    ``partial``: the landing rows are a part of the kind (IP addresses without the interfaces' ones: the schedule
    does not fetch interfaces), so only assets no schedule fetched interfaces for are replaced.
    """
    staged = STAGED_CHILDREN[kind]
    landing = f"landing_{'software' if kind == 'software_install' else kind}"
    cols = [c.name for c in staged.columns]
    only = (
        f"""AND NOT EXISTS (SELECT 1 FROM "{SCHEMA}".staged_network_interface n
                            WHERE n.source = c.source AND n.asset_id = c.asset_id)"""
        if partial
        else ""
    )
    conn.execute(
        text(
            f"""
            DELETE FROM "{SCHEMA}".{staged.name} s USING changed c
            WHERE s.source = c.source AND s.asset_id = c.asset_id {only}
            """
        )
    )
    inserted = conn.execute(
        text(
            f"""
            INSERT INTO "{SCHEMA}".{staged.name} ({_cols(cols)})
            SELECT {_cols(cols, "l.")} FROM "{SCHEMA}".{landing} l JOIN changed c USING (queue_id, source, asset_id)
            WHERE true {only}
            """
        )
    )
    return int(inserted.rowcount)


def _upsert_software_catalog(conn: Connection) -> None:
    """Upsert the catalog rows of the products the changed assets have, each from the newest record holding it."""
    cols = _SOFTWARE_CATALOG_COLS
    updates = ", ".join(f'"{c}" = excluded."{c}"' for c in cols if c != "software_key")
    conn.execute(
        text(
            f"""
            WITH newest AS (
                SELECT l.software_key, max(l.queue_id) AS queue_id
                FROM "{SCHEMA}".{landing_software.name} l JOIN changed c USING (queue_id, source, asset_id)
                GROUP BY l.software_key
            )
            INSERT INTO "{SCHEMA}".{staged_software.name} ({_cols(cols)}, first_seen, last_seen)
            SELECT DISTINCT ON (p.software_key) {_cols(cols, "p.")}, now(), now()
            FROM "{SCHEMA}".{landing_software_product.name} p JOIN newest n USING (software_key, queue_id)
            ORDER BY p.software_key
            ON CONFLICT (software_key) DO UPDATE SET {updates}, last_seen = now()
            """
        )
    )


def _mark_success(conn: Connection, queue_ids: list[int]) -> None:
    conn.execute(
        text(
            f"""
            UPDATE "{SCHEMA}".sync_queue q
            SET status = 'Success', processed_at = now(), updated_at = now(),
                notes = concat_ws(' | ', q.notes, format('staged %s assets: %s changed, %s unchanged',
                                  coalesce(n.assets, 0), coalesce(n.changed, 0),
                                  coalesce(n.assets, 0) - coalesce(n.changed, 0)))
            FROM (SELECT i AS queue_id FROM unnest(CAST(:ids AS bigint[])) AS i) ids
            LEFT JOIN (
                SELECT l.queue_id, count(*) AS assets, count(x.asset_id) AS changed
                FROM "{SCHEMA}".landing_asset l
                LEFT JOIN changed x ON x.queue_id = l.queue_id AND x.source = l.source AND x.asset_id = l.asset_id
                WHERE l.queue_id = ANY(:ids) GROUP BY l.queue_id
            ) n ON n.queue_id = ids.queue_id
            WHERE q.id = ids.queue_id
            """
        ),
        {"ids": queue_ids},
    )
