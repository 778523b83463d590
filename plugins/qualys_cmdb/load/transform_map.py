"""*load* through the transform-map path (PR-5, CM-7): one Import Set row per approved, changed asset.

The Import Set API transforms a row synchronously into the target table, matching existing CIs on the transform
map's coalesce fields (configured on the instance). Each row's answer (inserted / updated / ignored / error) is
recorded like an IRE outcome; empty values are only sent when ``copy_empty_fields`` is on, so they never blank a
field by accident.
"""

from __future__ import annotations

from sqlalchemy import Engine, text

from qualys_cmdb.classify.mappings import Mappings
from qualys_cmdb.hooks.servicenow import ServiceNowHook
from qualys_cmdb.load.ire import LoadResult, record_outcomes, waiting
from qualys_cmdb.load.payload import truncate
from qualys_cmdb.staging.schema import SCHEMA

OPERATIONS = {"inserted": "INSERT", "updated": "UPDATE", "ignored": "NO_CHANGE", "skipped": "NO_CHANGE"}


def load_via_import_set(
    engine: Engine,
    hook: ServiceNowHook,
    mappings: Mappings,
    schedule: str,
    staging_table: str,
    copy_empty_fields: bool = False,
    batch_size: int = 200,
) -> LoadResult:
    """Send every approved, changed asset of ``schedule`` through the Import Set table ``staging_table``."""
    result = LoadResult()
    calls_before = hook.calls
    while True:
        keys = waiting(engine, schedule, "approved", batch_size)
        if not keys:
            break
        with engine.connect() as conn:
            rows = conn.execute(
                text(
                    f'SELECT source, asset_id, target_class, payload FROM "{SCHEMA}".asset_classification '
                    "WHERE (source, asset_id) IN (SELECT * FROM unnest(CAST(:s AS text[]), CAST(:i AS bigint[])))"
                ),
                {"s": [k[0] for k in keys], "i": [k[1] for k in keys]},
            ).all()
        loaded, failed = [], []
        for source, asset_id, cls, payload in rows:
            values, cut = truncate(dict(payload or {}), mappings.field_lengths)
            if copy_empty_fields:
                values = {name: values.get(name, "") for name in mappings.ci_fields}
            row = {"u_target_class": cls, **{f"u_{k}": v for k, v in values.items()}}
            answer = hook.import_row(staging_table, row)
            entries = answer.get("result") or [{"status": "error", "error_message": "no transform result"}]
            entry = entries[0]
            result.sent += 1
            status = str(entry.get("status"))
            if status == "error" or not entry.get("sys_id"):
                failed.append(
                    {
                        "source": source,
                        "asset_id": asset_id,
                        "reason": f"transform map: {entry.get('error_message') or status}",
                    }
                )
                result.errors["TRANSFORM_ERROR"] = result.errors.get("TRANSFORM_ERROR", 0) + 1
                continue
            op = OPERATIONS.get(status, status.upper())
            result.operations[op] = result.operations.get(op, 0) + 1
            loaded.append(
                {
                    "source": source,
                    "asset_id": asset_id,
                    "sys_id": entry.get("sys_id"),
                    "cls": entry.get("table") or cls,
                    "op": op,
                    "note": ("truncated: " + ", ".join(cut)) if cut else None,
                }
            )
        record_outcomes(engine, loaded, failed)
        result.loaded += len(loaded)
        result.failed += len(failed)
    result.calls = hook.calls - calls_before
    return result
