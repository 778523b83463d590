"""The list queries behind the operator UI's pages (assets, software), shared with the reports (OB-2).

A report's bar links to a list page with filters; both are built here from the same predicates, so the number on a
bar and the length of the list it links to always agree.

Definitions used everywhere (lists, filters, reports):

* **none**: the filter value :data:`NONE` (``"(none)"``) matches a missing or blank (empty or spaces only) value;
  reports label such a group with it. Any other value matches exactly (case and spaces included).
* **end of life** (an OS or a software catalog entry): its Qualys lifecycle stage is ``EOL``, ``EOS`` or
  ``EOL/EOS`` (:data:`EOL_STAGES`, compared trimmed and case-insensitively). The stage is Qualys's own verdict
  at sync time; the EOL/EOS dates are not compared with today's date (so a figure does not change overnight).
* **database**: a catalog entry whose ``category_1`` is ``Database`` and whose ``category_2`` is a database engine:
  ``Database Servers`` or ``In-Memory Data Stores`` (:data:`DATABASE_CATEGORY_2`, both compared trimmed and
  case-insensitively). Database tools, drivers (connectivity) and embedded libraries such as SQLite are not.
* **software filters** (``software``, ``software_publisher``, ``software_category``, ``software_lifecycle_stage``,
  ``eol_software``, ``database``) apply together to one install: an asset matches when *one* of its installed
  catalog entries matches all of them (e.g. ``software=X&eol_software=1``: an end-of-life install of X).
* an asset's **tags**: the tag names of its staged tag rows; ``tag=T`` matches an asset with a tag named T.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields, replace
from datetime import UTC, datetime
from typing import Any, Self
from urllib.parse import urlencode

from sqlalchemy import Connection, Engine, Select, and_, case, distinct, exists, false, func, literal, null, or_, select
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.expression import FromClause

from qualys_cmdb.staging.schema import STAGED_CHILDREN, asset_classification, staged_asset, staged_software

NONE = "(none)"
EOL_STAGES = ("EOL", "EOS", "EOL/EOS")
DATABASE_CATEGORY_1 = "database"
DATABASE_CATEGORY_2 = ("database servers", "in-memory data stores")
MAX_PAGE_SIZE = 1000
_TRUE = frozenset({"1", "true", "yes", "on"})

_a = staged_asset
_c = asset_classification
_os = STAGED_CHILDREN["os"]
_hw = STAGED_CHILDREN["hardware"]
_tag = STAGED_CHILDREN["tag"]
_install = STAGED_CHILDREN["software_install"]
_nic = STAGED_CHILDREN["network_interface"]
_ip = STAGED_CHILDREN["ip_address"]
_sw = staged_software


# --------------------------------------------------------------------------------------------- predicates
def match(column: ColumnElement[Any], value: str) -> ColumnElement[bool]:
    """``column`` equals ``value``; :data:`NONE` matches a missing or blank (empty or spaces only) value."""
    if value == NONE:
        return or_(column.is_(None), func.btrim(column) == "")
    return column == value


def group_key(column: ColumnElement[Any]) -> ColumnElement[Any]:
    """The value a report groups by: a blank one counts as missing (labelled :data:`NONE`), like :func:`match`."""
    return case((func.btrim(column) == "", null()), else_=column)


def is_eol(stage: ColumnElement[Any]) -> ColumnElement[bool]:
    """A lifecycle stage that means end of life (see the module docstring)."""
    return func.upper(func.btrim(stage)).in_(EOL_STAGES)


def is_database(catalog: FromClause = _sw) -> ColumnElement[bool]:
    """A software catalog entry that is a database engine (see the module docstring)."""
    return and_(
        func.lower(func.btrim(catalog.c.category_1)) == DATABASE_CATEGORY_1,
        func.lower(func.btrim(catalog.c.category_2)).in_(DATABASE_CATEGORY_2),
    )


def _like_pattern(term: str) -> str:
    escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _search(columns: Sequence[ColumnElement[Any]], term: str) -> ColumnElement[bool]:
    pattern = _like_pattern(term)
    return or_(*(col.ilike(pattern, escape="\\") for col in columns))


def _flag(value: Any) -> bool:
    return str(value).strip().lower() in _TRUE


def _first(value: Any) -> str | None:
    """A query-string value: the first of a list (parse_qs), verbatim (a link carries the exact value to match);
    empty or blank becomes None."""
    if isinstance(value, list | tuple):
        value = value[0] if value else None
    if value is None or not str(value).strip():
        return None
    return str(value)


class _Filters:
    """from_query / to_query for the filter dataclasses (bool fields are flags: set when true)."""

    @classmethod
    def from_query(cls, query: Mapping[str, Any]) -> Self:
        """Filters from URL query parameters (unknown keys ignored; flags are "1"/"true"/"yes"/"on")."""
        values: dict[str, Any] = {}
        for f in fields(cls):  # type: ignore[arg-type]
            if f.name not in query:
                continue
            raw = _first(query[f.name])
            if f.type in ("bool", bool):
                values[f.name] = raw is not None and _flag(raw)
            elif raw is not None:
                values[f.name] = raw.strip() if f.name == "search" else raw
        return cls(**values)

    def to_params(self) -> dict[str, str]:
        """The set filters, as query parameters (flags as "1"), in field order."""
        out: dict[str, str] = {}
        for f in fields(self):  # type: ignore[arg-type]
            value = getattr(self, f.name)
            if value is True:
                out[f.name] = "1"
            elif isinstance(value, str) and value != "":
                out[f.name] = value
        return out

    def to_query(self) -> str:
        """The set filters as a URL query string (without '?'), for links."""
        return urlencode(self.to_params())

    def is_empty(self) -> bool:
        return not self.to_params()

    def replace(self, **changes: Any) -> Self:
        """A copy with ``changes``."""
        return replace(self, **changes)  # type: ignore[type-var]


# --------------------------------------------------------------------------------------------- assets
@dataclass(frozen=True)
class AssetFilters(_Filters):
    """Filters of the asset list; every set field must match (see the module docstring for the definitions)."""

    source: str | None = None
    schedule: str | None = None
    state: str | None = None  # classification state: pending | approved | rejected | failed | loaded (or NONE)
    target_class: str | None = None
    cmdb_class: str | None = None
    run: str | None = None  # the run that classified the asset
    reason: str | None = None  # exact failure reason
    code: str | None = None  # failure code: NO_CLASS, SHARED_CI, CLASS_CONFLICT, … or the CMDB's error code
    os_category_1: str | None = None
    os_name: str | None = None
    hardware_category_1: str | None = None
    hardware_manufacturer: str | None = None
    eol_os: bool = False
    tag: str | None = None
    software: str | None = None  # catalog software name
    software_publisher: str | None = None
    software_category: str | None = None  # catalog category_1
    software_lifecycle_stage: str | None = None
    eol_software: bool = False
    database: bool = False
    search: str | None = None  # case-insensitive substring of name, DNS name, NetBIOS name or IP address
    modified_before: str | None = None  # ISO 8601: Qualys last modified the asset before then (BY-7 stale assets)


#: AssetFilters fields that compare one column of the asset, its OS, hardware or classification row.
_ASSET_COLUMNS: dict[str, ColumnElement[Any]] = {
    "source": _a.c.source,
    "schedule": _c.c.schedule,
    "state": _c.c.state,
    "target_class": _c.c.target_class,
    "cmdb_class": _c.c.cmdb_class,
    "run": _c.c.classified_run,
    "reason": _c.c.reason,
    "code": _c.c.failure_code,
    "os_category_1": _os.c.os_category_1,
    "os_name": _os.c.os_name,
    "hardware_category_1": _hw.c.hardware_category_1,
    "hardware_manufacturer": _hw.c.hardware_manufacturer,
}
#: AssetFilters fields that compare a column of the software catalog entry of an install.
_SOFTWARE_COLUMNS: dict[str, ColumnElement[Any]] = {
    "software": _sw.c.name,
    "software_publisher": _sw.c.publisher,
    "software_category": _sw.c.category_1,
    "software_lifecycle_stage": _sw.c.lifecycle_stage,
}
#: Fields a report may group assets by (the group's value becomes the field's filter in the bar's link).
GROUPABLE = (*_ASSET_COLUMNS, "tag", *_SOFTWARE_COLUMNS)

_OS_TEXT = func.coalesce(func.nullif(_os.c.os_full_name, ""), _os.c.os_name)


def _asset_from(filters: AssetFilters | None = None, by: Sequence[str] = ()) -> FromClause:
    """Staged assets outer-joined to their OS and hardware rows (at most one each per asset) and classification rows
    (one per schedule that classified the asset).

    With ``filters``, only the tables its set fields (or the grouped fields ``by``) need: counting over millions of
    joined install rows must not drag along joins that decide nothing. Without, all of them (for the list rows).
    """
    if filters is None:
        tables = {_os, _hw, _c}
    else:
        tables = {col.table for name, col in _ASSET_COLUMNS.items() if getattr(filters, name) is not None or name in by}
        if filters.eol_os:
            tables.add(_os)
    frm: FromClause = _a
    for table in (_os, _hw, _c):
        if table in tables:
            frm = frm.outerjoin(table, and_(table.c.source == _a.c.source, table.c.asset_id == _a.c.asset_id))
    return frm


def _software_conditions(filters: AssetFilters) -> list[ColumnElement[bool]]:
    """The software filters, over one install's catalog entry."""
    conds = [
        match(col, getattr(filters, name))
        for name, col in _SOFTWARE_COLUMNS.items()
        if getattr(filters, name) is not None
    ]
    if filters.eol_software:
        conds.append(is_eol(_sw.c.lifecycle_stage))
    if filters.database:
        conds.append(is_database())
    return conds


