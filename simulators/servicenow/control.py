"""Control API under ``/sim/control/`` (JSON, no auth, no faults, not counted in stats).

* ``GET|DELETE stats`` - counts per endpoint, per method+endpoint, per status, per IRE operation
  (``ERROR`` for failed items), per IRE error code, and ``unsupported_queries`` (``"<table>: <what>"``:
  Table API queries that matched nothing because the simulator cannot evaluate them).
* ``GET|POST|DELETE faults`` - POST merges ``latency_ms``, ``status`` ``{"family","code","count"}`` (or a
  list), ``throttle`` ``{"count","family"}``, ``rate_limit`` ``{"limit","window_sec","family"}`` or null.
* ``GET|POST discovery-sources`` - ``{"values": [...]}`` replaces the ``cmdb_ci.discovery_source`` choices.
* ``GET|POST identification-rules`` - ``{"rules": [...]}`` replaces the rule set (shape in
  :mod:`simulators.servicenow.identification_rules`); ``DELETE`` restores the defaults.
* ``GET|POST transform`` - ``{"coalesce": [...], "copy_empty_fields", "coalesce_case_sensitive",
  "coalesce_empty_fields"}``.
* ``GET|POST properties`` - IRE / query properties (``glide.class.upgrade.enabled``, ...).
* ``GET|POST oauth`` - ``{"client_credentials": bool, "token_ttl_seconds": N}``.
* ``POST expire-tokens`` - ``{"refresh_tokens": bool}`` (access tokens always).
* ``GET|POST users`` - ``{"username", "password", "roles": [...]}`` creates or updates an account
  (the answer carries its ``sys_id``, what the dynamic filter "Me" compares with).
* ``GET cmdb`` - CMDB summary; ``POST reset`` empties the CMDB (keeps classes, rules, choices).
* ``GET|POST|DELETE latency`` - the latency profile in force (:mod:`simulators.latency`; ``null`` = none):
  POST a profile document (``{}`` = the defaults, ``{"scale": 0.1, "servicenow": {"semaphore": 2}}``) or
  ``null``; DELETE clears it.  Every answer is the profile now in force, or ``null``.
* ``GET health``.
"""

from __future__ import annotations

import json

from simulators.fault_rules import FaultError
from simulators.pacing import latency_control
from simulators.servicenow import classes
from simulators.servicenow.identification_rules import DEFAULT_RULES, RuleError
from simulators.servicenow.instance import DEFAULT_PROPERTIES, Instance
from simulators.servicenow.replies import Reply, Request, json_reply

SUMMARY_TABLES = (
    "cmdb_serial_number",
    "cmdb_ci_network_adapter",
    "cmdb_ci_ip_address",
    "cmdb_ci_file_system",
    "cmdb_ci_spkg",
    "cmdb_software_instance",
    "cmdb_rel_ci",
    "sys_object_source",
    "core_company",
    "cmdb_model",
    "cmdb_ire_partial_payloads",
    "sys_import_set",
    "u_qualys_computer_import",
    *classes.QUALYS_RELATED_TABLES,
)


def _body(req: Request) -> dict[str, object]:
    if not req.body.strip():
        return {}
    document = json.loads(req.body)
    if not isinstance(document, dict):
        raise ValueError("the body must be a JSON object")
    return document


def _error(status: int, message: str) -> Reply:
    return json_reply(status, {"error": message})


def cmdb_summary(inst: Instance) -> dict[str, object]:
    """Counts per CI class plus the side tables."""
    store = inst.store
    by_class = store.class_counts("cmdb_ci")
    return {
        "cmdb_ci": {"total": sum(by_class.values()), "by_class": by_class},
        "tables": {name: store.count(name) for name in SUMMARY_TABLES},
    }


def _latency(inst: Instance, req: Request) -> Reply:
    status, answer = latency_control(req.method, req.body, inst.set_latency, lambda: inst.pacer)
    return json_reply(status, answer)


