"""What each list page and each report of the operator UI exports (CSV and Excel, :mod:`qualys_cmdb.ui.spreadsheet`).

A list's export is every row matching the page's filters (its query string; paging ignored), in the page's order,
with the page's columns and headings. Where the page shows two fields in one cell with the second one small (the run
under the schedule), the export has them in two columns; where the page shows a link only (a raw response), the
export leaves it out. The filters are read here, for the pages and their exports alike, so the two cannot differ.

A report's export is every group of the report (not only the largest the card draws): one column per field it
groups by, the count, and the address of the list the group counts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypedDict

from sqlalchemy import Select

from qualys_cmdb.ui import views
from qualys_cmdb.ui.listing import SOFTWARE_COLUMNS, AssetFilters, SoftwareFilters, asset_query, software_query
from qualys_cmdb.ui.spreadsheet import Column


@dataclass(frozen=True)
class Export:
    """One list's export: its file name stem (``failed-assets``), sheet title, columns and (unpaged) query."""

    stem: str
    title: str
    columns: Sequence[Column]
    query: Select[Any]


# ---------------------------------------------------------------------------------------------- filters
class QueueFilters(TypedDict):
    direction: str | None
    status: str | None
    schedule: str | None
    run_id: str | None


class UploadFilters(TypedDict):
    schedule: str | None
    status: str | None
    kind: str | None
    run_id: str | None


class LogFilters(TypedDict):
    level: str | None
    schedule: str | None
    run_id: str | None
    since: datetime | None
    until: datetime | None
    search: str | None


def utc_input(value: str | None) -> datetime | None:
    """A ``datetime-local`` form value, read as UTC (the page says so); None if it is not one."""
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def asset_filters(params: Mapping[str, str], state: str | None = None) -> AssetFilters:
    """The asset list's filters (``state`` forced when given: the approval and failed pages)."""
    return AssetFilters.from_query({**params, "state": state} if state else params)


def queue_filters(params: Mapping[str, str]) -> QueueFilters:
    """The sync-queue page's filters, as :func:`~qualys_cmdb.ui.views.queue_query` takes them."""
    return {
        "direction": params.get("direction") or None,
        "status": params.get("status") or None,
        "schedule": params.get("schedule") or None,
        "run_id": params.get("run") or None,
    }


def upload_filters(params: Mapping[str, str]) -> UploadFilters:
    """The upload-items page's filters, as :func:`~qualys_cmdb.ui.views.upload_query` takes them."""
    return {
        "schedule": params.get("schedule") or None,
        "status": params.get("status") or None,
        "kind": params.get("kind") or None,
        "run_id": params.get("run") or None,
    }


def log_filters(params: Mapping[str, str]) -> LogFilters:
    """The application-log page's filters, as :func:`~qualys_cmdb.ui.views.log_query` takes them."""
    return {
        "level": params.get("level") or None,
        "schedule": params.get("schedule") or None,
        "run_id": params.get("run") or None,
        "since": utc_input(params.get("since")),
        "until": utc_input(params.get("until")),
        "search": params.get("search") or None,
    }


# ---------------------------------------------------------------------------------------------- columns
def _hardware(row: Mapping[str, Any]) -> str | None:
    first, second = row.get("hardware_category_1"), row.get("hardware_category_2")
    return f"{first or ''} / {second}" if second else first


ASSET_EXPORT_COLUMNS = (
    Column("name", "Name"),
    Column("ip_address", "IP address"),
    Column("os", "OS"),
    Column("hardware", "Hardware", get=_hardware),
    Column("hardware_manufacturer", "Manufacturer"),
    Column("tags", "Tags"),
    Column("class", "Class", get=lambda r: r.get("cmdb_class") or r.get("target_class")),
    Column("state", "State"),
    Column("source", "Source"),
)
FAILED_EXPORT_COLUMNS = (
    Column("name", "Name"),
    Column("ip_address", "IP address"),
    Column("target_class", "Class"),
    Column("failure_code", "Code"),
    Column("reason", "Reason"),
    Column("when", "When", get=lambda r: r.get("decided_at") or r.get("classified_at"), when=True),
    Column("classified_run", "Run"),
    Column("schedule", "Schedule"),
)
#: The approval list's columns that hold date-times (the others are text).
APPROVAL_TIMES = frozenset({"last_modified_date"})
SOFTWARE_EXPORT_COLUMNS = tuple(
    Column(key, key.replace("_", " "), when=key in ("first_seen", "last_seen")) for key in SOFTWARE_COLUMNS
)


def _step(row: Mapping[str, Any]) -> Any:
    return row.get("page_no") if row.get("direction") == "download" else (row.get("request") or {}).get("step", "")


QUEUE_EXPORT_COLUMNS = (
    Column("id", "Id"),
    Column("type", "Type", get=lambda r: "Download" if r.get("direction") == "download" else "Upload"),
    Column("schedule", "Schedule"),
    Column("run_id", "Run"),
    Column("status", "Status"),
    Column("step", "Page / step", get=_step),
    Column("record_count", "Records"),
    Column("payload_bytes", "Size (bytes)"),
    Column("created_at", "Created", when=True),
    Column("processed", "Processed", get=lambda r: r.get("processed_at") or r.get("parsed_at"), when=True),
    Column("processor_id", "Processor"),
    Column("notes", "Notes"),
)


