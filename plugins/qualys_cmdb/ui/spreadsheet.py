"""Rows as a spreadsheet: CSV and Excel (.xlsx) files of the UI's lists and reports and of the CLI's list commands.

The input is rows (dicts, SQLAlchemy rows or a query result, or chunks of them) and the :class:`Column` s to write,
in the order and with the headings the page shows. pandas frames each chunk (its columns in order, every value kept as
the object it is); the CSV is pandas' ``to_csv`` of each chunk, the workbook is openpyxl's write-only mode (rows go
to a temporary file as they come). Neither holds more than one chunk of rows: :func:`query_chunks` reads a query
through a server-side cursor, :data:`CHUNK_ROWS` rows at a time, so a 50,000-row export costs the memory of one
chunk.

What a cell holds, in both formats:

* **text** is kept whole (no page's truncation), without NUL characters; a value that begins with ``=``, ``+``, ``-``,
  ``@``, a tab or a carriage return gets a leading single quote (``'``), so no spreadsheet program runs it as a formula
  (CSV / formula injection). In a workbook, the other control characters XML cannot carry become U+FFFD, and a text
  longer than the 32,767 characters an Excel cell holds ends with a note saying how long it was (the CSV has it all).
* **date-times** are UTC. In CSV: ISO 8601 with the offset (``2026-12-05T10:11:12.123456+00:00``). Excel cannot store
  a time zone: the workbook has the UTC date-time without a zone, and its column heading ends with ``(UTC)``.
* dates are ISO dates / Excel dates, numbers and booleans stay numbers and booleans, structured values (JSON
  columns) are JSON text, anything else is its ``str``.
"""

from __future__ import annotations

import csv
import io
import json
import re
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import IO, Any, Literal, cast

Format = Literal["csv", "xlsx"]
FORMATS: tuple[Format, ...] = ("csv", "xlsx")
MEDIA_TYPES: dict[Format, str] = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
#: Rows read from the database (and framed by pandas) at a time.
CHUNK_ROWS = 2000
#: The most characters an Excel cell holds.
XLSX_CELL_LIMIT = 32_767
#: What a cell's text may not begin with (OWASP's CSV-injection list): a spreadsheet would read it as a formula.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
UTC_SUFFIX = " (UTC)"

_ILLEGAL_XML = re.compile(r"[\x01-\x08\x0b\x0c\x0e-\x1f]")  # NUL is removed before, in both formats
_XLSX_ERROR_TEXTS = frozenset({"#NULL!", "#DIV/0!", "#VALUE!", "#REF!", "#NAME?", "#NUM!", "#N/A"})


@dataclass(frozen=True)
class Column:
    """One column of an export.

    :param key: the row's key holding the value (also the column's name for :attr:`get`).
    :param heading: the heading, as the page shows it.
    :param get: computes the value from the whole row instead (e.g. two fields the page shows in one cell).
    :param when: the column holds date-times (in a workbook its heading says UTC). A column whose first chunk holds
        a date-time is treated as one too.
    """

    key: str
    heading: str
    get: Callable[[Mapping[str, Any]], Any] | None = None
    when: bool = False

    def value(self, row: Mapping[str, Any]) -> Any:
        return self.get(row) if self.get is not None else row.get(self.key)


Rows = Iterable[Any]  # mappings, SQLAlchemy Row objects, or a SQLAlchemy Result


