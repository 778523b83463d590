"""Bulk-load parsed assets into the landing tables with COPY, in bounded buffers."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from psycopg import Copy
from sqlalchemy import Connection, Table, delete

from qualys_cmdb.intake.records import AssetRecord
from qualys_cmdb.staging.schema import (
    LANDING_CHILDREN,
    SCHEMA,
    landing_asset,
    landing_software,
    landing_software_product,
    metadata,
)

FLUSH_ROWS = 20_000
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def copy_text(value: Any) -> str:
    """One value in COPY's text format: ``\\N`` for NULL, ``t``/``f``, numbers as written, text escaped."""
    if value is None:
        return "\\N"
    if value is True or value is False:
        return "t" if value else "f"
    text = str(value)
    if "\\" in text or "\t" in text or "\n" in text or "\r" in text:
        return text.translate(_COPY_ESCAPES)
    return text  # nearly every value: four scans cost a tenth of translate()


class LandingWriter:
    """Collects the rows of one queue record and COPYs them into the landing tables.

    Rows are buffered per table and flushed every ``FLUSH_ROWS`` rows, so memory stays bounded whatever the page
    size. A software product's catalog columns land once per record (``landing_software_product``), each install
    as the product's key and its own columns. Runs inside the caller's transaction: a failure leaves no landing row
    behind.
    """

    def __init__(self, conn: Connection, queue_id: int) -> None:
        self._cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        self._queue_id = queue_id
        self._buffers: dict[str, list[tuple[Any, ...]]] = {}
        self._lines: dict[str, list[str]] = {}  # rows the parser already wrote in COPY text (see AssetRecord)
        self._columns: dict[str, list[str]] = {}
        self._products: set[str] = set()  # the software keys this record has landed
        self.assets = 0
        self.rows = 0
        self.software_rows = 0
        #: NUL characters the parser replaced with U+FFFD in this record's assets, and the ids of those assets
        #: (for the record's note and a warning: the response had values PostgreSQL text cannot hold).
        self.nul_replaced = 0
        self.nul_asset_ids: list[int] = []

    def add(self, record: AssetRecord) -> None:
        self.assets += 1
        source, asset_id = record.asset["source"], record.asset["asset_id"]
        if record.nul_replaced:
            self.nul_replaced += record.nul_replaced
            self.nul_asset_ids.append(asset_id)
        self._put(landing_asset, source, asset_id, [record.asset])
        for kind, rows in record.children.items():
            self._put(LANDING_CHILDREN[kind], source, asset_id, rows)
        self.software_rows += len(record.software)
        if record.software_copy and len(record.software_copy) == len(record.software):
            prefix = f"{self._queue_id}\t{copy_text(source)}\t{asset_id}\t"
            self._write_lines(landing_software, [prefix + line + "\n" for line in record.software_copy])
            self.rows += len(record.software)
            new = [(key, line) for key, line in record.software_products if key not in self._products]
            self._products.update(key for key, _ in new)
            self._write_lines(landing_software_product, [f"{self._queue_id}\t{line}\n" for _, line in new])
        else:
            self._put(landing_software, source, asset_id, record.software)
            self._put_products(record.software)

    def add_all(self, records: Iterable[AssetRecord]) -> None:
        for record in records:
            self.add(record)

    def _put(self, table: Table, source: str, asset_id: int, rows: list[dict[str, Any]]) -> None:
        """Buffer ``rows`` of one asset; every landing table starts with (queue_id, source, asset_id)."""
        if not rows:
            return
        rest = self._table_columns(table)[3:]
        key = (self._queue_id, source, asset_id)
        self._buffer(table, [key + tuple(map(row.get, rest)) for row in rows])
        self.rows += len(rows)

    def _put_products(self, software: list[dict[str, Any]]) -> None:
        """Buffer the catalog columns of the products of ``software`` rows this record has not landed yet."""
        rest = self._table_columns(landing_software_product)[1:]
        new = []
        for row in software:
            if row["software_key"] not in self._products:
                self._products.add(row["software_key"])
                new.append((self._queue_id, *map(row.get, rest)))
        self._buffer(landing_software_product, new)

    def _table_columns(self, table: Table) -> list[str]:
        columns = self._columns.get(table.name)
        if columns is None:
            columns = self._columns[table.name] = [c.name for c in table.columns]
            assert columns[0] == "queue_id", table.name
        return columns

    def _buffer(self, table: Table, rows: list[tuple[Any, ...]]) -> None:
        buffer = self._buffers.setdefault(table.name, [])
        buffer.extend(rows)
        if len(buffer) >= FLUSH_ROWS:
            self._flush(table.name)

    def _write_lines(self, table: Table, lines: list[str]) -> None:
        buffer = self._lines.setdefault(table.name, [])
        buffer.extend(lines)
        if len(buffer) >= FLUSH_ROWS:
            self._flush_lines(table.name)

    def _copy(self, table: Table) -> Copy:
        """A COPY into ``table``, all its columns in order (every row this writer sends has them all)."""
        cols = ", ".join(f'"{c.name}"' for c in table.columns)
        copy: Copy = self._cursor.copy(f'COPY "{SCHEMA}"."{table.name}" ({cols}) FROM STDIN')
        return copy

    def _flush(self, name: str) -> None:
        rows = self._buffers.get(name)
        if not rows:
            return
        with self._copy(metadata.tables[f"{SCHEMA}.{name}"]) as copy:
            for row in rows:
                copy.write_row(row)
        rows.clear()

    def _flush_lines(self, name: str) -> None:
        lines = self._lines.get(name)
        if not lines:
            return
        with self._copy(metadata.tables[f"{SCHEMA}.{name}"]) as copy:
            copy.write("".join(lines))
        lines.clear()

    def close(self) -> None:
        """Flush what is left."""
        for name in list(self._buffers):
            self._flush(name)
        for name in list(self._lines):
            self._flush_lines(name)
        self._cursor.close()


def clear_landing(conn: Connection, queue_ids: list[int]) -> None:
    """Delete the landing rows of ``queue_ids`` (after staging, or before parsing a record again)."""
    for table in (landing_asset, landing_software, landing_software_product, *LANDING_CHILDREN.values()):
        conn.execute(delete(table).where(table.c.queue_id.in_(queue_ids)))
