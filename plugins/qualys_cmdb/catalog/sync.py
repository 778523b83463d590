"""One source's software-catalog sync (SRC-5, HK-5): pull into staging, write to the CMDB when asked, record the
last sync time, key and notes; and what ``qcmdb catalog status`` shows of it."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, func, select

from qualys_cmdb.catalog.cmdb import write_catalog
from qualys_cmdb.catalog.pull import pull_catalog, record
from qualys_cmdb.config import QualysCmdbConfig, Source
from qualys_cmdb.hooks.qualys import QualysHook
from qualys_cmdb.hooks.servicenow import ServiceNowHook
from qualys_cmdb.lifetime import Lifetime
from qualys_cmdb.staging import store
from qualys_cmdb.staging.schema import software_catalog, software_catalog_sync


def sync_catalog(
    engine: Engine, config: QualysCmdbConfig, source: Source, run_id: str, app_log: store.AppLog | None = None
) -> dict[str, Any]:
    """Pull the source's software catalog into staging and, with ``sync_software_catalog_to_cmdb``, write its new
    and changed products to the CMDB; record the last sync time, key and notes. Returns the counts."""
    props = config.properties
    lifetime = Lifetime.of(props)
    hook = QualysHook.for_source(source, props)
    try:
        pulled = pull_catalog(
            engine, hook, source.name, run_id, page_size=props.software_catalog_page_size, lifetime=lifetime
        )
    except Exception as exc:
        note = f"the catalog pull failed: {exc}"
        record(engine, source.name, status="failed", sync_id=None, run_id=run_id, key=None, note=note)
        if app_log is not None:
            app_log.error("software catalog", note)
        raise
    finally:
        hook.close()
    notes = [f"Qualys: {pulled.render()}"]
    counts: dict[str, int] = {"pages": pulled.pages, "products": pulled.products}
    stopped = not pulled.complete
    if source.sync_software_catalog_to_cmdb:
        cmdb = ServiceNowHook.for_properties(props)
        try:
            written = write_catalog(engine, cmdb, source.name, lifetime=lifetime)
        finally:
            cmdb.close()
        notes.append(written.render())
        counts.update(written.counts())
        stopped = stopped or written.stopped_reason is not None
    else:
        notes.append("not written to the CMDB (sync_software_catalog_to_cmdb: false)")
    note = "; ".join(notes)
    record(
        engine,
        source.name,
        status="complete" if pulled.complete else "stopped",
        sync_id=pulled.sync_id,
        run_id=run_id,
        key=str(pulled.cursor),
        note=note,
        counts=counts,
    )
    if app_log is not None:
        (app_log.warning if stopped else app_log.info)("software catalog", note, **counts)
    return {"source": source.name, "complete": pulled.complete, "notes": note, **counts}


def catalog_status(engine: Engine, config: QualysCmdbConfig) -> list[dict[str, Any]]:
    """Per declared source: whether it syncs its catalog (and to the CMDB), its last sync time, key, status and
    notes, the products staged and those written to the CMDB."""
    cat = software_catalog
    with engine.connect() as conn:
        syncs = {r["source"]: dict(r) for r in conn.execute(select(software_catalog_sync)).mappings()}
        staged: dict[str, int] = {
            str(r[0]): int(r[1]) for r in conn.execute(select(cat.c.source, func.count()).group_by(cat.c.source))
        }
        written: dict[str, int] = {
            str(r[0]): int(r[1])
            for r in conn.execute(
                select(cat.c.source, func.count())
                .where(cat.c.cmdb_sys_id.is_not(None), cat.c.cmdb_hash == cat.c.row_hash)
                .group_by(cat.c.source)
            )
        }
    out = []
    for src in config.sources:
        sync = syncs.get(src.name, {})
        out.append(
            {
                "source": src.name,
                "sync_software_catalog": src.sync_software_catalog,
                "to_cmdb": src.sync_software_catalog_to_cmdb,
                "last_sync_at": sync.get("last_sync_at"),
                "last_sync_key": sync.get("last_sync_key"),
                "status": sync.get("status"),
                "notes": sync.get("notes"),
                "products": staged.get(src.name, 0),
                "in_cmdb": written.get(src.name, 0),
            }
        )
    return out


def render_status(rows: list[dict[str, Any]]) -> str:
    """``qcmdb catalog status`` as text: one block per source."""
    lines = []
    for r in rows:
        mode = (
            ("staging and CMDB" if r["to_cmdb"] else "staging only")
            if r["sync_software_catalog"]
            else "off (sync_software_catalog: false)"
        )
        lines.append(f"source {r['source']}: software catalog sync {mode}")
        when = r["last_sync_at"].isoformat(timespec="seconds") if r["last_sync_at"] else "never"
        lines.append(f"  last sync: {when} · key: {r['last_sync_key'] or '-'} · status: {r['status'] or '-'}")
        lines.append(f"  products staged: {r['products']} · up to date in the CMDB: {r['in_cmdb']}")
        if r["notes"]:
            lines.append(f"  notes: {r['notes']}")
    return "\n".join(lines) or "no source declared"
