"""Every Overview report against an independent SQL count, and every bar against the list its link opens."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from qualys_cmdb.ui.listing import NONE, AssetFilters, SoftwareFilters, list_assets, list_software
from qualys_cmdb.ui.reports import GROUPS, REPORTS, build_report
from sqlalchemy import text

from tests.ui_data.conftest import LAB_TAGS, REFUSED

BASE = "/qualys-cmdb"
SOURCES = (None, "sim", "lab")

# ------------------------------------------------------------------------------------------------ independent SQL
# Written out in full, without the code under test: (groups: label -> count, total of distinct items or None when
# the groups partition the items). :src is NULL for every source. A blank value (NULL, '' or spaces) is '(none)'.
EXPECTED_SQL: dict[str, tuple[str, str | None]] = {
    "approved": (
        "SELECT CASE WHEN btrim(c.target_class) <> '' THEN c.target_class ELSE '(none)' END, "
        "count(*) FROM qcmdb.asset_classification c "
        "JOIN qcmdb.staged_asset a ON a.source = c.source AND a.asset_id = c.asset_id "
        "WHERE c.state = 'approved' AND (CAST(:src AS text) IS NULL OR a.source = :src) GROUP BY 1",
        None,
    ),
    "pending": (
        "SELECT CASE WHEN btrim(c.target_class) <> '' THEN c.target_class ELSE '(none)' END, "
        "count(*) FROM qcmdb.asset_classification c "
        "JOIN qcmdb.staged_asset a ON a.source = c.source AND a.asset_id = c.asset_id "
        "WHERE c.state = 'pending' AND (CAST(:src AS text) IS NULL OR a.source = :src) GROUP BY 1",
        None,
    ),
    "failed": (
        "SELECT CASE WHEN btrim(c.failure_code) <> '' THEN c.failure_code ELSE '(none)' END, "
        "count(*) FROM qcmdb.asset_classification c "
        "JOIN qcmdb.staged_asset a ON a.source = c.source AND a.asset_id = c.asset_id "
        "WHERE c.state = 'failed' AND (CAST(:src AS text) IS NULL OR a.source = :src) GROUP BY 1",
        None,
    ),
    "synced": (
        "SELECT CASE WHEN btrim(c.cmdb_class) <> '' THEN c.cmdb_class ELSE '(none)' END, "
        "count(*) FROM qcmdb.asset_classification c "
        "JOIN qcmdb.staged_asset a ON a.source = c.source AND a.asset_id = c.asset_id "
        "WHERE c.state = 'loaded' AND (CAST(:src AS text) IS NULL OR a.source = :src) GROUP BY 1",
        None,
    ),
    "asset_categories": (
        "SELECT CASE WHEN btrim(h.hardware_category_1) <> '' THEN h.hardware_category_1 ELSE '(none)' END, "
        "count(*) FROM qcmdb.staged_asset a "
        "LEFT JOIN qcmdb.staged_hardware h ON h.source = a.source AND h.asset_id = a.asset_id "
        "WHERE CAST(:src AS text) IS NULL OR a.source = :src GROUP BY 1",
        None,
    ),
    "hardware_manufacturers": (
        "SELECT CASE WHEN btrim(h.hardware_manufacturer) <> '' THEN h.hardware_manufacturer ELSE '(none)' END, "
        "count(*) FROM qcmdb.staged_asset a "
        "LEFT JOIN qcmdb.staged_hardware h ON h.source = a.source AND h.asset_id = a.asset_id "
        "WHERE CAST(:src AS text) IS NULL OR a.source = :src GROUP BY 1",
        None,
    ),
    "os_distribution": (
        "SELECT CASE WHEN btrim(o.os_category_1) <> '' THEN o.os_category_1 ELSE '(none)' END, "
        "count(*) FROM qcmdb.staged_asset a "
        "LEFT JOIN qcmdb.staged_os o ON o.source = a.source AND o.asset_id = a.asset_id "
        "WHERE CAST(:src AS text) IS NULL OR a.source = :src GROUP BY 1",
        None,
    ),
    "eol_os": (
        "SELECT CASE WHEN btrim(o.os_name) <> '' THEN o.os_name ELSE '(none)' END, count(*) FROM qcmdb.staged_asset a "
        "JOIN qcmdb.staged_os o ON o.source = a.source AND o.asset_id = a.asset_id "
        "WHERE upper(btrim(o.os_lifecycle_stage)) IN ('EOL', 'EOS', 'EOL/EOS') "
        "AND (CAST(:src AS text) IS NULL OR a.source = :src) GROUP BY 1",
        None,
    ),
    "application_categories": (
        "SELECT CASE WHEN btrim(s.category_1) <> '' THEN s.category_1 ELSE '(none)' END, "
        "count(DISTINCT (a.source, a.asset_id)) "
        "FROM qcmdb.staged_asset a JOIN qcmdb.staged_software_install i ON i.source = a.source "
        "AND i.asset_id = a.asset_id JOIN qcmdb.staged_software s ON s.software_key = i.software_key "
        "WHERE CAST(:src AS text) IS NULL OR a.source = :src GROUP BY 1",
        "SELECT count(DISTINCT (a.source, a.asset_id)) "
        "FROM qcmdb.staged_asset a JOIN qcmdb.staged_software_install i ON i.source = a.source "
        "AND i.asset_id = a.asset_id JOIN qcmdb.staged_software s ON s.software_key = i.software_key "
        "WHERE CAST(:src AS text) IS NULL OR a.source = :src",
    ),
    "application_publishers": (
        "SELECT CASE WHEN btrim(s.publisher) <> '' THEN s.publisher ELSE '(none)' END, "
        "count(DISTINCT (a.source, a.asset_id)) "
        "FROM qcmdb.staged_asset a JOIN qcmdb.staged_software_install i ON i.source = a.source "
        "AND i.asset_id = a.asset_id JOIN qcmdb.staged_software s ON s.software_key = i.software_key "
        "WHERE CAST(:src AS text) IS NULL OR a.source = :src GROUP BY 1",
        "SELECT count(DISTINCT (a.source, a.asset_id)) "
        "FROM qcmdb.staged_asset a JOIN qcmdb.staged_software_install i ON i.source = a.source "
        "AND i.asset_id = a.asset_id JOIN qcmdb.staged_software s ON s.software_key = i.software_key "
        "WHERE CAST(:src AS text) IS NULL OR a.source = :src",
    ),
    "software_distribution": (
        "SELECT CASE WHEN btrim(s.name) <> '' THEN s.name ELSE '(none)' END, count(DISTINCT (a.source, a.asset_id)) "
        "FROM qcmdb.staged_asset a JOIN qcmdb.staged_software_install i ON i.source = a.source "
        "AND i.asset_id = a.asset_id JOIN qcmdb.staged_software s ON s.software_key = i.software_key "
        "WHERE CAST(:src AS text) IS NULL OR a.source = :src GROUP BY 1",
        "SELECT count(DISTINCT (a.source, a.asset_id)) "
        "FROM qcmdb.staged_asset a JOIN qcmdb.staged_software_install i ON i.source = a.source "
        "AND i.asset_id = a.asset_id JOIN qcmdb.staged_software s ON s.software_key = i.software_key "
        "WHERE CAST(:src AS text) IS NULL OR a.source = :src",
    ),
    "database_distribution": (
        "SELECT CASE WHEN btrim(s.name) <> '' THEN s.name ELSE '(none)' END, count(DISTINCT (a.source, a.asset_id)) "
        "FROM qcmdb.staged_asset a JOIN qcmdb.staged_software_install i ON i.source = a.source "
        "AND i.asset_id = a.asset_id JOIN qcmdb.staged_software s ON s.software_key = i.software_key "
        "WHERE lower(btrim(s.category_1)) = 'database' "
        "AND lower(btrim(s.category_2)) IN ('database servers', 'in-memory data stores') "
        "AND (CAST(:src AS text) IS NULL OR a.source = :src) GROUP BY 1",
        "SELECT count(DISTINCT (a.source, a.asset_id)) "
        "FROM qcmdb.staged_asset a JOIN qcmdb.staged_software_install i ON i.source = a.source "
        "AND i.asset_id = a.asset_id JOIN qcmdb.staged_software s ON s.software_key = i.software_key "
        "WHERE lower(btrim(s.category_1)) = 'database' "
        "AND lower(btrim(s.category_2)) IN ('database servers', 'in-memory data stores') "
        "AND (CAST(:src AS text) IS NULL OR a.source = :src)",
    ),
    "eol_applications": (
        "SELECT CASE WHEN btrim(s.name) <> '' THEN s.name ELSE '(none)' END, count(DISTINCT (a.source, a.asset_id)) "
        "FROM qcmdb.staged_asset a JOIN qcmdb.staged_software_install i ON i.source = a.source "
        "AND i.asset_id = a.asset_id JOIN qcmdb.staged_software s ON s.software_key = i.software_key "
        "WHERE upper(btrim(s.lifecycle_stage)) IN ('EOL', 'EOS', 'EOL/EOS') "
        "AND (CAST(:src AS text) IS NULL OR a.source = :src) GROUP BY 1",
        "SELECT count(DISTINCT (a.source, a.asset_id)) "
        "FROM qcmdb.staged_asset a JOIN qcmdb.staged_software_install i ON i.source = a.source "
        "AND i.asset_id = a.asset_id JOIN qcmdb.staged_software s ON s.software_key = i.software_key "
        "WHERE upper(btrim(s.lifecycle_stage)) IN ('EOL', 'EOS', 'EOL/EOS') "
        "AND (CAST(:src AS text) IS NULL OR a.source = :src)",
    ),
    "software_lifecycle": (
        "SELECT CASE WHEN btrim(s.lifecycle_stage) <> '' THEN s.lifecycle_stage ELSE '(none)' END, "
        "count(*) FROM qcmdb.staged_software s "
        "WHERE CAST(:src AS text) IS NULL OR EXISTS (SELECT 1 FROM qcmdb.staged_software_install i "
        "WHERE i.software_key = s.software_key AND i.source = :src) GROUP BY 1",
        None,
    ),
    "tag_distribution": (
        "SELECT CASE WHEN btrim(t.tag_name) <> '' THEN t.tag_name ELSE '(none)' END, "
        "count(DISTINCT (a.source, a.asset_id)) "
        "FROM qcmdb.staged_asset a JOIN qcmdb.staged_tag t ON t.source = a.source AND t.asset_id = a.asset_id "
        "WHERE CAST(:src AS text) IS NULL OR a.source = :src GROUP BY 1",
        "SELECT count(DISTINCT (a.source, a.asset_id)) "
        "FROM qcmdb.staged_asset a JOIN qcmdb.staged_tag t ON t.source = a.source AND t.asset_id = a.asset_id "
        "WHERE CAST(:src AS text) IS NULL OR a.source = :src",
    ),
    "tags_by_source": (
        "SELECT a.source || ' · ' || CASE WHEN btrim(t.tag_name) <> '' THEN t.tag_name ELSE '(none)' END, "
        "count(DISTINCT (a.source, a.asset_id)) "
        "FROM qcmdb.staged_asset a JOIN qcmdb.staged_tag t ON t.source = a.source AND t.asset_id = a.asset_id "
        "WHERE CAST(:src AS text) IS NULL OR a.source = :src GROUP BY 1",
        "SELECT count(DISTINCT (a.source, a.asset_id)) "
        "FROM qcmdb.staged_asset a JOIN qcmdb.staged_tag t ON t.source = a.source AND t.asset_id = a.asset_id "
        "WHERE CAST(:src AS text) IS NULL OR a.source = :src",
    ),
}

# the column of list_assets rows that holds a report's group value (asset-level groupings)
ROW_COLUMN = {
    "approved": "target_class",
    "pending": "target_class",
    "failed": "failure_code",
    "synced": "cmdb_class",
    "asset_categories": "hardware_category_1",
    "hardware_manufacturers": "hardware_manufacturer",
    "os_distribution": "os_category_1",
}


def expected(engine: Any, report_id: str, source: str | None) -> tuple[dict[str, int], int]:
    groups_sql, total_sql = EXPECTED_SQL[report_id]
    with engine.connect() as conn:
        groups = {str(k): int(n) for k, n in conn.execute(text(groups_sql), {"src": source})}
        total = int(conn.execute(text(total_sql), {"src": source}).scalar_one()) if total_sql else sum(groups.values())
    return groups, total


def list_total(engine: Any, href: str) -> tuple[str, int, list[dict[str, Any]]]:
    """What the page a bar links to lists: (page, total, rows) — as the app reads the link's query."""
    url = urlsplit(href)
    assert url.path.startswith(BASE + "/")
    page = url.path[len(BASE) + 1 :]
    query = parse_qs(url.query, keep_blank_values=True)
    if page == "software":
        rows, total = list_software(engine, SoftwareFilters.from_query(query), page_size=1000)
        return page, total, rows
    forced = {"approvals": {"state": "pending"}, "failed": {"state": "failed"}}.get(page, {})
    assert page in ("assets", "approvals", "failed"), href
    for key, value in forced.items():
        assert query.get(key) == [value], f"{href} lists the {value} assets only"
    rows, total = list_assets(engine, AssetFilters.from_query({**query, **forced}), page_size=1000)
    return page, total, rows


