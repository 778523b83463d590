"""FO ``/api/2.0/fo/asset/group/``: ``list`` (GET/POST), ``edit``, ``add`` and ``delete`` (POST only).

``list`` gives ``ASSET_GROUP_LIST_OUTPUT`` sorted by ID; past ``truncation_limit`` (default 1000, 0 = no
limit) the output ends with ``RESPONSE/WARNING/{CODE, TEXT, URL}`` where URL is the same request with
``id_min`` set to the next group's id.  ``edit`` returns "Asset Group Updated Successfully"; IPs put into a
group must already be in the subscription (estate addresses or IPs added with ``asset/ip`` ``action=add``),
otherwise the whole call is refused and nothing changes.  The "All" group holds every subscription IP and
cannot be edited or deleted.
"""

from __future__ import annotations

from urllib.parse import urlencode
from xml.sax.saxutils import escape

from simulators.qualys import ipsets
from simulators.qualys.fo_common import FoCall, FoError, cdata, simple_return
from simulators.qualys.replies import Reply
from simulators.qualys.timefmt import iso_s
from simulators.qualys.unverified import text
from simulators.qualys.vm import BUSINESS_IMPACTS, MAX_IPS_PER_CALL, AssetGroup, VmState

DEFAULT_TRUNCATION = 1000
# show_attributes name -> elements it selects
_ATTRIBUTE_ELEMENTS: dict[str, tuple[str, ...]] = {
    "ID": (),
    "TITLE": ("TITLE",),
    "OWNER_USER_NAME": ("OWNER_USER_NAME",),
    "OWNER_USER_ID": ("OWNER_ID", "OWNER_USER_ID"),
    "OWNER_UNIT_ID": ("UNIT_ID",),
    "NETWORK_IDS": ("NETWORK_ID",),
    "LAST_UPDATE": ("LAST_UPDATE",),
    "IP_SET": ("IP_SET",),
    "APPLIANCE_LIST": ("DEFAULT_APPLIANCE_ID", "APPLIANCE_IDS"),
    "DOMAIN_LIST": ("DOMAIN_LIST",),
    "DNS_LIST": ("DNS_LIST",),
    "NETBIOS_LIST": ("NETBIOS_LIST",),
    "EC2_ID_LIST": (),
    "HOST_IDS": ("HOST_IDS",),
    "ASSIGNED_USER_IDS": ("ASSIGNED_USER_IDS",),
    "ASSIGNED_UNIT_IDS": ("ASSIGNED_UNIT_IDS",),
    "BUSINESS_IMPACT": ("BUSINESS_IMPACT",),
    "CVSS": ("CVSS",),
    "COMMENTS": ("COMMENTS",),
}
_ALL_ELEMENTS = frozenset(e for elements in _ATTRIBUTE_ELEMENTS.values() for e in elements)
_CVSS = ("CDP", "TD", "CR", "IR", "AR")


# ----------------------------------------------------------------------------- list
def _selected_elements(call: FoCall) -> frozenset[str]:
    raw = (call.value("show_attributes") or "").strip()
    if not raw or raw.upper() == "ALL":
        return _ALL_ELEMENTS
    chosen: set[str] = set()
    for piece in raw.split(","):
        name = piece.strip().upper()
        if name == "ALL":
            return _ALL_ELEMENTS
        if name not in _ATTRIBUTE_ELEMENTS:
            raise FoError(400, 1905, text("fo.bad_value", name="show_attributes", value=raw))
        chosen.update(_ATTRIBUTE_ELEMENTS[name])
    return frozenset(chosen)