def _tag_exists(name: str | None) -> ColumnElement[bool]:
    """The asset has a tag (named ``name`` if given)."""
    same = [_tag.c.source == _a.c.source, _tag.c.asset_id == _a.c.asset_id]
    return exists().where(*same, *([match(_tag.c.tag_name, name)] if name is not None else []))


def _install_exists(on_install: list[ColumnElement[bool]]) -> ColumnElement[bool]:
    """The asset has an install whose catalog entry meets ``on_install``."""
    return (
        exists()
        .select_from(_install.join(_sw, _sw.c.software_key == _install.c.software_key))
        .where(_install.c.source == _a.c.source, _install.c.asset_id == _a.c.asset_id, *on_install)
    )


def _asset_conditions(filters: AssetFilters, *, software: bool = True) -> list[ColumnElement[bool]]:
    """The WHERE of the asset list over :func:`_asset_from`; without the software filters if not ``software``
    (when the caller joins the installs and applies them to the joined row)."""
    conds = [
        match(col, getattr(filters, name)) for name, col in _ASSET_COLUMNS.items() if getattr(filters, name) is not None
    ]
    if filters.eol_os:
        conds.append(is_eol(_os.c.os_lifecycle_stage))
    if filters.tag is not None:
        conds.append(_tag_exists(filters.tag))
    if software and (on_install := _software_conditions(filters)):
        conds.append(_install_exists(on_install))
    if filters.search:
        conds.append(_search([_a.c.name, _a.c.dns_name, _a.c.netbios_name, _a.c.ip_address], filters.search))
    if filters.modified_before is not None:
        conds.append(_modified_before(filters.modified_before))
    return conds


