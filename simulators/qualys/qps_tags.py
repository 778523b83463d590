"""QPS tag writes (``create``/``update`` on ``am/tag``, section 6.3): parse ``ServiceRequest/data/Tag`` and validate.

Accepted Tag fields: ``name``, ``ruleType``, ``ruleText``, ``color`` (#RRGGBB), ``criticalityScore`` (1-5),
``description``, ``parentTagId``, and on create ``children/set/TagSimple{name}`` (child tags created with
the new tag, as in the vendor's create-tag sample: ``<children><set><TagSimple><name>child_1</name>
</TagSimple>...</set></children>``; JSON ``"children": {"set": {"TagSimple": [{"name": ...}]}}``).  Anything
else is refused (INVALID_REQUEST at HTTP 200): other fields, ``children`` on update (``add``/``remove``
are not simulated), a ``TagSimple`` naming an existing tag by ``id``, and a NETWORK_RANGE /
NETWORK_RANGE_ENHANCED ruleText that is not a comma-separated list of IPs, CIDRs or hyphen ranges.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

from simulators.qualys.qps_criteria import CriteriaError
from simulators.qualys.tags import NETWORK_RULE_TYPES, RULE_TYPES, Tag, TagCatalog, network_rule_ranges
from simulators.qualys.unverified import text

# ServiceRequest field -> Tag attribute
TAG_FIELD_NAMES: dict[str, str] = {
    "name": "name",
    "ruleType": "rule_type",
    "ruleText": "rule_text",
    "color": "color",
    "criticalityScore": "criticality",
    "description": "description",
    "parentTagId": "parent_id",
}
_COLOR = re.compile(r"^#[0-9A-Fa-f]{6}$")


def _bad_request(detail: str) -> CriteriaError:
    return CriteriaError(text("qps.bad_request", detail=detail), text("qps.bad_request_resolution"))


@dataclass(slots=True)
class TagData:
    """A parsed ``data/Tag``: its scalar fields and its ``children`` actions (``{"set": [{"name": ...}]}``)."""

    fields: dict[str, str | None] = field(default_factory=dict)
    children: dict[str, list[dict[str, str | None]]] | None = None


def _scalar(key: str, value: object) -> str | None:
    if isinstance(value, (dict, list)):
        raise CriteriaError(text("qps.unknown_tag_field", field=key), text("qps.tag_resolution"))
    return None if value is None or str(value).strip() == "" else str(value)


def _json_children(value: object) -> dict[str, list[dict[str, str | None]]]:
    """``{"set": {"TagSimple": [...] | {...}}}`` or ``{"set": [{"TagSimple": {...}}, ...]}``."""
    if not isinstance(value, dict):
        raise CriteriaError(text("qps.bad_children"), text("qps.children_resolution"))
    actions: dict[str, list[dict[str, str | None]]] = {}
    for action, container in value.items():
        if isinstance(container, dict) and set(container) == {"TagSimple"}:
            simple = container["TagSimple"]
            items = simple if isinstance(simple, list) else [simple]
        elif isinstance(container, list):
            items = []
            for wrapper in container:
                if not isinstance(wrapper, dict) or set(wrapper) != {"TagSimple"}:
                    raise CriteriaError(text("qps.bad_children"), text("qps.children_resolution"))
                items.append(wrapper["TagSimple"])
        else:
            raise CriteriaError(text("qps.bad_children"), text("qps.children_resolution"))
        simples: list[dict[str, str | None]] = []
        for item in items:
            if not isinstance(item, dict):
                raise CriteriaError(text("qps.bad_children"), text("qps.children_resolution"))
            simples.append({str(k): _scalar(f"children/{action}/TagSimple/{k}", v) for k, v in item.items()})
        actions[str(action)] = simples
    return actions


def _xml_children(element: ET.Element) -> dict[str, list[dict[str, str | None]]]:
    """``<children><set><TagSimple><name>...</name></TagSimple>...</set></children>``."""
    actions: dict[str, list[dict[str, str | None]]] = {}
    for action in element:
        simples: list[dict[str, str | None]] = []
        for simple in action:
            if simple.tag != "TagSimple":
                raise CriteriaError(text("qps.bad_children"), text("qps.children_resolution"))
            values: dict[str, str | None] = {}
            for child in simple:
                if len(child):
                    raise CriteriaError(text("qps.bad_children"), text("qps.children_resolution"))
                values[child.tag] = (child.text or "").strip() or None
            simples.append(values)
        actions[action.tag] = simples
    return actions


def parse_tag_data(body: bytes, content_type: str) -> TagData:
    """The ``data/Tag`` of an XML or JSON ServiceRequest (values as text, None for empty)."""
    stripped = body.strip()
    if not stripped:
        raise CriteriaError(text("qps.no_tag_data"), text("qps.bad_request_resolution"))
    data = TagData()
    if stripped.startswith(b"{") or "json" in content_type.lower():
        try:
            document = json.loads(stripped)
            root = document.get("ServiceRequest", document)
            tag = (root.get("data") or {}).get("Tag")
        except (ValueError, TypeError, AttributeError) as exc:
            raise _bad_request(str(exc)) from exc
        if isinstance(tag, list) and len(tag) == 1:
            tag = tag[0]
        if not isinstance(tag, dict):
            raise CriteriaError(text("qps.no_tag_data"), text("qps.bad_request_resolution"))
        for key, value in tag.items():
            if key == "children":
                data.children = _json_children(value)
            else:
                data.fields[str(key)] = _scalar(str(key), value)
        return data
    try:
        root_el = ET.fromstring(stripped)  # noqa: S314 - local simulator parsing its clients' requests
    except ET.ParseError as exc:
        raise _bad_request(str(exc)) from exc
    tag_el = root_el.find("data/Tag")
    if tag_el is None:
        raise CriteriaError(text("qps.no_tag_data"), text("qps.bad_request_resolution"))
    for child in tag_el:
        if child.tag == "children":
            data.children = _xml_children(child)
            continue
        if len(child):
            raise CriteriaError(text("qps.unknown_tag_field", field=child.tag), text("qps.tag_resolution"))
        value = (child.text or "").strip()
        data.fields[child.tag] = value or None
    return data


def child_tag_names(data: TagData, existing: Tag | None) -> list[str]:
    """The names of the child tags a create asks for (``children/set``); refuses what is not simulated."""
    if data.children is None:
        return []
    if existing is not None:
        raise CriteriaError(text("qps.children_update"), text("qps.children_resolution"))
    unknown = sorted(set(data.children) - {"set"})
    if unknown:
        raise CriteriaError(text("qps.children_action", action=unknown[0]), text("qps.children_resolution"))
    names: list[str] = []
    for simple in data.children.get("set", []):
        if set(simple) - {"name"}:
            raise CriteriaError(
                text("qps.children_field", field=sorted(set(simple) - {"name"})[0]), text("qps.children_resolution")
            )
        name = (simple.get("name") or "").strip()
        if not name:
            raise CriteriaError(text("qps.tag_name_required"), "Specify a name for every child TagSimple.")
        names.append(name)
    return names


def _bad_value(field: str, value: object, hint: str) -> CriteriaError:
    return CriteriaError(
        text("qps.bad_tag_value", field=field, value=value), text("qps.bad_tag_value_resolution", hint=hint)
    )


def tag_changes(catalog: TagCatalog, fields: dict[str, str | None], existing: Tag | None) -> dict[str, object]:
    """Validated Tag attribute changes (``existing`` None = create)."""
    for key in fields:
        if key not in TAG_FIELD_NAMES:
            raise CriteriaError(text("qps.unknown_tag_field", field=key), text("qps.tag_resolution"))
    if existing is not None and not fields:
        raise CriteriaError(text("qps.no_tag_fields"), text("qps.tag_resolution"))
    changes: dict[str, object] = {}
    if "name" in fields or existing is None:
        name = (fields.get("name") or "").strip()
        if not name:
            raise CriteriaError(text("qps.tag_name_required"), "Specify a tag name.")
        changes["name"] = name
    if "ruleType" in fields:
        rule_type = (fields["ruleType"] or "").strip().upper()
        if rule_type not in RULE_TYPES:
            raise _bad_value("ruleType", fields["ruleType"], "Specify one of: " + ", ".join(RULE_TYPES) + ".")
        changes["rule_type"] = rule_type
    if "ruleText" in fields:
        changes["rule_text"] = fields["ruleText"]
    if "color" in fields:
        color = (fields["color"] or "").strip()
        if not _COLOR.match(color):
            raise _bad_value("color", fields["color"], "Specify a color as #RRGGBB.")
        changes["color"] = color.upper()
    if "criticalityScore" in fields:
        raw = (fields["criticalityScore"] or "").strip()
        if raw == "":
            changes["criticality"] = None
        elif raw.isdigit() and 1 <= int(raw) <= 5:
            changes["criticality"] = int(raw)
        else:
            raise _bad_value("criticalityScore", raw, "Specify an integer between 1 and 5.")
    if "description" in fields:
        changes["description"] = fields["description"]
    if "parentTagId" in fields:
        raw = (fields["parentTagId"] or "").strip()
        if raw == "":
            changes["parent_id"] = None
        else:
            if not raw.isdigit() or catalog.get(int(raw)) is None:
                raise _bad_value("parentTagId", raw, "Specify the id of an existing tag.")
            parent = int(raw)
            if existing is not None and (parent == existing.id or parent in catalog.descendants(existing.id)):
                raise _bad_value("parentTagId", raw, "A tag cannot be its own ancestor.")
            changes["parent_id"] = parent
    rule_type = str(changes.get("rule_type", existing.rule_type if existing else "STATIC"))
    rule_text = changes.get("rule_text", existing.rule_text if existing else None)
    if rule_type == "STATIC":
        changes["rule_text"] = None
    elif rule_type in NETWORK_RULE_TYPES and ("rule_type" in changes or "rule_text" in changes):
        if network_rule_ranges(str(rule_text) if rule_text is not None else None) is None:
            raise CriteriaError(
                text("qps.bad_rule_text", rule_type=rule_type, value=rule_text),
                text("qps.bad_rule_text_resolution"),
            )
        changes["rule_text"] = rule_text
    return changes