def _render_group(vm: VmState, group: AssetGroup, elements: frozenset[str]) -> str:
    ind = "        "
    out = [f"      <ASSET_GROUP>\n{ind}<ID>{group.id}</ID>\n"]

    def add(name: str, value: str) -> None:
        if name in elements:
            out.append(f"{ind}<{name}>{value}</{name}>\n")

    add("TITLE", cdata(group.title))
    if not group.is_all:
        add("OWNER_ID", str(group.owner_user_id))
    add("OWNER_USER_ID", str(group.owner_user_id))
    add("OWNER_USER_NAME", cdata(group.owner_user_name))
    add("UNIT_ID", str(group.unit_id))
    add("LAST_UPDATE", iso_s(group.last_update_ms))
    add("NETWORK_ID", str(group.network_id))
    members = vm.group_ips(group)
    if "IP_SET" in elements and members:
        out.append(f"{ind}<IP_SET>\n")
        out.extend(f"{ind}  {line}\n" for line in ipsets.xml_lines(members))
        out.append(f"{ind}</IP_SET>\n")
    add("BUSINESS_IMPACT", cdata(group.business_impact))
    if group.default_appliance_id is not None:
        add("DEFAULT_APPLIANCE_ID", str(group.default_appliance_id))
    if group.appliance_ids:
        add("APPLIANCE_IDS", ", ".join(str(a) for a in group.appliance_ids))
    if "DNS_LIST" in elements and group.dns_names:
        out.append(f"{ind}<DNS_LIST>\n")
        out.extend(f"{ind}  <DNS>{cdata(name)}</DNS>\n" for name in group.dns_names)
        out.append(f"{ind}</DNS_LIST>\n")
    if "NETBIOS_LIST" in elements and group.netbios_names:
        out.append(f"{ind}<NETBIOS_LIST>\n")
        out.extend(f"{ind}  <NETBIOS>{cdata(name)}</NETBIOS>\n" for name in group.netbios_names)
        out.append(f"{ind}</NETBIOS_LIST>\n")
    if "HOST_IDS" in elements:
        host_ids = []
        estate = vm.estate
        for ip in members:
            index = estate.index_of_address(ip)
            if index is not None:
                host_ids.append(estate.profile(index).host_id)
        if host_ids:
            add("HOST_IDS", ", ".join(str(h) for h in sorted(host_ids)))
    if group.assigned_user_ids:
        add("ASSIGNED_USER_IDS", ", ".join(str(u) for u in group.assigned_user_ids))
    if group.unit_id:
        add("ASSIGNED_UNIT_IDS", str(group.unit_id))
    if "CVSS" in elements:
        for key in _CVSS:
            if group.cvss.get(key):
                out.append(f"{ind}<CVSS_ENVIRO_{key}>{escape(group.cvss[key])}</CVSS_ENVIRO_{key}>\n")
    if group.comments:
        add("COMMENTS", cdata(group.comments))
    out.append("      </ASSET_GROUP>\n")
    return "".join(out)


def _next_url(call: FoCall, next_id: int) -> str:
    pairs = [(key, value) for key, values in call.params.items() if key != "id_min" for value in values]
    pairs.append(("id_min", str(next_id)))
    return f"{call.base_url}{call.path}?{urlencode(pairs)}"


def group_list(call: FoCall) -> Reply:
    """``action=list``: ASSET_GROUP_LIST_OUTPUT with truncation/WARNING paging."""
    call.check_params(
        (
            "ids",
            "id_min",
            "id_max",
            "truncation_limit",
            "title",
            "network_ids",
            "unit_id",
            "user_id",
            "show_attributes",
            "output_format",
            "echo_request",
        )
    )
    output_format = (call.value("output_format") or "xml").strip().lower()
    if output_format == "csv":
        raise FoError(400, 1905, text("fo.csv_not_supported"))
    if output_format != "xml":
        raise FoError(400, 1905, text("fo.bad_value", name="output_format", value=call.value("output_format")))
    ids = call.integers("ids", ranges=True)
    id_min = call.integer("id_min")
    id_max = call.integer("id_max")
    limit = call.integer("truncation_limit")
    limit = DEFAULT_TRUNCATION if limit is None else limit
    networks = call.integers("network_ids")
    unit_id = call.integer("unit_id")
    user_id = call.integer("user_id")
    title = call.value("title")
    call.flag("echo_request")
    elements = _selected_elements(call)
    sub = call.sub
    vm = sub.vm
    with vm.lock:
        matches: list[AssetGroup] = []
        for group in sorted(vm.groups().values(), key=lambda g: g.id):
            if ids is not None and not any(low <= group.id <= high for low, high in ids):
                continue
            if id_min is not None and group.id < id_min:
                continue
            if id_max is not None and group.id > id_max:
                continue
            if title is not None and title.strip() and group.title != title.strip():
                continue
            if networks is not None and not any(low <= group.network_id <= high for low, high in networks):
                continue
            if unit_id is not None and group.unit_id != unit_id:
                continue
            if user_id is not None and group.owner_user_id != user_id:
                continue
            matches.append(group)
        truncated = bool(limit) and len(matches) > limit
        page = matches[:limit] if truncated else matches
        rendered = [_render_group(vm, group, elements) for group in page]
    head = (
        '<?xml version="1.0" encoding="UTF-8" ?>\n'
        f'<!DOCTYPE ASSET_GROUP_LIST_OUTPUT SYSTEM "{sub.api_url}/api/2.0/fo/asset/group/'
        'asset_group_list_output.dtd">\n'
        f"<ASSET_GROUP_LIST_OUTPUT>\n  <RESPONSE>\n    <DATETIME>{iso_s(sub.estate.now_ms())}</DATETIME>\n"
    )
    if rendered:
        head += "    <ASSET_GROUP_LIST>\n"
    chunks = [head.encode()]
    chunks.extend(r.encode() for r in rendered)
    tail = "    </ASSET_GROUP_LIST>\n" if rendered else ""
    if truncated:
        tail += (
            "    <WARNING>\n      <CODE>1980</CODE>\n"
            f"      <TEXT>{escape(text('fo.truncated', limit=limit))}</TEXT>\n"
            f"      <URL>{cdata(_next_url(call, matches[limit].id))}</URL>\n    </WARNING>\n"
        )
    tail += "  </RESPONSE>\n</ASSET_GROUP_LIST_OUTPUT>\n"
    chunks.append(tail.encode())
    reply = Reply(200, chunks, "text/xml;charset=UTF-8")
    if rendered:
        reply.data_offset = len(chunks[0])
        reply.utf8_marker = b"<TITLE><![CDATA["
    return reply


