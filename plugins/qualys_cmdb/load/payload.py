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
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import msgspec
from sqlalchemy import Connection, Engine, text

from qualys_cmdb.classify.identifiers import SharedIdentifiers, shared_identifiers
from qualys_cmdb.classify.mappings import FieldSource, Mappings, RelatedTable
from qualys_cmdb.classify.source import SOURCE_COLUMNS, SOURCE_FROM
from qualys_cmdb.load.pushed_cis import PushedCi, pushed_cis
from qualys_cmdb.staging.schema import SCHEMA, STAGED_CHILDREN, staged_software

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
    notes: dict[tuple[str, int], list[str]] = field(default_factory=dict)  # said on the asset when it is loaded
    #: sent without their name (another asset has it: IRE's name rule would match them as one); once the CMDB knows
    #: them by their Qualys asset id, they are sent again with it
    unnamed: set[tuple[str, int]] = field(default_factory=set)
    skipped: SkippedRows = field(default_factory=lambda: SkippedRows())  # rows not sent, for the application log
    #: A related table's values of a package, by (table, software key): read and mapped once per batch, not once per
    #: install (a batch of 500 assets has some 60,000 installs of a few thousand packages); see package_details().
    package_details: dict[tuple[str, str], dict[str, str]] = field(default_factory=dict, repr=False)
    #: Per asset, the classification's payload_hash the items were built from: what the load records as loaded (a
    #: classify of another run may change the classification while the batch is in flight)
    built_from: dict[tuple[str, int], str] = field(default_factory=dict, repr=False)
    _sent_hashes: dict[tuple[str, int], str] | None = field(default=None, repr=False, compare=False)

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
        out.notes = {k: v for k, v in self.notes.items() if k not in keys}
        out.unnamed = self.unnamed - keys
        out.skipped = self.skipped.without(keys)
        out.built_from = {k: v for k, v in self.built_from.items() if k not in keys}
        if self._sent_hashes is not None:  # each asset keeps its items, so its digest
            out._sent_hashes = {k: v for k, v in self._sent_hashes.items() if k not in keys}
        return out

    def sent_hashes(self) -> dict[tuple[str, int], str]:
        """Per asset, a digest of everything its items tell the CMDB (the CI, lookups, related and dependent
        items): two schedules that would send an asset the same way get the same digest.

        Computed once, for the payload as built (the load asks before it sends and again when it records)."""
        if self._sent_hashes is None:
            grouped: dict[tuple[str, int], list[dict[str, Any]]] = {}
            for owner, item in zip(self.owners(), self.items, strict=True):
                grouped.setdefault(owner, []).append(item)
            self._sent_hashes = {
                key: hashlib.md5(msgspec.json.encode(items, order="sorted"), usedforsecurity=False).hexdigest()
                for key, items in grouped.items()
            }
        return self._sent_hashes


def _rows_sql(kind: str, columns: list[str]) -> str:
    """A JSON array of the asset's rows of a staging detail table, with the given columns, in one order whatever
    plan reads them (ordered by value): the items built from them, and their digest (BY-12), do not change with it."""
    cols = ", ".join(f"'{c}', x.\"{c}\"" for c in columns)
    return (
        f"(SELECT coalesce(jsonb_agg(r ORDER BY r), '[]'::jsonb) FROM (SELECT jsonb_build_object({cols}) AS r "
        f'FROM "{SCHEMA}".staged_{kind} x WHERE x.source = a.source AND x.asset_id = a.asset_id) rows)'
    )


def _columns_of(sources: dict[str, FieldSource]) -> list[str]:
    return sorted({a for fs in sources.values() for a in fs.attributes})