def _modified_before(value: str) -> ColumnElement[bool]:
    """Qualys last modified the asset before ``value`` (ISO 8601, UTC without a zone); a value that is not a date-time
    matches nothing."""
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        return false()
    return _a.c.last_modified_date < (moment if moment.tzinfo else moment.replace(tzinfo=UTC))


def _first_mac() -> ColumnElement[Any]:
    """The asset's first MAC address: of its network interfaces, else of its IP addresses (ordered, so stable)."""

    def first(table: FromClause, order: list[ColumnElement[Any]]) -> ColumnElement[Any]:
        return (
            select(table.c.mac_address)
            .where(
                table.c.source == _a.c.source,
                table.c.asset_id == _a.c.asset_id,
                func.coalesce(table.c.mac_address, "") != "",
            )
            .order_by(*order)
            .limit(1)
            .scalar_subquery()
        )

    return func.coalesce(
        first(_nic, [_nic.c.interface_name.asc().nulls_last(), _nic.c.mac_address]),
        first(_ip, [_ip.c.interface_name.asc().nulls_last(), _ip.c.mac_address]),
    )


def _tags() -> ColumnElement[Any]:
    """The asset's tag names, distinct, sorted, comma-joined (a correlated scalar subquery)."""
    name = _tag.c.tag_name
    return (
        select(func.string_agg(distinct(name), aggregate_order_by(literal(", "), name)))
        .where(_tag.c.source == _a.c.source, _tag.c.asset_id == _a.c.asset_id)
        .scalar_subquery()
    )


