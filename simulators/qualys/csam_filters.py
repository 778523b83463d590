"""CSAM/GAV search filters: the v2 JSON/XML ``filters`` body and the v1 QQL ``filter`` parameter.

Both compile to a predicate over estate indices.  Unknown fields, operators or malformed values raise
:class:`FilterError` (answered with HTTP 400).
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass

from simulators.qualys.estate import Estate
from simulators.qualys.tags import TAG_BY_ID
from simulators.qualys.timefmt import parse_iso
from simulators.qualys.unverified import text


class FilterError(ValueError):
    """A filter the gateway rejects with HTTP 400."""


Extractor = Callable[[Estate, int], object]

_TEXT_OPS = ("EQUALS", "NOT_EQUALS", "CONTAINS", "IN")
_NUM_OPS = ("EQUALS", "NOT_EQUALS", "GREATER", "LESSER", "IN")
_DATE_OPS = ("EQUALS", "GREATER", "LESSER")


@dataclass(frozen=True, slots=True)
class Field:
    """A filterable CSAM field."""

    kind: str  # "text", "int", "date"
    extract: Extractor
    many: bool = False

    @property
    def operators(self) -> tuple[str, ...]:
        """Operators the field accepts."""
        return {"text": _TEXT_OPS, "int": _NUM_OPS, "date": _DATE_OPS}[self.kind]


def _agent_activity(estate: Estate, index: int) -> object:
    if estate.profile(index).agent_id is None:
        return None
    return estate.detail(index).agent_checked_in_ms


FIELDS: dict[str, Field] = {
    "asset.lastUpdatedDate": Field("date", lambda e, i: e.modified[i]),
    "asset.createdDate": Field("date", lambda e, i: e.created[i]),
    "asset.assetId": Field("int", lambda e, i: e.ids[i]),
    "asset.name": Field("text", lambda e, i: e.profile(i).asset_name),
    "asset.address": Field("text", lambda e, i: e.profile(i).address),
    "asset.dnsName": Field("text", lambda e, i: e.profile(i).dns_name),
    "asset.netbiosName": Field("text", lambda e, i: e.profile(i).netbios_name),
    "operatingSystem.category": Field("text", lambda e, i: e.profile(i).os.category),
    "operatingSystem.category1": Field("text", lambda e, i: e.profile(i).os.category1),
    "operatingSystem.category2": Field("text", lambda e, i: e.profile(i).os.category2),
    "operatingSystem.publisher": Field("text", lambda e, i: e.profile(i).os.publisher),
    "hardware.category": Field("text", lambda e, i: " / ".join(e.profile(i).hw_pair)),
    "hardware.category1": Field("text", lambda e, i: e.profile(i).hw_pair[0]),
    "hardware.category2": Field("text", lambda e, i: e.profile(i).hw_pair[1]),
    "hardware.manufacturer": Field("text", lambda e, i: e.profile(i).hw_model.manufacturer),
    "tags.name": Field("text", lambda e, i: [TAG_BY_ID[t].name for t in e.profile(i).tag_ids], many=True),
    "asset.tags.name": Field("text", lambda e, i: [TAG_BY_ID[t].name for t in e.profile(i).tag_ids], many=True),
    "tags.id": Field("int", lambda e, i: list(e.profile(i).tag_ids), many=True),
    "sensor.lastVmScanDate": Field("date", lambda e, i: e.profile(i).last_vuln_scan_ms),
    "qualys.agent.lastActivityDate": Field("date", _agent_activity),
}
# v1 QQL spellings that differ from the v2 names.
QQL_ALIASES: dict[str, str] = {
    "lastModifiedDate": "asset.lastUpdatedDate",
    "assetName": "asset.name",
    "name": "asset.name",
    "assetId": "asset.assetId",
    "address": "asset.address",
    "dnsName": "asset.dnsName",
    "netbiosName": "asset.netbiosName",
    "tags": "tags.name",
    "tag.name": "tags.name",
}

Predicate = Callable[[Estate, int], bool]


def _coerce(field_name: str, spec: Field, raw: str) -> object:
    if spec.kind == "int":
        try:
            return int(raw.strip())
        except ValueError:
            raise FilterError(text("csam.bad_value", value=raw, field=field_name)) from None
    if spec.kind == "date":
        value = parse_iso(raw)
        if value is None:
            raise FilterError(text("csam.bad_value", value=raw, field=field_name))
        return value
    return raw.strip()


def compile_criterion(field_name: str, operator: str, raw_value: object) -> Predicate:
    """Compile one ``{field, operator, value}`` filter."""
    spec = FIELDS.get(field_name)
    if spec is None:
        raise FilterError(text("csam.bad_filter_field", field=field_name))
    op = str(operator or "EQUALS").upper()
    if op not in spec.operators:
        raise FilterError(text("csam.bad_operator", operator=operator, field=field_name))
    raw = ",".join(str(v) for v in raw_value) if isinstance(raw_value, list) else str(raw_value)
    if op == "IN":
        wanted = [_coerce(field_name, spec, part) for part in raw.split(",") if part.strip()]
    else:
        wanted = [_coerce(field_name, spec, raw)]
    if spec.kind == "text":
        wanted = [str(w).lower() for w in wanted]
    target = wanted[0]

    def test(value: object) -> bool:
        if value is None:
            return False
        if spec.kind == "text":
            value = str(value).lower()
        if op in ("EQUALS", "NOT_EQUALS"):
            return value == target
        if op == "IN":
            return value in wanted
        if op == "CONTAINS":
            return str(target) in str(value)
        if op == "GREATER":
            return bool(value > target)  # type: ignore[operator]
        return bool(value < target)  # type: ignore[operator]

    extract = spec.extract

    def predicate(estate: Estate, index: int) -> bool:
        value = extract(estate, index)
        values = value if spec.many and isinstance(value, list) else [value]
        hit = any(test(v) for v in values)
        return not hit if op == "NOT_EQUALS" else hit

    return predicate


def _combine(preds: list[Predicate], operation: str) -> Predicate | None:
    if not preds:
        return None
    if operation == "OR":
        return lambda e, i: any(p(e, i) for p in preds)
    return lambda e, i: all(p(e, i) for p in preds)


def parse_body(body: bytes, content_type: str) -> tuple[Predicate | None, str | None]:
    """Compile the optional v2 filter body; returns (predicate, QQL filter found in the body)."""
    stripped = body.strip()
    if not stripped:
        return None, None
    if stripped.startswith(b"<"):
        try:
            root = ET.fromstring(stripped)  # noqa: S314 - local simulator parsing its own test clients' input
        except ET.ParseError as exc:
            raise FilterError(text("csam.bad_body")) from exc
        preds = []
        for crit in root.iter("Criteria"):
            value_el = crit.find("value")
            value = value_el.text if value_el is not None else crit.text
            preds.append(compile_criterion(crit.get("field", ""), crit.get("operator", "EQUALS"), value or ""))
        op_el = root.find(".//operation")
        operation = (op_el.text or "AND").strip().upper() if op_el is not None else "AND"
        return _combine(preds, operation), None
    try:
        document = json.loads(stripped)
    except (ValueError, UnicodeDecodeError) as exc:
        raise FilterError(text("csam.bad_body")) from exc
    if not isinstance(document, dict):
        raise FilterError(text("csam.bad_body"))
    filters = document.get("filters") or []
    if isinstance(filters, dict):
        filters = [filters]
    if not isinstance(filters, list):
        raise FilterError(text("csam.bad_body"))
    preds = []
    for item in filters:
        if not isinstance(item, dict):
            raise FilterError(text("csam.bad_body"))
        preds.append(
            compile_criterion(str(item.get("field", "")), str(item.get("operator", "EQUALS")), item.get("value", ""))
        )
    operation = str(document.get("operation") or "AND").upper()
    if operation not in ("AND", "OR"):
        raise FilterError(text("csam.bad_param", name="operation", value=operation))
    qql = document.get("filter")
    return _combine(preds, operation), str(qql) if qql else None


# field:`value`, field:'value', field:"value", typographic quotes (the CMDB app guide prints
# operatingSystem.category1:'Linux\u2019), or a bare value.
_QQL_TERM = re.compile(
    r"\s*([A-Za-z][\w.]*)\s*:\s*"
    r"(?:`([^`]*)`|'([^'\u2019]*)['\u2019]|\"([^\"]*)\"|[\u2018\u2019]([^\u2018\u2019]*)[\u2018\u2019]|([^\s`'\"]+))\s*"
)


def parse_qql(query: str) -> Predicate:
    """Compile a v1-style QQL filter: ``field:`value``` terms joined by ``and`` (case-insensitive)."""
    preds: list[Predicate] = []
    rest = query.strip()
    while rest:
        match = _QQL_TERM.match(rest)
        if match is None:
            raise FilterError(text("csam.bad_param", name="filter", value=query))
        field_name = QQL_ALIASES.get(match.group(1), match.group(1))
        value = next(g for g in match.groups()[1:] if g is not None)
        preds.append(compile_criterion(field_name, "EQUALS", value))
        rest = rest[match.end() :]
        if not rest:
            break
        joiner = re.match(r"(?i)and\b\s*", rest)
        if joiner is None:
            raise FilterError(text("csam.bad_param", name="filter", value=query))
        rest = rest[joiner.end() :]
        if not rest:
            raise FilterError(text("csam.bad_param", name="filter", value=query))
    if not preds:
        raise FilterError(text("csam.bad_param", name="filter", value=query))
    combined = _combine(preds, "AND")
    assert combined is not None
    return combined