def build_payload(
    engine: Engine,
    mappings: Mappings,
    schedule: str,
    keys: list[tuple[str, int]],
    shared: SharedIdentifiers | None = None,
) -> Payload:
    """The IRE payload for the assets ``keys`` as ``schedule`` classified them (read from staging in one query).
    ``shared``: the identifiers other staged assets hold too; by default, read for these assets now."""
    payload = Payload()
    if not keys:
        return payload
    maps = mappings.child_fields
    install_cols = {c.name for c in STAGED_CHILDREN["software_install"].columns}
    software_cols = dict.fromkeys(
        _columns_of(maps["software"]) + _columns_of(maps["software_instance"]) + software_row_columns(mappings)
    )
    picks = ", ".join(f"'{c}', {'i' if c in install_cols else 's'}.\"{c}\"" for c in software_cols)
    software = (
        f"(SELECT coalesce(jsonb_agg(r ORDER BY r), '[]'::jsonb) FROM (SELECT jsonb_build_object({picks}) AS r "
        f'FROM "{SCHEMA}".staged_software_install i JOIN "{SCHEMA}".staged_software s USING (software_key) '
        "WHERE i.source = a.source AND i.asset_id = a.asset_id) picked)"
    )
    sql = f"""
        SELECT a.source, a.asset_id, c.target_class, c.payload, c.payload_hash, a.last_modified_date,
               EXISTS (SELECT 1 FROM "{SCHEMA}".asset_classification k WHERE k.source = a.source
                       AND k.asset_id = a.asset_id AND k.cmdb_sys_id IS NOT NULL) AS known,
               {details_sql(mappings)} AS details, {related_rows_sql(mappings)} AS related_rows,
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
        payload.package_details = package_details(conn, mappings, rows)
    pushed = pushed_cis(engine, keys)  # BY-11: assets that are CIs the CMDB pushed to Qualys
    if shared is None:  # as staging is now: another run may have staged assets that share them since classify
        shared = shared_identifiers(engine, {k[0] for k in keys}, among=keys)
    for row in rows:
        _add_asset(payload, mappings, dict(row), pushed.get((row["source"], int(row["asset_id"]))), shared)
    return payload


def _value(row: dict[str, Any], source: FieldSource) -> Any:
    for attribute in source.attributes:
        value = row.get(attribute)
        if value not in (None, ""):
            return value
    return None


def _sn_value(value: Any) -> str:
    """ServiceNow takes every value as a string, date-times as ``YYYY-MM-DD HH:MM:SS`` in UTC."""
    if isinstance(value, str) and len(value) >= 20 and value[10] == "T" and _ISO.match(value):  # cheap checks first
        return datetime.fromisoformat(value).astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, bool):
        return "true" if value else "false"  # a boolean field's own spelling (str() would give "True")
    return str(value)


def _mapped(row: dict[str, Any], fields: dict[str, FieldSource]) -> dict[str, str]:
    out = {}
    for target, source in fields.items():
        value = _value(row, source)
        if value is not None:
            out[target] = _sn_value(value)
    return out


def _add_asset(
    payload: Payload,
    mappings: Mappings,
    row: dict[str, Any],
    pushed: PushedCi | None = None,
    shared: SharedIdentifiers | None = None,
) -> None:
    key = (row["source"], int(row["asset_id"]))
    main_id = f"qualys-{row['source']}-{row['asset_id']}"
    if row.get("payload_hash"):
        payload.built_from[key] = row["payload_hash"]
    values, cut = truncate(dict(row["payload"] or {}), mappings.field_lengths)
    maps = mappings.child_fields
    shared = shared or SharedIdentifiers()
    lookup = []
    unused: list[str] = []  # identifiers not sent as such (BY-10), said on the asset
    if values.get("serial_number") and (why := shared.serial_problem(values["serial_number"])):
        # classified before another asset with it was staged (an earlier page group): not an identifier any more
        unused.append(f"serial number {values.pop('serial_number')!r} ({why})")
    for section, (cls, _) in LOOKUPS.items():
        for r in row[section]:
            found = _mapped(r, maps[section])
            if section == "serial_number" and (why := shared.serial_problem(found.get("serial_number"))):
                unused.append(f"serial number {found.get('serial_number')!r} ({why})")
                continue  # a serial that identifies nothing is no lookup at all
            if found.get("mac_address") and (why := shared.mac_problem(found.get("mac_address"))):
                unused.append(f"MAC address {found['mac_address']} ({why})")
                del found["mac_address"]  # the adapter goes to the CMDB, its MAC does not identify it
            if found:
                extra = {"valid": "true", "absent": "false"} if section == "serial_number" else {}
                lookup.append({"className": cls, "values": {**found, **extra}})
    related: list[dict[str, Any]] = []
    software = sendable_software(row["software"], maps["software"], key, payload.skipped)
    for package, sw in software:
        related.append({"className": "cmdb_ci_spkg", "values": package})
        related.append({"className": "cmdb_software_instance", "values": _mapped(sw, maps["software_instance"])})
    sent = [sw for _, sw in software]
    for table, detail in related_rows(mappings, row, sent, key, payload.skipped, payload.package_details):
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
    if values.get("name") and not row.get("known") and shared.name_shared(values["name"]):
        unused.append(f"name {values.pop('name')!r} (shared with another asset; sent once the CMDB knows this asset)")
        payload.unnamed.add(key)
    if unused:
        payload.notes[key] = ["not used to identify it: " + ", ".join(dict.fromkeys(unused))]


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


# ------------------------------------------------------------------------------------------ related items (CM-4)
NAMELESS_SOFTWARE = "software without a name not sent (a package is known by its name and version, guide 2.2)"
DUPLICATE_SOFTWARE = (
    "duplicate software sent once (the same name and version twice on one asset, guide 2.2: skipping duplicate entry)"
)
#: How many assets one application-log entry names in its details (the message names the first few).
LOGGED_ASSETS_MAX = 1000


@dataclass
class SkippedRows:
    """Rows of the assets' details that were not sent, by reason: listed in the application log once per load
    (guide 2.2: software without a name, and the same software twice on one asset, "are listed in the application
    log"), never dropped silently."""

    by_reason: dict[str, dict[tuple[str, int], list[str]]] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.by_reason)

    def add(self, reason: str, key: tuple[str, int], what: str) -> None:
        """One row of asset ``key`` not sent for ``reason``; ``what`` names it (``bash 5.1``)."""
        self.by_reason.setdefault(reason, {}).setdefault(key, []).append(what)

    def update(self, other: SkippedRows) -> None:
        """Take in ``other``'s rows (an asset built twice in one load, as a CI's keeper sent again, counts once)."""
        for reason, assets in other.by_reason.items():
            self.by_reason.setdefault(reason, {}).update(assets)

    def without(self, keys: set[tuple[str, int]]) -> SkippedRows:
        """These rows without those of the assets ``keys``."""
        out = SkippedRows()
        for reason, assets in self.by_reason.items():
            kept = {k: v for k, v in assets.items() if k not in keys}
            if kept:
                out.by_reason[reason] = kept
        return out

    def log_entries(self, named: int = 10) -> list[tuple[str, dict[str, Any]]]:
        """One application-log entry per reason: a message naming the first ``named`` assets (``source/asset id``
        and what was left out), and details with every asset (up to :data:`LOGGED_ASSETS_MAX`) and the counts."""
        entries = []
        for reason, assets in sorted(self.by_reason.items()):
            rows = sum(len(v) for v in assets.values())
            listed = sorted(assets.items())
            shown = "; ".join(f"{s}/{a}: {', '.join(dict.fromkeys(what))}" for (s, a), what in listed[:named])
            more = f"; and {len(listed) - named} more asset(s)" if len(listed) > named else ""
            details = {
                "reason": reason,
                "rows": rows,
                "asset_count": len(listed),
                "assets": {f"{s}/{a}": what for (s, a), what in listed[:LOGGED_ASSETS_MAX]},
            }
            entries.append((f"{reason}: {rows} row(s) on {len(listed)} asset(s): {shown}{more}", details))
        return entries


