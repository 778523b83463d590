"""FO (VM/PC API v2) endpoints: ``/api/2.0/fo/...`` with XML (DTD-style) output.

Implemented: ``/api/2.0/fo/asset/ip/?action=list``.  Other actions/endpoints are registered in
``ACTIONS`` and answer a 400 SIMPLE_RETURN until implemented (``asset/ip`` add/update and
``asset/group`` list/edit are the next ones; add a handler to ``ACTIONS``).

Request pipeline: X-Requested-With check (400) -> Basic auth (401 CODE 2000) -> account state
(200 CODE 2001 / 403 CODE 2002) -> per-endpoint concurrency + rate limit (409 CODE 1960/1965) ->
action.  ``X-RateLimit-*`` and ``X-Concurrency-Limit-*`` headers are on every FO response.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from xml.sax.saxutils import escape

from simulators.qualys.accounts import Account
from simulators.qualys.ratelimit import Decision
from simulators.qualys.replies import Reply, Request
from simulators.qualys.subscription import Subscription
from simulators.qualys.timefmt import iso_s
from simulators.qualys.unverified import text

ActionHandler = Callable[[Subscription, dict[str, list[str]]], Reply]

_FO_TRACKING = {"IP": "IP", "DNS": "DNSNAME", "NETBIOS": "NETBIOS", "EC2": "INSTANCE_ID", "AGENT": "QAGENT"}


class FoError(Exception):
    """An FO failure answered with a SIMPLE_RETURN."""

    def __init__(self, status: int, code: int | None, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def simple_return(
    sub: Subscription, status: int, code: int | None, message: str, items: list[tuple[str, str]] | None = None
) -> Reply:
    """A ``SIMPLE_RETURN`` document."""
    lines = [
        '<?xml version="1.0" encoding="UTF-8" ?>\n',
        f'<!DOCTYPE SIMPLE_RETURN SYSTEM "{sub.api_url}/api/2.0/simple_return.dtd">\n',
        "<SIMPLE_RETURN>\n  <RESPONSE>\n",
        f"    <DATETIME>{iso_s(sub.estate.now_ms())}</DATETIME>\n",
    ]
    if code is not None:
        lines.append(f"    <CODE>{code}</CODE>\n")
    lines.append(f"    <TEXT>{escape(message)}</TEXT>\n")
    if items:
        lines.append("    <ITEM_LIST>\n")
        for key, value in items:
            lines.append(
                f"      <ITEM>\n        <KEY>{escape(key)}</KEY>\n        <VALUE>{escape(value)}</VALUE>\n"
                "      </ITEM>\n"
            )
        lines.append("    </ITEM_LIST>\n")
    lines.append("  </RESPONSE>\n</SIMPLE_RETURN>\n")
    return Reply(status, ["".join(lines).encode()], "text/xml;charset=UTF-8")


def _duration(seconds: int) -> str:
    hours, rest = divmod(max(0, seconds), 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours} hours, {minutes} minutes and {secs} seconds"


# ----------------------------------------------------------------------------- asset/ip
def _parse_ips(raw: str) -> list[tuple[int, int]]:
    ranges = []
    for part in raw.split(","):
        part = part.strip()
        if not part:
            continue
        try:
            if "-" in part:
                low, high = (int(ipaddress.IPv4Address(p.strip())) for p in part.split("-", 1))
            elif "/" in part:
                net = ipaddress.IPv4Network(part, strict=False)
                low, high = int(net.network_address), int(net.broadcast_address)
            else:
                low = high = int(ipaddress.IPv4Address(part))
        except ValueError:
            raise FoError(400, 1905, text("fo.bad_ips", value=part)) from None
        if low > high:
            raise FoError(400, 1905, text("fo.bad_ips", value=part))
        ranges.append((low, high))
    return ranges


def _compress(ips: list[int]) -> list[str]:
    out: list[str] = []
    run_start = prev = None
    for ip in ips:
        if prev is not None and ip == prev + 1:
            prev = ip
            continue
        if run_start is not None and prev is not None:
            out.append(_fmt_run(run_start, prev))
        run_start = prev = ip
    if run_start is not None and prev is not None:
        out.append(_fmt_run(run_start, prev))
    return out


def _fmt_run(low: int, high: int) -> str:
    if low == high:
        return f"<IP>{ipaddress.IPv4Address(low)}</IP>"
    return f"<IP_RANGE>{ipaddress.IPv4Address(low)}-{ipaddress.IPv4Address(high)}</IP_RANGE>"


def ip_list(sub: Subscription, params: dict[str, list[str]]) -> Reply:
    """``action=list``: the subscription's IPs (optionally within ``ips``) as IP_LIST_OUTPUT."""
    allowed = {
        "action",
        "ips",
        "network_id",
        "tracking_method",
        "compliance_enabled",
        "certview_enabled",
        "echo_request",
    }
    unknown = sorted(set(params) - allowed)
    if unknown:
        raise FoError(400, 1901, text("fo.unrecognized", params=", ".join(unknown)))
    wanted = _parse_ips(",".join(params.get("ips", [])))
    tracking_raw = (params.get("tracking_method") or [""])[0].upper()
    if tracking_raw and tracking_raw not in _FO_TRACKING:
        raise FoError(400, 1905, text("fo.bad_tracking", value=tracking_raw))
    compliance = (params.get("compliance_enabled") or [""])[0]
    estate = sub.estate
    selected: list[int] = []
    needs_profile = bool(tracking_raw) or compliance in ("0", "1")
    by_address = {}
    if needs_profile:
        for index in range(estate.size):
            prof = estate.profile(index)
            if tracking_raw and prof.tracking != _FO_TRACKING[tracking_raw]:
                continue
            if compliance in ("0", "1") and (prof.last_compliance_ms is not None) != (compliance == "1"):
                continue
            by_address[prof.address] = True
    for value, address in estate.ip_list():
        if needs_profile and address not in by_address:
            continue
        if wanted and not any(low <= value <= high for low, high in wanted):
            continue
        selected.append(value)
    head = (
        '<?xml version="1.0" encoding="UTF-8" ?>\n'
        f'<!DOCTYPE IP_LIST_OUTPUT SYSTEM "{sub.api_url}/api/2.0/fo/asset/ip/ip_list_output.dtd">\n'
        f"<IP_LIST_OUTPUT>\n  <RESPONSE>\n    <DATETIME>{iso_s(estate.now_ms())}</DATETIME>\n"
    )
    body = ""
    if selected:
        body = "    <IP_SET>\n" + "".join(f"      {line}\n" for line in _compress(selected)) + "    </IP_SET>\n"
    tail = "  </RESPONSE>\n</IP_LIST_OUTPUT>\n"
    reply = Reply(200, [head.encode(), body.encode(), tail.encode()], "text/xml;charset=UTF-8")
    if selected:
        reply.data_offset = len(head.encode())
        reply.utf8_marker = b"<IP"
    return reply


