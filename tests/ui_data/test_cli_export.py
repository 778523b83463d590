"""``qcmdb <list command> --format csv|xlsx [--output FILE]`` on the known estate: the rows the text lists (every row
unless --limit), as CSV on stdout or in a file, or as an Excel workbook in a file or on a redirected stdout (never on a
terminal)."""

from __future__ import annotations

import csv
import io
import subprocess
import sys
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from qualys_cmdb.cli import main
from qualys_cmdb.staging.schema import upload_item
from qualys_cmdb.ui.exports import QUEUE_EXPORT_COLUMNS, UPLOAD_EXPORT_COLUMNS
from sqlalchemy import insert, text

from tests.conftest import REPO, write_config
from tests.ui_data.conftest import REFUSED

ITEMS = [
    {"address": "10.0.0.1", "status": "Success", "message": "added", "qualys_host_id": 101},
    {"address": "10.0.0.2", "status": "Error", "message": "=cmd|' /C calc'!A0", "qualys_code": "1905"},
    {"address": "10.0.0.3", "status": "Error", "message": "-1+1", "ci_name": "web-3", "ci_count": 3},
]


@pytest.fixture(scope="module")
def estate_with_uploads(estate: Any) -> Any:
    """The estate, and three upload items of a CMDB → Qualys schedule (two in error, with formula-like text)."""
    common = {"schedule": "push", "source": "sim", "kind": "ip", "tracking_method": "IP", "run_id": "manual__push_1"}
    with estate.begin() as conn:
        for item in ITEMS:  # one statement each: the items set different columns
            conn.execute(insert(upload_item).values(**common, **item))
    return estate


def rows(engine: Any, sql: str) -> list[Any]:
    with engine.connect() as conn:
        return list(conn.execute(text(sql)))


def read_csv(out: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(out, newline="")))


def test_assets_list_as_csv_has_every_row_and_whole_reasons(estate: Any, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["assets", "list", "--schedule", "t", "--format", "csv"]) == 0
    table = read_csv(capsys.readouterr().out)
    assert table[0] == [
        "Source",
        "Asset id",
        "Name",
        "State",
        "Target class",
        "Failure code",
        "CMDB sys_id",
        "Reason",
    ]
    expected = rows(
        estate, "SELECT source, asset_id, state FROM qcmdb.asset_classification WHERE schedule = 't' ORDER BY 1, 2"
    )
    assert [(r[0], int(r[1]), r[3]) for r in table[1:]] == [tuple(r) for r in expected]

    assert main(["assets", "list", "--schedule", "t", "--state", "failed", "--format", "csv", "--limit", "100"]) == 0
    failed = read_csv(capsys.readouterr().out)[1:]
    reasons = [r[7] for r in failed]
    assert all(reasons) and sum(reasons.count(reason) for reason in REFUSED) == sum(REFUSED.values())
    assert {r[3] for r in failed} == {"failed"}

    assert main(["assets", "list", "--schedule", "t", "--format", "csv", "--limit", "5"]) == 0
    assert len(read_csv(capsys.readouterr().out)) == 6
    assert main(["assets", "list", "--schedule", "t"]) == 0  # the text listing is unchanged
    assert capsys.readouterr().out.splitlines()[-1] == f"{len(expected)} asset(s)"


def test_queue_and_uploads_lists_have_the_pages_columns(
    estate_with_uploads: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["queue", "list", "--format", "csv"]) == 0
    table = read_csv(capsys.readouterr().out)
    assert table[0] == [c.heading for c in QUEUE_EXPORT_COLUMNS]
    ids = [r[0] for r in rows(estate_with_uploads, "SELECT id FROM qcmdb.sync_queue ORDER BY id")]
    assert [int(r[0]) for r in table[1:]] == ids  # oldest first, as the text lists them
    assert {r[1] for r in table[1:]} == {"Download"}

    assert main(["uploads", "list", "--schedule", "push", "--status", "Error", "--format", "csv"]) == 0
    table = read_csv(capsys.readouterr().out)
    assert table[0] == [c.heading for c in UPLOAD_EXPORT_COLUMNS]
    assert [(r[3], r[5], r[7]) for r in table[1:]] == [
        ("10.0.0.3", "web-3 (+2)", "'-1+1"),  # newest first, as the text lists them; no formula runs
        ("10.0.0.2", "", "'=cmd|' /C calc'!A0 (CODE 1905)"),
    ]


