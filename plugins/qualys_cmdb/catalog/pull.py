"""Pull a source's software catalog from Qualys and stage it (SRC-5, HK-5, PR-6).

Qualys has no catalog endpoint (reference/qualys-api.md §5): the catalog is built from the CSAM asset inventory,
``search/am/asset`` with ``includeFields`` asking for software (and no other detail), ``software_catalog_page_size``
assets a page, de-duplicated on the product (name, version, publisher, architecture: the ``software_key`` of the
staged catalog) with its lifecycle, license and category fields. A page is read, its products upserted into
``software_catalog`` and the page dropped: memory holds one page. Each row carries a hash of its catalog columns,
which the CMDB writer compares with the hash it last wrote.

A pass covers every asset; it stops between two pages at the max transaction lifetime, and the next run resumes
after the last asset id it read (the "last sync key"), counting into the same pass.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, case, func, select
from sqlalchemy.dialects.postgresql import insert

from qualys_cmdb.config import DetailFlags
from qualys_cmdb.hooks.qualys import QualysHook
from qualys_cmdb.intake.csam import parse_csam_page
from qualys_cmdb.lifetime import Lifetime
from qualys_cmdb.staging.schema import software_catalog, software_catalog_sync

#: Every asset: the pull is not a window of modifications but the whole inventory.
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
SOFTWARE_ONLY = DetailFlags(ports=False, volumes=False, interfaces=False, software=True, processors=False)
#: The catalog columns of a row (those of ``staged_software``), in table order: what the hash is made of.
CATALOG_COLUMNS = tuple(
    c.name
    for c in software_catalog.columns
    if c.name
    not in {
        "source",
        "software_key",
        "installs",
        "row_hash",
        "sync_id",
        "first_seen",
        "last_seen",
        "cmdb_sys_id",
        "cmdb_hash",
        "cmdb_written_at",
        "cmdb_error",
    }
)


def row_hash(row: dict[str, Any]) -> str:
    """The hash of a catalog row's catalog columns (what the CMDB gets): a changed lifecycle is a new hash."""
    raw = "\x1f".join("" if row.get(c) is None else str(row[c]) for c in CATALOG_COLUMNS)
    return hashlib.md5(raw.encode(), usedforsecurity=False).hexdigest()


@dataclass
class PullResult:
    """What one run of the pull did."""

    sync_id: str
    pages: int = 0
    assets: int = 0
    products: int = 0  # distinct products of the pass so far
    complete: bool = False
    cursor: int = 0
    stopped_reason: str | None = None
    gone: int = 0  # products of earlier passes not seen by this (complete) pass

    def render(self) -> str:
        state = "pass complete" if self.complete else f"stopped after asset id {self.cursor}: {self.stopped_reason}"
        out = f"{self.pages} page(s), {self.assets} asset(s), {self.products} product(s) in the catalog; {state}"
        if self.gone:
            out += f"; {self.gone} product(s) of earlier passes no longer installed anywhere"
        return out


def previous_state(engine: Engine, source: str) -> dict[str, Any] | None:
    """The source's catalog-sync row (last sync time, key, notes, counts), or None before the first sync."""
    with engine.connect() as conn:
        row = conn.execute(select(software_catalog_sync).where(software_catalog_sync.c.source == source)).mappings()
        first = row.first()
    return dict(first) if first else None


