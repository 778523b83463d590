"""The asset detail page: ``/qualys-cmdb/assets/{source}/{asset_id}`` (one Qualys asset, everything known about it).

* **Staged data**: the asset's own fields, its OS and hardware, serial numbers, processors, volumes, software
  installs (with their catalog entries), open ports, network interfaces, IP addresses, cloud metadata and tags.
* **Per schedule that selects it** (one classification row each, FM-8): its state, the payload a load would send
  (pretty JSON), what the IRE dry run said it would do and which CI it matched, and the fields that would change:
  the payload's CI values against the matched CI's current values, read from the CMDB through the configured CMDB
  connection (``ServiceNowHook.table_query`` on the CI's class, ``sysparm_fields`` limited to the payload's fields).
  A CMDB that cannot be read is said so on the page; the page itself never fails for it.
* **History**: every approval, rejection and retry (the ``approval_decision`` table keeps them all, with who and
  when), the latest classification, IRE preview and load (the classification row keeps only the latest of each),
  and the application-log entries that name the asset (``source/asset id`` in the message, or in the details).

Read-only: behind the same Airflow authentication as every page; a viewer may see it. An unknown asset is a 404
page within the layout.
"""

from __future__ import annotations

import itertools
import json
import logging
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import Engine, and_, func, literal, or_, select

from qualys_cmdb.staging.schema import (
    STAGED_CHILDREN,
    app_log,
    approval_decision,
    asset_classification,
    schedule_asset,
    staged_asset,
    staged_software,
)
from qualys_cmdb.ui.app import User, _config, _engine, _render

log = logging.getLogger(__name__)

#: At most this many software installs are listed (the page says how many there are in all).
MAX_INSTALLS = 2000
#: At most this many application-log entries are read for the history.
MAX_LOG_ENTRIES = 200
#: A page waits at most this long for the CMDB, and asks once (no retries): it is a look, not a load.
CMDB_TIMEOUT_S = 10.0
MAX_ASSET_ID = 2**63 - 1  # a bigint
_CLASS = re.compile(r"^[a-z][a-z0-9_]*$")
_SYS_ID = re.compile(r"^[0-9a-f]{32}$")
#: staged_asset columns not shown as the asset's fields (bookkeeping shown apart, or of no interest to a reader).
_ASSET_BOOKKEEPING = ("source", "asset_id", "content_hash", "queue_id")


# --------------------------------------------------------------------------------------------- staged data
@dataclass
class StagedAsset:
    """What staging holds about one asset."""

    source: str
    asset_id: int
    fields: dict[str, Any]  # staged_asset's columns (without the key and the content hash)
    os: dict[str, Any] | None
    hardware: dict[str, Any] | None
    details: dict[str, list[dict[str, Any]]]  # kind -> rows (serial numbers, ports, interfaces, IPs, cloud, tags, …)
    software: list[dict[str, Any]]
    software_total: int


def _rows(conn: Any, table: Any, source: str, asset_id: int, order: list[Any]) -> list[dict[str, Any]]:
    query = select(*[c for c in table.c if c.name not in ("source", "asset_id")]).where(
        table.c.source == source, table.c.asset_id == asset_id
    )
    return [dict(r) for r in conn.execute(query.order_by(*order)).mappings()]


