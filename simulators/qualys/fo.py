"""FO (VM/PC API v2) endpoints: ``/api/2.0/fo/...`` with XML (DTD-style) output.

Implemented (section 6.1/6.2 of the reference):

* ``/api/2.0/fo/asset/ip/``: ``action=list`` (GET/POST: estate addresses plus added IPs, filters ``ips``,
  ``tracking_method``, ``compliance_enabled``), ``action=add`` (POST: ``ips``, ``enable_vm``/``enable_pc``,
  ``tracking_method`` IP|DNS|NETBIOS, ``owner``, ``ud1..3``, ``comment``, ``ag_title``, ...; reserved
  addresses refused; at most 65,536 addresses per call) and ``action=update`` (POST: every IP must be in
  the subscription, else 1905 "IP(s) do not exist.").
* ``/api/2.0/fo/asset/group/``: ``action=list`` (GET/POST, ``truncation_limit`` paging with
  ``RESPONSE/WARNING/URL`` carrying the next ``id_min``), ``edit``, ``add`` and ``delete`` (POST) in
  :mod:`simulators.qualys.fo_groups`.  IPs put into a group must already be in the subscription.

Write actions sent with GET answer 400 CODE 1908; unknown parameters 1901, missing ones 1903, bad
values 1905.  State lives in :class:`simulators.qualys.vm.VmState` (``sub.vm``).

Request pipeline: X-Requested-With check (400) -> Basic auth (401 CODE 2000) -> account state
(200 CODE 2001 / 403 CODE 2002) -> per-endpoint concurrency + rate limit (409 CODE 1960/1965; each
endpoint path has its own window and in-flight counter, released when the response is ready) ->
action.  ``X-RateLimit-*`` and ``X-Concurrency-Limit-*`` headers are on every FO response.
"""

from __future__ import annotations

from collections.abc import Callable

from simulators.qualys import fo_groups, ipsets
from simulators.qualys.accounts import Account
from simulators.qualys.fo_common import FoCall, FoError, simple_return
from simulators.qualys.ratelimit import Decision, FoLimiter
from simulators.qualys.replies import Reply, Request
from simulators.qualys.subscription import Subscription
from simulators.qualys.timefmt import iso_s
from simulators.qualys.unverified import text
from simulators.qualys.vm import FO_TO_ASSET_TRACKING, MAX_IPS_PER_CALL, AddedIp

__all__ = ["ACTIONS", "FoCall", "FoError", "handle", "simple_return"]

ActionHandler = Callable[[FoCall], Reply]

# FO tracking_method filter of action=list -> asset tracking method
_FO_TRACKING = {"IP": "IP", "DNS": "DNSNAME", "NETBIOS": "NETBIOS", "EC2": "INSTANCE_ID", "AGENT": "QAGENT"}
_ATTRIBUTES = ("owner", "ud1", "ud2", "ud3", "comment")


def _duration(seconds: int) -> str:
    hours, rest = divmod(max(0, seconds), 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours} hours, {minutes} minutes and {secs} seconds"


def _tracking(call: FoCall, allowed: tuple[str, ...]) -> str | None:
    raw = call.value("tracking_method")
    if raw is None or not raw.strip():
        return None
    value = raw.strip().upper()
    if value not in allowed:
        raise FoError(400, 1905, text("fo.bad_tracking", value=raw))
    return value


# ----------------------------------------------------------------------------- asset/ip list
def ip_list(call: FoCall) -> Reply:
    """``action=list``: the subscription's IPs (optionally within ``ips``) as IP_LIST_OUTPUT."""
    call.check_params(
        ("ips", "network_id", "tracking_method", "compliance_enabled", "certview_enabled", "echo_request")
    )
    sub = call.sub
    wanted = call.ips("ips") or []
    tracking_raw = _tracking(call, tuple(_FO_TRACKING))
    compliance = call.flag("compliance_enabled")
    call.flag("certview_enabled")
    call.flag("echo_request")
    call.integer("network_id")
    estate = sub.estate
    vm = sub.vm
    with vm.lock:
        added = {ip: (rec.tracking, rec.enable_pc) for ip, rec in vm.added.items()}
        pc_enabled = vm.pc_enabled()
    estate_ips = estate.ip_list()
    attributes: dict[int, tuple[str, bool]] = {}
    needs_profile = tracking_raw is not None or compliance is not None
    if needs_profile:
        for value, _address in estate_ips:
            index = estate.index_of_address(value)
            if index is None:
                continue
            prof = estate.profile(index)
            attributes[value] = (prof.tracking, prof.last_compliance_ms is not None or value in pc_enabled)
        for ip, (tracking, pc) in added.items():
            attributes.setdefault(ip, (FO_TO_ASSET_TRACKING[tracking], pc))
    values = sorted({value for value, _ in estate_ips} | set(added))
    selected: list[int] = []
    for value in values:
        if wanted and not ipsets.contains(wanted, value):
            continue
        if needs_profile:
            attribute = attributes.get(value)
            if attribute is None:
                continue
            tracking, pc = attribute
            if tracking_raw is not None and tracking != _FO_TRACKING[tracking_raw]:
                continue
            if compliance is not None and pc != compliance:
                continue
        selected.append(value)
    head = (
        '<?xml version="1.0" encoding="UTF-8" ?>\n'
        f'<!DOCTYPE IP_LIST_OUTPUT SYSTEM "{sub.api_url}/api/2.0/fo/asset/ip/ip_list_output.dtd">\n'
        f"<IP_LIST_OUTPUT>\n  <RESPONSE>\n    <DATETIME>{iso_s(estate.now_ms())}</DATETIME>\n"
    )
    body = ""
    if selected:
        body = "    <IP_SET>\n" + "".join(f"      {line}\n" for line in ipsets.xml_lines(selected)) + "    </IP_SET>\n"
    tail = "  </RESPONSE>\n</IP_LIST_OUTPUT>\n"
    reply = Reply(200, [head.encode(), body.encode(), tail.encode()], "text/xml;charset=UTF-8")
    if selected:
        reply.data_offset = len(head.encode())
        reply.utf8_marker = b"<IP"
    return reply