def pull_catalog(
    engine: Engine,
    hook: QualysHook,
    source: str,
    run_id: str,
    *,
    page_size: int,
    lifetime: Lifetime | None = None,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> PullResult:
    """Page through the source's assets (software only) and upsert their products into ``software_catalog``."""
    state = previous_state(engine, source)
    resuming = state is not None and state["status"] == "stopped" and state["sync_id"]
    sync_id = str(state["sync_id"]) if resuming and state else run_id
    cursor = int(state["last_sync_key"] or 0) if resuming and state else 0
    result = PullResult(sync_id=sync_id, cursor=cursor)
    until = now()
    _save_progress(engine, source, sync_id, run_id, cursor)  # a run killed from here on resumes this pass
    while True:
        if lifetime is not None and lifetime.exceeded():
            result.stopped_reason = lifetime.reason(f"{result.pages} page(s)")
            break
        page = hook.csam_page(
            cursor=cursor,
            page_size=page_size,
            since=EPOCH,
            until=until,
            qql=[],
            tag=None,
            details=SOFTWARE_ONLY.model_dump(),
        )
        products: dict[str, dict[str, Any]] = {}
        installs: dict[str, int] = {}
        last_id = cursor
        try:
            if page.envelope.response_code is None:
                raise ValueError("its envelope cannot be read (truncated, or not in the expected format)")
            assets = 0
            for rec in parse_csam_page(page.body(), source, SOFTWARE_ONLY):
                assets += 1
                last_id = max(last_id, int(rec.asset["asset_id"]))
                for sw in rec.software:
                    key = sw["software_key"]
                    products[key] = {c: sw.get(c) for c in CATALOG_COLUMNS}
                    installs[key] = installs.get(key, 0) + 1
        except ValueError as exc:
            # Nothing of the page is kept: the pass stops before it, and the next run asks for it again.
            result.stopped_reason = f"the page after asset id {cursor} is unreadable ({exc}); the next run asks again"
            break
        finally:
            page.close()
        result.assets += assets
        has_more = bool(page.envelope.has_more)
        next_cursor = int(page.envelope.next_cursor or last_id) if has_more else last_id
        result.pages += 1
        _upsert(engine, source, sync_id, products, installs)
        if not has_more:
            result.complete = True
            result.cursor = next_cursor
            # the pass is over: the next run starts a new one (the caller records the time, notes and counts)
            record(
                engine,
                source,
                status="complete",
                sync_id=sync_id,
                run_id=run_id,
                key=str(next_cursor),
                note=None,
                stamp=False,
            )
            break
        cursor = result.cursor = next_cursor
        _save_progress(engine, source, sync_id, run_id, cursor)
    with engine.connect() as conn:
        result.products = conn.execute(
            select(func.count())
            .select_from(software_catalog)
            .where(software_catalog.c.source == source, software_catalog.c.sync_id == sync_id)
        ).scalar_one()
        if result.complete:
            result.gone = conn.execute(
                select(func.count())
                .select_from(software_catalog)
                .where(software_catalog.c.source == source, software_catalog.c.sync_id != sync_id)
            ).scalar_one()
    return result


def _upsert(
    engine: Engine, source: str, sync_id: str, products: dict[str, dict[str, Any]], installs: dict[str, int]
) -> None:
    if not products:
        return
    rows = [
        {"source": source, "software_key": key, **values, "installs": installs[key], "row_hash": row_hash(values)}
        | {"sync_id": sync_id}
        for key, values in sorted(products.items())
    ]
    stmt = insert(software_catalog).values(rows)
    table = software_catalog
    same_pass = table.c.sync_id == stmt.excluded.sync_id
    with engine.begin() as conn:
        conn.execute(
            stmt.on_conflict_do_update(
                index_elements=[table.c.source, table.c.software_key],
                set_={
                    **{c: stmt.excluded[c] for c in CATALOG_COLUMNS},
                    "row_hash": stmt.excluded.row_hash,
                    "installs": case(
                        (same_pass, table.c.installs + stmt.excluded.installs), else_=stmt.excluded.installs
                    ),
                    "sync_id": stmt.excluded.sync_id,
                    "last_seen": func.now(),
                },
            )
        )


def _save_progress(engine: Engine, source: str, sync_id: str, run_id: str, cursor: int) -> None:
    """Where the pass is: a run stopped (or killed) after this page resumes here."""
    record(engine, source, status="stopped", sync_id=sync_id, run_id=run_id, key=str(cursor), note=None, stamp=False)


def record(
    engine: Engine,
    source: str,
    *,
    status: str,
    sync_id: str | None,
    run_id: str,
    key: str | None,
    note: str | None,
    stamp: bool = True,
    counts: dict[str, int] | None = None,
) -> None:
    """Write the source's sync row: status, the pass, the last sync key, notes and counts (``stamp``: the time)."""
    values: dict[str, Any] = {"status": status, "sync_id": sync_id, "run_id": run_id, "last_sync_key": key}
    if note is not None:
        values["notes"] = note
    if stamp:
        values["last_sync_at"] = func.now()
    values.update(counts or {})
    stmt = insert(software_catalog_sync).values(source=source, **values)
    with engine.begin() as conn:
        conn.execute(stmt.on_conflict_do_update(index_elements=[software_catalog_sync.c.source], set_=values))