# ---------------------------------------------------------------------------------------------- cell values
def neutralise(text: str) -> str:
    """``text`` without NUL characters, with a leading ``'`` if a spreadsheet would take it for a formula."""
    text = text.replace("\0", "")
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def utc(moment: datetime) -> datetime:
    """``moment`` in UTC (a moment without a zone is taken as UTC: the staging database stores UTC)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _text(value: Any) -> str:
    if isinstance(value, dict | list | tuple):
        return json.dumps(value, ensure_ascii=False, default=str)
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).decode("utf-8", errors="replace")
    return str(value)


def csv_value(value: Any) -> Any:
    """A value as a CSV cell holds it (see the module docstring)."""
    if value is None or isinstance(value, bool | int | float | Decimal):
        return value
    if isinstance(value, datetime):
        return utc(value).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return neutralise(_text(value))


def xlsx_value(value: Any) -> Any:
    """A value as a workbook cell holds it (see the module docstring)."""
    if value is None or isinstance(value, bool | int | float | Decimal | date):
        return utc(value).replace(tzinfo=None) if isinstance(value, datetime) else value
    text = _ILLEGAL_XML.sub("\ufffd", neutralise(_text(value)))
    if len(text) > XLSX_CELL_LIMIT:
        note = f" … [cut: {len(text):,} characters, more than an Excel cell holds; the CSV export has them all]"
        text = text[: XLSX_CELL_LIMIT - len(note)] + note
    return text


# ---------------------------------------------------------------------------------------------- rows in chunks
def _mapping(row: Any) -> Mapping[str, Any]:
    return row if isinstance(row, Mapping) else row._mapping


def chunks_of(rows: Rows, size: int = CHUNK_ROWS) -> Iterator[list[Mapping[str, Any]]]:
    """``rows`` (mappings, SQLAlchemy rows or a Result) in lists of at most ``size``."""
    from sqlalchemy.engine import Result

    if isinstance(rows, Result):
        for part in rows.mappings().partitions(size):
            yield cast(list[Mapping[str, Any]], list(part))
        return
    chunk: list[Mapping[str, Any]] = []
    for row in rows:
        chunk.append(_mapping(row))
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def query_chunks(
    engine: Any, query: Any, params: Mapping[str, Any] | None = None, size: int = CHUNK_ROWS
) -> Iterator[list[Mapping[str, Any]]]:
    """Every row of ``query`` (a SQLAlchemy select or text with its ``params``), ``size`` at a time, through a
    server-side cursor: one statement (one consistent view of the data, no OFFSET paging), never more than a chunk in
    memory."""
    with engine.connect() as conn:
        result = conn.execution_options(yield_per=size).execute(query, dict(params or {}))
        for part in result.mappings().partitions(size):
            yield cast(list[Mapping[str, Any]], list(part))


Chunks = Iterable[Sequence[Mapping[str, Any]]]


def _frames(columns: Sequence[Column], chunks: Chunks, cell: Callable[[Any], Any]) -> Iterator[Any]:
    """A pandas frame per chunk: the columns in order, each value converted by ``cell`` and kept as that object
    (dtype object: no inference, so 7 stays 7 next to a missing value, never 7.0)."""
    import pandas as pd

    for chunk in chunks:  # columns by position: two columns may read the same key
        if chunk:
            yield pd.DataFrame([[cell(c.value(row)) for c in columns] for row in chunk], dtype=object)


# ---------------------------------------------------------------------------------------------- CSV
def csv_stream(columns: Sequence[Column], chunks: Chunks, *, bom: bool = False) -> Iterator[bytes]:
    """The CSV (UTF-8, RFC 4180: comma, double quotes, CRLF) of ``chunks``: the heading line, then one piece per
    chunk. ``bom``: begin with a UTF-8 byte-order mark, so Excel reads the file as UTF-8 when it is opened from a
    download (tools reading CSV from a pipe do not want it)."""
    heading = io.StringIO()
    csv.writer(heading, lineterminator="\r\n").writerow([neutralise(c.heading) for c in columns])
    yield ("\ufeff" if bom else "").encode() + heading.getvalue().encode("utf-8")
    for frame in _frames(columns, chunks, csv_value):
        yield frame.to_csv(header=False, index=False, lineterminator="\r\n").encode("utf-8")


def to_csv(columns: Sequence[Column], rows: Rows, *, bom: bool = False) -> bytes:
    """The whole CSV of ``rows`` (see :func:`csv_stream`)."""
    return b"".join(csv_stream(columns, chunks_of(rows), bom=bom))


# ---------------------------------------------------------------------------------------------- Excel
def _sheet_title(title: str) -> str:
    cleaned = re.sub(r"[\[\]:*?/\\]", " ", title.replace("\0", "")).strip("' ") or "Export"
    return cleaned[:31]


def write_xlsx(columns: Sequence[Column], chunks: Chunks, out: IO[bytes], *, title: str = "Export") -> int:
    """Write the workbook of ``chunks`` (one sheet named ``title``; a bold, frozen heading row with a filter) to
    ``out``; the number of rows written. openpyxl's write-only mode: rows are not kept in memory."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(_sheet_title(title))
    frames = _frames(columns, chunks, xlsx_value)
    first = next(frames, None)
    bold = Font(bold=True)
    headings = []
    for n, column in enumerate(columns):
        # a date-time column says UTC in its heading: Excel keeps no zone
        when = column.when or (first is not None and any(isinstance(v, datetime) for v in first[n]))
        cell = WriteOnlyCell(sheet, neutralise(column.heading) + (UTC_SUFFIX if when else ""))
        cell.font = bold
        headings.append(cell)
        width = max(12, min(50, len(str(cell.value)) + 4), 20 if when else 0)
        sheet.column_dimensions[get_column_letter(n + 1)].width = width
    sheet.freeze_panes = "A2"
    sheet.append(headings)
    written = 0
    for frame in [first] if first is not None else []:
        written += _append(sheet, frame)
    for frame in frames:
        written += _append(sheet, frame)
    if columns:
        sheet.auto_filter.ref = f"A1:{get_column_letter(len(columns))}{written + 1}"
    workbook.save(out)
    return written


