"""QPS Asset Management & Tagging endpoints (``/qps/rest/...``, section 3 and 6.3).

Errors are HTTP 200 ``ServiceResponse`` documents with a non-SUCCESS ``responseCode`` (except the
``no_api`` account state: HTTP 403).  Zero matches give only ``responseCode`` + ``count 0``; a single
record is not wrapped in a list in JSON; no rate-limit headers are sent.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from xml.sax.saxutils import escape

from simulators.qualys.accounts import Account
from simulators.qualys.profiles import FIRST_HOST_ID, Profile
from simulators.qualys.qps_criteria import (
    CriteriaError,
    FieldSpec,
    compile_criteria,
    make_predicate,
    parse_service_request,
)
from simulators.qualys.qps_objects import Node, generic_asset, host_asset, render_xml, tag_object, to_json
from simulators.qualys.replies import Reply, Request
from simulators.qualys.subscription import Subscription
from simulators.qualys.tags import TAG_BY_ID, TAGS
from simulators.qualys.unverified import text

_TRACKING = ("NONE", "IP", "DNSNAME", "NETBIOS", "INSTANCE_ID", "QAGENT")
_VERSION_PATH = "/qps/rest/portal/version"
_OBJECT_PATH = re.compile(r"^/qps/rest/2\.0/(search|count|get)/am/(hostasset|asset|tag)(?:/(\d+))?/?$")


def _seconds(ms: int | None) -> int | None:
    """QPS shows and compares dates at second precision."""
    return None if ms is None else ms // 1000 * 1000


def _version_tuple(raw: str | None) -> tuple[int, ...] | None:
    return tuple(int(p) for p in raw.split(".")) if raw else None


def hostasset_fields(sub: Subscription) -> dict[str, FieldSpec]:
    """Searchable HostAsset fields."""
    e = sub.estate

    def prof(i: int) -> Profile:
        return e.profile(i)

    return {
        "id": FieldSpec("long", lambda i: e.ids[i]),
        "qwebHostId": FieldSpec("long", lambda i: prof(i).host_id),
        "name": FieldSpec("text", lambda i: prof(i).asset_name),
        "created": FieldSpec("date", lambda i: e.created[i]),
        "updated": FieldSpec("date", lambda i: _seconds(e.modified[i])),
        "tagName": FieldSpec("text", lambda i: [TAG_BY_ID[t].name for t in prof(i).tag_ids]),
        "tagId": FieldSpec("long", lambda i: list(prof(i).tag_ids)),
        "trackingMethod": FieldSpec("keyword", lambda i: prof(i).tracking, _TRACKING),
        "address": FieldSpec("text", lambda i: prof(i).address),
        "dnsHostName": FieldSpec("text", lambda i: prof(i).dns_name),
        "netbiosName": FieldSpec("text", lambda i: prof(i).netbios_name),
        "os": FieldSpec("text", lambda i: prof(i).os.qps_os),
        "type": FieldSpec("text", lambda i: "HOST"),
        "lastVulnScan": FieldSpec("date", lambda i: prof(i).last_vuln_scan_ms),
        "lastComplianceScan": FieldSpec("date", lambda i: prof(i).last_compliance_ms),
        "vulnsUpdated": FieldSpec("date", lambda i: prof(i).last_vuln_scan_ms),
        "informationGatheredUpdated": FieldSpec("date", lambda i: _seconds(e.modified[i])),
        "lastCheckedIn": FieldSpec("date", lambda i: _seconds(e.detail(i).agent_checked_in_ms)),
        "agentVersion": FieldSpec("version", lambda i: _version_tuple(prof(i).agent_version)),
        "port": FieldSpec("long", lambda i: [p.port for p in e.detail(i).ports]),
    }


def asset_fields(sub: Subscription) -> dict[str, FieldSpec]:
    """Searchable generic Asset fields."""
    e = sub.estate
    return {
        "id": FieldSpec("long", lambda i: e.ids[i]),
        "name": FieldSpec("text", lambda i: e.profile(i).asset_name),
        "created": FieldSpec("date", lambda i: e.created[i]),
        "updated": FieldSpec("date", lambda i: _seconds(e.modified[i])),
        "tagName": FieldSpec("text", lambda i: [TAG_BY_ID[t].name for t in e.profile(i).tag_ids]),
        "tagId": FieldSpec("long", lambda i: list(e.profile(i).tag_ids)),
        "type": FieldSpec("text", lambda i: "HOST"),
    }


TAG_FIELDS: dict[str, FieldSpec] = {
    "id": FieldSpec("long", lambda i: TAGS[i].id),
    "name": FieldSpec("text", lambda i: TAGS[i].name),
    "parent": FieldSpec("long", lambda i: TAGS[i].parent_id),
    "ruleType": FieldSpec("text", lambda i: TAGS[i].rule_type),
    "provider": FieldSpec("text", lambda i: TAGS[i].provider),
    "color": FieldSpec("text", lambda i: TAGS[i].color),
}


# ----------------------------------------------------------------------------- envelopes
class Envelope:
    """Renders ServiceResponse documents in XML or JSON."""

    def __init__(self, sub: Subscription, req: Request, schema: str) -> None:
        self.json = "application/json" in (req.header("Accept") or "").lower()
        self.schema = f"{sub.api_url}/qps/xsd/2.0/am/{schema}.xsd"

    def _xml_head(self) -> str:
        return (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            '<ServiceResponse xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
            f'xsi:noNamespaceSchemaLocation="{self.schema}">\n'
        )

    def error(self, code: str, message: str, resolution: str, status: int = 200) -> Reply:
        """A non-SUCCESS response with responseErrorDetails."""
        if self.json:
            body = json.dumps(
                {
                    "ServiceResponse": {
                        "responseCode": code,
                        "responseErrorDetails": {"errorMessage": message, "errorResolution": resolution},
                    }
                },
                separators=(",", ":"),
            )
            return Reply(status, [body.encode()], "application/json")
        body = (
            self._xml_head() + f"  <responseCode>{code}</responseCode>\n  <responseErrorDetails>\n"
            f"    <errorMessage>{escape(message)}</errorMessage>\n"
            f"    <errorResolution>{escape(resolution)}</errorResolution>\n"
            "  </responseErrorDetails>\n</ServiceResponse>\n"
        )
        return Reply(status, [body.encode()], "application/xml")

    def count_only(self, count: int) -> Reply:
        """``responseCode`` + ``count`` only (zero matches, count endpoints)."""
        if self.json:
            body = json.dumps({"ServiceResponse": {"responseCode": "SUCCESS", "count": count}}, separators=(",", ":"))
            return Reply(200, [body.encode()], "application/json")
        body = (
            self._xml_head() + f"  <responseCode>SUCCESS</responseCode>\n  <count>{count}</count>\n</ServiceResponse>\n"
        )
        return Reply(200, [body.encode()], "application/xml")

    def records(self, kind: str, objects: list[list[Node]], paging: tuple[bool, int] | None) -> Reply:
        """SUCCESS with ``data``; ``paging`` = (hasMoreRecords, lastId) for search responses."""
        if not objects:
            return self.count_only(0)
        chunks: list[bytes] = []
        if self.json:
            head = f'{{"ServiceResponse":{{"responseCode":"SUCCESS","count":{len(objects)},'
            if paging is not None:
                head += f'"hasMoreRecords":"{"true" if paging[0] else "false"}","lastId":{paging[1]},'
            head += '"data":'
            chunks.append(head.encode())
            items = [json.dumps({kind: to_json(obj)}, separators=(",", ":")) for obj in objects]
            data = items[0] if len(items) == 1 else "[" + ",".join(items) + "]"
            chunks.append(data.encode())
            chunks.append(b"}}")
            return Reply(200, chunks, "application/json", data_offset=len(chunks[0]), utf8_marker=b'"name":"')
        head = self._xml_head() + f"  <responseCode>SUCCESS</responseCode>\n  <count>{len(objects)}</count>\n"
        if paging is not None:
            head += (
                f"  <hasMoreRecords>{'true' if paging[0] else 'false'}</hasMoreRecords>\n"
                f"  <lastId>{paging[1]}</lastId>\n"
            )
        head += "  <data>\n"
        chunks.append(head.encode())
        for obj in objects:
            out: list[str] = []
            render_xml(kind, obj, out, "    ")
            chunks.append("".join(out).encode())
        chunks.append(b"  </data>\n</ServiceResponse>\n")
        return Reply(200, chunks, "application/xml", data_offset=len(chunks[0]), utf8_marker=b"<name>")


# ----------------------------------------------------------------------------- handlers
def _search(
    env: Envelope,
    req: Request,
    fields: dict[str, FieldSpec],
    size: int,
    id_of: Callable[[int], int],
    first_from_id: Callable[[int], int],
    render: Callable[[int], list[Node]],
    kind: str,
    count_only: bool,
    hint: Callable[[list[tuple[str, str, str]]], list[int] | None] | None = None,
) -> Reply:
    try:
        request = parse_service_request(req.body, req.header("Content-Type") or "")
        criteria = compile_criteria(request.criteria, fields)
    except CriteriaError as exc:
        return env.error("INVALID_REQUEST", exc.message, exc.resolution)
    predicate = make_predicate(criteria, fields)
    start = first_from_id(request.start_from_id) if request.start_from_id is not None else 0
    candidates: list[int] | range = range(start, size)
    narrowed = hint(request.criteria) if hint else None
    if narrowed is not None:
        candidates = [i for i in sorted(set(narrowed)) if start <= i < size]
    if count_only:
        return env.count_only(sum(1 for i in candidates if predicate(i)))
    skip = (request.start_from_offset or 1) - 1
    page: list[int] = []
    has_more = False
    for record in candidates:
        if not predicate(record):
            continue
        if skip:
            skip -= 1
            continue
        if len(page) == request.limit:
            has_more = True
            break
        page.append(record)
    if not page:
        return env.count_only(0)
    return env.records(kind, [render(i) for i in page], (has_more, id_of(page[-1])))


def _hostasset_hint(sub: Subscription) -> Callable[[list[tuple[str, str, str]]], list[int] | None]:
    """Narrow candidates for ``id``/``qwebHostId`` EQUALS/IN criteria (J1 style chunked lookups)."""

    def hint(criteria: list[tuple[str, str, str]]) -> list[int] | None:
        for name, operator, value in criteria:
            op = " ".join(operator.upper().split())
            if op not in ("EQUALS", "IN") or name not in ("id", "qwebHostId"):
                continue
            indices = []
            for part in value.split(","):
                part = part.strip()
                if not part.isdigit():
                    return None
                number = int(part)
                if name == "id":
                    index = sub.estate.index_of(number)
                    if index is not None:
                        indices.append(index)
                else:
                    index = (number - FIRST_HOST_ID) // 3
                    if 0 <= index < sub.estate.size:
                        indices.append(index)
            return indices
        return None

    return hint


def _fields_filter(req: Request, nodes: list[Node]) -> list[Node]:
    raw = req.param("fields")
    if not raw:
        return nodes
    wanted = {f.strip() for f in raw.split(",") if f.strip()} | {"id"}
    return [(k, v) for k, v in nodes if k in wanted]


def _auth(
    sub: Subscription, req: Request, env: Envelope, asset_management: bool
) -> tuple[Reply | None, Account | None]:
    account = sub.accounts.check_basic(req.header("Authorization"))
    if account is None:
        return env.error(
            "INVALID_CREDENTIALS", "Authentication failed", "Verify both, user and password credentials."
        ), None
    if account.state == "expired":
        return env.error("UNAUTHORIZED", text("qps.expired"), "Contact your account manager."), account
    if account.state == "no_api":
        return env.error("UNAUTHORIZED", text("qps.no_api"), "Contact your account manager.", status=403), account
    if account.state == "no_asset_inventory" and asset_management:
        return env.error(
            "UNAUTHORIZED",
            text("qps.no_asset_inventory"),
            "Ask your Manager to grant the Asset Management permission.",
        ), account
    return None, account


def handle(sub: Subscription, req: Request) -> tuple[Reply, Account | None]:
    """Route a ``/qps/...`` request."""
    estate = sub.estate
    if req.path.rstrip("/") == _VERSION_PATH:
        env = Envelope(sub, req, "portal/version")
        env.schema = f"{sub.api_url}/qps/xsd/portal/version.xsd"
        failure, account = _auth(sub, req, env, asset_management=False)
        if failure is not None:
            return failure, account
        version: list[Node] = [("PortalApplication-VERSION", "3.24.1.0-1"), ("QWeb-VERSION", "10.31.1.0-1")]
        reply = env.records("Portal-Version", [version], None)
        reply.data_offset = None
        return reply, account
    match = _OBJECT_PATH.match(req.path)
    if match is None:
        env = Envelope(sub, req, "hostasset")
        return env.error(
            "INVALID_URL", text("qps.unknown_endpoint", path=req.path), "Check the API path.", status=404
        ), None
    operation, obj, object_id = match.groups()
    env = Envelope(sub, req, obj)
    failure, account = _auth(sub, req, env, asset_management=obj in ("hostasset", "asset"))
    if failure is not None:
        return failure, account
    if (operation == "get" and object_id is None) or (operation != "get" and object_id is not None):
        return env.error("INVALID_REQUEST", text("qps.unknown_endpoint", path=req.path), "Check the API path."), account
    if obj == "tag":
        tag_ids = [t.id for t in TAGS]

        def tag_from_id(tag_id: int) -> int:
            return next((n for n, t in enumerate(TAGS) if t.id >= tag_id), len(TAGS))

        if operation == "get":
            tag = TAG_BY_ID.get(int(str(object_id)))
            if tag is None:
                return env.error(
                    "NOT_FOUND", text("qps.not_found", object="Tag", id=object_id), "Specify an existing id."
                ), account
            return env.records("Tag", [tag_object(tag)], None), account
        return _search(
            env,
            req,
            TAG_FIELDS,
            len(TAGS),
            lambda i: tag_ids[i],
            tag_from_id,
            lambda i: tag_object(TAGS[i]),
            "Tag",
            operation == "count",
        ), account
    if operation == "get":
        index = estate.index_of(int(str(object_id)))
        if index is None:
            label = "HostAsset" if obj == "hostasset" else "Asset"
            return env.error(
                "NOT_FOUND", text("qps.not_found", object=label, id=object_id), "Specify an existing id."
            ), account
        if obj == "hostasset":
            return env.records("HostAsset", [_fields_filter(req, host_asset(estate.detail(index)))], None), account
        return env.records("Asset", [generic_asset(estate.profile(index), estate.modified[index])], None), account
    if obj == "hostasset":
        return _search(
            env,
            req,
            hostasset_fields(sub),
            estate.size,
            lambda i: estate.ids[i],
            estate.first_index_from,
            lambda i: _fields_filter(req, host_asset(estate.detail(i))),
            "HostAsset",
            operation == "count",
            _hostasset_hint(sub),
        ), account
    return _search(
        env,
        req,
        asset_fields(sub),
        estate.size,
        lambda i: estate.ids[i],
        estate.first_index_from,
        lambda i: generic_asset(estate.profile(i), estate.modified[i]),
        "Asset",
        operation == "count",
        _hostasset_hint(sub),
    ), account
