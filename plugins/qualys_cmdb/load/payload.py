"""IRE payloads (CM-3 … CM-8, BY-3): one item per approved asset, built from staging with one query per batch.

Each asset becomes:

* the main item, in its class, with the CI values of the field maps, its serial numbers and network adapters as
  ``lookup`` items, its software (packages and instances) and the Qualys-only details (``u_qualys_*`` rows) as
  ``related`` items, and ``sys_object_source_info`` with the Qualys asset id as ``source_native_key`` and the
  asset's last-modified time as ``source_recency_timestamp`` (stable identity, not IP matching);
* its file systems and IP addresses as dependent items, tied to it by relations.

Values longer than the target field are cut to its length, and each cut is reported (CM-8).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import msgspec
from sqlalchemy import Engine, text

from qualys_cmdb.classify.identifiers import placeholder_mac
from qualys_cmdb.classify.mappings import FieldSource, Mappings
from qualys_cmdb.classify.source import SOURCE_COLUMNS, SOURCE_FROM
from qualys_cmdb.load.pushed_cis import PushedCi, pushed_cis
from qualys_cmdb.staging.schema import SCHEMA, STAGED_CHILDREN

_ISO = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?([+-]\d{2}:\d{2}|Z)$")

#: dependent classes: field-map section -> (CMDB class, staging kind, relation type from the CI to it)
DEPENDENTS = {
    "file_system": ("cmdb_ci_file_system", "volume", "Contains::Contained by"),
    "ip_address": ("cmdb_ci_ip_address", "ip_address", "Owns::Owned by"),
}
LOOKUPS = {
    "serial_number": ("cmdb_serial_number", "serial_number"),
    "network_adapter": ("cmdb_ci_network_adapter", "network_interface"),
}


@dataclass
class Payload:
    """An IRE payload for a batch: items and relations, plus which asset each item belongs to."""

    items: list[dict[str, Any]] = field(default_factory=list)
    relations: list[dict[str, Any]] = field(default_factory=list)
    main_index: dict[tuple[str, int], int] = field(default_factory=dict)  # (source, asset id) -> item index
    truncated: dict[tuple[str, int], list[str]] = field(default_factory=dict)

    def owners(self) -> list[tuple[str, int]]:
        """For every item index, the asset it belongs to (an asset's dependents follow its main item)."""
        owners: list[tuple[str, int]] = []
        order = sorted(self.main_index.items(), key=lambda kv: kv[1])
        for n, (key, start) in enumerate(order):
            end = order[n + 1][1] if n + 1 < len(order) else len(self.items)
            owners.extend([key] * (end - start))
        return owners

    def without(self, keys: set[tuple[str, int]]) -> Payload:
        """This payload without the items (and relations) of the assets ``keys``."""
        out = Payload()
        dropped: set[str] = set()
        starts = {index: key for key, index in self.main_index.items()}
        for index, (owner, item) in enumerate(zip(self.owners(), self.items, strict=True)):
            if owner in keys:
                dropped.add(str(item.get("internal_id")))
                continue
            if index in starts:
                out.main_index[owner] = len(out.items)
            out.items.append(item)
        out.relations = [r for r in self.relations if r["parent_id"] not in dropped and r["child_id"] not in dropped]
        out.truncated = {k: v for k, v in self.truncated.items() if k not in keys}
        return out

    def sent_hashes(self) -> dict[tuple[str, int], str]:
        """Per asset, a digest of everything its items tell the CMDB (the CI, lookups, related and dependent
        items): two schedules that would send an asset the same way get the same digest."""
        grouped: dict[tuple[str, int], list[dict[str, Any]]] = {}
        for owner, item in zip(self.owners(), self.items, strict=True):
            grouped.setdefault(owner, []).append(item)
        return {
            key: hashlib.md5(msgspec.json.encode(items, order="sorted"), usedforsecurity=False).hexdigest()
            for key, items in grouped.items()
        }


def _rows_sql(kind: str, columns: list[str]) -> str:
    """A JSON array of the asset's rows of a staging detail table, with the given columns."""
    cols = ", ".join(f"'{c}', x.\"{c}\"" for c in columns)
    return (
        f"(SELECT coalesce(jsonb_agg(jsonb_build_object({cols})), '[]'::jsonb) FROM \"{SCHEMA}\".staged_{kind} x "
        "WHERE x.source = a.source AND x.asset_id = a.asset_id)"
    )


def _columns_of(sources: dict[str, FieldSource]) -> list[str]:
    return sorted({a for fs in sources.values() for a in fs.attributes})


def build_payload(engine: Engine, mappings: Mappings, schedule: str, keys: list[tuple[str, int]]) -> Payload:
    """The IRE payload for the assets ``keys`` as ``schedule`` classified them (read from staging in one query)."""
    payload = Payload()
    if not keys:
        return payload
    maps = mappings.child_fields
    related_cols = sorted(
        {a for cols in mappings.related_tables.values() for fs in cols.values() for a in fs.attributes}
    )
    details = ", ".join(f"'{name}', ({SOURCE_COLUMNS[name]})" for name in related_cols) or "'_', NULL"
    install_cols = {c.name for c in STAGED_CHILDREN["software_install"].columns}
    software_cols = dict.fromkeys(_columns_of(maps["software"]) + _columns_of(maps["software_instance"]))
    picks = ", ".join(f"'{c}', {'i' if c in install_cols else 's'}.\"{c}\"" for c in software_cols)
    software = (
        f"(SELECT coalesce(jsonb_agg(jsonb_build_object({picks})), '[]'::jsonb) "
        f'FROM "{SCHEMA}".staged_software_install i JOIN "{SCHEMA}".staged_software s USING (software_key) '
        "WHERE i.source = a.source AND i.asset_id = a.asset_id)"
    )
    sql = f"""
        SELECT a.source, a.asset_id, c.target_class, c.payload, a.last_modified_date,
               jsonb_build_object({details}) AS details,
               {_rows_sql("serial_number", _columns_of(maps["serial_number"]))} AS serial_number,
               {_rows_sql("network_interface", _columns_of(maps["network_adapter"]))} AS network_adapter,
               {_rows_sql("volume", _columns_of(maps["file_system"]))} AS file_system,
               {_rows_sql("ip_address", _columns_of(maps["ip_address"]))} AS ip_address,
               {software} AS software
        FROM {SOURCE_FROM}
        JOIN "{SCHEMA}".asset_classification c
             ON c.schedule = :schedule AND c.source = a.source AND c.asset_id = a.asset_id
        WHERE (a.source, a.asset_id) IN (SELECT * FROM unnest(CAST(:sources AS text[]), CAST(:ids AS bigint[])))
        ORDER BY a.source, a.asset_id
    """
    params = {"schedule": schedule, "sources": [k[0] for k in keys], "ids": [k[1] for k in keys]}
    with engine.connect() as conn:
        rows = conn.execute(text(sql), params).mappings().all()
    pushed = pushed_cis(engine, keys)  # BY-11: assets that are CIs the CMDB pushed to Qualys
    for row in rows:
        _add_asset(payload, mappings, dict(row), pushed.get((row["source"], int(row["asset_id"]))))
    return payload


def _value(row: dict[str, Any], source: FieldSource) -> Any:
    for attribute in source.attributes:
        value = row.get(attribute)
        if value not in (None, ""):
            return value
    return None


def _sn_value(value: Any) -> str:
    """ServiceNow takes every value as a string, date-times as ``YYYY-MM-DD HH:MM:SS`` in UTC."""
    if isinstance(value, str) and _ISO.match(value):
        return datetime.fromisoformat(value).astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
    return str(value)


def _mapped(row: dict[str, Any], fields: dict[str, FieldSource]) -> dict[str, str]:
    out = {}
    for target, source in fields.items():
        value = _value(row, source)
        if value is not None:
            out[target] = _sn_value(value)
    return out


def _add_asset(payload: Payload, mappings: Mappings, row: dict[str, Any], pushed: PushedCi | None = None) -> None:
    key = (row["source"], int(row["asset_id"]))
    main_id = f"qualys-{row['source']}-{row['asset_id']}"
    values, cut = truncate(dict(row["payload"] or {}), mappings.field_lengths)
    maps = mappings.child_fields
    lookup = []
    for section, (cls, _) in LOOKUPS.items():
        for r in row[section]:
            found = _mapped(r, maps[section])
            if placeholder_mac(found.get("mac_address")):
                del found["mac_address"]  # the adapter goes to the CMDB, its placeholder MAC does not identify it
            if found:
                extra = {"valid": "true", "absent": "false"} if section == "serial_number" else {}
                lookup.append({"className": cls, "values": {**found, **extra}})
    related: list[dict[str, Any]] = []
    for sw in row["software"]:
        package = _mapped(sw, maps["software"])
        if not package.get("name"):
            continue
        package["key"] = f"{package['name']}_|_{package.get('version', '')}"
        related.append({"className": "cmdb_ci_spkg", "values": package})
        related.append({"className": "cmdb_software_instance", "values": _mapped(sw, maps["software_instance"])})
    for table, fields in mappings.related_tables.items():
        detail = _mapped(row["details"], fields)
        if detail:
            related.append({"className": table, "values": detail})
    modified = row["last_modified_date"]
    item: dict[str, Any] = {
        "className": row["target_class"],
        "internal_id": main_id,
        "values": values,
        "lookup": lookup,
        "related": related,
        "sys_object_source_info": {
            "source_name": mappings.discovery_source,
            "source_native_key": str(row["asset_id"]),
            **({"source_recency_timestamp": modified.strftime("%Y-%m-%d %H:%M:%S")} if modified else {}),
        },
    }
    if pushed is not None:
        _as_pushed_ci(item, mappings, pushed)
    payload.main_index[key] = len(payload.items)
    payload.items.append(item)
    for section, (cls, _, relation) in DEPENDENTS.items():
        for n, r in enumerate(row[section]):
            dep = _mapped(r, maps[section])
            if not dep:
                continue
            dep_id = f"{main_id}-{section}-{n}"
            payload.items.append({"className": cls, "internal_id": dep_id, "values": dep})
            payload.relations.append({"parent_id": main_id, "child_id": dep_id, "type": relation})
    if cut:
        payload.truncated[key] = cut


def _as_pushed_ci(item: dict[str, Any], mappings: Mappings, pushed: PushedCi) -> None:
    """BY-11: the asset is a CI the CMDB pushed to Qualys; its item updates that CI, never a second one.

    Until the CMDB has confirmed the asset as the CI, the item names it by sys_id (IRE's shortcut: no identification
    rule runs, reference §2.5). That load also makes IRE record the asset's source key (``sys_object_source``), which
    finds the CI from then on; so a CI deleted in the CMDB later is created again, not refused on every load.

    The CMDB owns the class of a CI it pushed: Qualys may refine it (a cmdb_ci_computer its scan finds to be a Linux
    server becomes one, as Discovery would do), never demote it or move it sideways (to a printer, say, by its
    hardware category). So the item's class is the classified one when that is the pushed CI's class or a kind of
    it, else the pushed CI's class; and the settings tell IRE, which knows the CI's class today (the CMDB may have
    changed it since the push), to keep that class rather than downgrade or switch it. None of this enters classify's
    payload hash (which decides what is sent): linking the CIs of an estate re-sends nothing.
    """
    if not pushed.confirmed:
        item["values"]["sys_id"] = pushed.sys_id
    if pushed.ci_class and not mappings.is_a(item["className"], pushed.ci_class):
        item["className"] = pushed.ci_class
    item["settings"] = {"updateWithoutDowngrade": True, "updateWithoutSwitch": True}


def truncate(values: dict[str, Any], lengths: dict[str, int]) -> tuple[dict[str, Any], list[str]]:
    default = lengths.get("default", 255)
    cut = []
    for name, value in values.items():
        limit = lengths.get(name, default)
        if isinstance(value, str) and len(value) > limit:
            values[name] = value[:limit]
            cut.append(f"{name} ({len(value)} > {limit})")
    return values, cut
