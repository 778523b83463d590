"""QPS ``ServiceRequest`` parsing and ``Criteria`` evaluation (section 3.2 of the reference).

Criteria are ANDed and may repeat a field.  Values are type-checked; a wrong type, an unknown field or
an operator the field does not take raises :class:`CriteriaError`, answered as ``INVALID_REQUEST`` at
HTTP 200.  Operators use the QPS spelling (``NOT EQUALS`` with a space).
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from simulators.qualys.timefmt import parse_qps_date
from simulators.qualys.unverified import text


class CriteriaError(ValueError):
    """An invalid ServiceRequest; carries the errorMessage and errorResolution."""

    def __init__(self, message: str, resolution: str) -> None:
        super().__init__(message)
        self.message = message
        self.resolution = resolution


_OPERATORS: dict[str, tuple[str, ...]] = {
    "long": ("EQUALS", "NOT EQUALS", "GREATER", "LESSER", "IN"),
    "date": ("EQUALS", "NOT EQUALS", "GREATER", "LESSER"),
    "text": ("EQUALS", "NOT EQUALS", "CONTAINS", "IN"),
    "keyword": ("EQUALS", "NOT EQUALS", "IN"),
    "version": ("EQUALS", "LESSER", "GREATER"),
}
_TYPE_NAMES = {"long": "Long", "date": "Date", "text": "String", "keyword": "Keyword", "version": "Version"}


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """A searchable QPS field; ``extract`` returns a value or a list of values for one record."""

    kind: str
    extract: Callable[[int], object]
    keywords: tuple[str, ...] = ()


@dataclass(slots=True)
class Criterion:
    """One parsed criterion."""

    field: str
    operator: str
    values: list[object]


@dataclass(slots=True)
class ServiceRequest:
    """Parsed preferences and criteria."""

    limit: int = 100
    start_from_id: int | None = None
    start_from_offset: int | None = None
    criteria: list[tuple[str, str, str]] = field(default_factory=list)


def _pref_int(name: str, raw: object) -> int:
    try:
        return int(str(raw).strip())
    except ValueError:
        raise CriteriaError(
            text("qps.bad_request", detail=f"{name} must be an integer"), text("qps.bad_request_resolution")
        ) from None


def parse_service_request(body: bytes, content_type: str) -> ServiceRequest:
    """Parse an XML or JSON ServiceRequest (an empty body is a request with no criteria)."""
    request = ServiceRequest()
    stripped = body.strip()
    prefs: dict[str, object] = {}
    if not stripped:
        return request
    if stripped.startswith(b"{") or "json" in content_type.lower():
        try:
            document = json.loads(stripped)
            root = document.get("ServiceRequest", document)
            prefs = dict(root.get("preferences") or {})
            raw = (root.get("filters") or {}).get("Criteria") or []
        except (ValueError, TypeError, AttributeError, KeyError) as exc:
            raise CriteriaError(text("qps.bad_request", detail=str(exc)), text("qps.bad_request_resolution")) from exc
        for crit in raw if isinstance(raw, list) else [raw]:
            if not isinstance(crit, dict):
                raise CriteriaError(
                    text("qps.bad_request", detail="Criteria must be objects"),
                    text("qps.bad_request_resolution"),
                )
            request.criteria.append(
                (str(crit.get("field", "")), str(crit.get("operator", "")), str(crit.get("value", "")))
            )
    else:
        try:
            root_el = ET.fromstring(stripped)  # noqa: S314 - local simulator parsing its clients' requests
        except ET.ParseError as exc:
            raise CriteriaError(text("qps.bad_request", detail=str(exc)), text("qps.bad_request_resolution")) from exc
        prefs_el = root_el.find("preferences")
        if prefs_el is not None:
            prefs = {child.tag: (child.text or "").strip() for child in prefs_el}
        for crit_el in root_el.iter("Criteria"):
            request.criteria.append(
                (crit_el.get("field", ""), crit_el.get("operator", ""), (crit_el.text or "").strip())
            )
    if "limitResults" in prefs:
        request.limit = _pref_int("limitResults", prefs["limitResults"])
    if prefs.get("startFromId") not in (None, ""):
        request.start_from_id = _pref_int("startFromId", prefs["startFromId"])
    if prefs.get("startFromOffset") not in (None, ""):
        request.start_from_offset = _pref_int("startFromOffset", prefs["startFromOffset"])
    if not 1 <= request.limit <= 1000:
        raise CriteriaError(text("qps.limit", value=request.limit), text("qps.limit_resolution"))
    if request.start_from_offset is not None and request.start_from_offset < 1:
        raise CriteriaError(text("qps.offset", value=request.start_from_offset), text("qps.bad_request_resolution"))
    return request


def _version(raw: str) -> tuple[int, ...] | None:
    try:
        return tuple(int(p) for p in raw.strip().split("."))
    except ValueError:
        return None


def compile_criteria(raw: Sequence[tuple[str, str, str]], fields: dict[str, FieldSpec]) -> list[Criterion]:
    """Validate criteria against a field registry."""
    compiled = []
    for name, operator, value in raw:
        spec = fields.get(name)
        if spec is None:
            raise CriteriaError(text("qps.bad_field", field=name), text("qps.bad_field_resolution"))
        op = " ".join(operator.upper().split())
        allowed = _OPERATORS[spec.kind]
        if op not in allowed:
            raise CriteriaError(
                text("qps.bad_operator", operator=operator, field=name),
                text("qps.bad_operator_resolution", allowed=", ".join(allowed)),
            )
        parts = [p.strip() for p in value.split(",")] if op == "IN" else [value.strip()]
        values: list[object] = []
        for part in parts:
            parsed: object | None
            if spec.kind == "long":
                parsed = int(part) if part.lstrip("-").isdigit() else None
            elif spec.kind == "date":
                parsed = parse_qps_date(part)
            elif spec.kind == "version":
                parsed = _version(part)
            elif spec.kind == "keyword":
                parsed = part if part in spec.keywords else None
            else:
                parsed = part
            if parsed is None:
                resolution = {
                    "long": "Specify criteria value(s) as Long.",
                    "date": text("qps.date_resolution"),
                    "keyword": text("qps.keyword_resolution", allowed=", ".join(spec.keywords)),
                }.get(spec.kind, f"Specify criteria value(s) as {_TYPE_NAMES[spec.kind]}.")
                raise CriteriaError(f"Criteria: Invalid value format for criteria '{name}' ({value})", resolution)
            values.append(parsed)
        compiled.append(Criterion(name, op, values))
    return compiled


def _matches(criterion: Criterion, spec: FieldSpec, record: int) -> bool:
    raw = spec.extract(record)
    candidates = raw if isinstance(raw, list) else [raw]
    candidates = [c for c in candidates if c is not None]
    op = criterion.operator
    target = criterion.values[0]

    def test(value: object) -> bool:
        if op == "EQUALS":
            return value == target
        if op == "IN":
            return value in criterion.values
        if op == "CONTAINS":
            return str(target).lower() in str(value).lower()
        if op == "GREATER":
            return bool(value > target)  # type: ignore[operator]
        if op == "LESSER":
            return bool(value < target)  # type: ignore[operator]
        return value == target  # NOT EQUALS, inverted below

    hit = any(test(c) for c in candidates)
    return not hit if op == "NOT EQUALS" else hit


def make_predicate(criteria: list[Criterion], fields: dict[str, FieldSpec]) -> Callable[[int], bool]:
    """AND all criteria together."""
    pairs = [(c, fields[c.field]) for c in criteria]
    return lambda record: all(_matches(c, spec, record) for c, spec in pairs)
