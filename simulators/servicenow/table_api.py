"""Table API (reference section 1): ``/api/now/[v1|v2/]table/{table}[/{sys_id}]``.

GET list (200, ``X-Total-Count``, ``Link``; v1 answers 404 for an empty result, v2 ``{"result": []}``),
GET one (200/404), POST (201 + ``Location``), PUT/PATCH (200, partial update), DELETE (204).  Class
inheritance: a table shows its subclasses' rows with the table's own fields.  Unknown fields are
ignored everywhere (queries, ``sysparm_fields``, bodies).  ``sys_*`` fields are not writable.  A query
the simulator cannot evaluate (an operator it does not implement, a ``javascript:`` value, ...) matches
no row and is counted in the control API's stats (``unsupported_queries``): it fails closed.

Access: reading needs one of :data:`READ_ROLES` (otherwise lists come back empty while
``X-Total-Count`` still counts the rows, as the limit is applied before ACLs, and single records are
404); writing needs one of :data:`WRITE_ROLES` (otherwise 403 ACL exceptions).
"""

from __future__ import annotations

import json
import re
from urllib.parse import urlencode

from simulators.servicenow import classes
from simulators.servicenow.auth import User
from simulators.servicenow.encoded_query import Condition, EncodedQuery, parse
from simulators.servicenow.instance import Instance
from simulators.servicenow.query_sql import QueryContext
from simulators.servicenow.render import Renderer, RenderOptions
from simulators.servicenow.replies import Reply, Request, error_reply, json_reply
from simulators.servicenow.store import Row
from simulators.servicenow.unverified import text

PATH = re.compile(r"^/api/now/(?:(?P<version>v[12])/)?table/(?P<table>[^/]+)(?:/(?P<sys_id>[^/]+))?/?$")
READ_ROLES = ("itil", "asset", "cmdb_read", "import_transformer")
WRITE_ROLES = ("itil", "asset")
DEFAULT_LIMIT = 10_000

NOT_FOUND = ("No Record found", "Record doesn't exist or ACL restricts the record retrieval")


def not_found() -> Reply:
    """The 404 envelope."""
    return error_reply(404, *NOT_FOUND)


def invalid_table(table: str) -> Reply:
    """The 400 envelope for an unknown table."""
    return error_reply(400, f"Invalid table {table}", f"Table {table} does not exist")


def render_options(req: Request) -> RenderOptions:
    """Rendering parameters of a request."""
    display = (req.param("sysparm_display_value") or "false").strip().lower()
    if display not in ("true", "false", "all"):
        display = "false"
    raw_fields = req.param("sysparm_fields")
    fields = [f.strip() for f in raw_fields.split(",") if f.strip()] if raw_fields else None
    return RenderOptions(req.base_url, display, req.flag("sysparm_exclude_reference_link"), fields)


