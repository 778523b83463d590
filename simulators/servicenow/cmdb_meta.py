"""CMDB Meta API (reference section 1.9): ``GET /api/now/[v1/]cmdb/meta/{class}``.

Returns the class's parent, children, attributes and identification rule, so a client can check
the simulated model (and its own assumptions) at run time.
"""

from __future__ import annotations

import re

from simulators.servicenow import classes
from simulators.servicenow.instance import Instance
from simulators.servicenow.replies import Reply, Request, error_reply, json_reply
from simulators.servicenow.table_api import invalid_table
from simulators.servicenow.unverified import text

PATH = re.compile(r"^/api/now/(?:v[12]/)?cmdb/meta/(?P<table>[^/]+)/?$")


def handle(inst: Instance, req: Request) -> Reply:
    """Describe one CMDB class."""
    match = PATH.match(req.path)
    if match is None:
        return error_reply(400, text("no_resource"), None)
    if req.method not in ("GET", "HEAD"):
        return error_reply(405, text("method_not_allowed"), text("method_not_allowed.detail", method=req.method))
    name = match.group("table")
    if not classes.is_ci(name):
        return invalid_table(name)
    table = classes.TABLES[name]
    attributes = [
        {
            "element": f.name,
            "label": f.name.replace("_", " ").title(),
            "type": f.type,
            "max_length": str(f.max_length),
            "reference": f.reference or "",
            "default_value": f.default,
            "is_inherited": str(f.table != name).lower(),
            "is_mandatory": "false",
            "is_read_only": str(f.name.startswith("sys_")).lower(),
            "is_display": str(f.name == table.display_field).lower(),
        }
        for f in classes.all_fields(name).values()
    ]
    rule = inst.rules.for_class(name)
    identification: dict[str, object] = {}
    if rule is not None:
        identification = {
            "sys_id": rule.sys_id,
            "name": rule.name,
            "applies_to": rule.applies_to,
            "independent": str(rule.independent).lower(),
            "identifiers": [
                {
                    "sys_id": e.sys_id,
                    "order": e.priority,
                    "search_on_table": e.table,
                    "criterion_attributes": list(e.attributes),
                    "condition": e.condition,
                    "exact_count_match": str(e.exact_count_match).lower(),
                    "allow_null_attribute": str(e.allow_null_attribute).lower(),
                    "active": "true",
                }
                for e in rule.entries
            ],
            "related_entries": [
                {
                    "table": r.table,
                    "referenced_field": r.reference_field or "",
                    "criterion_attributes": list(r.attributes),
                }
                for r in rule.related_entries
            ],
        }
    return json_reply(
        200,
        {
            "result": {
                "name": name,
                "label": table.label,
                "parent": table.parent or "",
                "children": list(classes.children(name)),
                "is_extendable": "true",
                "attributes": attributes,
                "relationship_rules": [],
                "identification_rules": identification,
            }
        },
    )