def sendable_software(
    installs: list[dict[str, Any]], package_fields: dict[str, FieldSource], key: tuple[str, int], skipped: SkippedRows
) -> list[tuple[dict[str, str], dict[str, Any]]]:
    """The asset's software as it can be sent: (the package's values with its ``key``, the install row), one per
    package.

    A row without a name is no package (cmdb_ci_spkg is keyed by name and version), and a second row of a package
    (another install of it, or the same name and version from another publisher or for another architecture) would
    make IRE refuse the whole CI (DUPLICATE_RELATED_PAYLOAD): both are left out and recorded in ``skipped``. Of the
    rows of one package, the same one is sent every time, whatever order staging reads them in.
    """
    chosen: dict[str, tuple[dict[str, str], dict[str, Any]]] = {}
    for sw in installs:
        package = _mapped(sw, package_fields)
        name = package.get("name")
        if not name:
            skipped.add(NAMELESS_SOFTWARE, key, f"version {package.get('version') or '-'}")
            continue
        package["key"] = f"{name}_|_{package.get('version', '')}"
        held = chosen.get(package["key"])
        if held is None:
            chosen[package["key"]] = (package, sw)
            continue
        skipped.add(DUPLICATE_SOFTWARE, key, f"{name} {package.get('version', '')}".strip())
        if _row_order(sw) < _row_order(held[1]):
            chosen[package["key"]] = (package, sw)
    return list(chosen.values())