def test_the_report_catalogue_is_the_one_of_ob2() -> None:
    # stale CIs (BY-7) depend on each schedule's stale_after_days: tests/load/test_stale_cis.py checks that report
    assert set(REPORTS) == set(EXPECTED_SQL) | {"stale_cis"}
    assert {spec.id: spec.group for spec in REPORTS.values()} == {
        **dict.fromkeys(
            ["approved", "asset_categories", "eol_os", "failed", "hardware_manufacturers", "os_distribution"], "Assets"
        ),
        "pending": "Assets",
        "synced": "Assets",
        "stale_cis": "Assets",
        **dict.fromkeys(
            [
                "application_categories",
                "application_publishers",
                "database_distribution",
                "eol_applications",
                "software_distribution",
                "software_lifecycle",
            ],
            "Applications",
        ),
        "tags_by_source": "Tags",
        "tag_distribution": "Tags",
    }
    assert {spec.group for spec in REPORTS.values()} == set(GROUPS)
    assert all(spec.chart in ("bars", "donut") and spec.title and spec.description for spec in REPORTS.values())


@pytest.mark.parametrize("source", SOURCES, ids=lambda s: s or "all")
@pytest.mark.parametrize("report_id", sorted(EXPECTED_SQL))
def test_each_report_equals_independent_sql_and_each_bar_its_list(estate, report_id: str, source: str | None) -> None:  # type: ignore[no-untyped-def]
    groups, total = expected(estate, report_id, source)
    report = build_report(estate, report_id, base_url=BASE + "/", source=source, limit=1000)
    assert (report.id, report.total, report.other) == (report_id, total, 0)
    assert {bar.label: bar.value for bar in report.rows} == groups
    assert [b.value for b in report.rows] == sorted((b.value for b in report.rows), reverse=True)
    assert report.groups == len(groups)
    if EXPECTED_SQL[report_id][1] is None:  # a partition: the bars add up to the total
        assert sum(groups.values()) == total
    for bar in report.rows:
        page, listed, rows = list_total(estate, bar.href)
        assert listed == bar.value, f"{report_id}: bar {bar.label!r} says {bar.value}, {bar.href} lists {listed}"
        if source is not None:
            assert f"source={source}" in bar.href
            if page != "software":
                assert {r["source"] for r in rows} == {source}
        if report_id in ROW_COLUMN:
            values = {r[ROW_COLUMN[report_id]] for r in rows}
            assert {v if v and v.strip() else NONE for v in values} == {bar.label}
        if report_id == "tag_distribution":
            assert all(bar.label in (r["tags"] or "").split(", ") for r in rows)
    if EXPECTED_SQL[report_id][1] is None:  # a partition: the report's own link lists the total
        assert report.href is not None and list_total(estate, report.href)[1] == total


