"""*parse*: turn stored responses (sync-queue records) into landing rows, one record at a time, atomically.

A record that cannot be read (truncated, malformed, not the expected format) becomes ``Error`` with a note that says
what was wrong and what to do; its partial rows are rolled back, and the other records are unaffected.
"""

from __future__ import annotations

import gzip
import logging
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any

import psycopg
from lxml import etree
from sqlalchemy import Engine, func, or_, update
from sqlalchemy.exc import DBAPIError

from qualys_cmdb.config import DetailFlags
from qualys_cmdb.intake.csam import parse_csam_page
from qualys_cmdb.intake.hostasset import parse_hostasset_page
from qualys_cmdb.intake.landing import LandingWriter, clear_landing
from qualys_cmdb.intake.records import AssetRecord
from qualys_cmdb.staging import store
from qualys_cmdb.staging.locks import record_held
from qualys_cmdb.staging.schema import sync_queue
from qualys_cmdb.utf8_repair import Utf8RepairingReader

log = logging.getLogger(__name__)

#: What a reader of a broken page can raise: each is a property of the page, not of our code.
PAGE_ERRORS = (etree.XMLSyntaxError, ValueError, EOFError, zlib.error, gzip.BadGzipFile)  # JSON: msgspec.DecodeError


@dataclass
class ParseResult:
    """What parsing one queue record gave."""

    queue_id: int
    status: str  # Processing (parsed, waiting for stage) | Error | Skipped
    assets: int = 0
    rows: int = 0
    software_rows: int = 0
    note: str | None = None
    odd_values: bool = False  # invalid UTF-8 or NUL characters were replaced: say so in the application log


def records_of(stream: IO[bytes], fmt: str, source: str, details: DetailFlags) -> Iterator[AssetRecord]:
    """The assets of a stored page, by format."""
    if fmt == "json":
        return parse_csam_page(stream, source, details)
    if fmt == "xml":
        return parse_hostasset_page(stream, source, details)
    raise ValueError(f"unknown response format {fmt!r}")


def parse_record(engine: Engine, queue_id: int, details: DetailFlags, processor: str) -> ParseResult:
    """Parse one queue record into landing rows; mark it parsed (``Processing``) or ``Error``.

    The record's lock is held while it is parsed, so two parsers never work on one record: a record marked
    Processing is claimed again only when its parser died (its lock is free). Any error of the page or of the
    database while landing it makes the record ``Error`` with a note, and the run goes on with the others.
    """
    with record_held(engine, queue_id) as held:
        if not held:
            return ParseResult(queue_id, "Skipped", note="being parsed by another processor")
        with engine.begin() as conn:
            claimed = conn.execute(
                update(sync_queue)
                .where(
                    sync_queue.c.id == queue_id,
                    or_(
                        sync_queue.c.status == "Queued",
                        (sync_queue.c.status == "Processing") & sync_queue.c.parsed_at.is_(None),
                    ),
                )
                .values(
                    status="Processing",
                    processor_id=processor,
                    attempts=sync_queue.c.attempts + 1,
                    updated_at=func.now(),
                )
                .returning(sync_queue.c.id)
            ).first()
        if claimed is None:
            return ParseResult(queue_id, "Skipped", note="not waiting to be parsed (already parsed or processed)")
        return _parse_claimed(engine, queue_id, details, processor)


def _parse_claimed(engine: Engine, queue_id: int, details: DetailFlags, processor: str) -> ParseResult:
    meta: dict[str, Any] | None = None
    try:
        with engine.begin() as conn:
            clear_landing(conn, [queue_id])
            meta, raw = store.open_payload(conn, queue_id)
            reader = Utf8RepairingReader(raw)
            writer = LandingWriter(conn, queue_id)
            writer.add_all(records_of(reader, meta["format"], meta["source"], details))  # type: ignore[arg-type]
            writer.close()
            expected = meta["record_count"]
            if expected is not None and writer.assets != expected:
                raise ValueError(f"the page says it holds {expected} assets but {writer.assets} were found")
            note = f"parsed {writer.assets} assets ({writer.rows} rows) by {processor}"
            if reader.replaced:
                note += f"; {reader.replaced} invalid UTF-8 byte sequence(s) replaced with U+FFFD"
            if writer.nul_replaced:  # PostgreSQL text cannot hold U+0000
                note += f"; {writer.nul_replaced} NUL character(s) replaced with U+FFFD in asset(s) " + ", ".join(
                    map(str, writer.nul_asset_ids[:20])
                )
            store.mark(conn, [queue_id], "Processing", note, parsed_at=func.now(), parsed_assets=writer.assets)
        return ParseResult(
            queue_id,
            "Processing",
            writer.assets,
            writer.rows,
            writer.software_rows,
            note,
            odd_values=bool(reader.replaced or writer.nul_replaced),
        )
    except PAGE_ERRORS as exc:
        note = _error_note(meta, queue_id, exc)
    except (DBAPIError, psycopg.Error) as exc:  # COPY goes through the driver: its errors come unwrapped
        note = _database_note(meta, queue_id, exc)
    with engine.begin() as conn:
        store.mark(conn, [queue_id], "Error", note)
    return ParseResult(queue_id, "Error", note=note)


def _database_note(meta: dict[str, Any] | None, queue_id: int, exc: DBAPIError | psycopg.Error) -> str:
    """What to tell about a page the database refused to land (a value it cannot hold, a constraint …)."""
    page = (meta or {}).get("page_no", "?")
    cause = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0][:300]
    return (
        f"the staging database refused the rows of page {page} (queue record {queue_id}): "
        f"{type(getattr(exc, 'orig', exc)).__name__}: {cause}. The raw response is kept and the other records "
        f"went on. Report the value to the maintainers; after an upgrade that handles it, "
        f"`qcmdb queue requeue {queue_id}` parses the stored response again."
    )


def _error_note(meta: dict[str, Any] | None, queue_id: int, exc: BaseException) -> str:
    fmt = (meta or {}).get("format", "?")
    page = (meta or {}).get("page_no", "?")
    broken = str(exc).lower()
    what = "truncated" if isinstance(exc, EOFError) or "truncated" in broken or "end" in broken else "malformed"
    return (
        f"{what} {str(fmt).upper()} response (page {page}, queue record {queue_id}): {type(exc).__name__}: {exc}. "
        f"The raw response is kept. Fix the cause, then re-queue it: `qcmdb queue requeue {queue_id} --refetch` "
        "to download the page again (or without --refetch to parse the stored response again)."
    )
