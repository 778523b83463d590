"""The wire protocol of the CMDB → Qualys direction (reference/qualys-api.md §6): FO ``asset/ip`` and ``asset/group``,
QPS tags and the host lookup of the host-id updater. Pure functions with no I/O, used by the Qualys hook.

Every parser is safe (no DTD, no entities, no network): FO responses carry a DOCTYPE that must never be fetched.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from urllib.parse import parse_qs, urlparse
from xml.sax.saxutils import escape

from lxml import etree

from qualys_cmdb.hooks.qualys_protocol import QualysRequestError

IPv4Range = tuple[int, int]
log = logging.getLogger(__name__)


class QualysRefused(QualysRequestError):
    """Qualys answered an FO or QPS call with an error code: ``code`` and ``text`` are Qualys's own."""

    def __init__(self, message: str, code: str | None, text: str | None) -> None:
        super().__init__(message)
        self.code = code
        self.text = text


def _parser() -> etree.XMLParser:
    # No huge_tree: libxml2's limits (10 MB text nodes, depth 256) stay on; no FO or QPS answer comes near them.
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)


def parse_xml(body: bytes, what: str) -> etree._Element:
    """The root element of an XML response; a clear error when it is not XML. Entity references the parser leaves
    unresolved (declared in a DOCTYPE, never expanded) would drop out of the values silently: they are logged."""
    try:
        root = etree.fromstring(body, parser=_parser())
    except etree.XMLSyntaxError as exc:
        snippet = body[:200].decode("utf-8", errors="replace")
        raise QualysRequestError(f"{what}: the response is not XML ({exc}); it starts with {snippet!r}") from None
    entities = unresolved_entities(root)
    if entities:
        log.warning(
            "%s: the response uses entities that are never expanded (%s); the values holding them lose those parts",
            what,
            ", ".join(entities),
        )
    return root


def unresolved_entities(element: etree._Element) -> list[str]:
    """The names (``&name;``) of the entity references under ``element`` the safe parser left unresolved."""
    return sorted({f"&{e.name};" for e in element.iter(etree.Entity)})


# ---------------------------------------------------------------------------------------------- addresses
def ip_to_int(address: str) -> int:
    """An IPv4 address as an integer (raises ValueError when it is not one)."""
    return int(ipaddress.IPv4Address(address))


def parse_ranges(text: str) -> list[IPv4Range]:
    """IPs, hyphen ranges and CIDRs separated by commas (a NETWORK_RANGE ruleText, an IP_SET) as int ranges.

    Raises ValueError naming the first piece that is none of those.
    """
    out: list[IPv4Range] = []
    for raw in text.split(","):
        piece = raw.strip()
        if not piece:
            continue
        try:
            if "/" in piece:
                net = ipaddress.IPv4Network(piece, strict=False)
                out.append((int(net.network_address), int(net.broadcast_address)))
            elif "-" in piece:
                low, high = (ip_to_int(p.strip()) for p in piece.split("-", 1))
                out.append((min(low, high), max(low, high)))
            else:
                value = ip_to_int(piece)
                out.append((value, value))
        except ValueError:
            raise ValueError(f"{piece!r} is not an IPv4 address, range or CIDR") from None
    return out


def covered(value: int, ranges: Iterable[IPv4Range]) -> bool:
    """Whether ``value`` lies in one of ``ranges``."""
    return any(low <= value <= high for low, high in ranges)


def compress(values: Iterable[int]) -> list[str]:
    """Sorted addresses as the shortest list of single IPs and hyphen ranges (what FO calls accept)."""
    out: list[str] = []
    start = prev = None
    for value in sorted(set(values)):
        if prev is not None and value == prev + 1:
            prev = value
            continue
        if start is not None and prev is not None:
            out.append(_run(start, prev))
        start = prev = value
    if start is not None and prev is not None:
        out.append(_run(start, prev))
    return out


def _run(low: int, high: int) -> str:
    first = str(ipaddress.IPv4Address(low))
    return first if low == high else f"{first}-{ipaddress.IPv4Address(high)}"


def ip_set(element: etree._Element | None) -> list[IPv4Range]:
    """The ranges of an FO ``IP_SET`` element (``IP`` and ``IP_RANGE`` children)."""
    if element is None:
        return []
    out: list[IPv4Range] = []
    for child in element:
        text = (child.text or "").strip()
        if not text or ":" in text:  # IPv6 members are kept out of IPv4 arithmetic
            continue
        out.extend(parse_ranges(text))
    return out


def ip_list_ranges(body: bytes) -> list[IPv4Range]:
    """The ``IP_SET`` of an ``IP_LIST_OUTPUT`` (``asset/ip`` action=list)."""
    root = parse_xml(body, "asset/ip list")
    if root.tag == "SIMPLE_RETURN":
        raise QualysRefused(
            f"asset/ip list refused: {root.findtext('.//TEXT')}", root.findtext(".//CODE"), root.findtext(".//TEXT")
        )
    return ip_set(root.find("RESPONSE/IP_SET"))


# ---------------------------------------------------------------------------------------------- asset groups
@dataclass(frozen=True)
class AssetGroup:
    """One FO asset group."""

    id: int
    title: str
    ip_set: str  # comma-separated IPs and ranges
    network_id: str | None
    business_impact: str | None
    owner: str | None
    last_update: str | None


