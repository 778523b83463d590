"""CSV and Excel downloads of the plugin's lists and reports through Airflow's real API server app (in-process
TestClient, real auth manager, real staging Postgres, a real DAG run for the data): the links each page carries, what
they download, and who may download."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from html import unescape
from typing import Any
from urllib.parse import parse_qs, urlsplit

import openpyxl
import pytest
from sqlalchemy import text

from tests.ui_api.estate import logged_in_client, waiting_run

PASSWORDS = {"admin": "admin-pw", "viewer": "viewer-pw"}
LISTS = {
    "/assets": "assets",
    "/approvals": "pending-assets",
    "/failed": "failed-assets",
    "/software": "software",
    "/queue": "sync-queue",
    "/uploads": "upload-items",
    "/log": "application-log",
}
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@pytest.fixture(scope="module")
def ui(airflow_db: None, engine: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """Airflow's API server app with the plugin, users admin and viewer, and one DAG run whose assets wait for
    approval (one set-up for the module: the tests only read)."""
    with waiting_run(engine, tmp_path_factory.mktemp("exports"), PASSWORDS):
        with engine.begin() as conn:  # a value a spreadsheet would run as a formula, in the log
            conn.execute(
                text(
                    "INSERT INTO qcmdb.app_log (level, schedule, component, message) "
                    "VALUES ('warning', 't', 'test', '=HYPERLINK(\"http://evil.example\",\"click\")')"
                )
            )
        yield logged_in_client(PASSWORDS)


def _auth(ui: Any, user: str = "viewer") -> dict[str, str]:
    return {"Authorization": f"Bearer {ui.tokens[user]}"}


def _links(html: str) -> dict[str, str]:
    """The page's download links: {"csv": href, "xlsx": href}."""
    found = {}
    for href in re.findall(r'href="([^"]+\.(?:csv|xlsx)(?:\?[^"]*)?)"', html):
        href = unescape(href)
        found[urlsplit(href).path.rsplit(".", 1)[1]] = href
    return found


def _total(html: str) -> int:
    match = re.search(r"page \d+ of \d+ · ([\d,]+) in all", html)
    assert match, html[:500]
    return int(match.group(1).replace(",", ""))


def _csv(body: bytes) -> list[list[str]]:
    assert body.startswith(b"\xef\xbb\xbf")  # a UTF-8 BOM: Excel opens the download as UTF-8
    return list(csv.reader(io.StringIO(body.decode("utf-8-sig"), newline="")))


def _xlsx(body: bytes) -> list[list[Any]]:
    sheet = openpyxl.load_workbook(io.BytesIO(body)).active
    return [[c.value for c in row] for row in sheet.iter_rows()]  # type: ignore[union-attr]


def test_downloads_need_an_authenticated_user(ui: Any) -> None:
    for path in [*LISTS, "/reports/pending"]:
        for fmt in ("csv", "xlsx"):
            url = f"/qualys-cmdb{path}.{fmt}"
            assert ui.get(url).status_code == 401, url
            assert ui.get(url, headers={"Authorization": "Bearer not-a-token"}).status_code == 403, url
    html = ui.get("/qualys-cmdb/failed.csv", headers={"Accept": "text/html"})
    assert html.status_code == 401 and "Log in to Airflow" in html.text


@pytest.mark.parametrize(
    ("page", "params"),
    [
        ("/assets", {"state": "pending", "sort": "-asset_id", "page": "2", "page_size": "5"}),
        ("/approvals", {"schedule": "t", "search": "1"}),
        ("/failed", {}),
        ("/software", {"eol": "1"}),
        ("/queue", {"status": "Success"}),
        ("/uploads", {}),
        ("/log", {"level": "info"}),
    ],
)
def test_a_viewer_downloads_every_row_of_a_page_with_its_filters(ui: Any, page: str, params: dict[str, str]) -> None:
    html = ui.get(f"/qualys-cmdb{page}", params=params, headers=_auth(ui)).text
    total = _total(html)
    links = _links(html)
    assert set(links) == {"csv", "xlsx"}
    for fmt, href in links.items():
        link = urlsplit(href)
        assert link.path == f"/qualys-cmdb{page}.{fmt}"
        carried = {k: v[0] for k, v in parse_qs(link.query).items()}
        assert carried == {k: v for k, v in params.items() if k not in ("page", "page_size")}  # the filters, unpaged
        response = ui.get(href, headers=_auth(ui))
        assert response.status_code == 200, response.text[:300]
        day = datetime.now(UTC).date().isoformat()
        assert response.headers["content-disposition"] == f'attachment; filename="{LISTS[page]}-{day}.{fmt}"'
        assert response.headers["cache-control"] == "no-store"
        if fmt == "csv":
            assert response.headers["content-type"] == "text/csv; charset=utf-8"
            table = _csv(response.content)
        else:
            assert response.headers["content-type"] == XLSX
            table = _xlsx(response.content)
        headings = re.findall(r"<th(?: class=\"num\")?>([^<]*)</th>", html.split("<tbody>")[0])
        # a cell of two fields (the run under the schedule, the processing time under the creation time) is headed
        # "Schedule · run": the export has them in two columns
        parts = [h.split(" · ") for h in headings if h]
        shown = [p if n == 0 else p[:1].upper() + p[1:] for heading in parts for n, p in enumerate(heading)]
        exported = [str(h).removesuffix(" (UTC)") for h in table[0]]
        extra = {"Run", "Details"} - set(shown)  # shown on the page under the schedule, or folded away
        like_the_page = [{"Size (bytes)": "Size"}.get(h, h) for h in exported if h not in extra]
        assert like_the_page == [h for h in shown if h != "Response"], (exported, shown)
        assert len(table) - 1 == total, (page, fmt)


