"""Control API under ``/sim/control/`` (JSON, no auth) used by tests to steer the simulator.

* ``POST /sim/control/advance`` ``{"seconds": S, "modify": K}`` -> ``{"modified": [ids], "now": iso}``
* ``GET|POST|DELETE /sim/control/faults`` (POST merges a fault document, DELETE resets all)
* ``POST /sim/control/accounts`` ``{"username", "password", "state"}`` (create or update)
* ``POST /sim/control/expire-tokens``
* ``GET|DELETE /sim/control/stats``
* ``GET /sim/control/estate``
* ``GET /sim/control/health``
* ``POST /sim/control/scan`` ``{"ips": [..]}`` (or ``{}`` = every added IP not scanned yet): added IPs
  become estate assets -> ``{"scanned": [{"ip", "assetId", "hostId"}], "ignored": [ips], "now": iso}``
* ``GET /sim/control/vm``: added IPs, asset groups and tags
* ``POST /sim/control/vm/reset``: seeded groups and tags back, added IPs and scanned assets dropped
* ``GET|POST|DELETE /sim/control/overrides``: odd values laid over an asset (see :mod:`simulators.qualys.overrides`);
  POST ``{"assetId": N, "fields": {...}, "software": {"0": {...}}}`` merges, DELETE drops them all
* ``GET|POST|DELETE /sim/control/latency``: the latency profile in force (:mod:`simulators.latency`; ``null`` =
  none): POST a profile document (``{}`` = the defaults, ``{"scale": 0.1, "qualys": {"concurrency": 5}}``) or
  ``null``; DELETE clears it.  Every answer is the profile now in force, or ``null``.
"""

from __future__ import annotations

import ipaddress
import json

from simulators.fault_rules import FaultError
from simulators.pacing import latency_control
from simulators.qualys import ipsets
from simulators.qualys.accounts import STATES
from simulators.qualys.csam_asset import TOP_LEVEL_KEYS
from simulators.qualys.overrides import OverrideError, parse_override
from simulators.qualys.replies import Reply, Request, json_reply
from simulators.qualys.subscription import Subscription
from simulators.qualys.timefmt import iso_ms


def _body(req: Request) -> dict[str, object]:
    if not req.body.strip():
        return {}
    document = json.loads(req.body)
    if not isinstance(document, dict):
        raise ValueError("the body must be a JSON object")
    return document


def _error(status: int, message: str) -> Reply:
    return json_reply(status, {"error": message})


def _latency(sub: Subscription, req: Request) -> Reply:
    status, answer = latency_control(req.method, req.body, sub.set_latency, lambda: sub.pacer)
    return json_reply(status, answer)


def handle(sub: Subscription, req: Request) -> Reply:
    """Dispatch a control request."""
    action = req.path[len("/sim/control") :].strip("/")
    if action == "latency":
        return _latency(sub, req)
    try:
        body = _body(req) if req.method in ("POST", "PUT") else {}
    except ValueError as exc:
        return _error(400, f"invalid JSON body: {exc}")
    method = req.method
    if action == "health" and method == "GET":
        return json_reply(200, {"status": "ok", "assets": sub.estate.size, "now": iso_ms(sub.estate.now_ms())})
    if action == "advance" and method == "POST":
        try:
            seconds = float(str(body.get("seconds", 0)))
            modify = int(str(body.get("modify", 0)))
        except ValueError:
            return _error(400, "seconds must be a number and modify an integer")
        if seconds < 0 or modify < 0:
            return _error(400, "seconds and modify must be >= 0")
        modified, now = sub.estate.advance(seconds, modify)
        return json_reply(200, {"modified": modified, "now": iso_ms(now)})
    if action == "faults":
        if method == "DELETE":
            sub.faults.reset()
            return json_reply(200, sub.faults.describe())
        if method == "POST":
            try:
                sub.faults.apply(body)
            except (FaultError, ValueError) as exc:
                return _error(400, str(exc))
            return json_reply(200, sub.faults.describe())
        if method == "GET":
            return json_reply(200, sub.faults.describe())
    if action == "accounts" and method == "POST":
        username = body.get("username")
        if not isinstance(username, str) or not username:
            return _error(400, "username is required")
        password = body.get("password")
        state = body.get("state")
        if state is not None and state not in STATES:
            return _error(400, f"state must be one of {list(STATES)}")
        try:
            account = sub.accounts.upsert(
                username,
                str(password) if password is not None else None,
                str(state) if state is not None else None,
            )
        except ValueError as exc:
            return _error(400, str(exc))
        return json_reply(200, {"username": account.username, "state": account.state})
    if action == "expire-tokens" and method == "POST":
        return json_reply(200, {"revoked": sub.accounts.revoke_all()})
    if action == "stats":
        if method == "GET":
            return json_reply(200, sub.stats.snapshot())
        if method == "DELETE":
            sub.stats.reset()
            return json_reply(200, sub.stats.snapshot())
    if action == "estate" and method == "GET":
        return json_reply(200, sub.estate.summary())
    if action == "scan" and method == "POST":
        return _scan(sub, body)
    if action == "vm" and method == "GET":
        return json_reply(200, _vm_document(sub))
    if action == "vm/reset" and method == "POST":
        sub.reset_vm()
        return json_reply(200, _vm_document(sub))
    if action == "overrides":
        return _overrides(sub, method, body)
    return _error(404, f"unknown control endpoint {method} {req.path}")