# ----------------------------------------------------------------------------- asset/ip add
def ip_add(call: FoCall) -> Reply:
    """``action=add`` (POST): add IPs to VM and/or PC."""
    call.require_post()
    call.check_params(
        (
            "ips",
            "enable_vm",
            "enable_pc",
            "enable_sca",
            "enable_certview",
            "tracking_method",
            "owner",
            "ud1",
            "ud2",
            "ud3",
            "comment",
            "ag_title",
            "echo_request",
        )
    )
    call.require("ips")
    try:
        raw_ranges = ipsets.parse(call.value("ips") or "")
    except ipsets.IpSyntaxError as exc:
        raise FoError(400, 1905, text("fo.bad_ips", value=exc.part)) from None
    if not raw_ranges:
        raise FoError(400, 1903, text("fo.missing", params="ips"))
    enable_vm = bool(call.flag("enable_vm"))
    enable_pc = bool(call.flag("enable_pc"))
    call.flag("enable_sca")
    call.flag("enable_certview")
    call.flag("echo_request")
    if not (enable_vm or enable_pc):
        raise FoError(400, 1922, text("fo.enable_module"))
    tracking = _tracking(call, tuple(FO_TO_ASSET_TRACKING)) or "IP"
    reserved = ipsets.reserved_parts(raw_ranges)
    if reserved:
        raise FoError(400, 1905, text("fo.reserved_ips", ips=ipsets.fmt_ranges(reserved)))
    ranges = ipsets.merge(raw_ranges)
    if ipsets.size(ranges) > MAX_IPS_PER_CALL:
        raise FoError(400, 1905, text("fo.too_many_ips", name="ips", limit=MAX_IPS_PER_CALL))
    attributes = {name: call.value(name) or "" for name in _ATTRIBUTES}
    ag_title = (call.value("ag_title") or "").strip()
    sub = call.sub
    vm = sub.vm
    with vm.lock:
        group = None
        if ag_title:
            group = vm.group_by_title(ag_title)
            if group is None or group.is_all:
                raise FoError(400, 1905, text("fo.ag_title_not_found", title=ag_title))
        now = sub.estate.now_ms()
        values = ipsets.expand(ranges)
        for ip in values:
            rec = vm.added.get(ip)
            if rec is not None:
                rec.enable_vm = rec.enable_vm or enable_vm
                rec.enable_pc = rec.enable_pc or enable_pc
            elif sub.estate.index_of_address(ip) is not None:
                if enable_pc:
                    vm.pc_existing.add(ip)
            else:
                vm.added[ip] = AddedIp(
                    ip,
                    tracking,
                    enable_vm,
                    enable_pc,
                    now,
                    owner=attributes["owner"],
                    ud1=attributes["ud1"],
                    ud2=attributes["ud2"],
                    ud3=attributes["ud3"],
                    comment=attributes["comment"],
                )
        if group is not None:
            group.ips.update(values)
            group.last_update_ms = now
    if enable_vm and enable_pc:
        message = text("fo.ips_added_vm_pc")
    elif enable_pc:
        message = text("fo.ips_added_pc")
    else:
        message = "IPs successfully added to Vulnerability Management"
    return simple_return(sub, 200, None, message)