def _ci(row: Mapping[str, Any]) -> str:
    shared = int(row.get("ci_count") or 1)
    return (row.get("ci_name") or row.get("ci_sys_id") or "") + (f" (+{shared - 1})" if shared > 1 else "")


def _qualys_says(row: Mapping[str, Any]) -> str:
    code = row.get("qualys_code")
    return (row.get("message") or "") + (f" (CODE {code})" if code else "")


UPLOAD_EXPORT_COLUMNS = (
    Column("id", "Id"),
    Column("schedule", "Schedule"),
    Column("kind", "Kind"),
    Column("address", "Address"),
    Column("target", "Tag / group"),
    Column("ci", "CI", get=_ci),
    Column("status", "Status"),
    Column("qualys_says", "Qualys says", get=_qualys_says),
    Column("qualys_host_id", "Host id"),
    Column("processed_at", "Processed", when=True),
    Column("queue_id", "Upload record"),
)
LOG_EXPORT_COLUMNS = (
    Column("created_at", "When", when=True),
    Column("level", "Level"),
    Column("component", "Component"),
    Column("schedule", "Schedule", get=lambda r: r.get("schedule") or r.get("source")),
    Column("run_id", "Run"),
    Column("message", "Message"),
    Column("details", "Details"),
)


def approval_columns(chosen: Sequence[tuple[str, str]]) -> tuple[Column, ...]:
    """The approval list's columns a person chose, ``(key, heading)`` in their order."""
    return tuple(Column(key, heading, when=key in APPROVAL_TIMES) for key, heading in chosen)


# ---------------------------------------------------------------------------------------------- lists
#: The list pages that export, by path (``/assets`` exports as ``/assets.csv`` and ``/assets.xlsx``).
LISTS = ("assets", "approvals", "failed", "software", "queue", "uploads", "log")


def list_export(page: str, params: Mapping[str, str], *, approvals: Sequence[tuple[str, str]] = ()) -> Export:
    """The export of the list ``page`` (one of :data:`LISTS`) for the page's query parameters; ``approvals``: the
    approval list's chosen columns. KeyError for another page."""
    sort = params.get("sort") or "name"
    if page == "assets":
        return Export("assets", "Assets", ASSET_EXPORT_COLUMNS, asset_query(asset_filters(params), sort))
    if page == "approvals":
        query = asset_query(asset_filters(params, "pending"), sort)
        return Export("pending-assets", "Pending assets", approval_columns(approvals), query)
    if page == "failed":
        query = asset_query(asset_filters(params, "failed"), sort)
        return Export("failed-assets", "Failed assets", FAILED_EXPORT_COLUMNS, query)
    if page == "software":
        query = software_query(SoftwareFilters.from_query(params), sort)
        return Export("software", "Software", SOFTWARE_EXPORT_COLUMNS, query)
    if page == "queue":
        return Export("sync-queue", "Sync queue", QUEUE_EXPORT_COLUMNS, views.queue_query(**queue_filters(params)))
    if page == "uploads":
        query = views.upload_query(**upload_filters(params))
        return Export("upload-items", "Upload items", UPLOAD_EXPORT_COLUMNS, query)
    if page == "log":
        return Export("application-log", "Application log", LOG_EXPORT_COLUMNS, views.log_query(**log_filters(params)))
    raise KeyError(page)


# ---------------------------------------------------------------------------------------------- reports
def report_export(
    engine: Any, report_id: str, *, base_url: str, site: str = "", source: str | None = None
) -> tuple[str, tuple[Column, ...], list[dict[str, Any]]]:
    """A report's title, columns and rows (every group, largest first; see :func:`~qualys_cmdb.ui.reports.report_rows`);
    ``site`` (``https://host``) makes the lists' addresses whole. KeyError for an unknown report id."""
    from qualys_cmdb.ui.reports import GROUP_HEADINGS, REPORTS, report_rows

    spec = REPORTS[report_id]
    rows = report_rows(engine, report_id, base_url=base_url, source=source)
    columns = (
        *(Column(field, GROUP_HEADINGS[field]) for field in spec.by),
        Column("count", spec.unit.capitalize()),
        Column("list", "List", get=lambda r: site + r["href"]),
    )
    return spec.title, columns, rows


__all__ = [
    "ASSET_EXPORT_COLUMNS",
    "FAILED_EXPORT_COLUMNS",
    "LISTS",
    "LOG_EXPORT_COLUMNS",
    "QUEUE_EXPORT_COLUMNS",
    "SOFTWARE_EXPORT_COLUMNS",
    "UPLOAD_EXPORT_COLUMNS",
    "Export",
    "approval_columns",
    "asset_filters",
    "list_export",
    "log_filters",
    "queue_filters",
    "report_export",
    "upload_filters",
    "utc_input",
]
