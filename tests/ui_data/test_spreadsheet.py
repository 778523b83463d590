"""CSV and Excel exports (:mod:`qualys_cmdb.ui.spreadsheet`, :mod:`qualys_cmdb.ui.exports`): what a cell holds
(formula injection, NUL, date-times, long text), the page's columns and order, and every matching row of every list and
report of the known estate, read back with the csv module and with openpyxl."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, urlsplit

import openpyxl
import pytest
from qualys_cmdb.ui import views
from qualys_cmdb.ui.exports import (
    ASSET_EXPORT_COLUMNS,
    FAILED_EXPORT_COLUMNS,
    LISTS,
    LOG_EXPORT_COLUMNS,
    QUEUE_EXPORT_COLUMNS,
    Export,
    list_export,
    report_export,
)
from qualys_cmdb.ui.listing import (
    SOFTWARE_COLUMNS,
    AssetFilters,
    SoftwareFilters,
    list_assets,
    list_software,
)
from qualys_cmdb.ui.reports import REPORTS, build_report
from qualys_cmdb.ui.spreadsheet import (
    UTC_SUFFIX,
    XLSX_CELL_LIMIT,
    Column,
    csv_stream,
    filename,
    query_chunks,
    to_csv,
    to_xlsx,
    write_xlsx,
)
from sqlalchemy import text

from tests.ui_data.conftest import LAB, LAB_TAGS


def read_csv(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))


def read_xlsx(data: bytes) -> list[list[Any]]:
    sheet = openpyxl.load_workbook(io.BytesIO(data)).active
    return [[c.value for c in row] for row in sheet.iter_rows()]  # type: ignore[union-attr]


def cells(data: bytes) -> list[list[Any]]:
    sheet = openpyxl.load_workbook(io.BytesIO(data)).active
    return [list(row) for row in sheet.iter_rows()]  # type: ignore[union-attr]


# ------------------------------------------------------------------------------------------------ cells
DANGEROUS = ["=1+2", "+1", "-1", "@SUM(A1)", "\t=cmd", "\r=cmd", '=HYPERLINK("http://x","y")', "-2+3+cmd|' /C calc'!A0"]
HARMLESS = ["a=b", "1-2", "x@example.test", " =not at the start", "'quoted", ""]


def test_formula_like_text_gets_a_leading_quote_in_both_formats() -> None:
    columns = [Column("v", "Value"), Column("n", "=Heading")]
    rows = [{"v": v, "n": -5} for v in DANGEROUS + HARMLESS]
    expected = ["'" + v for v in DANGEROUS] + HARMLESS

    table = read_csv(to_csv(columns, rows))
    assert table[0] == ["Value", "'=Heading"]
    assert [r[0] for r in table[1:]] == expected
    assert {r[1] for r in table[1:]} == {"-5"}  # a negative number is a number, not text to neutralise

    sheet = cells(to_xlsx(columns, rows))
    assert [c.value for c in sheet[0]] == ["Value", "'=Heading"]
    assert [r[0].value or "" for r in sheet[1:]] == expected
    assert {r[0].data_type for r in sheet[1:] if r[0].value} == {"s"}  # never a formula ("f")
    assert {(r[1].value, r[1].data_type) for r in sheet[1:]} == {(-5, "n")}


def test_nul_characters_go_and_excel_error_texts_stay_text() -> None:
    columns = [Column("v", "V")]
    rows = [{"v": "a\0b"}, {"v": "\0=1+1"}, {"v": "bell\x07"}, {"v": "#N/A"}, {"v": 'line 1\nline 2, "quoted"'}]
    data = to_csv(columns, rows)
    assert b"\0" not in data
    assert [r[0] for r in read_csv(data)[1:]] == ["ab", "'=1+1", "bell\x07", "#N/A", 'line 1\nline 2, "quoted"']
    sheet = cells(to_xlsx(columns, rows))
    assert [r[0].value for r in sheet[1:]] == ["ab", "'=1+1", "bell\ufffd", "#N/A", 'line 1\nline 2, "quoted"']
    assert sheet[4][0].data_type == "s"  # text, not Excel's error value


def test_date_times_are_utc_with_the_zone_in_csv_and_in_the_heading_in_excel() -> None:
    paris = timezone(timedelta(hours=2))
    columns = [Column("at", "When", when=True), Column("seen", "Seen"), Column("day", "Day"), Column("n", "N")]
    rows = [
        {"at": datetime(2026, 12, 5, 12, 30, 1, tzinfo=paris), "seen": datetime(2026, 1, 2, 3, 4, 5, 6000, tzinfo=UTC)},
        {"at": datetime(2026, 12, 5, 23, 0), "seen": None, "day": date(2027, 3, 1), "n": 3},  # naive: stored UTC
        {"at": None, "seen": None, "day": None, "n": None},
    ]
    table = read_csv(to_csv(columns, rows))
    assert table == [
        ["When", "Seen", "Day", "N"],
        ["2026-12-05T10:30:01+00:00", "2026-01-02T03:04:05.006000+00:00", "", ""],
        ["2026-12-05T23:00:00+00:00", "", "2027-03-01", "3"],
        ["", "", "", ""],
    ]
    sheet = cells(to_xlsx(columns, rows))
    # "Seen" is not marked as times, but its first chunk holds one: its heading says UTC too
    assert [c.value for c in sheet[0]] == ["When (UTC)", "Seen (UTC)", "Day", "N"]
    assert sheet[1][0].value == datetime(2026, 12, 5, 10, 30, 1) and sheet[1][0].is_date
    assert sheet[1][1].value == datetime(2026, 1, 2, 3, 4, 5, 6000)
    assert sheet[2][0].value == datetime(2026, 12, 5, 23, 0) and sheet[2][2].value == datetime(2027, 3, 1)
    assert sheet[2][3].value == 3
    assert all(c.value is None for row in sheet[3:] for c in row)  # an empty row has no cells (a reader may skip it)


def test_long_text_is_kept_whole_and_an_excel_cell_says_where_it_was_cut() -> None:
    long, longer = "x" * 20_000, "é" * 50_000 + "end"
    columns = [Column("v", "V")]
    rows = [{"v": long}, {"v": longer}]
    assert [r[0] for r in read_csv(to_csv(columns, rows))[1:]] == [long, longer]
    got = [r[0] for r in read_xlsx(to_xlsx(columns, rows))[1:]]
    assert got[0] == long
    assert len(got[1]) == XLSX_CELL_LIMIT and got[1].startswith("é" * 30_000)
    assert got[1].endswith("[cut: 50,003 characters, more than an Excel cell holds; the CSV export has them all]")


def test_columns_in_order_computed_and_typed() -> None:
    columns = [
        Column("b", "Second field first"),
        Column("both", "Both", get=lambda r: f"{r['a']} / {r['b']}"),
        Column("a", "A"),
        Column("a", "A again"),
        Column("missing", "Missing"),
    ]
    rows = [
        {"a": 7, "b": True, "extra": "not exported"},
        {"a": None, "b": {"k": ["v", 1]}},
        {"a": Decimal("1.50"), "b": 0.25},
    ]
    assert read_csv(to_csv(columns, rows)) == [
        ["Second field first", "Both", "A", "A again", "Missing"],
        ["True", "7 / True", "7", "7", ""],  # 7 next to a missing value stays 7 (never 7.0)
        ['{"k": ["v", 1]}', "None / {'k': ['v', 1]}", "", "", ""],
        ["0.25", "1.50 / 0.25", "1.50", "1.50", ""],
    ]
    got = read_xlsx(to_xlsx(columns, rows))
    assert got[1] == [True, "7 / True", 7, 7, None]
    assert got[2][0] == '{"k": ["v", 1]}' and got[3][0] == 0.25 and got[3][2] == pytest.approx(1.5)


def test_a_workbook_without_rows_has_its_headings_and_csv_a_bom_when_asked() -> None:
    columns = [Column("a", "A"), Column("b", "B", when=True)]
    assert read_xlsx(to_xlsx(columns, [])) == [["A", "B (UTC)"]]
    assert to_csv(columns, []) == b"A,B\r\n"
    assert to_csv(columns, [], bom=True) == b"\xef\xbb\xbfA,B\r\n"
    assert filename("Failed assets", "csv", date(2026, 12, 5)) == "failed-assets-2026-12-05.csv"
    assert filename("End-of-life OS report", "xlsx", date(2026, 1, 2)) == "end-of-life-os-report-2026-01-02.xlsx"


def test_rows_of_a_query_result_and_sqlalchemy_rows(estate) -> None:  # type: ignore[no-untyped-def]
    columns = [Column("asset_id", "Asset id"), Column("name", "Name")]
    sql = text("SELECT asset_id, name FROM qcmdb.staged_asset ORDER BY source, asset_id")
    with estate.connect() as conn:
        expected = [[str(a), n or ""] for a, n in conn.execute(sql)]
        from_result = read_csv(to_csv(columns, conn.execute(sql)))
        from_rows = read_csv(to_csv(columns, conn.execute(sql).all()))
    assert from_result[1:] == from_rows[1:] == expected and len(expected) == 42


# ------------------------------------------------------------------------------------------------ the estate's lists
def _page_rows(estate: Any, page: str, params: dict[str, str]) -> list[dict[str, Any]]:
    """Every row the page shows for ``params``, page after page (10 rows a page)."""
    rows: list[dict[str, Any]] = []
    for n in range(1, 1000):
        if page in ("assets", "approvals", "failed"):
            state = {"approvals": "pending", "failed": "failed"}.get(page)
            filters = AssetFilters.from_query({**params, "state": state} if state else params)
            got, total = list_assets(estate, filters, page=n, page_size=10, sort=params.get("sort") or "name")
        elif page == "software":
            got, total = list_software(estate, SoftwareFilters.from_query(params), page=n, page_size=10)
        else:
            fetch = {"queue": views.queue_records, "uploads": views.upload_items, "log": views.log_entries}[page]
            from qualys_cmdb.ui import exports

            filters_of = {"queue": exports.queue_filters, "uploads": exports.upload_filters, "log": exports.log_filters}
            result = fetch(estate, **filters_of[page](params), page=n, page_size=10)  # type: ignore[operator]
            got, total = result.rows, result.total
        rows += got
        if n * 10 >= total:
            return rows
    raise AssertionError("too many pages")


APPROVALS = [("name", "Name"), ("ip_address", "IP address"), ("last_modified_date", "Modified in Qualys")]
CASES = [
    ("assets", {}),
    ("assets", {"state": "loaded", "sort": "-asset_id"}),
    ("assets", {"source": "lab"}),
    ("approvals", {"schedule": "t"}),
    ("failed", {}),
    ("failed", {"code": "NO_CLASS"}),
    ("software", {}),
    ("software", {"eol": "1"}),
    ("queue", {}),
    ("queue", {"status": "Success", "direction": "download"}),
    ("uploads", {}),
    ("log", {}),
    ("log", {"level": "info", "schedule": "t"}),
]


@pytest.mark.parametrize(("page", "params"), CASES)
def test_every_list_exports_every_row_the_page_shows_in_its_order(estate, page: str, params: dict[str, str]) -> None:  # type: ignore[no-untyped-def]
    export = list_export(page, params, approvals=APPROVALS)
    shown = _page_rows(estate, page, params)
    assert shown or page == "uploads"  # the estate has no CMDB → Qualys schedule
    chunks = list(query_chunks(estate, export.query, size=7))  # several chunks of the one statement
    assert sum(len(c) for c in chunks) == len(shown)
    if len(shown) > 7:
        assert len(chunks) == -(-len(shown) // 7)
    table = read_csv(b"".join(csv_stream(export.columns, iter(chunks))))
    assert table[0] == [c.heading for c in export.columns]
    expected = [[_as_csv(c.value(row)) for c in export.columns] for row in shown]
    assert table[1:] == expected
    workbook = read_xlsx(to_xlsx(export.columns, [r for c in chunks for r in c], title=export.title))
    assert len(workbook) == len(shown) + 1
    assert [str(h).removesuffix(UTC_SUFFIX) for h in workbook[0]] == table[0]


def _as_csv(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, dict | list):
        import json

        return json.dumps(value, ensure_ascii=False)
    text_value = str(value)
    return "'" + text_value if text_value.startswith(("=", "+", "-", "@", "\t", "\r")) else text_value


def test_the_lists_have_the_pages_columns_and_headings(estate) -> None:  # type: ignore[no-untyped-def]
    assert set(LISTS) == {"assets", "approvals", "failed", "software", "queue", "uploads", "log"}
    assert [c.heading for c in ASSET_EXPORT_COLUMNS] == [
        "Name",
        "IP address",
        "OS",
        "Hardware",
        "Manufacturer",
        "Tags",
        "Class",
        "State",
        "Source",
    ]
    assert [c.heading for c in FAILED_EXPORT_COLUMNS] == [
        "Name",
        "IP address",
        "Class",
        "Code",
        "Reason",
        "When",
        "Run",
        "Schedule",
    ]
    assert [c.heading for c in list_export("software", {}).columns] == [k.replace("_", " ") for k in SOFTWARE_COLUMNS]
    assert [c.heading for c in list_export("approvals", {}, approvals=APPROVALS).columns] == [h for _, h in APPROVALS]
    assert "Run" in [c.heading for c in QUEUE_EXPORT_COLUMNS] and "Details" in [c.heading for c in LOG_EXPORT_COLUMNS]
    # the lab asset, as the Assets page shows it: hardware in one cell, tags joined, no class yet
    export = list_export("assets", {"source": LAB[0]})
    table = read_csv(to_csv(export.columns, query_chunks(estate, export.query).__next__()))
    assert table[1] == [
        "LAB-1.example.test",
        "192.0.2.10",
        "Windows 7 Professional",
        "Computers / Desktop",
        "  ",
        ", ".join(sorted(LAB_TAGS, key=str.lower)),
        "",
        "",
        "lab",
    ]
    failed = read_xlsx(to_xlsx(FAILED_EXPORT_COLUMNS, _page_rows(estate, "failed", {})))
    assert failed[0][5] == "When (UTC)" and all(isinstance(r[5], datetime) for r in failed[1:])
    with pytest.raises(KeyError):
        list_export("sources", {})


def test_every_report_exports_every_group(estate) -> None:  # type: ignore[no-untyped-def]
    for report_id, spec in REPORTS.items():
        title, columns, rows = report_export(estate, report_id, base_url="/qualys-cmdb", site="http://h")
        report = build_report(estate, report_id, base_url="/qualys-cmdb", limit=10_000)
        assert title == spec.title and len(rows) == report.groups
        assert [c.heading for c in columns][-2:] == [spec.unit.capitalize(), "List"]
        table = read_csv(to_csv(columns, rows))
        assert [tuple(r[: len(spec.by)]) for r in table[1:]] == [tuple(b.label.split(" · ")) for b in report.rows]
        assert [int(r[-2]) for r in table[1:]] == [b.value for b in report.rows]
        assert [r[-1] for r in table[1:]] == ["http://h" + b.href for b in report.rows]
    # a group's row links to its list, whose length is the group's count
    _, _, rows = report_export(estate, "tag_distribution", base_url="/qualys-cmdb", source="lab")
    assert sorted(r["tag"] for r in rows) == sorted(LAB_TAGS)
    for row in rows:
        link = urlsplit(row["href"])
        assert link.path == "/qualys-cmdb/assets"
        filters = AssetFilters.from_query(parse_qs(link.query))
        assert list_assets(estate, filters, page_size=1)[1] == row["count"] == 1


def test_an_export_of_the_estate_streams_in_chunks(estate) -> None:  # type: ignore[no-untyped-def]
    export: Export = list_export("log", {})
    pieces = list(csv_stream(export.columns, query_chunks(estate, export.query, size=5)))
    with estate.connect() as conn:
        entries = conn.execute(text("SELECT count(*) FROM qcmdb.app_log")).scalar_one()
    assert len(pieces) == 1 + -(-entries // 5)  # the heading, then a piece per chunk
    out = io.BytesIO()
    assert (
        write_xlsx(export.columns, query_chunks(estate, export.query, size=5), out, title="Application log") == entries
    )
    sheet = openpyxl.load_workbook(io.BytesIO(out.getvalue())).active
    assert sheet.title == "Application log" and sheet.freeze_panes == "A2"  # type: ignore[union-attr]
    assert sheet.auto_filter.ref == f"A1:G{entries + 1}"  # type: ignore[union-attr]