def _int_param(req: Request, name: str, default: int) -> int | Reply:
    raw = req.param(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        value = -1
    if value < 0:
        return error_reply(400, text("bad_param", name=name), text("bad_param.detail", name=name))
    return value


def _query(req: Request, table: str) -> EncodedQuery:
    raw = req.param("sysparm_query")
    if raw is not None:
        return parse(raw)
    query = EncodedQuery()
    fields = classes.all_fields(table)
    terms = [[Condition(k, "=", v[0])] for k, v in req.query.items() if k in fields and v]
    if terms:
        query.groups.append(terms)
    return query


def _links(req: Request, offset: int, limit: int, total: int) -> str:
    params = [(k, v) for k, values in req.query.items() if k not in ("sysparm_offset", "sysparm_limit") for v in values]

    def url(new_offset: int) -> str:
        query = urlencode([*params, ("sysparm_limit", str(limit)), ("sysparm_offset", str(new_offset))])
        return f"<{req.base_url}{req.path}?{query}>"

    links = [f'{url(0)};rel="first"']
    if offset > 0:
        links.append(f'{url(max(0, offset - limit))};rel="prev"')
    if limit > 0 and offset + limit < total:
        links.append(f'{url(offset + limit)};rel="next"')
    last = ((total - 1) // limit) * limit if total > 0 and limit > 0 else 0
    links.append(f'{url(last)};rel="last"')
    return ",".join(links)


def _body(req: Request) -> dict[str, object] | Reply:
    try:
        document = json.loads(req.body.decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        return error_reply(400, text("bad_json"), text("bad_json.detail"))
    if isinstance(document, list):  # one record per call: extra records are ignored
        document = document[0] if document else {}
    if not isinstance(document, dict):
        return error_reply(400, text("bad_json"), text("bad_json.detail"))
    return document


def _input_display(inst: Instance, table: str, values: dict[str, object]) -> dict[str, object]:
    """``sysparm_input_display_value=true``: references by display value, choices by label."""
    fields = classes.all_fields(table)
    out = dict(values)
    for name, value in values.items():
        f = fields.get(name)
        if f is None or not isinstance(value, str) or not value:
            continue
        if f.type == "reference" and f.reference:
            display = classes.TABLES[classes.root(f.reference)].display_field
            rows = inst.store.find(f.reference, {display: value})
            if rows:
                out[name] = rows[0]["sys_id"]
        elif f.type == "choice":
            for choice_value, label in classes.CHOICES.get(f.choice or "", ()):
                if label == value:
                    out[name] = choice_value
    return out


def _record_reply(
    inst: Instance, req: Request, table: str, row: Row, status: int, headers: list[tuple[str, str]]
) -> Reply:
    if (req.header("X-no-response-body") or "").lower() == "true":
        return Reply(status, b"", None, headers, cost={"rows": 0})
    renderer = Renderer(inst.store, table, render_options(req))
    renderer.prefetch([row])
    reply = json_reply(status, {"result": renderer.render(row)}, headers)
    reply.cost = {"rows": 1}
    return reply


def handle(inst: Instance, req: Request, user: User) -> Reply:
    """Dispatch a Table API request."""
    match = PATH.match(req.path)
    assert match is not None
    table, sys_id, version = match.group("table"), match.group("sys_id"), match.group("version")
    if not classes.exists(table):
        return invalid_table(table)
    store = inst.store
    can_read = user.has_role(*READ_ROLES)
    method = req.method
    if method in ("GET", "HEAD") and sys_id is None:
        limit = _int_param(req, "sysparm_limit", DEFAULT_LIMIT)
        offset = _int_param(req, "sysparm_offset", 0)
        if isinstance(limit, Reply):
            return limit
        if isinstance(offset, Reply):
            return offset
        no_count = req.flag("sysparm_no_count")
        with store.lock:
            rows, total, unsupported = store.select(
                table,
                _query(req, table),
                limit,
                offset,
                count=True,
                no_rows_on_invalid=bool(inst.properties.get("glide.invalid_query.returns_no_rows")),
                context=QueryContext(user_sys_id=user.sys_id),
            )
            if unsupported:
                inst.stats.record_unsupported_query(table, unsupported)
            if not can_read:
                rows = []
            renderer = Renderer(store, table, render_options(req))
            renderer.prefetch(rows)
            result = [renderer.render(r) for r in rows]
        headers: list[tuple[str, str]] = []
        if not no_count:
            headers.append(("X-Total-Count", str(total)))
        if not req.flag("sysparm_suppress_pagination_header"):
            headers.append(("Link", _links(req, offset, limit, total)))
        if version == "v1" and not result:
            return error_reply(404, *NOT_FOUND, headers=headers)
        reply = json_reply(200, {"result": result}, headers)
        reply.cost = {"rows": len(result)}
        return reply
    if method in ("GET", "HEAD"):
        assert sys_id is not None
        with store.lock:
            row = store.get(table, sys_id)
            if row is None or not can_read:
                return not_found()
            return _record_reply(inst, req, table, row, 200, [])
    if method == "POST" and sys_id is None:
        body = _body(req)
        if isinstance(body, Reply):
            return body
        if not user.has_role(*WRITE_ROLES):
            return error_reply(403, "ACL Exception Insert Failed due to security constraints", None)
        values = store.writable(table, body)
        if req.flag("sysparm_input_display_value"):
            values = _input_display(inst, table, values)
        with store.lock, store.transaction():
            new_id = store.insert(table, values, user.username)
            row = store.get(table, new_id)
        assert row is not None
        location = f"{req.base_url}/api/now/table/{table}/{new_id}"
        return _record_reply(inst, req, table, row, 201, [("Location", location)])
    if method in ("PUT", "PATCH") and sys_id is not None:
        body = _body(req)
        if isinstance(body, Reply):
            return body
        with store.lock:
            row = store.get(table, sys_id)
            if row is None:
                return not_found()
            if not user.has_role(*WRITE_ROLES):
                return error_reply(403, text("acl_update"), None)
            values = store.writable(row["sys_class_name"] or table, body)
            if req.flag("sysparm_input_display_value"):
                values = _input_display(inst, row["sys_class_name"] or table, values)
            with store.transaction():
                store.update(table, sys_id, values, user.username)
            updated = store.get(table, sys_id)
            assert updated is not None
            return _record_reply(inst, req, table, updated, 200, [])
    if method == "DELETE" and sys_id is not None:
        with store.lock:
            if store.get(table, sys_id) is None:
                return not_found()
            if not user.has_role(*WRITE_ROLES):
                return error_reply(403, text("acl_delete"), None)
            with store.transaction():
                store.delete(table, sys_id)
        return Reply(204, b"", None)
    return error_reply(405, text("method_not_allowed"), text("method_not_allowed.detail", method=method))