ASSET_COLUMNS: tuple[str, ...] = (
    "source",
    "asset_id",
    "name",
    "ip_address",
    "dns_name",
    "netbios_name",
    "mac_address",
    "os",
    "os_category_1",
    "hardware_category_1",
    "hardware_category_2",
    "hardware_manufacturer",
    "tags",
    "schedule",
    "target_class",
    "state",
    "reason",
    "failure_code",
    "failure_detail",
    "preview_operation",
    "preview_sys_id",
    "cmdb_sys_id",
    "cmdb_class",
    "classified_run",
    "classified_at",
    "decided_by",
    "decided_at",
    "loaded_at",
    "last_modified_date",
)


def _asset_select_columns() -> list[ColumnElement[Any]]:
    exprs: dict[str, ColumnElement[Any]] = {
        "source": _a.c.source,
        "asset_id": _a.c.asset_id,
        "name": _a.c.name,
        "ip_address": _a.c.ip_address,
        "dns_name": _a.c.dns_name,
        "netbios_name": _a.c.netbios_name,
        "mac_address": _first_mac(),
        "os": _OS_TEXT,
        "os_category_1": _os.c.os_category_1,
        "hardware_category_1": _hw.c.hardware_category_1,
        "hardware_category_2": _hw.c.hardware_category_2,
        "hardware_manufacturer": _hw.c.hardware_manufacturer,
        "tags": _tags(),
        "schedule": _c.c.schedule,
        "target_class": _c.c.target_class,
        "state": _c.c.state,
        "reason": _c.c.reason,
        "failure_code": _c.c.failure_code,
        "failure_detail": _c.c.failure_detail,
        "preview_operation": _c.c.preview_operation,
        "preview_sys_id": _c.c.preview_sys_id,
        "cmdb_sys_id": _c.c.cmdb_sys_id,
        "cmdb_class": _c.c.cmdb_class,
        "classified_run": _c.c.classified_run,
        "classified_at": _c.c.classified_at,
        "decided_by": _c.c.decided_by,
        "decided_at": _c.c.decided_at,
        "loaded_at": _c.c.loaded_at,
        "last_modified_date": _a.c.last_modified_date,
    }
    return [exprs[name].label(name) for name in ASSET_COLUMNS]


#: Columns the asset list may be sorted by ("-name" sorts descending); anything else sorts by name.
ASSET_SORTS: dict[str, ColumnElement[Any]] = {
    "name": _a.c.name,
    "source": _a.c.source,
    "asset_id": _a.c.asset_id,
    "ip_address": _a.c.ip_address,
    "dns_name": _a.c.dns_name,
    "netbios_name": _a.c.netbios_name,
    "os": _OS_TEXT,
    "os_category_1": _os.c.os_category_1,
    "hardware_category_1": _hw.c.hardware_category_1,
    "hardware_category_2": _hw.c.hardware_category_2,
    "hardware_manufacturer": _hw.c.hardware_manufacturer,
    "schedule": _c.c.schedule,
    "target_class": _c.c.target_class,
    "state": _c.c.state,
    "reason": _c.c.reason,
    "failure_code": _c.c.failure_code,
    "preview_operation": _c.c.preview_operation,
    "cmdb_class": _c.c.cmdb_class,
    "classified_run": _c.c.classified_run,
    "classified_at": _c.c.classified_at,
    "decided_by": _c.c.decided_by,
    "decided_at": _c.c.decided_at,
    "loaded_at": _c.c.loaded_at,
    "last_modified_date": _a.c.last_modified_date,
}