def related_rows(
    mappings: Mappings,
    row: dict[str, Any],
    software: list[dict[str, Any]],
    key: tuple[str, int],
    skipped: SkippedRows,
    package_details: dict[tuple[str, str], dict[str, str]] | None = None,
) -> list[tuple[str, dict[str, str]]]:
    """The asset's rows of the related tables (CM-4), as ``(table, values)``: one per one-row-per-CI table that has a
    value, and for a table with ``rows``, one per distinct value of its ``identified_by`` fields.

    ``row`` holds the asset's ``details`` and ``related_rows`` (see :func:`details_sql`, :func:`related_rows_sql`);
    ``software`` is what :func:`sendable_software` kept, so software details follow the packages sent. A row without
    an identifying value would make IRE refuse the whole CI (MISSING_MATCHING_ATTRIBUTES), and so would two with the
    same ones (DUPLICATE_RELATED_PAYLOAD): the first is left out, recorded in ``skipped``; of the second, the same one
    is sent every time, recorded only when the rows differ otherwise (two sockets of one processor model do not).
    A software table that maps only the package's catalog columns takes its values from ``package_details`` (see
    :func:`package_details`), by the row's ``software_key``.
    """
    out: list[tuple[str, dict[str, str]]] = []
    details = row.get("related_rows") or {}
    for table, spec in mappings.related_tables.items():
        if spec.rows is None:
            values = _mapped(row["details"], spec.fields)
            if values:
                out.append((table, values))
            continue
        per_package = spec.rows == "software" and _catalog_only(spec)
        chosen: dict[tuple[str, ...], dict[str, str]] = {}
        for source in software if spec.rows == "software" else details.get(spec.rows) or []:
            if per_package:  # each CI's row a dict of its own (the transform-map path adds to it)
                values = dict((package_details or {}).get((table, str(source.get("software_key"))), {}))
            else:
                values = _mapped(source, spec.fields)
            identity = tuple(values.get(name, "") for name in spec.identified_by)
            if not all(identity):
                missing = ", ".join(n for n, v in zip(spec.identified_by, identity, strict=True) if not v)
                skipped.add(f"{table} rows without {missing} not sent (it tells the rows apart)", key, _label(values))
                continue
            held = chosen.get(identity)
            if held is None:
                chosen[identity] = values
                continue
            if held != values:
                skipped.add(
                    f"{table} rows with the same {', '.join(spec.identified_by)} sent once", key, " ".join(identity)
                )
                if _row_order(values) < _row_order(held):
                    chosen[identity] = values
        out.extend((table, values) for values in chosen.values())
    return out


def _catalog_only(spec: RelatedTable) -> bool:
    """Whether a software table maps only columns of the package's catalog row (none of the install's)."""
    return all(a in _CATALOG_COLUMNS for fs in spec.fields.values() for a in fs.attributes)


