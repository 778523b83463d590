"""Import Set API (reference section 3): ``POST /api/now/[v1/]import/{staging_table}``.

One row per call, transformed synchronously.  Staging table ``u_qualys_computer_import``: every
``u_<field>`` column maps to ``<field>`` of the target class, which the row's ``u_target_class`` picks
(default ``cmdb_ci_computer``; it must be a CMDB class).  Coalesce (``POST /sim/control/transform``)
defaults to ``["serial_number", "name"]``: a target row matches when **all** coalesce fields equal the
row's values (case-insensitive by default; empty values never match unless ``coalesce_empty_fields``);
the search covers the target class and its subclasses and the oldest match is updated.  Reference
columns (``u_manufacturer``, ``u_cpu_manufacturer``, ``u_model_id``) are resolved by display value and
the referenced record is created when missing (field-map choice action "create").  Empty source values
do not overwrite target fields unless ``copy_empty_fields``.  Row statuses: ``inserted``, ``updated``,
``ignored`` ("No field values changed") and ``error``.
"""

from __future__ import annotations

import json
import re

from simulators.servicenow import classes
from simulators.servicenow.auth import User
from simulators.servicenow.instance import Instance
from simulators.servicenow.query_sql import quote
from simulators.servicenow.replies import Reply, Request, error_reply, json_reply
from simulators.servicenow.store import Row
from simulators.servicenow.table_api import invalid_table, not_found
from simulators.servicenow.unverified import text

PATH = re.compile(r"^/api/now/(?:v[12]/)?import/(?P<table>[^/]+)(?:/(?P<sys_id>[^/]+))?/?$")
STAGING_TABLES = {"u_qualys_computer_import": "Qualys Computer Import"}
DEFAULT_TARGET = "cmdb_ci_computer"
IMPORT_ROLES = ("import_transformer",)


def _resolve_reference(inst: Instance, table: str, value: str, user: str) -> str:
    """sys_id of the record whose display value is ``value``; created when missing."""
    store = inst.store
    if table == "core_company":
        rows = store.find("core_company", {"name": value})
        return (
            rows[0]["sys_id"] if rows else store.insert("core_company", {"name": value, "manufacturer": "true"}, user)
        )
    if table == "cmdb_model":
        rows = store.find("cmdb_model", {"display_name": value}) or store.find("cmdb_model", {"name": value})
        if rows:
            return rows[0]["sys_id"]
        return store.insert("cmdb_hardware_product_model", {"name": value, "display_name": value}, user)
    rows = store.find(table, {classes.TABLES[classes.root(table)].display_field: value})
    return rows[0]["sys_id"] if rows else value


def _result(
    inst: Instance, req: Request, map_name: str, target: str, row: Row | None, status: str, message: str = ""
) -> dict[str, object]:
    entry: dict[str, object] = {"transform_map": map_name, "table": target}
    if row is not None:
        entry["display_name"] = "name"
        entry["display_value"] = row.get("name", "")
        entry["record_link"] = f"{req.base_url}/api/now/table/{target}/{row['sys_id']}"
    entry["status"] = status
    entry["sys_id"] = row["sys_id"] if row is not None else ""
    if message:
        entry["error_message" if status == "error" else "status_message"] = message
    return entry


