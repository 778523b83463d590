"""Write a source's staged software catalog to the CMDB's software table (SRC-5, "Sync Software Catalog to CMDB").

The vendor app's "Master Software" is ServiceNow's Software table, ``cmdb_ci_spkg`` (seed "Software Data Model";
reference/servicenow-api.md §4.1), keyed by ``key`` = ``name_|_version``, the key the asset loads give the packages
they relate to their CIs. Writes go through the Table API, one row per call: POST for a product the CMDB does not
have, PATCH for one it has.

Delta skip: each catalog row carries the hash of its catalog columns and the hash last written; only a product
never written, or whose hash changed, is written, so a run with nothing changed makes no write call at all. Products
not written yet are first looked up by key in the CMDB (one paged read of ``sys_id,key``): a package an asset load
or an earlier, interrupted run created is updated, not created again.

The lifecycle, license and category fields are those of the vendor app's Master Software mapping; a field the
table lacks (``cmdb/meta``) is left out and named once in the sync notes, as ServiceNow would drop it silently.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import Engine, func, or_, select, update

from qualys_cmdb.hooks.servicenow import ServiceNowAnswerLost, ServiceNowError, ServiceNowHook
from qualys_cmdb.lifetime import Lifetime
from qualys_cmdb.staging.schema import software_catalog

SOFTWARE_TABLE = "cmdb_ci_spkg"
DISCOVERY_SOURCE = "Qualys"
#: catalog column -> field of the Software table (the vendor's Master Software mapping; name/version/key first)
FIELD_MAP = {
    "version": "version",
    "product": "product",
    "publisher": "publisher",
    "category": "category",
    "component": "component",
    "edition": "edition",
    "is_ignored": "is_ignored",
    "ignored_reason": "is_ignored_reason",
    "language": "language",
    "license_category": "license_category",
    "software_type": "type",
    "update": "update",
    "lifecycle_ga": "lifecycle_ga",
    "lifecycle_stage": "lifecycle_stage",
    "market_version": "market_version",
    "lifecycle_confidence": "software_lifecycle_confidence",
    "lifecycle_eol_support_stage": "software_lifecycle_eol_support_stage",
    "lifecycle_eos_date": "software_lifecycle_eos_date",
    "lifecycle_eos_support_stage": "software_lifecycle_eos_support_stage",
}


def cmdb_key(name: str | None, version: str | None) -> str:
    """The Software table's ``key`` of a product: ``name_|_version`` (as the asset loads write it)."""
    return f"{name or ''}_|_{version or ''}"


def _value(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, date):
        return value.isoformat()
    return value


def payload(row: dict[str, Any], fields: set[str] | None) -> dict[str, Any]:
    """The Software-table values of a catalog row; ``fields``: the table's fields (None: every mapped field)."""
    values: dict[str, Any] = {
        "name": row["name"],
        "key": cmdb_key(row["name"], row["version"]),
        "package_name": row["product"] or row["name"],
        "discovery_source": DISCOVERY_SOURCE,
    }
    for column, target in FIELD_MAP.items():
        if row.get(column) is not None:
            values[target] = _value(row[column])
    if fields is None:
        return values
    return {k: v for k, v in values.items() if k in fields}


@dataclass
class CmdbResult:
    """The outcome of writing a source's catalog to the CMDB."""

    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    failed: int = 0
    linked: int = 0  # products found in the CMDB by key before their first write
    dropped_fields: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    stopped_reason: str | None = None

    def counts(self) -> dict[str, int]:
        return {
            "cmdb_inserted": self.inserted,
            "cmdb_updated": self.updated,
            "cmdb_unchanged": self.unchanged,
            "cmdb_failed": self.failed,
        }

    def render(self) -> str:
        out = (
            f"CMDB {SOFTWARE_TABLE}: {self.inserted} inserted, {self.updated} updated, {self.unchanged} unchanged "
            f"(skipped), {self.failed} failed"
        )
        if self.linked:
            out += f"; {self.linked} found in the CMDB by key"
        if self.dropped_fields:
            out += f"; fields the table lacks, not written: {', '.join(self.dropped_fields)}"
        if self.stopped_reason:
            out += f"; stopped: {self.stopped_reason}, the next run writes the rest"
        if self.errors:
            out += f"; first error: {self.errors[0]}"
        return out


