"""The Qualys wire protocol: request bodies, response envelopes and error envelopes (reference/qualys-api.md).

Pure functions with no I/O, used by :class:`qualys_cmdb.hooks.qualys.QualysHook`. Envelopes are read from the
response body (spooled to disk when large) with a streaming parser that stops as soon as it has the paging fields,
so a page is never held in memory.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import IO, Any
from xml.sax.saxutils import escape

import ijson
from lxml import etree

from qualys_cmdb.utf8_repair import Utf8RepairingReader


class QualysError(Exception):
    """Any failure talking to Qualys. The message says what happened and what to do; it never holds secrets."""


class QualysUnreachable(QualysError):
    """The server could not be reached, or kept failing (down, maintenance, network)."""


class QualysAuthError(QualysError):
    """Wrong username or password."""


class QualysSubscriptionExpired(QualysError):
    """The Qualys account or subscription has expired."""


class QualysAccessDenied(QualysError):
    """The account lacks API access or the module (asset inventory / asset management) the call needs."""


class QualysRequestError(QualysError):
    """Qualys rejected the request itself (bad filter, bad parameter): retrying would not help."""


class QualysRateLimited(QualysError):
    """Blocked by a rate or concurrency limit for longer than we may wait now; ``wait_seconds`` says how long."""

    def __init__(self, message: str, wait_seconds: float) -> None:
        super().__init__(message)
        self.wait_seconds = wait_seconds


class QualysResponseError(QualysError):
    """A response that does not make sense (no responseCode, missing paging fields) even after retries."""


@dataclass(frozen=True)
class Envelope:
    """The paging fields of one search response page."""

    response_code: str | None
    count: int
    has_more: bool | None
    next_cursor: str | None
    message: str | None = None


def iso_z(moment: datetime, millis: bool = False) -> str:
    """UTC ISO-8601 with a ``Z``, as Qualys expects (seconds for QPS, milliseconds for CSAM)."""
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    if millis:
        text += f".{moment.microsecond // 1000:03d}"
    return text + "Z"


def window_bounds(since: datetime, until: datetime, millis: bool) -> tuple[str, str]:
    """(GREATER value, LESSER value) selecting ``since < modified <= until`` at the API's time resolution."""
    step = timedelta(milliseconds=1) if millis else timedelta(seconds=1)
    return iso_z(since, millis), iso_z(until + step, millis)


def hostasset_request(*, last_id: int, page_size: int, since: datetime, until: datetime, tag: str | None) -> bytes:
    """The QPS ``ServiceRequest`` for one hostasset page: id paging plus an ``updated`` window (§3.2)."""
    greater, lesser = window_bounds(since, until, millis=False)
    criteria = [
        ("id", "GREATER", str(last_id)),
        ("updated", "GREATER", greater),
        ("updated", "LESSER", lesser),
    ]
    if tag:
        criteria.append(("tagName", "EQUALS", tag))
    crit = "".join(f'<Criteria field="{f}" operator="{escape(op)}">{escape(v)}</Criteria>' for f, op, v in criteria)
    body = (
        "<ServiceRequest><preferences>"
        f"<limitResults>{page_size}</limitResults>"
        f"</preferences><filters>{crit}</filters></ServiceRequest>"
    )
    return body.encode("utf-8")


def csam_filters(*, since: datetime, until: datetime, qql: list[dict[str, str]], tag: str | None) -> dict[str, Any]:
    """The CSAM v2 JSON body: the modification window, the schedule's QQL equalities and its tag (§4.2)."""
    greater, lesser = window_bounds(since, until, millis=True)
    filters = [
        {"field": "asset.lastUpdatedDate", "operator": "GREATER", "value": greater},
        {"field": "asset.lastUpdatedDate", "operator": "LESSER", "value": lesser},
        *qql,
    ]
    if tag:
        filters.append({"field": "tags.name", "operator": "EQUALS", "value": tag})
    return {"filters": filters, "operation": "AND"}


def _open(body: IO[bytes]) -> Utf8RepairingReader:
    body.seek(0)
    return Utf8RepairingReader(body)


def read_csam_envelope(payload: IO[bytes]) -> Envelope:
    """Paging fields of a CSAM response body; stops at ``assetListData`` once it has them."""
    fields: dict[str, Any] = {}
    wanted = {"responseCode", "count", "hasMore", "lastSeenAssetId", "responseMessage"}
    try:
        for prefix, event, value in ijson.parse(_open(payload)):
            if prefix in wanted and event in ("string", "number", "boolean", "null"):
                fields[prefix] = value
            elif prefix == "assetListData" and event == "start_map" and {"hasMore", "lastSeenAssetId"} <= fields.keys():
                break
    except ijson.JSONError as exc:
        if not fields:
            raise QualysResponseError(f"the response is not JSON ({exc})") from None
    has_more = fields.get("hasMore")
    cursor = fields.get("lastSeenAssetId")
    return Envelope(
        response_code=fields.get("responseCode"),
        count=int(fields.get("count") or 0),
        has_more=None if has_more is None else bool(int(has_more)),
        next_cursor=None if cursor is None else str(int(cursor)),
        message=fields.get("responseMessage"),
    )


def read_hostasset_envelope(payload: IO[bytes]) -> Envelope:
    """Paging fields of a QPS ServiceResponse body; stops at ``data``. Zero matches have no paging fields."""
    fields: dict[str, str] = {}
    message = None
    parser = etree.iterparse(
        _open(payload), events=("start", "end"), resolve_entities=False, no_network=True, load_dtd=False
    )
    try:
        for event, elem in parser:
            if event == "start" and elem.tag == "data":
                break
            if event == "end" and elem.tag in ("responseCode", "count", "hasMoreRecords", "lastId", "errorMessage"):
                fields[elem.tag] = (elem.text or "").strip()
    except etree.XMLSyntaxError as exc:
        if "responseCode" not in fields:
            raise QualysResponseError(f"the response is not XML ({exc})") from None
    message = fields.get("errorMessage")
    has_more = fields.get("hasMoreRecords")
    code = fields.get("responseCode")
    if code == "SUCCESS" and has_more is None:
        has_more = "false"  # the zero-match shape: responseCode + count only (§3.3)
    return Envelope(
        response_code=code,
        count=int(fields.get("count") or 0),
        has_more=None if has_more is None else has_more.lower() == "true",
        next_cursor=fields.get("lastId") or None,
        message=message,
    )


def simple_return(body: bytes) -> tuple[str | None, str | None, dict[str, str]]:
    """(CODE, TEXT, ITEM_LIST) of an FO ``SIMPLE_RETURN`` body; (None, None, {}) if it is not one."""
    try:
        root = etree.fromstring(body, parser=etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False))
    except etree.XMLSyntaxError:
        return None, None, {}
    items = {
        (item.findtext("KEY") or ""): (item.findtext("VALUE") or "") for item in root.iterfind(".//ITEM_LIST/ITEM")
    }
    return root.findtext(".//CODE"), root.findtext(".//TEXT"), items


def qps_error(body: bytes) -> tuple[str | None, str | None]:
    """(responseCode, errorMessage) of a small QPS ServiceResponse, or (None, None)."""
    try:
        root = etree.fromstring(body, parser=etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False))
    except etree.XMLSyntaxError:
        return None, None
    return root.findtext("responseCode"), root.findtext(".//errorMessage")
