"""*load* through the transform-map path (PR-5, CM-7, QS-5): one Import Set row per approved, changed asset, then
its related-table rows (CM-4).

The Import Set API transforms a row synchronously into the target table, matching existing CIs on the transform
map's coalesce fields (configured on the instance). The import set table is the schedule's own (its target transform
map, QS-5) or the properties' one. Each row's answer (inserted / updated / ignored / error) is recorded like an IRE
outcome, as soon as the asset's rows are written.

Related-table rows (asset, OS and hardware details, open ports, processors, software details: the field maps'
``related_tables``, built as for IRE) go through the Table API, under the CI the row's answer names (``u_ci``): the
Import Set API takes one row into one staging table per call, and a transform map cannot tie a second table's rows to
the CI it just wrote. The CI's existing rows of each table are read (not for a CI just inserted), each row matched on
its ``identified_by`` fields as IRE would, and only new rows are inserted and changed fields updated; rows Qualys no
longer reports stay, as with IRE. Software packages, their instances, file systems, IP addresses, serial numbers and
network adapters are the IRE path's (identification of dependent CIs needs it).

``copy_empty_fields``: when on, every mapped field of the CI row and of each related row is sent, empty ones as ""
(the instance's transform map must copy empty fields too, for "" to blank the CI's field; the Table API always
does); when off, empty values are never sent, so they never blank a field by accident.

A row is never sent twice for one change. Every row carries ``u_correlation_id`` (``<source>:<asset id>``; map it to
the CI's ``correlation_id``, and coalesce on it for the safest matching). Before a row is sent, the attempt is
recorded; when the answer is lost (a timeout, a dropped connection, a gateway error after the instance may have
committed), the load stops, and the next attempt first reads the instance's newest import row for that asset: if it
holds exactly the values that were sent, the instance committed them and its outcome is recorded without sending
again. Without that check, an asset with no coalesce match (no serial number, say) was inserted once per resend.
Related rows are inserted the same way (never sent again blindly): after a lost answer the load stops, the asset's
attempt stays recorded, and the next attempt reads its CI's rows back before writing any.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import msgspec
from sqlalchemy import Engine, text

from qualys_cmdb.classify.mappings import Mappings
from qualys_cmdb.hooks.servicenow import (
    ServiceNowAccessDenied,
    ServiceNowAnswerLost,
    ServiceNowHook,
    ServiceNowRequestError,
)
from qualys_cmdb.lifetime import Lifetime
from qualys_cmdb.load.ire import LoadResult, load_cutoff, record_outcomes, sent_by_siblings, waiting
from qualys_cmdb.load.payload import build_payload, truncate
from qualys_cmdb.staging.locks import Step, schedule_held
from qualys_cmdb.staging.schema import SCHEMA

OPERATIONS = {"inserted": "INSERT", "updated": "UPDATE", "ignored": "NO_CHANGE", "skipped": "NO_CHANGE"}
#: Import row columns the instance fills in: what it did with the row.
_RESULT_COLUMNS = (
    "sys_import_state",
    "sys_import_state_comment",
    "sys_target_sys_id",
    "sys_target_table",
    "sys_row_error",
)
#: The field of the Qualys related tables that references the CI (guide 2.2's related tables; IRE sets it itself).
CI_FIELD = "u_ci"


@dataclass(frozen=True)
class _Row:
    schedule: str
    source: str
    asset_id: int
    target_class: str | None
    values: dict[str, Any]  # the import row as sent
    cut: list[str]  # fields cut to their length (CM-8)
    payload_hash: str
    unconfirmed: bool  # sent before with these values, and the answer never recorded
    import_table: str
    related: tuple[tuple[str, dict[str, str]], ...] = ()  # (related table, its row's values) to write under the CI

    @property
    def correlation_id(self) -> str:
        return str(self.values["u_correlation_id"])

    @property
    def sent_hash(self) -> str:
        """A digest of what is sent (another schedule that sent the same through the same import set table wrote
        the same CI values and related rows)."""
        sent = {"table": self.import_table, "row": self.values, "related": self.related}
        return hashlib.md5(msgspec.json.encode(sent, order="sorted"), usedforsecurity=False).hexdigest()


def load_via_import_set(
    engine: Engine,
    hook: ServiceNowHook,
    mappings: Mappings,
    schedule: str,
    staging_table: str,
    copy_empty_fields: bool = False,
    batch_size: int = 200,
    *,
    source: str | None = None,
    lifetime: Lifetime | None = None,
    group_run: str | None = None,
) -> LoadResult:
    """Send every approved, changed asset of ``schedule`` through the Import Set table ``staging_table``, and its
    related-table rows through the Table API (with ``group_run``, the id of a page-group run: only those classified by
    the end of that run's classify, see :func:`~qualys_cmdb.load.ire.load_cutoff`).

    Holds the load lock of the schedule's ``source`` (a second run, or another schedule of the source, waits and then
    finds the outcomes this one recorded). Raises
    :class:`ServiceNowAnswerLost` when an answer is lost: what was confirmed before it is recorded. Once ``lifetime``
    is over it stops between two batches of ``batch_size`` assets: the rest stay approved for the next run.
    """
    result = LoadResult()
    calls_before = hook.calls
    with schedule_held(engine, Step.LOAD, source or schedule):
        cutoff = load_cutoff(engine, schedule, group_run) if group_run else None
        try:
            while True:
                keys = waiting(engine, schedule, "approved", batch_size, cutoff)
                if not keys:
                    break
                if result.batches and lifetime is not None and lifetime.exceeded():
                    result.stopped_reason = lifetime.reason(f"{result.batches} batch(es), {result.sent} asset(s) sent")
                    break
                result.batches += 1
                for row in _rows(engine, mappings, schedule, staging_table, keys, copy_empty_fields, result):
                    _send(engine, hook, mappings, row, result)
        finally:
            result.calls = hook.calls - calls_before
    return result


def _rows(
    engine: Engine,
    mappings: Mappings,
    schedule: str,
    staging_table: str,
    keys: list[tuple[str, int]],
    copy_empty_fields: bool,
    result: LoadResult,
) -> list[_Row]:
    """The import rows of the assets ``keys``, each with its related-table rows (built as for IRE, so the two paths
    send the same details; the rows left out are added to ``result.skipped``)."""
    payload = build_payload(engine, mappings, schedule, keys)
    result.skipped.update(payload.skipped)
    related_of: dict[tuple[str, int], list[tuple[str, dict[str, str]]]] = {}
    for key, index in payload.main_index.items():
        related = payload.items[index]["related"]
        related_of[key] = [(r["className"], r["values"]) for r in related if r["className"] in mappings.related_tables]
        if copy_empty_fields:  # a one-row-per-CI table the asset has no value for any more: its row is blanked
            present = {r["className"] for r in related}
            related_of[key] += [
                (t, {}) for t, s in mappings.related_tables.items() if s.rows is None and t not in present
            ]
    with engine.connect() as conn:
        found = conn.execute(
            text(
                f"SELECT source, asset_id, target_class, payload, payload_hash, "
                f"load_attempt_at IS NOT NULL AND load_attempt_hash = payload_hash AS unconfirmed "
                f'FROM "{SCHEMA}".asset_classification WHERE schedule = :schedule '
                "AND (source, asset_id) IN (SELECT * FROM unnest(CAST(:s AS text[]), CAST(:i AS bigint[]))) "
                "ORDER BY source, asset_id"
            ),
            {"schedule": schedule, "s": [k[0] for k in keys], "i": [k[1] for k in keys]},
        ).all()
    rows = []
    for source, asset_id, cls, payload_values, payload_hash, unconfirmed in found:
        values, cut = truncate(dict(payload_values or {}), mappings.field_lengths)
        if copy_empty_fields:
            values = {name: values.get(name, "") for name in mappings.ci_fields}
        row = {
            "u_target_class": cls,
            "u_correlation_id": f"{source}:{asset_id}",
            **{f"u_{k}": v for k, v in values.items()},
        }
        related = []
        for table, detail in related_of.get((source, int(asset_id)), []):
            if copy_empty_fields:
                detail = {name: detail.get(name, "") for name in mappings.related_tables[table].fields}
            detail, detail_cut = truncate(dict(detail), mappings.field_lengths)
            cut += [f"{table}.{c}" for c in detail_cut]  # cut here, so that the CMDB's row matches it next time
            related.append((table, detail))
        rows.append(
            _Row(
                schedule,
                source,
                int(asset_id),
                cls,
                row,
                cut,
                str(payload_hash),
                bool(unconfirmed),
                staging_table,
                tuple(related),
            )
        )
    return rows


def _send(engine: Engine, hook: ServiceNowHook, mappings: Mappings, row: _Row, result: LoadResult) -> None:
    """One asset: reconcile an unconfirmed earlier send of its row, or record the attempt, send the row; then write
    its related rows under the CI, and record the outcome."""
    if sent_by_siblings(engine, row.schedule, {(row.source, row.asset_id): row.sent_hash}):
        result.by_siblings += 1  # another schedule of the source sent this very row: the CI has it
        return
    entry = _committed_before(hook, row.import_table, row) if row.unconfirmed else None
    if entry is None:
        _mark_attempt(engine, row)
        try:
            answer = hook.import_row(row.import_table, row.values)
        except ServiceNowAnswerLost:
            result.sent += 1
            raise
        result.sent += 1
        entries = answer.get("result") or [{"status": "error", "error_message": "no transform result"}]
        entry = entries[0]
    if str(entry.get("status")) != "error" and entry.get("sys_id") and row.related:
        # A CI just inserted has no related rows yet; one read back after a lost answer may have some already.
        fresh = entry.get("status") == "inserted" and not entry.get("reconciled")
        try:
            _write_related(hook, mappings, row, str(entry["sys_id"]), fresh)
        except (ServiceNowRequestError, ServiceNowAccessDenied) as exc:  # refused: the asset fails, the load goes on
            entry = {"status": "error", "error_message": f"the CI ({entry['sys_id']}) is written, but {exc}"}
    _record(engine, row, entry, result)


def _write_related(hook: ServiceNowHook, mappings: Mappings, row: _Row, ci: str, fresh: bool) -> None:
    """Write the asset's related rows under the CI ``ci``: insert those it lacks, update the fields that differ.

    A row is matched among the CI's rows of its table on the table's ``identified_by`` fields (a one-row-per-CI
    table: the CI's row). Inserts are never sent again blindly (a lost answer raises :class:`ServiceNowAnswerLost`,
    and the next attempt reads the rows back first), updates carry only the fields that differ.
    """
    wanted: dict[str, list[dict[str, str]]] = {}
    for table, values in row.related:
        wanted.setdefault(table, []).append(values)
    for table, rows in wanted.items():
        spec = mappings.related_tables[table]
        fields = list(spec.fields)
        existing: dict[tuple[str, ...], dict[str, Any]] = {}
        if not fresh:
            for found in hook.table_query(table, f"{CI_FIELD}={ci}", fields=["sys_id", *fields]):
                existing.setdefault(tuple(str(found.get(f) or "") for f in spec.identified_by), found)
        for values in rows:
            current = existing.get(tuple(values.get(f, "") for f in spec.identified_by))
            if current is None:
                if any(values.values()):  # (a row of empty values only blanks a row the CI has)
                    hook.table_insert(table, {**values, CI_FIELD: ci})
                continue
            changes = {k: v for k, v in values.items() if str(current.get(k) or "") != v}
            if changes:
                hook.table_update(table, str(current["sys_id"]), changes)


def _committed_before(hook: ServiceNowHook, staging_table: str, row: _Row) -> dict[str, Any] | None:
    """The transform result of an earlier send of exactly these values, if the instance committed it."""
    sent = {k: v for k, v in row.values.items() if v is not None}
    found = hook.latest_import_row(staging_table, row.correlation_id, [*sent, *_RESULT_COLUMNS])
    if found is None or found.get("u_correlation_id") != row.correlation_id:
        return None  # never arrived (or the import table has no u_correlation_id: nothing to check against)
    if any(k in found and str(found[k]) != str(v) for k, v in sent.items()):
        return None  # an older send: these values never arrived
    state = str(found.get("sys_import_state") or "")
    if state not in ("inserted", "updated", "ignored", "skipped", "error"):
        return None  # not transformed yet
    return {
        "status": state,
        "sys_id": found.get("sys_target_sys_id") or "",
        "table": found.get("sys_target_table") or row.target_class,
        "error_message": found.get("sys_row_error") or found.get("sys_import_state_comment"),
        "reconciled": True,
    }


def _mark_attempt(engine: Engine, row: _Row) -> None:
    with engine.begin() as conn:
        conn.execute(
            text(
                f'UPDATE "{SCHEMA}".asset_classification SET load_attempt_at = now(), load_attempt_hash = :hash '
                "WHERE schedule = :schedule AND source = :source AND asset_id = :asset_id"
            ),
            {"hash": row.payload_hash, "schedule": row.schedule, "source": row.source, "asset_id": row.asset_id},
        )


def _record(engine: Engine, row: _Row, entry: dict[str, Any], result: LoadResult) -> None:
    """Store one row's outcome at once (a crash after it never sends the row again)."""
    status = str(entry.get("status"))
    if status == "error" or not entry.get("sys_id"):
        failed = {
            "source": row.source,
            "asset_id": row.asset_id,
            "reason": f"transform map: {entry.get('error_message') or status}",
            "code": "TRANSFORM_ERROR",
        }
        result.errors["TRANSFORM_ERROR"] = result.errors.get("TRANSFORM_ERROR", 0) + 1
        result.add(record_outcomes(engine, row.schedule, [], [failed]))
        return
    op = OPERATIONS.get(status, status.upper())
    notes = []
    if row.cut:
        notes.append("truncated: " + ", ".join(row.cut))
    if entry.get("reconciled"):
        notes.append("answer lost, outcome read back from the import set row")
    loaded = {
        "source": row.source,
        "asset_id": row.asset_id,
        "sys_id": entry.get("sys_id"),
        "cls": entry.get("table") or row.target_class,
        "op": op,
        "note": "; ".join(notes) or None,
        "sent_hash": row.sent_hash,
    }
    recorded = record_outcomes(engine, row.schedule, [loaded], [])
    if recorded.loaded:
        result.operations[op] = result.operations.get(op, 0) + 1
    result.add(recorded)