def _append(sheet: Any, frame: Any) -> int:
    from openpyxl.cell import WriteOnlyCell

    n = 0
    for values in frame.itertuples(index=False, name=None):
        row: list[Any] = []
        for value in values:
            if isinstance(value, str) and value in _XLSX_ERROR_TEXTS:  # text, not Excel's error value
                cell = WriteOnlyCell(sheet, value)
                cell.data_type = "s"
                value = cell
            row.append(value)
        sheet.append(row)
        n += 1
    return n


def to_xlsx(columns: Sequence[Column], rows: Rows, *, title: str = "Export") -> bytes:
    """The whole workbook of ``rows`` (see :func:`write_xlsx`)."""
    with tempfile.TemporaryFile() as out:
        write_xlsx(columns, chunks_of(rows), out, title=title)
        out.seek(0)
        return out.read()


def spooled_xlsx(columns: Sequence[Column], chunks: Chunks, *, title: str = "Export") -> IO[bytes]:
    """The workbook in a temporary file (on disk past a few MB), positioned at its start; the caller closes it."""
    out = tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024)  # noqa: SIM115 - returned open, closed by the caller
    try:
        write_xlsx(columns, chunks, out, title=title)
    except BaseException:
        out.close()
        raise
    out.seek(0)
    return out


def file_chunks(file: IO[bytes], size: int = 256 * 1024) -> Iterator[bytes]:
    """A file's bytes in pieces, closing it at the end (or when the consumer stops)."""
    try:
        while piece := file.read(size):
            yield piece
    finally:
        file.close()


def filename(stem: str, fmt: Format, today: date | None = None) -> str:
    """``failed-assets-2026-12-05.csv``: the stem (lower case, words joined by dashes) and today's UTC date."""
    day = today or datetime.now(UTC).date()
    slug = re.sub(r"[^a-z0-9]+", "-", stem.lower()).strip("-") or "export"
    return f"{slug}-{day.isoformat()}.{fmt}"


__all__ = [
    "CHUNK_ROWS",
    "FORMATS",
    "FORMULA_STARTS",
    "MEDIA_TYPES",
    "UTC_SUFFIX",
    "XLSX_CELL_LIMIT",
    "Column",
    "Format",
    "chunks_of",
    "csv_stream",
    "csv_value",
    "file_chunks",
    "filename",
    "neutralise",
    "query_chunks",
    "spooled_xlsx",
    "to_csv",
    "to_xlsx",
    "write_xlsx",
    "xlsx_value",
]
