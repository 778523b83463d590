"""CSAM/GAV asset endpoints (section 4): search, count, get, and the v1 ``/am/v1`` variants.

Envelope key order is fixed: ``responseMessage, count, responseCode, lastSeenAssetId, hasMore,
assetListData``; ``hasMore`` is an int; an empty page is HTTP 204 with no body; a page size above 300
is a 400 unless the clamp fault is on.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from simulators.qualys.csam_asset import FieldSelection, render_asset
from simulators.qualys.csam_filters import FilterError, Predicate, parse_body, parse_qql
from simulators.qualys.replies import Reply, Request, json_reply
from simulators.qualys.subscription import Subscription
from simulators.qualys.timefmt import iso_ms, parse_iso
from simulators.qualys.unverified import text

MAX_PAGE = 300
DEFAULT_PAGE = 100
_OK = "Valid API Access"


class BadRequest(ValueError):
    """A request parameter the gateway rejects with HTTP 400."""


def error_400(message: str) -> Reply:
    """The gateway's 400 body (shape unverified: message plus responseCode)."""
    return json_reply(400, {"responseMessage": message, "responseCode": "INVALID_REQUEST"})


def _int_param(req: Request, *names: str, default: int | None = None) -> int | None:
    for name in names:
        raw = req.param(name)
        if raw is not None and raw.strip() != "":
            try:
                return int(raw.strip())
            except ValueError:
                raise BadRequest(text("csam.bad_param", name=name, value=raw)) from None
    return default


def _split(raw: str | None) -> list[str] | None:
    if raw is None:
        return None
    return [t for t in (p.strip() for p in raw.split(",")) if t]


class Query:
    """The parsed selection of a search/count request."""

    def __init__(self, sub: Subscription, req: Request, v1: bool) -> None:
        self.sub = sub
        estate = sub.estate
        preds: list[Predicate] = []
        updated_name = "lastModifiedDate" if v1 else "assetLastUpdated"
        updated_raw = req.param(updated_name) or req.param("assetLastUpdated" if v1 else "lastModifiedDate")
        if updated_raw:
            since = parse_iso(updated_raw)
            if since is None:
                raise BadRequest(text("csam.bad_param", name=updated_name, value=updated_raw))
            preds.append(lambda e, i: e.modified[i] > since)
        body_pred, body_qql = parse_body(req.body, req.header("Content-Type") or "")
        if body_pred is not None:
            preds.append(body_pred)
        qql = req.param("filter") or body_qql
        if qql:
            preds.append(parse_qql(qql))
        last_seen = _int_param(req, "lastSeenAssetId", "lastSeenAssetID", default=0) or 0
        if last_seen < 0:
            raise BadRequest(text("csam.bad_param", name="lastSeenAssetId", value=last_seen))
        self.start = estate.first_index_after(last_seen)
        self.predicate: Callable[[int], bool]
        if preds:
            self.predicate = lambda i: all(p(estate, i) for p in preds)
        else:
            self.predicate = lambda i: True

    def count(self) -> int:
        """Matching assets from the cursor on."""
        return self.sub.estate.count(self.start, self.predicate)

    def page(self, size: int) -> tuple[list[int], bool]:
        """One page of matching indices and whether more follow (honouring the optional query cap)."""
        found, more = self.sub.estate.scan(self.start, self.predicate, size)
        cap = self.sub.faults.csam_query_cap
        if cap is not None:
            before = self.sub.estate.count(0, self.predicate) - self.sub.estate.count(self.start, self.predicate)
            allowed = max(0, cap - before)
            if len(found) >= allowed:
                found, more = found[:allowed], False
        return found, more


def _page_size(sub: Subscription, req: Request) -> int:
    size = _int_param(req, "pageSize", default=DEFAULT_PAGE)
    assert size is not None
    if size < 1:
        raise BadRequest(text("csam.bad_page_size"))
    if size > MAX_PAGE:
        clamp = sub.faults.clamp_page_size
        if clamp is None:
            raise BadRequest(text("csam.bad_page_size"))
        size = clamp
    return size


def _fields(req: Request) -> FieldSelection:
    return FieldSelection(_split(req.param("includeFields")), _split(req.param("excludeFields")))