# ----------------------------------------------------------------------------- edit / add / delete
def _group_id(call: FoCall) -> int:
    call.require("id")
    group_id = call.integer("id")
    assert group_id is not None
    return group_id


def _find(vm: VmState, group_id: int) -> AssetGroup:
    group = vm.groups().get(group_id)
    if group is None:
        raise FoError(400, 1905, text("fo.ag_not_found", id=group_id))
    if group.is_all:
        raise FoError(400, 1905, text("fo.ag_all_readonly"))
    return group


def _business_impact(call: FoCall, name: str) -> str | None:
    raw = call.value(name)
    if raw is None:
        return None
    for level in BUSINESS_IMPACTS:
        if raw.strip().casefold() == level.casefold():
            return level
    raise FoError(400, 1905, text("fo.bad_value", name=name, value=raw))


def _title(call: FoCall, name: str) -> str | None:
    raw = call.value(name)
    if raw is None:
        return None
    if not raw.strip() or len(raw.strip()) > 255:
        raise FoError(400, 1905, text("fo.bad_value", name=name, value=raw))
    return raw.strip()


def _check_title_free(vm: VmState, title: str, group_id: int | None) -> None:
    other = vm.group_by_title(title)
    if other is not None and other.id != group_id:
        raise FoError(400, 1905, text("fo.ag_duplicate_title", title=title))


def _check_in_subscription(vm: VmState, ranges: list[ipsets.Range]) -> None:
    missing = vm.missing(ranges)
    if missing:
        raise FoError(400, 1905, text("fo.ips_not_in_subscription", ips=ipsets.fmt_ranges(missing)))


def _trio(call: FoCall, kind: str) -> None:
    present = [f"{verb}_{kind}" for verb in ("set", "add", "remove") if call.given(f"{verb}_{kind}")]
    if f"set_{kind}" in present and len(present) > 1:
        raise FoError(400, 1904, text("fo.only_one", params=", ".join(present)))


_EDIT_UNSUPPORTED = (
    "add_appliance_ids",
    "remove_appliance_ids",
    "set_appliance_ids",
    "set_default_appliance_id",
    "add_domains",
    "remove_domains",
    "set_domains",
    "set_cvss_enviro_cdp",
    "set_cvss_enviro_td",
    "set_cvss_enviro_cr",
    "set_cvss_enviro_ir",
    "set_cvss_enviro_ar",
    "set_division",
    "set_function",
    "set_location",
)
_ADD_UNSUPPORTED = (
    "appliance_ids",
    "default_appliance_id",
    "domains",
    "cvss_enviro_cdp",
    "cvss_enviro_td",
    "cvss_enviro_cr",
    "cvss_enviro_ir",
    "cvss_enviro_ar",
    "division",
    "function",
    "location",
)


def _names_after(current: list[str], call: FoCall, kind: str) -> list[str]:
    setting = call.names(f"set_{kind}")
    if setting is not None:
        return list(dict.fromkeys(setting))
    result = list(current)
    for name in call.names(f"add_{kind}") or []:
        if name not in result:
            result.append(name)
    removing = {n.casefold() for n in call.names(f"remove_{kind}") or []}
    return [n for n in result if n.casefold() not in removing]