def test_an_excel_workbook_goes_to_a_file_or_a_redirected_stdout_never_a_terminal(
    estate_with_uploads: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "uploads.xlsx"
    assert main(["uploads", "list", "--format", "xlsx", "--output", str(out)]) == 0
    assert capsys.readouterr().err.strip() == f"3 row(s) written to {out}"
    sheet = openpyxl.load_workbook(out).active
    values = [[c.value for c in row] for row in sheet.iter_rows()]  # type: ignore[union-attr]
    assert values[0][:4] == ["Id", "Schedule", "Kind", "Address"] and values[0][9] == "Processed (UTC)"
    assert [r[3] for r in values[1:]] == ["10.0.0.3", "10.0.0.2", "10.0.0.1"] and values[3][8] == 101

    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    assert main(["uploads", "list", "--format", "xlsx"]) == 2
    assert "--output FILE" in capsys.readouterr().err
    monkeypatch.undo()

    piped = subprocess.run(
        [sys.executable, "-m", "qualys_cmdb.cli", "uploads", "list", "--status", "Success", "--format", "xlsx"],
        capture_output=True,
        check=True,
        cwd=REPO,
    )
    assert piped.stdout.startswith(b"PK")  # the workbook itself: a zip
    sheet = openpyxl.load_workbook(io.BytesIO(piped.stdout)).active
    assert [[c.value for c in row] for row in sheet.iter_rows()][1][3] == "10.0.0.1"  # type: ignore[union-attr]


def test_csv_to_a_file_and_the_summary_as_figures(
    estate: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "failed.csv"
    assert main(["assets", "list", "--schedule", "t", "--state", "failed", "--format", "csv", "-o", str(out)]) == 0
    assert capsys.readouterr().out == ""
    assert read_csv(out.read_text(encoding="utf-8"))[0][0] == "Source"  # no byte-order mark: made for tools

    write_config(tmp_path, monkeypatch)
    assert main(["summary", "--schedule", "t", "--format", "csv"]) == 0
    figures = {r[0]: r[1] for r in read_csv(capsys.readouterr().out)[1:]}
    assert figures["schedule"] == "t" and figures["source"] == "sim"
    assert int(figures["cmdb.assets_by_state.loaded"]) == 8
    assert int(figures["staged_assets"]) == 41


def test_help_says_what_the_formats_do(capsys: pytest.CaptureFixture[str]) -> None:
    for command in (["assets", "list"], ["queue", "list"], ["uploads", "list"], ["stale", "list"], ["summary"]):
        with pytest.raises(SystemExit) as done:
            main([*command, "--help"])
        assert done.value.code == 0
        shown = " ".join(capsys.readouterr().out.split())
        assert "--format {text,csv,xlsx}" in shown and "--output FILE" in shown, command
        assert "refused on a terminal" in shown


def test_stale_cis_as_rows() -> None:
    from datetime import UTC, datetime

    from qualys_cmdb.cli import STALE_COLUMNS
    from qualys_cmdb.load.stale import StaleAsset, StaleCi
    from qualys_cmdb.ui.spreadsheet import to_csv

    asset = StaleAsset(
        "sim", 7, "=web-7", "abc123", "cmdb_ci_linux_server", datetime(2025, 1, 2, tzinfo=UTC), None, None
    )
    ci = StaleCi(asset, "skip", "someone else updated the CI since our last load")
    table = read_csv(to_csv(STALE_COLUMNS, [{"ci": ci, "asset": asset}]).decode())
    assert table[0][:6] == ["Source", "Asset id", "Name", "CI class", "sys_id", "Last modified in Qualys"]
    assert table[1] == [
        "sim",
        "7",
        "'=web-7",
        "cmdb_ci_linux_server",
        "abc123",
        "2025-01-02T00:00:00+00:00",
        "",
        "",
        "skip",
        "False",
        "someone else updated the CI since our last load",
    ]