def asset_group_page(body: bytes) -> tuple[list[AssetGroup], str | None]:
    """The groups of one ``ASSET_GROUP_LIST_OUTPUT`` page and the next ``id_min`` (from ``WARNING/URL``), if any."""
    root = parse_xml(body, "asset/group list")
    if root.tag == "SIMPLE_RETURN":
        raise QualysRefused(
            f"asset/group list refused: {root.findtext('.//TEXT')}", root.findtext(".//CODE"), root.findtext(".//TEXT")
        )
    groups = []
    for elem in root.iterfind("RESPONSE/ASSET_GROUP_LIST/ASSET_GROUP"):
        members = elem.find("IP_SET")
        texts = [(c.text or "").strip() for c in members] if members is not None else []
        groups.append(
            AssetGroup(
                id=int(elem.findtext("ID") or 0),
                title=(elem.findtext("TITLE") or "").strip(),
                ip_set=",".join(t for t in texts if t),
                network_id=elem.findtext("NETWORK_ID"),
                business_impact=elem.findtext("BUSINESS_IMPACT"),
                owner=elem.findtext("OWNER_USER_NAME"),
                last_update=elem.findtext("LAST_UPDATE"),
            )
        )
    next_min = None
    url = root.findtext("RESPONSE/WARNING/URL")
    if url:
        values = parse_qs(urlparse(url.strip()).query).get("id_min")
        if not values:
            raise QualysRequestError(f"asset/group list: the truncation WARNING has no id_min in its URL ({url!r})")
        next_min = values[0]
    return groups, next_min


# ---------------------------------------------------------------------------------------------- tags (QPS)
@dataclass(frozen=True)
class QualysTag:
    """One QPS tag."""

    id: int
    name: str
    rule_type: str | None
    rule_text: str | None
    parent_tag_id: int | None
    color: str | None
    criticality: int | None
    provider: str | None
    created: str | None
    modified: str | None


def _criteria(criteria: Iterable[tuple[str, str, str]]) -> str:
    return "".join(f'<Criteria field="{f}" operator="{escape(op)}">{escape(v)}</Criteria>' for f, op, v in criteria)


def tag_search_request(after_id: int, page_size: int, name: str | None = None) -> bytes:
    """A ``search/am/tag`` body: tags with id greater than ``after_id`` (qualysdk's paging), optionally by name."""
    criteria = [("id", "GREATER", str(after_id))]
    if name is not None:
        criteria.append(("name", "EQUALS", name))
    return (
        f"<ServiceRequest><preferences><limitResults>{page_size}</limitResults></preferences>"
        f"<filters>{_criteria(criteria)}</filters></ServiceRequest>"
    ).encode()


def tag_update_request(rule_text: str) -> bytes:
    """An ``update/am/tag/{id}`` body that replaces the tag's ruleText."""
    return f"<ServiceRequest><data><Tag><ruleText>{escape(rule_text)}</ruleText></Tag></data></ServiceRequest>".encode()


def _int(text: str | None) -> int | None:
    return int(text) if text and text.strip().lstrip("-").isdigit() else None


def service_response(body: bytes, what: str) -> etree._Element:
    """The root of a QPS ServiceResponse, raising :class:`QualysRefused` unless ``responseCode`` is SUCCESS."""
    root = parse_xml(body, what)
    code = root.findtext("responseCode")
    if code != "SUCCESS":
        message = root.findtext(".//errorMessage") or "no details"
        resolution = root.findtext(".//errorResolution")
        hint = f" ({resolution})" if resolution else ""
        raise QualysRefused(f"{what}: Qualys answered {code}: {message}{hint}", code, message)
    return root


def tag_page(body: bytes) -> tuple[list[QualysTag], bool, int | None]:
    """(tags, hasMoreRecords, lastId) of a ``search/am/tag`` or ``get``/``update`` response."""
    root = service_response(body, "tag search")
    tags = [
        QualysTag(
            id=int(elem.findtext("id") or 0),
            name=(elem.findtext("name") or "").strip(),
            rule_type=elem.findtext("ruleType"),
            rule_text=elem.findtext("ruleText"),
            parent_tag_id=_int(elem.findtext("parentTagId")),
            color=elem.findtext("color"),
            criticality=_int(elem.findtext("criticalityScore")),
            provider=elem.findtext("provider"),
            created=elem.findtext("created"),
            modified=elem.findtext("modified"),
        )
        for elem in root.iterfind("data/Tag")
    ]
    has_more = (root.findtext("hasMoreRecords") or "false").strip().lower() == "true"
    return tags, has_more, _int(root.findtext("lastId"))


# ---------------------------------------------------------------------------------------------- host lookup
def host_lookup_request(addresses: list[str], after_id: int, page_size: int) -> bytes:
    """A ``search/am/hostasset`` body for the hosts at ``addresses`` (ids above ``after_id``), few fields."""
    criteria = [("address", "IN", ",".join(addresses)), ("id", "GREATER", str(after_id))]
    return (
        f"<ServiceRequest><preferences><limitResults>{page_size}</limitResults></preferences>"
        f"<filters>{_criteria(criteria)}</filters></ServiceRequest>"
    ).encode()


@dataclass(frozen=True)
class HostRecord:
    """What the host-id updater needs of a Qualys host asset."""

    asset_id: int
    host_id: int | None
    address: str
    tracking_method: str | None


def host_page(body: bytes) -> tuple[list[HostRecord], bool, int | None]:
    """(hosts, hasMoreRecords, lastId) of a hostasset search page."""
    root = service_response(body, "host lookup")
    hosts = [
        HostRecord(
            asset_id=int(elem.findtext("id") or 0),
            host_id=_int(elem.findtext("qwebHostId")),
            address=(elem.findtext("address") or "").strip(),
            tracking_method=elem.findtext("trackingMethod"),
        )
        for elem in root.iterfind("data/HostAsset")
    ]
    has_more = (root.findtext("hasMoreRecords") or "false").strip().lower() == "true"
    return hosts, has_more, _int(root.findtext("lastId"))


def chunks(values: list[str], size: int) -> Iterator[list[str]]:
    """``values`` in lists of at most ``size``."""
    for start in range(0, len(values), size):
        yield values[start : start + size]