def _asset_page(
    sub: Subscription, indices: list[int], has_more: bool, fields: FieldSelection, searching: bool = True
) -> Reply:
    estate = sub.estate
    last_seen = estate.ids[indices[-1]]
    omit_has_more = searching and sub.faults.take_counter("missing_has_more")
    head = f'{{"responseMessage":"{_OK}","count":{len(indices)},"responseCode":"SUCCESS","lastSeenAssetId":{last_seen},'
    if not omit_has_more:
        head += f'"hasMore":{1 if has_more else 0},'
    head += '"assetListData":{"asset":['
    chunks = [head.encode()]
    # What the latency model charges for: the page's software rows and its other detail rows (open ports,
    # volumes, network interfaces), counted in the lists the page carries (as generated: an override's
    # values do not change the counts).
    software_rows = detail_rows = 0
    with_software = "softwareListData" in fields
    detail_lists = [key in fields for key in ("openPortListData", "volumeListData", "networkInterfaceListData")]
    for n, index in enumerate(indices):
        detail = estate.detail(index)
        doc = render_asset(detail, fields)
        chunks.append((doc if n == 0 else "," + doc).encode())
        if with_software:
            software_rows += len(detail.software)
        sizes = (len(detail.ports), len(detail.volumes), len(detail.interfaces))
        detail_rows += sum(size for listed, size in zip(detail_lists, sizes, strict=True) if listed)
    chunks.append(b"]}}")
    return Reply(
        200,
        chunks,
        "application/json",
        data_offset=len(chunks[0]),
        utf8_marker=b'"assetName":"' if "assetName" in fields else b'"lastModifiedDate":"',
        cost={"assets": len(indices), "software_rows": software_rows, "detail_rows": detail_rows},
    )


def _injected_failure(sub: Subscription, req: Request) -> Reply | None:
    if sub.faults.take_counter("csam_failed"):
        return json_reply(200, {"responseMessage": text("csam.failed"), "count": 0, "responseCode": "FAILED"})
    if sub.faults.take_counter("csam_no_response_code"):
        return json_reply(
            sub.faults.csam_no_response_code_status,
            {
                "timestamp": iso_ms(sub.estate.now_ms()),
                "status": 500,
                "error": "Internal Server Error",
                "message": text("csam.no_response_code"),
                "path": req.path,
            },
        )
    return None


def search(sub: Subscription, req: Request, v1: bool = False) -> Reply:
    """``POST /rest/2.0/search/am/asset`` and ``/am/v1/assets/host/(filter/)list``."""
    try:
        size = _page_size(sub, req)
        query = Query(sub, req, v1)
        fields = _fields(req)
    except (BadRequest, FilterError) as exc:
        return error_400(str(exc))
    failure = _injected_failure(sub, req)
    if failure is not None:
        return failure
    indices, has_more = query.page(size)
    if not indices:
        return Reply(204, [], None)
    return _asset_page(sub, indices, has_more, fields)


def count(sub: Subscription, req: Request, v1: bool = False) -> Reply:
    """``POST /rest/2.0/count/am/asset`` and ``/am/v1/assets/host/count``."""
    try:
        query = Query(sub, req, v1)
    except (BadRequest, FilterError) as exc:
        return error_400(str(exc))
    return json_reply(200, {"responseMessage": _OK, "count": query.count(), "responseCode": "SUCCESS"})


def get(sub: Subscription, req: Request) -> Reply:
    """``GET /rest/2.0/get/am/asset?assetId=`` (``assetID`` accepted) and ``/am/v1/asset/host/id``."""
    body_id = None
    if req.body.strip().startswith(b"{"):
        try:
            document = json.loads(req.body)
            body_id = document.get("assetId") if isinstance(document, dict) else None
        except ValueError:
            body_id = None
    try:
        asset_id = _int_param(req, "assetId", "assetID", "id")
        if asset_id is None and body_id is not None:
            asset_id = int(str(body_id))
        fields = _fields(req)
    except (BadRequest, ValueError) as exc:
        return error_400(str(exc))
    if asset_id is None:
        return error_400(text("csam.bad_param", name="assetId", value=""))
    index = sub.estate.index_of(asset_id)
    if index is None:
        return Reply(204, [], None)
    return _asset_page(sub, [index], False, fields, searching=False)