def _pending(engine: Engine, source: str) -> Iterator[dict[str, Any]]:
    """The source's catalog rows to write: never written, or changed since (their hash differs)."""
    cat = software_catalog
    query = (
        select(cat)
        .where(
            cat.c.source == source,
            cat.c.name.is_not(None),
            or_(cat.c.cmdb_sys_id.is_(None), cat.c.cmdb_hash.is_(None), cat.c.cmdb_hash != cat.c.row_hash),
        )
        .order_by(cat.c.software_key)
    )
    with engine.connect() as conn:
        rows = [dict(r) for r in conn.execute(query).mappings()]
    yield from rows


def _unchanged(engine: Engine, source: str) -> int:
    cat = software_catalog
    with engine.connect() as conn:
        return int(
            conn.execute(
                select(func.count())
                .select_from(cat)
                .where(cat.c.source == source, cat.c.cmdb_sys_id.is_not(None), cat.c.cmdb_hash == cat.c.row_hash)
            ).scalar_one()
        )


def write_catalog(engine: Engine, hook: ServiceNowHook, source: str, lifetime: Lifetime | None = None) -> CmdbResult:
    """Insert or update the source's new and changed catalog products in the CMDB's Software table; stops between
    two writes at the max transaction lifetime (``stopped_reason``): the next run writes the rest."""
    result = CmdbResult(unchanged=_unchanged(engine, source))
    pending = list(_pending(engine, source))
    if not pending:
        return result  # nothing changed: no call at all
    try:
        fields: set[str] | None = hook.class_attributes(SOFTWARE_TABLE)
    except ServiceNowError:
        fields = None
    if fields is not None:
        mapped = {"name", "key", "package_name", "discovery_source", *FIELD_MAP.values()}
        result.dropped_fields = sorted(mapped - fields)
    existing: dict[str, str] = {}
    if any(r["cmdb_sys_id"] is None for r in pending):
        for ci in hook.table_query(SOFTWARE_TABLE, fields=["sys_id", "key"]):
            if ci.get("key") and ci.get("sys_id"):
                existing.setdefault(str(ci["key"]), str(ci["sys_id"]))
    for done, row in enumerate(pending):
        if lifetime is not None and lifetime.exceeded():
            result.stopped_reason = lifetime.reason(f"{done} of {len(pending)} product(s) written")
            break
        values = payload(row, fields)
        key = cmdb_key(row["name"], row["version"])
        sys_id = row["cmdb_sys_id"] or existing.get(key)
        try:
            if sys_id:
                hook.table_update(SOFTWARE_TABLE, sys_id, values)
                result.updated += 1
                if row["cmdb_sys_id"] is None:
                    result.linked += 1
            else:
                created = hook.table_insert(SOFTWARE_TABLE, values)
                sys_id = str(created["sys_id"])
                existing[key] = sys_id
                result.inserted += 1
        except (ServiceNowError, KeyError) as exc:
            message = str(exc) if not isinstance(exc, ServiceNowAnswerLost) else f"{exc} (read back by the next run)"
            result.failed += 1
            result.errors.append(f"{key}: {message}")
            _mark(engine, source, row["software_key"], error=message[:2000])
            continue
        _mark(engine, source, row["software_key"], sys_id=sys_id, written_hash=row["row_hash"])
    return result


def _mark(
    engine: Engine,
    source: str,
    software_key: str,
    *,
    sys_id: str | None = None,
    written_hash: str | None = None,
    error: str | None = None,
) -> None:
    cat = software_catalog
    values: dict[str, Any] = {"cmdb_error": error}
    if sys_id is not None:
        values.update(cmdb_sys_id=sys_id, cmdb_hash=written_hash, cmdb_written_at=func.now())
    with engine.begin() as conn:
        conn.execute(update(cat).where(cat.c.source == source, cat.c.software_key == software_key).values(**values))