# ----------------------------------------------------------------------------- asset/ip update
def ip_update(call: FoCall) -> Reply:
    """``action=update`` (POST): tracking method and attributes of subscription IPs."""
    call.require_post()
    call.check_params(
        (
            "ips",
            "tracking_method",
            "host_dns",
            "host_netbios",
            "owner",
            "ud1",
            "ud2",
            "ud3",
            "comment",
            "network_id",
            "echo_request",
        )
    )
    call.require("ips")
    ranges = call.ips("ips", cap=MAX_IPS_PER_CALL) or []
    if not ranges:
        raise FoError(400, 1903, text("fo.missing", params="ips"))
    tracking = _tracking(call, tuple(FO_TO_ASSET_TRACKING))
    call.integer("network_id")
    call.flag("echo_request")
    host_dns = (call.value("host_dns") or "").strip() or None
    host_netbios = (call.value("host_netbios") or "").strip() or None
    if (host_dns or host_netbios) and ipsets.size(ranges) != 1:
        raise FoError(400, 1905, text("fo.host_name_single_ip"))
    changes = {name: call.value(name) or "" for name in _ATTRIBUTES if call.given(name)}
    sub = call.sub
    estate = sub.estate
    vm = sub.vm
    with vm.lock:
        if vm.missing(ranges):
            raise FoError(400, 1905, "IP(s) do not exist.")
        for ip in ipsets.expand(ranges):
            index = estate.index_of_address(ip)
            prof = estate.profile(index) if index is not None else None
            if host_dns and (prof is None or (prof.dns_name or "").lower() != host_dns.lower()):
                continue
            if host_netbios and (prof is None or (prof.netbios_name or "").upper() != host_netbios.upper()):
                continue
            if prof is not None and prof.tracking in ("QAGENT", "INSTANCE_ID"):
                continue  # EC2/agent-tracked hosts cannot be changed; such rows are skipped
            rec = vm.added.get(ip)
            if rec is not None:
                if tracking:
                    rec.tracking = tracking
                for name, value in changes.items():
                    setattr(rec, name, value)
            else:
                vm.attributes.setdefault(ip, {}).update(changes)
            if tracking and index is not None:
                estate.set_tracking(index, FO_TO_ASSET_TRACKING[tracking])
    return simple_return(sub, 200, None, text("fo.ips_updated"))


# endpoint path -> action -> handler
ACTIONS: dict[str, dict[str, ActionHandler]] = {
    "/api/2.0/fo/asset/ip/": {
        "list": ip_list,
        "add": ip_add,
        "update": ip_update,
    },
    "/api/2.0/fo/asset/group/": {
        "list": fo_groups.group_list,
        "edit": fo_groups.group_edit,
        "add": fo_groups.group_add,
        "delete": fo_groups.group_delete,
    },
}


def _with_headers(reply: Reply, limiter: FoLimiter, decision: Decision) -> Reply:
    reply.headers.extend(limiter.headers(decision))
    return reply


def _base_url(sub: Subscription, req: Request) -> str:
    host = req.header("Host")
    return f"http://{host}" if host else sub.api_url


def handle(sub: Subscription, req: Request) -> tuple[Reply, Account | None]:
    """Route an ``/api/...`` request through the FO pipeline."""
    endpoint = req.path if req.path.endswith("/") else req.path + "/"
    limiter = sub.fo_limiter()
    peek = limiter.peek(endpoint)
    if endpoint not in ACTIONS:
        return _with_headers(simple_return(sub, 404, None, f"Unknown API path {req.path}"), limiter, peek), None
    if not req.header("X-Requested-With"):
        return _with_headers(simple_return(sub, 400, 1903, text("fo.missing_x_requested_with")), limiter, peek), None
    account = sub.accounts.check_basic(req.header("Authorization"))
    if account is None:
        return _with_headers(simple_return(sub, 401, 2000, text("fo.bad_login")), limiter, peek), None
    if account.state == "expired":
        return _with_headers(simple_return(sub, 200, 2001, "This account has expired."), limiter, peek), account
    if account.state == "no_api":
        return _with_headers(simple_return(sub, 403, 2002, text("fo.no_api")), limiter, peek), account
    decision = limiter.acquire(endpoint)
    if not decision.allowed:
        if decision.reason == "concurrency":
            message = text("fo.concurrency", running=decision.running)
            reply = simple_return(sub, 409, 1960, message, [("SECONDS_TO_WAIT", str(decision.to_wait_sec))])
        else:
            message = f"This API cannot be run again for another {_duration(decision.to_wait_sec)}."
            reply = simple_return(sub, 409, 1965, message, [("SECONDS_TO_WAIT", str(decision.to_wait_sec))])
        reply.refused = True
        return _with_headers(reply, limiter, decision), account
    call = FoCall(sub, req.form(), req.method, endpoint, _base_url(sub, req), account)
    action = call.action
    try:
        if not action:
            raise FoError(400, 1903, text("fo.missing_action"))
        handler = ACTIONS[endpoint].get(action)
        if handler is None:
            raise FoError(400, 1905, text("fo.unknown_action", action=action))
        reply = handler(call)
    except FoError as exc:
        reply = simple_return(sub, exc.status, exc.code, exc.message)
    except Exception:
        limiter.release(endpoint)
        raise
    reply.finalizers.append(lambda: limiter.release(endpoint))
    return _with_headers(reply, limiter, decision), account