def group_edit(call: FoCall) -> Reply:
    """``action=edit`` (POST)."""
    call.require_post()
    call.check_params(
        (
            "id",
            "set_title",
            "add_ips",
            "remove_ips",
            "set_ips",
            "add_dns_names",
            "remove_dns_names",
            "set_dns_names",
            "add_netbios_names",
            "remove_netbios_names",
            "set_netbios_names",
            "set_comments",
            "set_business_impact",
            "echo_request",
        ),
        _EDIT_UNSUPPORTED,
    )
    group_id = _group_id(call)
    for kind in ("ips", "dns_names", "netbios_names"):
        _trio(call, kind)
    set_ips = call.ips("set_ips", cap=MAX_IPS_PER_CALL)
    add_ips = call.ips("add_ips", cap=MAX_IPS_PER_CALL)
    remove_ips = call.ips("remove_ips", cap=MAX_IPS_PER_CALL)
    title = _title(call, "set_title")
    impact = _business_impact(call, "set_business_impact")
    comments = call.value("set_comments")
    call.flag("echo_request")
    sub = call.sub
    vm = sub.vm
    with vm.lock:
        group = _find(vm, group_id)
        if title is not None:
            _check_title_free(vm, title, group.id)
        _check_in_subscription(vm, (set_ips or []) + (add_ips or []))
        before = (
            set(group.ips),
            list(group.dns_names),
            list(group.netbios_names),
            group.title,
            group.comments,
            group.business_impact,
        )
        if set_ips is not None:
            group.ips = set(ipsets.expand(set_ips))
        if add_ips:
            group.ips.update(ipsets.expand(add_ips))
        if remove_ips:
            group.ips = {ip for ip in group.ips if not ipsets.contains(remove_ips, ip)}
        group.dns_names = _names_after(group.dns_names, call, "dns_names")
        group.netbios_names = _names_after(group.netbios_names, call, "netbios_names")
        if title is not None:
            group.title = title
        if comments is not None:
            group.comments = comments.strip()
        if impact is not None:
            group.business_impact = impact
        after = (
            group.ips,
            group.dns_names,
            group.netbios_names,
            group.title,
            group.comments,
            group.business_impact,
        )
        if after != before:
            group.last_update_ms = sub.estate.now_ms()
    return simple_return(sub, 200, None, "Asset Group Updated Successfully")


def group_add(call: FoCall) -> Reply:
    """``action=add`` (POST): a new group; returns its ID in ITEM_LIST."""
    call.require_post()
    call.check_params(
        ("title", "ips", "comments", "business_impact", "dns_names", "netbios_names", "echo_request"),
        _ADD_UNSUPPORTED,
    )
    call.require("title")
    title = _title(call, "title")
    assert title is not None
    ips = call.ips("ips", cap=MAX_IPS_PER_CALL) or []
    impact = _business_impact(call, "business_impact") or "High"
    call.flag("echo_request")
    sub = call.sub
    vm = sub.vm
    with vm.lock:
        _check_title_free(vm, title, None)
        _check_in_subscription(vm, ips)
        group_id = vm.next_group_id()
        owner = call.account.username if call.account is not None else vm.owner_name
        vm.groups()[group_id] = AssetGroup(
            id=group_id,
            title=title,
            owner_user_id=vm.owner_user_id,
            owner_user_name=owner,
            unit_id=0,
            network_id=0,
            last_update_ms=sub.estate.now_ms(),
            ips=set(ipsets.expand(ips)),
            dns_names=list(dict.fromkeys(call.names("dns_names") or [])),
            netbios_names=list(dict.fromkeys(call.names("netbios_names") or [])),
            business_impact=impact,
            comments=(call.value("comments") or "").strip(),
            assigned_user_ids=[vm.owner_user_id],
        )
    return simple_return(sub, 200, None, text("fo.ag_added"), [("ID", str(group_id))])


def group_delete(call: FoCall) -> Reply:
    """``action=delete`` (POST)."""
    call.require_post()
    call.check_params(("id", "echo_request"))
    group_id = _group_id(call)
    call.flag("echo_request")
    sub = call.sub
    vm = sub.vm
    with vm.lock:
        _find(vm, group_id)
        del vm.groups()[group_id]
    return simple_return(sub, 200, None, text("fo.ag_deleted"), [("ID", str(group_id))])