def staged(engine: Engine, source: str, asset_id: int) -> StagedAsset | None:
    """The staged asset (source, asset_id) with every detail, or None if staging does not hold it."""
    kids = STAGED_CHILDREN
    with engine.connect() as conn:
        row = (
            conn.execute(
                select(staged_asset).where(staged_asset.c.source == source, staged_asset.c.asset_id == asset_id)
            )
            .mappings()
            .first()
        )
        if row is None:
            return None
        fields = {k: v for k, v in row.items() if k not in _ASSET_BOOKKEEPING}
        os_rows = _rows(conn, kids["os"], source, asset_id, [kids["os"].c.os_name])
        hw_rows = _rows(conn, kids["hardware"], source, asset_id, [kids["hardware"].c.hardware_full_name])
        orders: dict[str, list[Any]] = {
            "serial_number": [kids["serial_number"].c.serial_number],
            "processor": [kids["processor"].c.processor_description],
            "volume": [kids["volume"].c.name],
            "open_port": [kids["open_port"].c.port, kids["open_port"].c.protocol],
            "network_interface": [kids["network_interface"].c.interface_name, kids["network_interface"].c.mac_address],
            "ip_address": [kids["ip_address"].c.ip_address],
            "cloud": [kids["cloud"].c.provider, kids["cloud"].c.instance_id],
            "tag": [kids["tag"].c.tag_name],
        }
        details = {kind: _rows(conn, kids[kind], source, asset_id, order) for kind, order in orders.items()}
        install = kids["software_install"]
        mine = and_(install.c.source == source, install.c.asset_id == asset_id)
        software_total = int(conn.execute(select(func.count()).select_from(install).where(mine)).scalar_one())
        software = [
            dict(r)
            for r in conn.execute(
                select(
                    staged_software.c.name,
                    staged_software.c.version,
                    staged_software.c.publisher,
                    staged_software.c.category_1,
                    staged_software.c.category_2,
                    staged_software.c.lifecycle_stage,
                    staged_software.c.lifecycle_eol_date,
                    install.c.install_date,
                    install.c.install_path,
                    install.c.software_key,
                )
                .select_from(
                    install.outerjoin(staged_software, staged_software.c.software_key == install.c.software_key)
                )
                .where(mine)
                .order_by(
                    staged_software.c.name.asc().nulls_last(),
                    staged_software.c.version,
                    install.c.install_path,
                    install.c.software_key,
                )
                .limit(MAX_INSTALLS)
            ).mappings()
        ]
    return StagedAsset(
        source=source,
        asset_id=asset_id,
        fields=fields,
        os=os_rows[0] if os_rows else None,
        hardware=hw_rows[0] if hw_rows else None,
        details=details,
        software=software,
        software_total=software_total,
    )


# --------------------------------------------------------------------------------------------- schedules
@dataclass(frozen=True)
class FieldChange:
    """One CI field of the payload, against the CI's current value."""

    field: str
    sent: str  # what the load would send
    current: str | None  # what the CMDB holds now (None: the CI's class has no such field, or it was not read)
    changes: bool


@dataclass
class CmdbComparison:
    """The payload against the matched CI, as read from the CMDB (or why it could not be read)."""

    ci_class: str | None
    sys_id: str | None
    fields: list[FieldChange] = field(default_factory=list)
    found: bool = False  # the CI was read
    actual_class: str | None = None  # the class the CMDB says the CI is (when it answered with it)
    problem: str | None = None  # why there is no comparison (no CI matched, CMDB unreachable, …)

    @property
    def changed(self) -> list[FieldChange]:
        return [f for f in self.fields if f.changes]


@dataclass
class ScheduleView:
    """One schedule's view of the asset: whether it selected it, and its classification row (if classified)."""

    schedule: str
    selected: dict[str, Any] | None  # schedule_asset row
    classification: dict[str, Any] | None
    payload_json: str | None = None  # the CI values a load would send, as indented JSON
    cut: list[str] = field(default_factory=list)  # values cut to their field's length when sent (CM-8)
    comparison: CmdbComparison | None = None

    @property
    def matched_sys_id(self) -> str | None:
        row = self.classification or {}
        return row.get("preview_sys_id") or row.get("cmdb_sys_id") or None

    @property
    def ci_class(self) -> str | None:
        row = self.classification or {}
        return row.get("cmdb_class") or row.get("target_class") or None


def sent_values(payload: dict[str, Any], lengths: dict[str, int] | None) -> tuple[dict[str, Any], list[str]]:
    """The payload's CI values as a load sends them: each cut to its field's length (CM-8, the mappings'
    ``field_lengths``), and which were cut."""
    from qualys_cmdb.load.payload import truncate

    return truncate(dict(payload), lengths) if lengths is not None else (dict(payload), [])


def _field_lengths() -> dict[str, int] | None:
    try:
        from qualys_cmdb.classify.mappings import load_mappings

        return dict(load_mappings().field_lengths)
    except Exception as exc:  # invalid mapping files: the values are shown as classify built them
        log.warning("asset page: the mappings could not be read: %s", exc)
        return None


