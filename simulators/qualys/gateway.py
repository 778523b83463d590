"""Gateway host: ``POST /auth`` (JWT) and the Bearer-protected CSAM/GAV routes.

* ``POST /auth`` (form ``username``, ``password``, ``token=true``) answers **201** with the raw JWT text.
* Missing/invalid/expired Bearer: 401 ``{"status":401,"error":"Unauthorized","message":...}``.
* Account state ``no_asset_inventory``: 403 JSON on the asset endpoints.
* Optional rolling-window limit on the search endpoints: 429 with ``X-RateLimit-*`` headers; with a latency
  profile also a concurrency gate there (429 as well, the concurrency error winning as on FO).
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import parse_qs

from simulators.qualys import csam
from simulators.qualys.accounts import Account
from simulators.qualys.replies import Reply, Request, json_reply, text_reply
from simulators.qualys.subscription import Subscription
from simulators.qualys.unverified import text


def unauthorized(message: str) -> Reply:
    """The documented 401 JSON body."""
    return json_reply(401, {"status": 401, "error": "Unauthorized", "message": message})


def forbidden(message: str) -> Reply:
    """A 403 JSON body in the same shape."""
    return json_reply(403, {"status": 403, "error": "Forbidden", "message": message})


def authenticate(sub: Subscription, req: Request) -> tuple[Reply, Account | None]:
    """``POST /auth``."""
    if req.method != "POST":
        return json_reply(405, {"status": 405, "error": "Method Not Allowed", "message": "Use POST"}), None
    try:
        form = parse_qs(req.body.decode("utf-8"), keep_blank_values=True)
    except UnicodeDecodeError:
        form = {}
    for key, values in req.query.items():
        form.setdefault(key, values)
    username = (form.get("username") or [""])[0]
    password = (form.get("password") or [""])[0]
    if not username or not password:
        return json_reply(400, {"status": 400, "error": "Bad Request", "message": text("auth.missing")}), None
    account = sub.accounts.check(username, password)
    if account is None:
        return unauthorized(text("auth.bad_credentials")), None
    if account.state == "expired":
        return unauthorized(text("auth.expired")), account
    if account.state == "no_api":
        return unauthorized(text("auth.no_api")), account
    return text_reply(201, sub.accounts.issue_token(account)), account


Handler = Callable[[Subscription, Request], Reply]

_ROUTES: dict[tuple[str, str], tuple[Handler, bool]] = {
    # (method, path) -> (handler, rate-limited search endpoint?)
    ("POST", "/rest/2.0/search/am/asset"): (lambda s, r: csam.search(s, r), True),
    ("POST", "/rest/2.0/count/am/asset"): (lambda s, r: csam.count(s, r), False),
    ("GET", "/rest/2.0/get/am/asset"): (csam.get, False),
    ("POST", "/rest/2.0/get/am/asset"): (csam.get, False),
    ("POST", "/am/v1/assets/host/list"): (lambda s, r: csam.search(s, r, v1=True), True),
    ("POST", "/am/v1/assets/host/filter/list"): (lambda s, r: csam.search(s, r, v1=True), True),
    ("POST", "/am/v1/assets/host/count"): (lambda s, r: csam.count(s, r, v1=True), False),
    ("POST", "/am/v1/asset/host/id"): (csam.get, False),
    ("GET", "/am/v1/asset/host/id"): (csam.get, False),
}


def handle(sub: Subscription, req: Request) -> tuple[Reply, Account | None]:
    """Route a gateway asset request (``/rest/...``, ``/am/...``)."""
    path = req.path.rstrip("/") or "/"
    route = _ROUTES.get((req.method, path))
    if route is None:
        known = any(p == path for _, p in _ROUTES)
        status = 405 if known else 404
        return json_reply(
            status,
            {
                "status": status,
                "error": "Not Found" if status == 404 else "Method Not Allowed",
                "message": f"No route for {req.method} {req.path}",
            },
        ), None
    account, failure = sub.accounts.check_bearer(req.header("Authorization"))
    if account is None:
        return unauthorized(failure), None
    if account.state == "expired":
        return unauthorized(text("auth.expired")), account
    if account.state == "no_api":
        return unauthorized(text("auth.no_api")), account
    if account.state == "no_asset_inventory":
        return forbidden(text("gateway.no_asset_inventory")), account
    handler, limited = route
    headers: list[tuple[str, str]] = []
    limiter = sub.gateway_limiter() if limited else None
    if limiter is not None:
        allowed, headers = limiter.check()
        if not allowed:
            wait = dict(headers).get("X-RateLimit-ToWait-Sec") or "60"
            reply = json_reply(
                429,
                {
                    "status": 429,
                    "error": "Too Many Requests",
                    "message": text("csam.rate_limited", seconds=wait),
                },
            )
            reply.headers.extend(headers)
            reply.refused = True
            return reply, account
    try:
        reply = handler(sub, req)
    except Exception:
        if limiter is not None:
            limiter.release()
        raise
    if limiter is not None:
        reply.finalizers.append(limiter.release)  # running until the reply is ready
    reply.headers.extend(headers)
    return reply, account