def resolve_sort(sort: str | None, allowed: Mapping[str, Any], default: str) -> tuple[str, bool]:
    """The whitelisted sort column and whether descending; an unknown column falls back to ``default``."""
    name = (sort or "").strip()
    descending = name.startswith("-")
    name = name.lstrip("-")
    if name not in allowed:
        return default, False
    return name, descending


def _page(page: int, page_size: int) -> tuple[int, int]:
    size = max(1, min(int(page_size), MAX_PAGE_SIZE))
    return size, (max(1, int(page)) - 1) * size


def _ordering(expr: ColumnElement[Any], descending: bool) -> ColumnElement[Any]:
    return expr.desc().nulls_last() if descending else expr.asc().nulls_last()


def count_assets(conn: Connection, filters: AssetFilters) -> int:
    """How many staged assets match ``filters``."""
    query = select(func.count()).select_from(_asset_from(filters)).where(*_asset_conditions(filters))
    return int(conn.execute(query).scalar_one())


def asset_keys(conn: Connection, filters: AssetFilters) -> list[tuple[str, str, int]]:
    """``(schedule, source, asset id)`` of every row of the asset list matching ``filters`` (all pages; the schedule
    is None for an asset no schedule classified)."""
    query = (
        select(_c.c.schedule, _a.c.source, _a.c.asset_id)
        .select_from(_asset_from(filters, by=("schedule",)))
        .where(*_asset_conditions(filters))
    )
    return [(s, src, int(a)) for s, src, a in conn.execute(query)]


def list_assets(
    engine: Engine, filters: AssetFilters, *, page: int = 1, page_size: int = 50, sort: str = "name"
) -> tuple[list[dict[str, Any]], int]:
    """One page of staged assets matching ``filters`` (columns: :data:`ASSET_COLUMNS`) and how many rows match in all.

    An asset that several schedules of its source select is one row per schedule (each schedule keeps its own
    classification, decision and load state, FM-8); an asset no schedule classified yet is one row.
    ``sort`` is a key of :data:`ASSET_SORTS`, "-" first for descending; ties are broken by (source, asset id,
    schedule).
    """
    size, offset = _page(page, page_size)
    conds = _asset_conditions(filters)
    query = asset_query(filters, sort).limit(size).offset(offset)
    with engine.connect() as conn:
        total = int(
            conn.execute(
                select(func.count()).select_from(_asset_from(filters, by=("schedule",))).where(*conds)
            ).scalar_one()
        )
        rows = [dict(r) for r in conn.execute(query).mappings()] if total > offset else []
    return rows, total


def asset_query(filters: AssetFilters, sort: str = "name") -> Select[Any]:
    """Every row of the asset list matching ``filters`` in the list's order (see :func:`list_assets`), unpaged: the
    list's pages and its exports read the same statement."""
    name, descending = resolve_sort(sort, ASSET_SORTS, "name")
    return (
        select(*_asset_select_columns())
        .select_from(_asset_from())
        .where(*_asset_conditions(filters))
        .order_by(_ordering(ASSET_SORTS[name], descending), _a.c.source, _a.c.asset_id, _c.c.schedule)
    )