def schedules(engine: Engine, source: str, asset_id: int) -> list[ScheduleView]:
    """Every schedule that selects or classified the asset, by name, with the CI values a load would send."""
    with engine.connect() as conn:
        selected = {
            str(r["schedule"]): dict(r)
            for r in conn.execute(
                select(schedule_asset).where(schedule_asset.c.source == source, schedule_asset.c.asset_id == asset_id)
            ).mappings()
        }
        classified = {
            str(r["schedule"]): dict(r)
            for r in conn.execute(
                select(asset_classification).where(
                    asset_classification.c.source == source, asset_classification.c.asset_id == asset_id
                )
            ).mappings()
        }
    views = []
    lengths = _field_lengths() if any((r or {}).get("payload") for r in classified.values()) else None
    for name in sorted(set(selected) | set(classified)):
        row = classified.get(name)
        payload, cut = sent_values((row or {}).get("payload") or {}, lengths)
        pretty = json.dumps(payload, indent=2, sort_keys=True, ensure_ascii=False, default=str) if payload else None
        views.append(ScheduleView(name, selected.get(name), row, pretty, cut))
    return views


def _text(value: Any) -> str:
    """A value as the Table API shows it (every value a string)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _same(sent: str, current: str) -> bool:
    if sent == current:
        return True
    try:  # "16384" and "16384.0" are one number
        return float(sent) == float(current)
    except ValueError:
        return False


def compare(payload: dict[str, Any], current: dict[str, Any] | None) -> list[FieldChange]:
    """The payload's fields against the CI's current values (``current`` as the Table API returned it: a field the
    class does not have is missing from the answer, and is shown as such, not as a change)."""
    out = []
    for name in sorted(payload):
        sent = _text(payload[name])
        if current is None or name not in current:
            out.append(FieldChange(name, sent, None, False))
            continue
        now = _text(current[name].get("value") if isinstance(current[name], dict) else current[name])
        out.append(FieldChange(name, sent, now, not _same(sent, now)))
    return out


def _cmdb_hook(config: Any) -> Any:
    """The configured CMDB connection's hook, for a look: a short timeout and one attempt."""
    from qualys_cmdb.hooks.servicenow import ServiceNowHook, SnRetryPolicy

    return ServiceNowHook(
        config.properties.cmdb_connection_id, timeout_s=CMDB_TIMEOUT_S, retry=SnRetryPolicy(max_attempts=1)
    )


def read_ci(hook: Any, ci_class: str, sys_id: str, fields: list[str]) -> dict[str, Any] | None:
    """The CI ``sys_id`` of ``ci_class`` with ``fields`` (and its class), or None when the class holds no such CI."""
    wanted = list(dict.fromkeys([*fields, "sys_id", "sys_class_name"]))
    rows = hook.table_query(ci_class, f"sys_id={sys_id}", fields=wanted, page_size=1)
    first = next(itertools.islice(rows, 1), None)
    return dict(first) if first is not None else None


def compare_with_cmdb(views: list[ScheduleView], config: Any) -> None:
    """Fill each view's :class:`CmdbComparison`; CMDB failures become a problem to show, never an exception. After
    one failure the CMDB is not asked again for the page (a CMDB that times out costs the page one timeout)."""
    hook = None
    failure: str | None = None
    try:
        for view in views:
            if view.classification is None:
                continue
            payload = json.loads(view.payload_json) if view.payload_json else {}
            sys_id, ci_class = view.matched_sys_id, view.ci_class
            comparison = view.comparison = CmdbComparison(ci_class, sys_id, fields=compare(payload, None))
            if not payload:
                comparison.problem = "no payload: the asset was not classified into a CI class"
            elif not sys_id:
                comparison.problem = (
                    "no CI matched yet: the IRE preview has not run for this asset, or it would create a new CI "
                    "(every field would be written)"
                )
            elif not ci_class or not _CLASS.match(ci_class) or not _SYS_ID.match(sys_id):
                comparison.problem = f"cannot look up CI {sys_id!r} of class {ci_class!r}"
            elif failure is not None:
                comparison.problem = failure
            else:
                try:
                    hook = hook or _cmdb_hook(config)
                    current = read_ci(hook, ci_class, sys_id, sorted(payload))
                except Exception as exc:  # an unreachable or refusing CMDB is said on the page, never a failed page
                    log.warning("asset page: reading CI %s of %s failed: %s", sys_id, ci_class, exc)
                    comparison.problem = failure = _unreadable(exc)
                    continue
                comparison.fields = compare(payload, current)
                if current is None:
                    comparison.problem = f"the CMDB has no CI {sys_id} in {ci_class} (deleted, or of another class now)"
                else:
                    comparison.found = True
                    comparison.actual_class = _text(current.get("sys_class_name")) or None
    finally:
        if hook is not None:
            hook.close()


