"""The Overview reports (OB-2): what the vendor app's report widgets showed, from the staging database.

Each report counts assets (or, for the software lifecycle, catalog entries) in groups. A report is a base filter
plus the fields it groups by: a bar's link is the base filter with the group's values (:mod:`qualys_cmdb.ui.listing`
builds both from the same predicates), so the number on a bar is exactly the length of the list it opens.

The definitions (*NONE*, end of life, database, one install matching all software filters) are those of
:mod:`qualys_cmdb.ui.listing`. ``total`` is the number of distinct assets (catalog entries) in any group; when an
asset can be in several groups (tags, software), the bars may add up to more than the total.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from sqlalchemy import Connection, Engine

from qualys_cmdb.ui.listing import AssetFilters, SoftwareFilters, asset_counts, software_counts

Chart = Literal["bars", "donut"]
Group = Literal["Assets", "Applications", "Tags"]
GROUPS: tuple[Group, ...] = ("Assets", "Applications", "Tags")


@dataclass(frozen=True)
class ReportSpec:
    """A report of the Overview page."""

    id: str
    title: str
    group: Group
    description: str
    chart: Chart = "bars"
    unit: str = "assets"
    page: str = "assets"  # the list page its bars link to: assets | software | approvals | failed
    base: AssetFilters | SoftwareFilters = field(default_factory=AssetFilters)
    by: tuple[str, ...] = ()  # filter fields grouped by; a bar's link sets them to the group's values
    note: str | None = None


@dataclass(frozen=True)
class Bar:
    """One bar (or donut segment): its label, its count and the list it links to."""

    label: str
    value: int
    href: str


@dataclass
class Report:
    """A built report: the largest ``limit`` groups as rows, the rest summed in ``other``."""

    id: str
    title: str
    group: str
    total: int
    unit: str
    rows: list[Bar]
    other: int = 0  # sum of the values of the groups beyond the limit
    note: str | None = None
    chart: Chart = "bars"
    description: str = ""
    href: str | None = None  # the list of the base filter: exactly the total for a partition, a superset otherwise
    groups: int = 0  # how many groups there are in all (rows + the ones summed in other)


_OVERLAP = "An asset is counted once in each group it belongs to, so the bars can add up to more than the total."

_SPECS = (
    # ------------------------------------------------------------------------------------------- Assets
    ReportSpec(
        "approved",
        "Approved Qualys assets",
        "Assets",
        "Assets approved (manually or automatically) and waiting to be loaded into the CMDB, by target CI class.",
        base=AssetFilters(state="approved"),
        by=("target_class",),
    ),
    ReportSpec(
        "asset_categories",
        "Asset categories",
        "Assets",
        "Staged assets by hardware category (category 1).",
        by=("hardware_category_1",),
    ),
    ReportSpec(
        "eol_os",
        "End-of-life operating systems",
        "Assets",
        "Assets whose operating system's lifecycle stage is EOL, EOS or EOL/EOS, by operating system name.",
        base=AssetFilters(eol_os=True),
        by=("os_name",),
    ),
    ReportSpec(
        "failed",
        "Failed Qualys assets",
        "Assets",
        "Assets that could not be classified, were held (shared CI or identifier, class conflict between schedules) "
        "or that the CMDB refused, by failure code.",
        page="failed",
        base=AssetFilters(state="failed"),
        by=("code",),
    ),
    ReportSpec(
        "hardware_manufacturers",
        "Hardware manufacturers",
        "Assets",
        "Staged assets by hardware manufacturer.",
        chart="donut",
        by=("hardware_manufacturer",),
    ),
    ReportSpec(
        "os_distribution",
        "OS distribution",
        "Assets",
        "Staged assets by operating system category (category 1).",
        chart="donut",
        by=("os_category_1",),
    ),
    ReportSpec(
        "pending",
        "Pending Qualys assets",
        "Assets",
        "Assets classified and waiting for an approval decision, by target CI class.",
        page="approvals",
        base=AssetFilters(state="pending"),
        by=("target_class",),
    ),
    ReportSpec(
        "synced",
        "Synced Qualys assets",
        "Assets",
        "Assets loaded into the CMDB and unchanged since, by the CI class the CMDB confirmed.",
        base=AssetFilters(state="loaded"),
        by=("cmdb_class",),
    ),
    ReportSpec(
        "stale_cis",
        "Stale CIs",
        "Assets",
        "CIs of loaded assets Qualys has not modified for their schedule's stale_after_days before the schedule's "
        "watermark (BY-7), retired or not, by schedule and CI class; `qcmdb stale list` says which would be retired.",
        base=AssetFilters(state="loaded"),
        by=("schedule", "cmdb_class"),
    ),
    # ------------------------------------------------------------------------------------------- Applications
    ReportSpec(
        "application_categories",
        "Application categories",
        "Applications",
        "Assets with software installed, by the software's category (category 1).",
        by=("software_category",),
        note=_OVERLAP,
    ),
    ReportSpec(
        "application_publishers",
        "Application publishers",
        "Applications",
        "Assets with software installed, by the software's publisher.",
        by=("software_publisher",),
        note=_OVERLAP,
    ),
    ReportSpec(
        "database_distribution",
        "Database distribution",
        "Applications",
        "Assets running a database engine (category Database / Database Servers or In-Memory Data Stores), "
        "by database software name.",
        base=AssetFilters(database=True),
        by=("software",),
        note=_OVERLAP,
    ),
    ReportSpec(
        "eol_applications",
        "End-of-life applications",
        "Applications",
        "Assets with software whose lifecycle stage is EOL, EOS or EOL/EOS, by software name.",
        base=AssetFilters(eol_software=True),
        by=("software",),
        note=_OVERLAP,
    ),
    ReportSpec(
        "software_distribution",
        "Software distribution",
        "Applications",
        "The most installed software: assets installing it (any version), by software name.",
        by=("software",),
        note=_OVERLAP,
    ),
    ReportSpec(
        "software_lifecycle",
        "Software lifecycle stage",
        "Applications",
        "Software catalog entries (name, version, publisher, architecture) by lifecycle stage.",
        chart="donut",
        unit="software",
        page="software",
        base=SoftwareFilters(),
        by=("lifecycle_stage",),
    ),
    # ------------------------------------------------------------------------------------------- Tags
    ReportSpec(
        "tags_by_source",
        "Asset tags by source",
        "Tags",
        "Tagged assets by Qualys source and tag.",
        by=("source", "tag"),
        note=_OVERLAP,
    ),
    ReportSpec(
        "tag_distribution",
        "Tag distribution",
        "Tags",
        "Tagged assets by tag name.",
        by=("tag",),
        note=_OVERLAP,
    ),
)

#: Every report, by id.
REPORTS: dict[str, ReportSpec] = {spec.id: spec for spec in _SPECS}
#: The reports the Overview shows before anyone customises it (the vendor app showed ten).
DEFAULT_REPORTS: tuple[str, ...] = (
    "pending",
    "approved",
    "synced",
    "failed",
    "asset_categories",
    "os_distribution",
    "eol_os",
    "hardware_manufacturers",
    "software_distribution",
    "eol_applications",
)


def _label(values: tuple[str, ...]) -> str:
    return " · ".join(values)


def _href(root: str, page: str, filters: AssetFilters | SoftwareFilters) -> str:
    query = filters.to_query()
    return f"{root}/{page}?{query}" if query else f"{root}/{page}"


_GroupRows = list[tuple[AssetFilters | SoftwareFilters, tuple[str, ...], int]]


def _groups(
    conn: Connection, spec: ReportSpec, source: str | None
) -> tuple[_GroupRows, int, AssetFilters | SoftwareFilters | None]:
    """Every group of a report (of one Qualys ``source`` if given), largest first: (the filters of the list it counts,
    its values of ``spec.by``, its count); the report's total; the filters of the whole report's list, if it has one."""
    if isinstance(spec.base, SoftwareFilters):
        soft_base = spec.base.replace(source=source) if source is not None else spec.base
        (by,) = spec.by
        counted, total = software_counts(conn, soft_base, by)
        return [(soft_base.replace(**{by: label}), (label,), n) for label, n in counted], total, soft_base
    base = spec.base.replace(source=source) if source is not None else spec.base
    if spec.id == "stale_cis":
        return _stale_groups(conn, base)
    grouped, total = asset_counts(conn, base, spec.by)
    return [(base.replace(**dict(zip(spec.by, values, strict=True))), values, n) for values, n in grouped], total, base


def build_report(
    engine: Engine, report_id: str, *, base_url: str, source: str | None = None, limit: int = 12
) -> Report:
    """Build a report (of one Qualys ``source`` if given): its largest ``limit`` groups as bars, linking under
    ``base_url`` to the list each bar counts. Raises KeyError for an unknown report id."""
    spec = REPORTS[report_id]
    root = base_url.rstrip("/")
    limit = max(0, limit)
    with engine.connect() as conn:
        groups, total, whole = _groups(conn, spec, source)
    all_href = _href(root, spec.page, whole) if whole is not None else None
    rows = [Bar(_label(values), n, _href(root, spec.page, filters)) for filters, values, n in groups[:limit]]
    return Report(
        id=spec.id,
        title=spec.title,
        group=spec.group,
        total=total,
        unit=spec.unit,
        rows=rows,
        other=sum(n for _, _, n in groups[limit:]),
        note=spec.note,
        chart=spec.chart,
        description=spec.description,
        href=all_href,
        groups=len(groups),
    )


#: The heading of a report's column for each field a report groups by.
GROUP_HEADINGS = {
    "source": "Source",
    "schedule": "Schedule",
    "state": "State",
    "target_class": "Target class",
    "cmdb_class": "CI class",
    "code": "Failure code",
    "os_category_1": "OS category",
    "os_name": "Operating system",
    "hardware_category_1": "Hardware category",
    "hardware_manufacturer": "Manufacturer",
    "tag": "Tag",
    "software": "Software",
    "software_publisher": "Publisher",
    "software_category": "Software category",
    "software_lifecycle_stage": "Lifecycle stage",
    "name": "Software",
    "publisher": "Publisher",
    "category": "Category",
    "lifecycle_stage": "Lifecycle stage",
}


def report_rows(engine: Engine, report_id: str, *, base_url: str, source: str | None = None) -> list[dict[str, Any]]:
    """Every group of a report (of one Qualys ``source`` if given), largest first, as rows: one key per field of
    ``spec.by`` (its value; :data:`~qualys_cmdb.ui.listing.NONE` for a missing one), ``count`` and ``href`` (the
    list it counts, under ``base_url``). What a report's export holds; KeyError for an unknown report id."""
    spec = REPORTS[report_id]
    with engine.connect() as conn:
        groups, _, _ = _groups(conn, spec, source)
    root = base_url.rstrip("/")
    return [
        {**dict(zip(spec.by, values, strict=True)), "count": n, "href": _href(root, spec.page, filters)}
        for filters, values, n in groups
    ]