def asset_counts(
    conn: Connection, filters: AssetFilters, by: Sequence[str]
) -> tuple[list[tuple[tuple[str, ...], int]], int]:
    """Assets matching ``filters`` counted by the fields ``by`` (names from :data:`GROUPABLE`), largest first.

    Returns ``([(group values, assets)], distinct assets in any group)``; a missing or blank value is
    :data:`NONE`. Each group's count equals ``count_assets(filters.replace(**dict(zip(by, values))))``. Grouping by
    ``tag`` or a software field counts an asset once per group it has a tag / an install in (installs matching the
    software filters); a grouped field that ``filters`` also sets keeps only that group.
    """
    unknown = [f for f in by if f not in GROUPABLE]
    if unknown or not by:
        raise ValueError(f"cannot group assets by {unknown or by!r}")
    columns = {**_ASSET_COLUMNS, **_SOFTWARE_COLUMNS, "tag": _tag.c.tag_name}
    keys = [group_key(columns[f]).label(f"k{n}") for n, f in enumerate(by)]
    if all(f in _ASSET_COLUMNS for f in by):  # one row per asset: a plain GROUP BY
        query = (
            select(*keys, func.count())
            .select_from(_asset_from(filters, by))
            .where(*_asset_conditions(filters))
            .group_by(*keys)
        )
        rows = [tuple(r) for r in conn.execute(query).all()]
        groups = [(tuple(NONE if v is None else str(v) for v in r[:-1]), int(r[-1])) for r in rows]
        total = sum(n for _, n in groups)
    else:
        groups = _joined_counts(conn, filters, by, keys)
        total = _count_with_any(conn, filters, by) if groups else 0
    groups.sort(key=lambda g: (-g[1], g[0]))
    return groups, total


def _count_with_any(conn: Connection, filters: AssetFilters, by: Sequence[str]) -> int:
    """The assets in any group of a tag / software grouping: those with a (matching) tag / install, by semi-joins
    that stop at the first row of each asset instead of counting distinct pairs again."""
    software_by = any(f in _SOFTWARE_COLUMNS for f in by)
    conds = _asset_conditions(filters.replace(tag=None) if "tag" in by else filters, software=not software_by)
    if "tag" in by:
        conds.append(_tag_exists(filters.tag))
    if software_by:
        conds.append(_install_exists(_software_conditions(filters)))
    query = select(func.count()).select_from(_asset_from(filters, by)).where(*conds)
    return int(conn.execute(query).scalar_one())


def _joined_counts(
    conn: Connection, filters: AssetFilters, by: Sequence[str], keys: list[Any]
) -> list[tuple[tuple[str, ...], int]]:
    """Assets per group when grouping by tag or software: (group, asset) pairs first, then counted per group."""
    software_by = any(f in _SOFTWARE_COLUMNS for f in by)
    frm = _asset_from(filters, by)
    conds = _asset_conditions(filters.replace(tag=None) if "tag" in by else filters, software=not software_by)
    if "tag" in by:  # the tag filter, if any, applies to the joined tag row
        frm = frm.join(_tag, and_(_tag.c.source == _a.c.source, _tag.c.asset_id == _a.c.asset_id))
        if filters.tag is not None:
            conds.append(match(_tag.c.tag_name, filters.tag))
    if software_by:  # the software filters apply to the joined install
        frm = frm.join(_install, and_(_install.c.source == _a.c.source, _install.c.asset_id == _a.c.asset_id))
        frm = frm.join(_sw, _sw.c.software_key == _install.c.software_key)
        conds += _software_conditions(filters)
    plain = [k.element for k in keys]
    pairs = (
        select(*keys)
        .select_from(frm)
        .where(*conds)
        .group_by(*plain, _a.c.source, _a.c.asset_id)  # GROUP BY hashes; cheaper here than DISTINCT
        .subquery("pairs")
    )
    group_cols = [pairs.c[k.name] for k in keys]
    query = select(*group_cols, func.count()).group_by(*group_cols)
    return [(tuple(NONE if v is None else str(v) for v in r[:-1]), int(r[-1])) for r in conn.execute(query).all()]