def transform(inst: Instance, req: Request, staging: Row, map_name: str, user: str) -> tuple[dict[str, object], Row]:
    """Transform one staging row; returns the result entry and the staging-row updates."""
    store = inst.store
    config = inst.transform
    target = staging.get("u_target_class") or DEFAULT_TARGET
    if not classes.is_ci(target):
        return _result(inst, req, map_name, target, None, "error", text("import_bad_target", cls=target)), {
            "sys_import_state": "error",
            "sys_row_error": text("import_bad_target", cls=target),
        }
    fields = classes.all_fields(target)
    source: dict[str, object] = {}
    for column, value in staging.items():
        if not column.startswith("u_") or column == "u_target_class":
            continue
        name = column[2:]
        f = fields.get(name)
        if f is None or name.startswith("sys_"):
            continue
        if value == "" and not config.copy_empty_fields:
            continue
        if f.type == "reference" and f.reference and value:
            value = _resolve_reference(inst, f.reference, value, user)
        source[name] = value
    values = store.prepare(target, source)
    clauses: list[str] = []
    params: list[object] = []
    usable = bool(config.coalesce)
    for name in config.coalesce:
        if name not in fields:
            continue
        wanted = values.get(name)
        if not wanted:
            if not config.coalesce_empty_fields:
                usable = False
                break
            clauses.append(f"t0.{quote(name)} IS NULL")
            continue
        if config.coalesce_case_sensitive:
            clauses.append(f"t0.{quote(name)} = ?")
        else:
            clauses.append(f"lower(t0.{quote(name)}) = lower(?)")
        params.append(wanted)
    matches = store.find(target, {}, None, " AND ".join(clauses), params) if usable and clauses else []
    if matches:
        row = matches[0]
        changed = store.update(target, row["sys_id"], values, user, prepared=True)
        status, message = ("updated", "") if changed else ("ignored", text("import_no_change"))
    else:
        new_id = store.insert(target, values, user, prepared=True)
        status, message = "inserted", ""
        row = store.get(target, new_id) or {"sys_id": new_id}
    result_row = store.get(target, row["sys_id"]) or row
    updates = {
        "sys_import_state": status,
        "sys_import_state_comment": message,
        "sys_target_sys_id": result_row["sys_id"],
        "sys_target_table": target,
    }
    return _result(inst, req, map_name, target, result_row, status, message), updates


def handle(inst: Instance, req: Request, user: User) -> Reply:
    """``POST /api/now/import/{staging_table}`` and ``GET /api/now/import/{staging_table}/{sys_id}``."""
    match = PATH.match(req.path)
    assert match is not None
    table, sys_id = match.group("table"), match.group("sys_id")
    if table not in STAGING_TABLES:
        if classes.exists(table):
            return error_reply(400, text("import_bad_table", table=table), f"Table {table} is not an import set table")
        return invalid_table(table)
    map_name = STAGING_TABLES[table]
    store = inst.store
    if not user.has_role(*IMPORT_ROLES):
        return error_reply(403, "ACL Exception Insert Failed due to security constraints", None)
    if req.method == "GET" and sys_id is not None:
        with store.lock:
            staging = store.get(table, sys_id)
            if staging is None:
                return not_found()
            sets = store.get("sys_import_set", staging["sys_import_set"]) if staging["sys_import_set"] else None
            target = staging["sys_target_table"] or DEFAULT_TARGET
            row = store.get(target, staging["sys_target_sys_id"]) if staging["sys_target_sys_id"] else None
            status = staging["sys_import_state"] or "pending"
            entry = _result(inst, req, map_name, target, row, status, staging["sys_import_state_comment"])
        return json_reply(
            200, {"import_set": sets["number"] if sets else "", "staging_table": table, "result": [entry]}
        )
    if req.method != "POST" or sys_id is not None:
        return error_reply(405, text("method_not_allowed"), text("method_not_allowed.detail", method=req.method))
    try:
        body = json.loads(req.body.decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        return error_reply(400, text("bad_json"), text("bad_json.detail"))
    if not isinstance(body, dict):
        return error_reply(400, text("bad_json"), text("bad_json.detail"))
    columns = {
        k: (json.dumps(v, separators=(",", ":")) if isinstance(v, dict | list) else v)
        for k, v in body.items()
        if k.startswith("u_")
    }
    with store.lock, store.transaction():
        inst.import_sets = store.count("sys_import_set") + 1
        number = f"ISET{10_000 + inst.import_sets:07d}"
        set_id = store.insert(
            "sys_import_set", {"number": number, "table_name": table, "state": "processed", "mode": "synchronous"}
        )
        staging_values = store.prepare(
            table, {**columns, "sys_import_set": set_id, "sys_transform_map": map_name}, internal=True
        )
        staging_id = store.insert(table, staging_values, user.username, prepared=True)
        staging = store.get(table, staging_id)
        assert staging is not None
        entry, updates = transform(inst, req, staging, map_name, user.username)
        store.touch(table, staging_id, store.prepare(table, updates, internal=True))
    return json_reply(201, {"import_set": number, "staging_table": table, "result": [entry]})