def _stale_groups(conn: Connection, base: AssetFilters) -> tuple[_GroupRows, int, AssetFilters | None]:
    """BY-7: for each schedule with ``stale_after_days``, its loaded assets Qualys last modified before the schedule's
    cutoff (those days before its own watermark), by CI class. The cutoff differs by schedule, so each schedule is
    counted with its own filter (a bar links to exactly its assets); the whole report has one list only when one
    schedule looks for stale assets (returned third)."""
    from qualys_cmdb.config import ConfigError, Schedule, load_config
    from qualys_cmdb.load.stale import configured_cutoffs

    try:
        config = load_config()
    except ConfigError:  # no DAG runs on an invalid file either; the Sources page shows why
        return [], 0, None
    schedules = [(s.name, s.stale_after_days) for s in config.schedules if isinstance(s, Schedule)]
    groups: _GroupRows = []
    wholes: list[AssetFilters] = []
    for name, cutoff in sorted(configured_cutoffs(conn, schedules).items()):
        whole = base.replace(schedule=name, modified_before=cutoff.isoformat())
        counted, _ = asset_counts(conn, whole, ("cmdb_class",))
        groups += [(whole.replace(cmdb_class=cls), (name, cls), n) for (cls,), n in counted]
        wholes.append(whole)
    groups.sort(key=lambda g: (-g[2], g[1]))
    return groups, sum(n for _, _, n in groups), wholes[0] if len(wholes) == 1 else None


def build_reports(
    engine: Engine,
    report_ids: Sequence[str] = DEFAULT_REPORTS,
    *,
    base_url: str,
    source: str | None = None,
    limit: int = 12,
) -> list[Report]:
    """Several reports (the default Overview set unless given), in the order asked."""
    return [build_report(engine, rid, base_url=base_url, source=source, limit=limit) for rid in report_ids]


__all__ = [
    "DEFAULT_REPORTS",
    "GROUPS",
    "GROUP_HEADINGS",
    "REPORTS",
    "Bar",
    "Report",
    "ReportSpec",
    "build_report",
    "build_reports",
    "report_rows",
]