def handle(inst: Instance, req: Request) -> Reply:
    """Dispatch a control request."""
    action = req.path[len("/sim/control") :].strip("/")
    method = req.method
    if action == "latency":
        return _latency(inst, req)
    try:
        body = _body(req) if method in ("POST", "PUT") else {}
    except ValueError as exc:
        return _error(400, f"invalid JSON body: {exc}")
    if action == "health" and method == "GET":
        return json_reply(200, {"status": "ok", "cmdb_ci": inst.store.count("cmdb_ci")})
    if action == "stats":
        if method == "DELETE":
            inst.stats.reset()
        if method in ("GET", "DELETE"):
            return json_reply(200, inst.stats.snapshot())
    if action == "faults":
        if method == "DELETE":
            inst.faults.reset()
        elif method == "POST":
            try:
                inst.faults.apply(body)
            except FaultError as exc:
                return _error(400, str(exc))
        if method in ("GET", "POST", "DELETE"):
            return json_reply(200, inst.faults.describe())
    if action == "discovery-sources":
        if method == "POST":
            values = body.get("values")
            if not isinstance(values, list) or not all(isinstance(v, str) and v for v in values):
                return _error(400, "values must be a list of non-empty strings")
            inst.store.set_discovery_sources(values)
        if method in ("GET", "POST"):
            return json_reply(200, {"values": inst.store.discovery_sources()})
    if action == "identification-rules":
        try:
            if method == "POST":
                inst.rules.replace(body.get("rules"))  # type: ignore[arg-type]
                inst.save_settings()
            elif method == "DELETE":
                inst.rules.replace(DEFAULT_RULES)
                inst.save_settings()
        except (RuleError, ValueError, TypeError) as exc:
            return _error(400, str(exc))
        if method in ("GET", "POST", "DELETE"):
            return json_reply(200, inst.rules.describe())
    if action == "transform":
        if method == "POST":
            try:
                inst.transform.apply(body)
            except ValueError as exc:
                return _error(400, str(exc))
            inst.save_settings()
        if method in ("GET", "POST"):
            return json_reply(200, inst.transform.describe())
    if action == "properties":
        if method == "POST":
            unknown = set(body) - set(DEFAULT_PROPERTIES)
            if unknown:
                return _error(400, f"unknown properties: {sorted(unknown)}")
            inst.properties.update(body)
            inst.save_settings()
        if method in ("GET", "POST"):
            return json_reply(200, inst.properties)
    if action == "oauth":
        if method == "POST":
            if "client_credentials" in body:
                inst.auth.client_credentials_enabled = bool(body["client_credentials"])
            if "token_ttl_seconds" in body:
                try:
                    ttl = int(str(body["token_ttl_seconds"]))
                except ValueError:
                    return _error(400, "token_ttl_seconds must be an integer")
                if ttl < 1:
                    return _error(400, "token_ttl_seconds must be >= 1")
                inst.auth.token_ttl_seconds = ttl
        if method in ("GET", "POST"):
            return json_reply(200, inst.auth.describe())
    if action == "expire-tokens" and method == "POST":
        return json_reply(200, {"expired": inst.auth.expire_all(bool(body.get("refresh_tokens", False)))})
    if action == "users":
        if method == "POST":
            username = body.get("username")
            password = body.get("password")
            roles = body.get("roles")
            if not isinstance(username, str) or not username:
                return _error(400, "username is required")
            if roles is not None and (not isinstance(roles, list) or not all(isinstance(r, str) for r in roles)):
                return _error(400, "roles must be a list of strings")
            try:
                user = inst.auth.upsert_user(
                    username, None if password is None else str(password), None if roles is None else roles
                )
            except ValueError as exc:
                return _error(400, str(exc))
            return json_reply(200, {"username": user.username, "roles": list(user.roles), "sys_id": user.sys_id})
        if method == "GET":
            return json_reply(200, inst.auth.describe()["users"])
    if action == "cmdb" and method == "GET":
        return json_reply(200, cmdb_summary(inst))
    if action == "reset" and method == "POST":
        inst.store.reset()
        return json_reply(200, cmdb_summary(inst))
    return _error(404, f"unknown control endpoint {method} {req.path}")
