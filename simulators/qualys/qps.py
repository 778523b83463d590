"""QPS Asset Management & Tagging endpoints (``/qps/rest/...``, section 3 and 6.3).

Errors are HTTP 200 ``ServiceResponse`` documents with a non-SUCCESS ``responseCode`` (except the
``no_api`` account state: HTTP 403).  Zero matches give only ``responseCode`` + ``count 0``.  ``data`` holds
one element per record in XML (a single record is one element, not wrapped) and is always a list of
``{"<Type>": {...}}`` objects in JSON, one record included (reference 3.3, JSON form); no rate-limit
headers are sent.

``search``/``count``/``get`` work on ``am/hostasset``, ``am/asset`` and ``am/tag``; ``create``,
``update/{id}`` and ``delete/{id}`` on ``am/tag`` only (POST only: another method gets HTTP 405 with an
INVALID_REQUEST ServiceResponse).  Tags live in the subscription's mutable :class:`TagCatalog`; an unknown
id gives NOT_FOUND at HTTP 200.
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
from simulators.qualys.qps_tags import child_tag_names, parse_tag_data, tag_changes
from simulators.qualys.replies import Reply, Request
from simulators.qualys.subscription import Subscription
from simulators.qualys.tags import TAG_BY_ID, Tag, TagCatalog
from simulators.qualys.timefmt import iso_s
from simulators.qualys.unverified import text

_TRACKING = ("NONE", "IP", "DNSNAME", "NETBIOS", "INSTANCE_ID", "QAGENT")
_VERSION_PATH = "/qps/rest/portal/version"
_OBJECT_PATH = re.compile(
    r"^/qps/rest/2\.0/(search|count|get|create|update|delete)/am/(hostasset|asset|tag)(?:/(\d+))?/?$"
)
_WRITES = ("create", "update", "delete")
_WITH_ID = ("get", "update", "delete")


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


def tag_fields(tags: list[Tag]) -> dict[str, FieldSpec]:
    """Searchable Tag fields over a snapshot of the catalog."""
    return {
        "id": FieldSpec("long", lambda i: tags[i].id),
        "name": FieldSpec("text", lambda i: tags[i].name),
        "parent": FieldSpec("long", lambda i: tags[i].parent_id),
        "ruleType": FieldSpec("text", lambda i: tags[i].rule_type),
        "provider": FieldSpec("text", lambda i: tags[i].provider),
        "color": FieldSpec("text", lambda i: tags[i].color),
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
        reply = self._records(kind, objects, paging)
        if kind == "HostAsset":  # the latency model charges a HostAsset page per host
            reply.cost = {"assets": len(objects)}
        return reply

    def _records(self, kind: str, objects: list[list[Node]], paging: tuple[bool, int] | None) -> Reply:
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
            chunks.append(("[" + ",".join(items) + "]").encode())  # a list, even of one record
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


def _tag_node(catalog: TagCatalog, tag: Tag) -> list[Node]:
    return tag_object(tag, catalog.children_of(tag.id))


def _tag_not_found(env: Envelope, object_id: str | None) -> Reply:
    return env.error("NOT_FOUND", text("qps.not_found", object="Tag", id=object_id), "Specify an existing id.")


def _tag_operation(sub: Subscription, req: Request, env: Envelope, operation: str, object_id: str | None) -> Reply:
    catalog = sub.tags
    if operation == "get":
        tag = catalog.get(int(str(object_id)))
        if tag is None:
            return _tag_not_found(env, object_id)
        return env.records("Tag", [_tag_node(catalog, tag)], None)
    if operation == "delete":
        deleted = catalog.delete(int(str(object_id)))
        if deleted is None:
            return _tag_not_found(env, object_id)
        return env.records("SimpleTag", [[("id", int(str(object_id)))]], None)
    if operation in ("create", "update"):
        existing = None
        if operation == "update":
            existing = catalog.get(int(str(object_id)))
            if existing is None:
                return _tag_not_found(env, object_id)
        try:
            data = parse_tag_data(req.body, req.header("Content-Type") or "")
            children = child_tag_names(data, existing)
            changes = tag_changes(catalog, data.fields, existing)
        except CriteriaError as exc:
            return env.error("INVALID_REQUEST", exc.message, exc.resolution)
        now = iso_s(sub.estate.now_ms())
        if existing is None:
            tag = catalog.create(changes, now)
            for name in children:  # the vendor's sample: children/set/TagSimple{name} creates child tags
                catalog.create({"name": name, "parent_id": tag.id}, now)
        else:
            updated = catalog.update(existing.id, changes, now)
            if updated is None:
                return _tag_not_found(env, object_id)
            tag = updated
        return env.records("Tag", [_tag_node(catalog, tag)], None)
    tags = catalog.all()
    tag_ids = [t.id for t in tags]

    def tag_from_id(tag_id: int) -> int:
        return next((n for n, t in enumerate(tags) if t.id >= tag_id), len(tags))

    return _search(
        env,
        req,
        tag_fields(tags),
        len(tags),
        lambda i: tag_ids[i],
        tag_from_id,
        lambda i: _tag_node(catalog, tags[i]),
        "Tag",
        operation == "count",
    )


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
    if operation in _WRITES and obj != "tag":
        env = Envelope(sub, req, "hostasset")
        return env.error(
            "INVALID_URL", text("qps.unknown_endpoint", path=req.path), "Check the API path.", status=404
        ), None
    env = Envelope(sub, req, obj)
    failure, account = _auth(sub, req, env, asset_management=obj in ("hostasset", "asset"))
    if failure is not None:
        return failure, account
    if operation in _WRITES and req.method != "POST":
        reply = env.error(
            "INVALID_REQUEST",
            text("qps.bad_method", method=req.method, path=req.path),
            text("qps.bad_method_resolution"),
            status=405,
        )
        reply.headers.append(("Allow", "POST"))
        return reply, account
    if (operation in _WITH_ID) != (object_id is not None):
        return env.error("INVALID_REQUEST", text("qps.unknown_endpoint", path=req.path), "Check the API path."), account
    if obj == "tag":
        return _tag_operation(sub, req, env, operation, object_id), account
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