def test_the_exports_read_like_the_page(ui: Any, engine: Any) -> None:
    with engine.connect() as conn:
        pending = conn.execute(
            text(
                "SELECT a.name FROM qcmdb.asset_classification c JOIN qcmdb.staged_asset a USING (source, asset_id) "
                "WHERE c.state = 'pending' ORDER BY a.name NULLS LAST, c.source, c.asset_id"
            )
        ).scalars()
        names = [n or "" for n in pending]
    table = _csv(ui.get("/qualys-cmdb/approvals.csv", headers=_auth(ui)).content)
    assert table[0][:3] == ["Name", "IP address", "Operating system"]  # the default columns
    assert [r[0] for r in table[1:]] == names
    log = _xlsx(ui.get("/qualys-cmdb/log.xlsx", params={"level": "warning"}, headers=_auth(ui)).content)
    assert log[0][0] == "When (UTC)" and isinstance(log[1][0], datetime)
    assert [r[5] for r in log[1:] if "evil" in str(r[5])] == ['\'=HYPERLINK("http://evil.example","click")']
    log_csv = _csv(ui.get("/qualys-cmdb/log.csv", params={"level": "warning"}, headers=_auth(ui)).content)
    assert any(r[5].startswith("'=HYPERLINK(") for r in log_csv[1:])
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?\+00:00", r[0]) for r in log_csv[1:])


def test_each_report_on_the_overview_downloads_every_group(ui: Any) -> None:
    html = ui.get("/qualys-cmdb/", params={"source": "sim"}, headers=_auth(ui)).text
    reports = ui.get("/qualys-cmdb/api/reports", params={"source": "sim"}, headers=_auth(ui)).json()
    cards = re.findall(r'id="report-([a-z_]+)"', html)
    assert len(cards) == 17
    for report_id in cards:
        href = unescape(re.search(rf'href="(/qualys-cmdb/reports/{report_id}\.csv[^"]*)"', html).group(1))  # type: ignore[union-attr]
        assert parse_qs(urlsplit(href).query) == {"source": ["sim"]}
        assert f'href="/qualys-cmdb/reports/{report_id}.xlsx?source=sim"' in html
        response = ui.get(href, headers=_auth(ui))
        assert response.status_code == 200
        assert re.fullmatch(
            r'attachment; filename="[a-z0-9-]+-report-\d{4}-\d\d-\d\d\.csv"', response.headers["content-disposition"]
        )
        table = _csv(response.content)
        expected = reports[report_id]["rows"]
        assert [int(r[-2]) for r in table[1:]] == [b["value"] for b in expected]
        assert [r[-1] for r in table[1:]] == ["http://testserver" + b["href"] for b in expected]
    workbook = ui.get("/qualys-cmdb/reports/failed.xlsx", headers=_auth(ui))
    assert workbook.status_code == 200 and workbook.headers["content-type"] == XLSX
    assert _xlsx(workbook.content)[0] == ["Failure code", "Assets", "List"]
    assert 'filename="failed-qualys-assets-report-' in workbook.headers["content-disposition"]


def test_unknown_downloads_are_not_found(ui: Any) -> None:
    for url in ("/qualys-cmdb/assets.pdf", "/qualys-cmdb/sources.csv", "/qualys-cmdb/reports/nope.csv"):
        response = ui.get(url, headers=_auth(ui))
        assert response.status_code == 404, url
    assert ui.get("/qualys-cmdb/assets.csv", params={"search": "a\0b"}, headers=_auth(ui)).status_code == 400