# --------------------------------------------------------------------------------------------- software
@dataclass(frozen=True)
class SoftwareFilters(_Filters):
    """Filters of the software catalog list; every set field must match.

    ``source`` keeps the entries installed on at least one asset of that source and counts only its installs.
    """

    source: str | None = None
    name: str | None = None  # exact software name
    publisher: str | None = None
    category: str | None = None  # category_1
    lifecycle_stage: str | None = None
    eol: bool = False
    database: bool = False
    search: str | None = None  # case-insensitive substring of name, publisher or product


_CATALOG_COLUMNS: dict[str, ColumnElement[Any]] = {
    "name": _sw.c.name,
    "publisher": _sw.c.publisher,
    "category": _sw.c.category_1,
    "lifecycle_stage": _sw.c.lifecycle_stage,
}
SOFTWARE_GROUPABLE = tuple(_CATALOG_COLUMNS)


def _catalog_conditions(filters: SoftwareFilters) -> list[ColumnElement[bool]]:
    conds = [
        match(col, getattr(filters, name))
        for name, col in _CATALOG_COLUMNS.items()
        if getattr(filters, name) is not None
    ]
    if filters.eol:
        conds.append(is_eol(_sw.c.lifecycle_stage))
    if filters.database:
        conds.append(is_database())
    if filters.search:
        conds.append(_search([_sw.c.name, _sw.c.publisher, _sw.c.product], filters.search))
    if filters.source is not None:
        conds.append(exists().where(_install.c.software_key == _sw.c.software_key, _install.c.source == filters.source))
    return conds


SOFTWARE_COLUMNS: tuple[str, ...] = (
    "software_key",
    "name",
    "version",
    "publisher",
    "product",
    "category_1",
    "category_2",
    "software_type",
    "lifecycle_stage",
    "lifecycle_eol_date",
    "lifecycle_eos_date",
    "eol",
    "database",
    "is_ignored",
    "installs",
    "first_seen",
    "last_seen",
)

#: Columns the software list may be sorted by ("-installs" sorts descending); anything else sorts by name.
SOFTWARE_SORTS: tuple[str, ...] = (
    "name",
    "version",
    "publisher",
    "category_1",
    "category_2",
    "lifecycle_stage",
    "lifecycle_eol_date",
    "lifecycle_eos_date",
    "installs",
    "first_seen",
    "last_seen",
)


def _install_counts(source: str | None, only: Any = None) -> FromClause:
    """Distinct assets installing each catalog entry (of ``source`` if set; of the entries ``only`` selects)."""
    conds: list[ColumnElement[bool]] = []
    if source is not None:
        conds.append(_install.c.source == source)
    if only is not None:
        conds.append(_install.c.software_key.in_(only))
    keys = (_install.c.software_key, _install.c.source, _install.c.asset_id)
    pairs = select(*keys).where(*conds).group_by(*keys).subquery()
    return (
        select(pairs.c.software_key, func.count().label("installs")).group_by(pairs.c.software_key).subquery("counts")
    )


def count_software(conn: Connection, filters: SoftwareFilters) -> int:
    """How many catalog entries match ``filters``."""
    return int(conn.execute(select(func.count()).select_from(_sw).where(*_catalog_conditions(filters))).scalar_one())


def _catalog_columns() -> list[ColumnElement[Any]]:
    """The software list's columns of the catalog entry (all of :data:`SOFTWARE_COLUMNS` but ``installs``)."""
    return [
        _sw.c.software_key,
        _sw.c.name,
        _sw.c.version,
        _sw.c.publisher,
        _sw.c.product,
        _sw.c.category_1,
        _sw.c.category_2,
        _sw.c.software_type,
        _sw.c.lifecycle_stage,
        _sw.c.lifecycle_eol_date,
        _sw.c.lifecycle_eos_date,
        func.coalesce(is_eol(_sw.c.lifecycle_stage), false()).label("eol"),
        func.coalesce(is_database(), false()).label("database"),
        _sw.c.is_ignored,
        _sw.c.first_seen,
        _sw.c.last_seen,
    ]