def _not_implemented(action: str) -> ActionHandler:
    def handler(sub: Subscription, params: dict[str, list[str]]) -> Reply:
        raise FoError(400, 1905, text("fo.not_implemented", action=action))

    return handler


# endpoint path -> action -> handler
ACTIONS: dict[str, dict[str, ActionHandler]] = {
    "/api/2.0/fo/asset/ip/": {
        "list": ip_list,
        "add": _not_implemented("add"),
        "update": _not_implemented("update"),
    },
    "/api/2.0/fo/asset/group/": {
        "list": _not_implemented("list"),
        "edit": _not_implemented("edit"),
        "add": _not_implemented("add"),
        "delete": _not_implemented("delete"),
    },
}


def _with_headers(reply: Reply, sub: Subscription, decision: Decision) -> Reply:
    reply.headers.extend(sub.faults.fo_limiter.headers(decision))
    return reply


def handle(sub: Subscription, req: Request) -> tuple[Reply, Account | None]:
    """Route an ``/api/...`` request through the FO pipeline."""
    endpoint = req.path if req.path.endswith("/") else req.path + "/"
    limiter = sub.faults.fo_limiter
    peek = limiter.peek(endpoint)
    if endpoint not in ACTIONS:
        return _with_headers(simple_return(sub, 404, None, f"Unknown API path {req.path}"), sub, peek), None
    if not req.header("X-Requested-With"):
        return _with_headers(simple_return(sub, 400, 1903, text("fo.missing_x_requested_with")), sub, peek), None
    account = sub.accounts.check_basic(req.header("Authorization"))
    if account is None:
        return _with_headers(simple_return(sub, 401, 2000, text("fo.bad_login")), sub, peek), None
    if account.state == "expired":
        return _with_headers(simple_return(sub, 200, 2001, "This account has expired."), sub, peek), account
    if account.state == "no_api":
        return _with_headers(simple_return(sub, 403, 2002, text("fo.no_api")), sub, peek), account
    decision = limiter.acquire(endpoint)
    if not decision.allowed:
        if decision.reason == "concurrency":
            message = text("fo.concurrency", running=decision.running)
            reply = simple_return(sub, 409, 1960, message, [("SECONDS_TO_WAIT", str(decision.to_wait_sec))])
        else:
            message = f"This API cannot be run again for another {_duration(decision.to_wait_sec)}."
            reply = simple_return(sub, 409, 1965, message, [("SECONDS_TO_WAIT", str(decision.to_wait_sec))])
        return _with_headers(reply, sub, decision), account
    params = req.form()
    action = (params.get("action") or [""])[0]
    try:
        if not action:
            raise FoError(400, 1903, text("fo.missing_action"))
        handler = ACTIONS[endpoint].get(action)
        if handler is None:
            raise FoError(400, 1905, text("fo.unknown_action", action=action))
        reply = handler(sub, params)
    except FoError as exc:
        reply = simple_return(sub, exc.status, exc.code, exc.message)
    except Exception:
        limiter.release(endpoint)
        raise
    reply.finalizers.append(lambda: limiter.release(endpoint))
    return _with_headers(reply, sub, decision), account