def _unreadable(exc: Exception) -> str:
    from qualys_cmdb.hooks.servicenow import ServiceNowError

    # the hook's errors and a missing connection are written to be shown; anything else is named only
    said = isinstance(exc, ServiceNowError) or type(exc).__name__ in ("AirflowNotFoundException", "ConnectionMissing")
    why = str(exc)[:500] if said else type(exc).__name__
    return f"the CMDB could not be read, so the current values are not shown: {why}"


# --------------------------------------------------------------------------------------------- history
@dataclass(frozen=True)
class Event:
    """One line of the asset's history."""

    at: datetime | None
    schedule: str | None
    what: str  # approved | rejected | retried | classified | previewed | loaded | failed | log
    who: str | None
    text: str
    run_id: str | None = None
    level: str | None = None


def _naming(source: str, asset_id: int) -> Any:
    """Application-log entries that name the asset: ``source/asset id`` in the message (as the load, the stale-CI
    review and the skipped-rows entries write it), or the asset in the details."""
    key = f"{source}/{asset_id}"
    pattern = "(^|[^A-Za-z0-9_.-])" + re.escape(key) + "([^0-9]|$)"
    details = app_log.c.details
    return or_(
        app_log.c.message.op("~")(pattern),
        and_(details["source"].astext == source, details["asset_id"].astext == str(asset_id)),
        details["assets"].has_key(key),
    )


def history(engine: Engine, source: str, asset_id: int, views: list[ScheduleView]) -> list[Event]:
    """The asset's history, newest first (see the module docstring for what is kept)."""
    events: list[Event] = []
    d = approval_decision.c
    with engine.connect() as conn:
        for r in conn.execute(
            select(approval_decision)
            .where(d.source == source, d.asset_id == asset_id)
            .order_by(d.decided_at.desc(), d.id.desc())
        ).mappings():
            events.append(Event(r["decided_at"], r["schedule"], str(r["decision"]), r["decided_by"], r["note"] or ""))
        entries = conn.execute(
            select(app_log).where(_naming(source, asset_id)).order_by(app_log.c.id.desc()).limit(MAX_LOG_ENTRIES)
        ).mappings()
        for r in entries:
            events.append(
                Event(
                    r["created_at"],
                    r["schedule"],
                    "log",
                    None,
                    f"{r['component']}: {r['message']}" if r["component"] else r["message"],
                    r["run_id"],
                    r["level"],
                )
            )
    for view in views:
        row = view.classification
        if row is None:
            continue
        name = view.schedule
        classified = f"classified as {row['target_class']}" if row.get("target_class") else "classification failed"
        if row.get("matched_by"):
            classified += f" ({row['matched_by']})"
        events.append(Event(row.get("classified_at"), name, "classified", None, classified, row.get("classified_run")))
        if row.get("preview_at"):
            said = f"IRE preview: {row.get('preview_operation') or '?'}"
            if row.get("preview_sys_id"):
                said += f" CI {row['preview_sys_id']}"
            events.append(Event(row["preview_at"], name, "previewed", None, said))
        if row.get("loaded_at"):
            said = " ".join(str(row.get(k) or "") for k in ("last_operation", "cmdb_class", "cmdb_sys_id"))
            events.append(Event(row["loaded_at"], name, "loaded", None, f"loaded: {said.strip()}"))
        if row.get("cmdb_retired_at"):
            events.append(Event(row["cmdb_retired_at"], name, "retired", None, "its CI was retired (stale asset)"))
    events.sort(key=lambda e: (e.at is not None, e.at or datetime.min), reverse=True)
    return events


def known_elsewhere(engine: Engine, source: str, asset_id: int) -> bool:
    """Whether a schedule or a classification row still names the asset (staging may no longer hold it)."""
    with engine.connect() as conn:
        for table in (asset_classification, schedule_asset):
            query = select(literal(1)).where(table.c.source == source, table.c.asset_id == asset_id).limit(1)
            if conn.execute(query).first() is not None:
                return True
    return False