#: What an override may replace: any CSAM top-level field but those that steer paging and incremental windows.
_OVERRIDABLE = frozenset(TOP_LEVEL_KEYS) - {"assetId", "lastModifiedDate", "softwareListData"}


def _overrides(sub: Subscription, method: str, body: dict[str, object]) -> Reply:
    estate = sub.estate
    if method == "GET":
        return json_reply(200, {"overrides": [o.document(asset_id) for asset_id, o in estate.overrides()]})
    if method == "DELETE":
        return json_reply(200, {"cleared": estate.clear_overrides(), "now": iso_ms(estate.now_ms())})
    if method != "POST":
        return _error(405, "overrides takes GET, POST or DELETE")
    try:
        asset_id, override = parse_override(body, _OVERRIDABLE)
    except OverrideError as exc:
        return _error(400, str(exc))
    index = estate.index_of(asset_id)
    if index is None:
        return _error(404, f"no asset {asset_id} in the estate")
    rows = estate.profile(index).n_software
    beyond = sorted(n for n in override.software if n >= rows)
    if beyond:
        return _error(400, f"asset {asset_id} has {rows} software row(s): no row {', '.join(map(str, beyond))}")
    now = estate.set_override(index, override)
    merged = estate.override_of(index)
    assert merged is not None
    return json_reply(200, {**merged.document(asset_id), "lastModifiedDate": iso_ms(now)})


def _scan(sub: Subscription, body: dict[str, object]) -> Reply:
    raw = body.get("ips")
    wanted: list[int] | None = None
    if raw is not None:
        if not isinstance(raw, list) or not all(isinstance(ip, str) for ip in raw):
            return _error(400, "ips must be a list of IPv4 address strings")
        try:
            wanted = [int(ipaddress.IPv4Address(ip.strip())) for ip in raw]
        except ValueError as exc:
            return _error(400, f"invalid IP address: {exc}")
    scanned, ignored = sub.vm.scan(wanted)
    return json_reply(200, {"scanned": scanned, "ignored": ignored, "now": iso_ms(sub.estate.now_ms())})


def _vm_document(sub: Subscription) -> dict[str, object]:
    return {
        "added_ips": sub.vm.snapshot_added(),
        "pc_enabled_existing_ips": [ipsets.ip_str(ip) for ip in sorted(sub.vm.pc_existing)],
        "asset_groups": sub.vm.snapshot_groups(),
        "tags": [
            {
                "id": t.id,
                "name": t.name,
                "ruleType": t.rule_type,
                "ruleText": t.rule_text,
                "parentTagId": t.parent_id,
                "modified": t.modified,
            }
            for t in sub.tags.all()
        ],
    }