def software_query(filters: SoftwareFilters, sort: str = "name") -> Select[Any]:
    """Every row of the software list matching ``filters`` in the list's order (see :func:`list_software`), unpaged,
    with the install counts of all entries in one aggregate: what the list's exports read."""
    name, descending = resolve_sort(sort, dict.fromkeys(SOFTWARE_SORTS), "name")
    counts = _install_counts(filters.source)
    installs = func.coalesce(counts.c.installs, 0)
    order = installs if name == "installs" else _sw.c[name]
    return (
        select(*_catalog_columns(), installs.label("installs"))
        .select_from(_sw.outerjoin(counts, counts.c.software_key == _sw.c.software_key))
        .where(*_catalog_conditions(filters))
        .order_by(_ordering(order, descending), _sw.c.name, _sw.c.software_key)
    )


def list_software(
    engine: Engine, filters: SoftwareFilters, page: int = 1, page_size: int = 50, sort: str = "name"
) -> tuple[list[dict[str, Any]], int]:
    """One page of the software catalog matching ``filters`` (columns: :data:`SOFTWARE_COLUMNS`; ``installs`` is
    the number of distinct assets installing the entry, of ``filters.source`` if set) and how many match in all."""
    size, offset = _page(page, page_size)
    name, descending = resolve_sort(sort, dict.fromkeys(SOFTWARE_SORTS), "name")
    conds = _catalog_conditions(filters)
    catalog = _catalog_columns()
    with engine.connect() as conn:
        total = count_software(conn, filters)
        if total <= offset:
            return [], total
        if name == "installs":  # needs every entry's count: one aggregate over the installs
            query = software_query(filters, sort).limit(size).offset(offset)
        else:  # the page first, then the installs of its entries only
            page_rows = (
                select(*catalog)
                .where(*conds)
                .order_by(_ordering(_sw.c[name], descending), _sw.c.name, _sw.c.software_key)
                .limit(size)
                .offset(offset)
                .cte("page")
            )
            counts = _install_counts(filters.source, select(page_rows.c.software_key))
            query = (
                select(*page_rows.c, func.coalesce(counts.c.installs, 0).label("installs"))
                .select_from(page_rows.outerjoin(counts, counts.c.software_key == page_rows.c.software_key))
                .order_by(_ordering(page_rows.c[name], descending), page_rows.c.name, page_rows.c.software_key)
            )
        rows = [{k: r[k] for k in SOFTWARE_COLUMNS} for r in conn.execute(query).mappings()]
    return rows, total


def software_counts(conn: Connection, filters: SoftwareFilters, by: str) -> tuple[list[tuple[str, int]], int]:
    """Catalog entries matching ``filters`` counted by one field of :data:`SOFTWARE_GROUPABLE`, largest first, and
    their total. A group's count equals ``count_software(filters.replace(**{by: value}))``; a missing or blank value
    is :data:`NONE`; if ``filters`` sets ``by`` too, only that group remains."""
    if by not in _CATALOG_COLUMNS:
        raise ValueError(f"cannot group software by {by!r}")
    key = group_key(_CATALOG_COLUMNS[by])
    query = select(key, func.count()).where(*_catalog_conditions(filters)).group_by(key)
    groups = [(NONE if k is None else str(k), int(n)) for k, n in conn.execute(query).all()]
    groups.sort(key=lambda g: (-g[1], g[0]))
    return groups, sum(n for _, n in groups)


__all__ = [
    "ASSET_COLUMNS",
    "ASSET_SORTS",
    "DATABASE_CATEGORY_1",
    "DATABASE_CATEGORY_2",
    "EOL_STAGES",
    "GROUPABLE",
    "NONE",
    "SOFTWARE_COLUMNS",
    "SOFTWARE_GROUPABLE",
    "SOFTWARE_SORTS",
    "AssetFilters",
    "SoftwareFilters",
    "asset_counts",
    "asset_keys",
    "asset_query",
    "count_assets",
    "count_software",
    "is_database",
    "is_eol",
    "list_assets",
    "list_software",
    "match",
    "resolve_sort",
    "software_counts",
    "software_query",
]