# --------------------------------------------------------------------------------------------- the page
#: The asset fields the page shows first, with their headings; the others follow under their column names.
ASSET_FIELDS = {
    "name": "Name",
    "dns_name": "DNS name",
    "netbios_name": "NetBIOS name",
    "ip_address": "IP address",
    "asset_type": "Type",
    "tracking_method": "Tracking method",
    "asset_uuid": "Asset UUID",
    "qweb_host_id": "Host id",
    "agent_id": "Agent id",
    "bios_serial_number": "BIOS serial number",
    "bios_asset_tag": "BIOS asset tag",
    "hw_uuid": "Hardware UUID",
    "memory_mb": "Memory (MB)",
    "cpu_count": "CPUs",
    "domain_role": "Domain role",
    "last_logged_on_user": "Last logged-on user",
    "last_boot": "Last boot",
    "timezone": "Time zone",
    "cloud_provider": "Cloud provider",
    "created_date": "Created in Qualys",
    "last_modified_date": "Modified in Qualys",
}
#: The detail kinds shown as tables, with their headings and columns (in order).
DETAIL_TABLES: dict[str, tuple[str, tuple[str, ...]]] = {
    "open_port": ("Open ports", ("port", "protocol", "detected_service", "description", "first_found", "last_updated")),
    "network_interface": (
        "Network interfaces",
        ("interface_name", "mac_address", "ipv4_addresses", "ipv6_addresses", "gateway_address", "hostname"),
    ),
    "ip_address": ("IP addresses", ("ip_address", "ip_version", "interface_name", "mac_address")),
    "cloud": (
        "Cloud metadata",
        (
            "provider",
            "instance_id",
            "instance_type",
            "instance_state",
            "account_id",
            "region",
            "zone",
            "image_id",
            "network",
            "subnet",
            "private_ip_address",
            "public_ip_address",
        ),
    ),
    "serial_number": ("Serial numbers", ("serial_number", "serial_type")),
    "processor": ("Processors", ("processor_description", "processor_speed", "processor_cpu_counts", "sockets")),
    "volume": ("Volumes", ("name", "total_size", "free_size")),
}


def routes(app: FastAPI) -> None:
    """``GET /assets/{source}/{asset_id}``."""

    @app.get("/assets/{source}/{asset_id}", response_class=HTMLResponse)
    def asset_page(request: Request, user: User, source: str, asset_id: str) -> HTMLResponse:
        title = f"Asset {source}/{asset_id}"
        if not (asset_id.isascii() and asset_id.isdigit() and len(asset_id) <= 19 and int(asset_id) <= MAX_ASSET_ID):
            return _missing(request, user, title, f"{asset_id!r} is not a Qualys asset id")
        number = int(asset_id)
        engine = _engine()
        found = staged(engine, source, number)
        if found is None and not known_elsewhere(engine, source, number):
            return _missing(request, user, title, f"no asset {number} of source {source!r} is staged")
        views = schedules(engine, source, number)
        try:
            config = _config()
        except Exception as exc:  # an invalid configuration file: no CMDB connection to read with
            config = None
            log.warning("asset page: the configuration could not be read: %s", exc)
        if config is not None:
            compare_with_cmdb(views, config)
        else:
            for view in views:
                if view.classification is not None:
                    view.comparison = CmdbComparison(
                        view.ci_class, view.matched_sys_id, problem="the configuration file could not be read"
                    )
        name = (found.fields.get("name") if found else None) or title
        return _render(
            request,
            user,
            "asset.html",
            title=str(name),
            source=source,
            asset_id=number,
            asset=found,
            asset_fields=ASSET_FIELDS,
            detail_tables=DETAIL_TABLES,
            schedules=views,
            history=history(engine, source, number, views),
            max_installs=MAX_INSTALLS,
            max_log_entries=MAX_LOG_ENTRIES,
            cmdb_connection=config.properties.cmdb_connection_id if config is not None else None,
        )


def _missing(request: Request, user: Any, title: str, detail: str) -> HTMLResponse:
    """The 404 page, within the layout."""
    response = _render(request, user, "asset.html", title=title, missing=detail)
    response.status_code = 404
    return response


__all__ = [
    "CmdbComparison",
    "Event",
    "FieldChange",
    "ScheduleView",
    "StagedAsset",
    "compare",
    "compare_with_cmdb",
    "history",
    "read_ci",
    "routes",
    "schedules",
    "staged",
]