_CATALOG_COLUMNS = frozenset(c.name for c in staged_software.columns) - {"first_seen", "last_seen"}


def _row_order(row: dict[str, Any]) -> bytes:
    """A total order of rows: of several that stand for one, the smallest is sent."""
    return msgspec.json.encode(row, order="sorted")


def _label(values: dict[str, str]) -> str:
    return " ".join(values.values())[:80] or "no value at all"


def _software_tables(mappings: Mappings) -> list[tuple[str, RelatedTable]]:
    return [(t, spec) for t, spec in mappings.related_tables.items() if spec.rows == "software"]


def software_row_columns(mappings: Mappings) -> list[str]:
    """The columns each software row (install and package) needs for the software related tables: those they map,
    or only the software key for a table that maps the package's catalog row only (see :func:`package_details`)."""
    columns: set[str] = set()
    for _, spec in _software_tables(mappings):
        if _catalog_only(spec):
            columns.add("software_key")
        else:
            columns.update(a for fs in spec.fields.values() for a in fs.attributes)
    return sorted(columns)


def package_details(conn: Connection, mappings: Mappings, rows: Sequence[Any]) -> dict[tuple[str, str], dict[str, str]]:
    """The values of the software related tables that map only the package's catalog row, per (table, software key),
    for the packages of the assets ``rows``: read with one query and mapped once per package."""
    tables = [(t, spec) for t, spec in _software_tables(mappings) if _catalog_only(spec)]
    keys = sorted({str(sw["software_key"]) for row in rows for sw in row["software"] if sw.get("software_key")})
    if not tables or not keys:
        return {}
    columns = sorted({a for _, spec in tables for fs in spec.fields.values() for a in fs.attributes})
    pairs = [f"'{c}', s.\"{c}\"" for c in columns]  # as JSON, like the install rows (dates as text)
    catalog = " || ".join(f"jsonb_build_object({', '.join(pairs[i : i + 40])})" for i in range(0, len(pairs), 40))
    found = conn.execute(
        text(f'SELECT s.software_key, {catalog} AS c FROM "{SCHEMA}".staged_software s WHERE s.software_key = ANY(:k)'),
        {"k": keys},
    )
    out: dict[tuple[str, str], dict[str, str]] = {}
    for key, values in found:
        for table, spec in tables:
            out[(table, str(key))] = _mapped(values, spec.fields)
    return out


def related_columns(mappings: Mappings, kind: str) -> list[str]:
    """The columns of the staged detail ``kind`` (``software``: install and catalog) that related tables map."""
    return sorted(
        {
            a
            for t in mappings.related_tables.values()
            if t.rows == kind
            for fs in t.fields.values()
            for a in fs.attributes
        }
    )


def details_sql(mappings: Mappings) -> str:
    """A JSON object of the asset attributes that the one-row-per-CI related tables map (over SOURCE_FROM)."""
    names = sorted(
        {
            a
            for t in mappings.related_tables.values()
            if t.rows is None
            for fs in t.fields.values()
            for a in fs.attributes
        }
    )
    pairs = [f"'{name}', ({SOURCE_COLUMNS[name]})" for name in names]
    # jsonb_build_object takes at most 100 arguments: build in chunks and concatenate
    chunks = [f"jsonb_build_object({', '.join(pairs[i : i + 40])})" for i in range(0, len(pairs), 40)]
    return " || ".join(chunks) or "'{}'::jsonb"


def related_rows_sql(mappings: Mappings) -> str:
    """A JSON object: for each staged detail kind that related tables read rows from, the asset's rows with the
    columns they map. Software is not among them: it comes with the asset's software (one join, not two)."""
    kinds = sorted({t.rows for t in mappings.related_tables.values() if t.rows is not None and t.rows != "software"})
    pairs = [f"'{kind}', {_rows_sql(kind, related_columns(mappings, kind))}" for kind in kinds]
    return f"jsonb_build_object({', '.join(pairs)})" if pairs else "'{}'::jsonb"