@pytest.mark.parametrize("report_id", sorted(EXPECTED_SQL))
def test_the_limit_keeps_the_largest_groups_and_sums_the_rest(estate, report_id: str) -> None:  # type: ignore[no-untyped-def]
    full = build_report(estate, report_id, base_url=BASE, limit=1000)
    top = build_report(estate, report_id, base_url=BASE, limit=3)
    assert top.rows == full.rows[:3]
    assert top.other == sum(b.value for b in full.rows[3:])
    assert (top.total, top.groups) == (full.total, full.groups)
    assert build_report(estate, report_id, base_url=BASE).rows == full.rows[:12]


def test_the_known_estate_shows_in_the_reports(estate) -> None:  # type: ignore[no-untyped-def]
    """Figures that follow from how the estate was built, not from a query."""

    def report(report_id: str, source: str | None = None) -> dict[str, int]:
        return {b.label: b.value for b in build_report(estate, report_id, base_url=BASE, source=source, limit=99).rows}

    def total(report_id: str, source: str | None = None) -> int:
        return build_report(estate, report_id, base_url=BASE, source=source).total

    assert total("synced") == 8 and total("approved") == 3 and total("pending") == 40 - 8 - 6 - 1
    assert report("failed") == {"CMDB_ERROR": sum(REFUSED.values()), "NO_CLASS": 1}  # grouped by failure code
    assert total("asset_categories") == 42 and total("asset_categories", "lab") == 1
    assert report("os_distribution")[NONE] == 1  # the bare asset has no OS
    assert report("hardware_manufacturers")[NONE] == 2  # bare: no hardware; lab: a blank manufacturer
    assert report("eol_os", "lab") == {"Windows 7": 1}
    assert report("tag_distribution", "lab") == dict.fromkeys(LAB_TAGS, 1)
    assert report("tags_by_source", "lab") == {f"lab · {t}": 1 for t in LAB_TAGS}
    assert total("database_distribution", "lab") == 1 and total("eol_applications", "lab") == 1
    assert total("software_distribution", "lab") == 1  # one asset, whatever it installs
    assert sum(report("software_lifecycle", "lab").values()) == 2  # two catalog entries installed in lab
    for report_id in ("pending", "approved", "synced", "failed"):
        assert total(report_id, "lab") == 0  # the lab asset was never classified
    bar = next(b for b in build_report(estate, "tag_distribution", base_url=BASE, limit=99).rows if "R&D" in b.label)
    assert bar.href == f"{BASE}/assets?tag=R%26D+%3Clab%3E+%22x%22"


def test_an_unknown_report_is_a_key_error(estate) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(KeyError):
        build_report(estate, "nope", base_url=BASE)


def test_links_to_the_approval_and_failure_pages(estate) -> None:  # type: ignore[no-untyped-def]
    pending = build_report(estate, "pending", base_url=BASE)
    assert all(b.href.startswith(f"{BASE}/approvals?state=pending&target_class=") for b in pending.rows)
    failed = build_report(estate, "failed", base_url=BASE)
    assert all(b.href.startswith(f"{BASE}/failed?state=failed&code=") for b in failed.rows)
    lifecycle = build_report(estate, "software_lifecycle", base_url=BASE)
    assert all(b.href.startswith(f"{BASE}/software?lifecycle_stage=") for b in lifecycle.rows)
    assert lifecycle.href == f"{BASE}/software" and lifecycle.unit == "software"
    assert build_report(estate, "eol_os", base_url=BASE, source="sim").href == f"{BASE}/assets?source=sim&eol_os=1"
