"""QPS objects (HostAsset, Asset, Tag) as an element tree that renders to XML or to JSON.

An object is a list of ``(element name, value)`` pairs; a value is a scalar, ``None`` (element
omitted), a nested pair list, or :class:`ListOf` (``<x><list><Type>..</Type></list></x>``; an empty
one renders ``<x><list/></x>``).  Element order follows section 3.4 of the reference.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from xml.sax.saxutils import escape

from simulators.qualys import software as sw
from simulators.qualys.details import AssetDetail
from simulators.qualys.overrides import HOSTASSET_ELEMENTS, HOSTASSET_SOFTWARE_ELEMENTS, AssetOverride
from simulators.qualys.profiles import Profile
from simulators.qualys.tags import TAG_BY_ID, Tag
from simulators.qualys.timefmt import iso_s

Node = tuple[str, object]


@dataclass(slots=True)
class ListOf:
    """A QPS list container holding ``item``-typed elements."""

    item: str
    items: list[list[Node]]


# ----------------------------------------------------------------------------- rendering
#: What XML 1.0 cannot carry at all: the C0 control characters but tab, LF and CR.
_XML_RESTRICTED = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f]")


def _xml_scalar(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    text = escape(str(value))
    if not text.isprintable():  # rare: only odd values laid over an asset hold control characters
        # Written as character references, as Java serialisers write them: still not XML, and a parser says so.
        text = _XML_RESTRICTED.sub(lambda m: f"&#{ord(m.group())};", text)
    return text


def render_xml(name: str, nodes: list[Node], out: list[str], indent: str = "") -> None:
    """Append ``<name>...</name>`` for an object to ``out``."""
    inner = indent + "  "
    out.append(f"{indent}<{name}>\n")
    for key, value in nodes:
        if value is None:
            continue
        if isinstance(value, ListOf):
            if not value.items:
                out.append(f"{inner}<{key}>\n{inner}  <list/>\n{inner}</{key}>\n")
                continue
            out.append(f"{inner}<{key}>\n{inner}  <list>\n")
            for item in value.items:
                if item:
                    render_xml(value.item, item, out, inner + "    ")
                else:
                    out.append(f"{inner}    <{value.item}/>\n")
            out.append(f"{inner}  </list>\n{inner}</{key}>\n")
        elif isinstance(value, list):
            render_xml(key, value, out, inner)
        else:
            out.append(f"{inner}<{key}>{_xml_scalar(value)}</{key}>\n")
    out.append(f"{indent}</{name}>\n")


def to_json(nodes: list[Node]) -> dict[str, object]:
    """Convert an object to the QPS JSON shape (lists as ``{"list": [{"Type": {...}}, ...]}``)."""
    result: dict[str, object] = {}
    for key, value in nodes:
        if value is None:
            continue
        if isinstance(value, ListOf):
            result[key] = {"list": [{value.item: to_json(item)} for item in value.items]}
        elif isinstance(value, list):
            result[key] = to_json(value)
        else:
            result[key] = value
    return result


# ----------------------------------------------------------------------------- objects
def _tag_simple(tag_ids: tuple[int, ...]) -> ListOf:
    return ListOf("TagSimple", [[("id", t), ("name", TAG_BY_ID[t].name)] for t in tag_ids])


def _source_info(detail: AssetDetail) -> ListOf:
    prof = detail.profile
    cloud = detail.cloud
    first = detail.interfaces[0]
    if not cloud:
        return ListOf("AssetSource", [[]])
    common: list[Node] = [
        ("type", ""),
        ("assetId", prof.asset_id),
        ("firstDiscovered", iso_s(prof.created_ms)),
        ("lastUpdated", iso_s(detail.last_modified_ms)),
    ]
    raw_tags = cloud["tags"]
    assert isinstance(raw_tags, list)
    if cloud["provider"] == "aws":
        common[0] = ("type", "EC_2")
        nodes = [
            *common,
            (
                "ec2InstanceTags",
                [("tags", ListOf("EC2Tags", [[("key", k), ("value", v)] for k, v in raw_tags]))],
            ),
            ("reservationId", cloud["reservationId"]),
            ("availabilityZone", cloud["zone"]),
            ("privateDnsName", f"{prof.hostname}.ec2.internal"),
            (
                "publicDnsName",
                f"ec2-{first.public_ip.replace('.', '-')}.compute-1.amazonaws.com" if first.public_ip else "",
            ),
            ("localHostname", prof.hostname),
            ("instanceId", cloud["instanceId"]),
            ("instanceType", cloud["instanceType"]),
            ("createdDate", iso_s(int(str(cloud["launch"])))),
            ("instanceState", cloud["state"]),
            ("groupId", cloud["groupId"]),
            ("groupName", cloud["groupName"]),
            ("spotInstance", cloud["spot"]),
            ("accountId", cloud["accountId"]),
            ("subnetId", cloud["subnetId"]),
            ("vpcId", cloud["vpcId"]),
            ("region", cloud["region"]),
            ("zone", "VPC"),
            ("imageId", cloud["imageId"]),
            ("publicIpAddress", first.public_ip),
            ("privateIpAddress", prof.address),
            ("macAddress", first.mac),
            ("monitoringEnabled", cloud["monitoring"]),
        ]
        return ListOf("Ec2AssetSourceSimple", [nodes])
    if cloud["provider"] == "azure":
        common[0] = ("type", "AZURE")
        nodes = [
            *common,
            (
                "azureVmTags",
                [("tags", ListOf("AzureTags", [[("key", k), ("value", v)] for k, v in raw_tags]))],
            ),
            ("name", prof.hostname),
            ("location", cloud["location"]),
            ("vmSize", cloud["size"]),
            ("vmId", cloud["vmId"]),
            ("offer", cloud["imageOffer"]),
            ("state", cloud["state"]),
            ("publisher", cloud["imagePublisher"]),
            ("version", cloud["imageVersion"]),
            ("osType", "Windows" if prof.os.category1 == "Windows" else "Linux"),
            ("subnet", cloud["subnet"]),
            ("subscriptionId", cloud["subscriptionId"]),
            ("resourceGroupName", cloud["resourceGroupName"]),
            ("macAddress", first.mac),
            ("privateIpAddress", prof.address),
        ]
        return ListOf("AzureAssetSourceSimple", [nodes])
    common[0] = ("type", "GCP")
    nodes = [
        *common,
        ("instanceId", cloud["instanceId"]),
        ("hostname", prof.hostname),
        ("machineType", cloud["machineType"]),
        ("imageId", cloud["imageId"]),
        ("zone", cloud["zone"]),
        ("projectIdNo", cloud["projectIdNo"]),
        ("projectId", cloud["projectId"]),
        ("state", cloud["state"]),
        ("network", cloud["network"]),
        ("macAddress", first.mac),
        ("publicIpAddress", first.public_ip),
        ("privateIpAddress", prof.address),
        ("gcpInstanceTags", [("tags", ListOf("GCPTags", [[("key", k), ("value", v)] for k, v in raw_tags]))]),
    ]
    return ListOf("GcpAssetSourceSimple", [nodes])


def _agent_info(detail: AssetDetail) -> list[Node] | None:
    prof = detail.profile
    if prof.agent_id is None or detail.agent_checked_in_ms is None:
        return None
    platform = {"Windows": "Windows", "Mac": "MacOSX", "Unix": "AIX"}.get(prof.os.category1, "Linux")
    return [
        ("agentVersion", prof.agent_version),
        ("agentId", prof.agent_id),
        ("status", "STATUS_ACTIVE" if prof.index % 19 else "STATUS_INACTIVE"),
        ("lastCheckedIn", iso_s(detail.agent_checked_in_ms)),
        ("connectedFrom", prof.address),
        ("chirpStatus", "Inventory Scan Complete" if prof.index % 7 else "Manifest Downloaded"),
        ("platform", platform),
        ("activatedModule", "AGENT_VM,AGENT_PC" if prof.index % 4 else "AGENT_VM"),
        (
            "manifestVersion",
            [("vm", "VULNSIGS-VM-2.6.81-2"), ("pc", "VULNSIGS-PC-2.6.81-2" if prof.index % 4 else None)],
        ),
        ("agentConfiguration", [("id", 8099 + prof.index % 3), ("name", "Initial Profile")]),
        (
            "activationKey",
            [("activationId", "3ae32b8d-a8cf-4c0e-a477-86fad2dda4f4"), ("title", "Default Key")],
        ),
    ]


def _interfaces(detail: AssetDetail) -> ListOf:
    items: list[list[Node]] = []
    for iface in detail.interfaces:
        addresses = (iface.ipv4 or "").split(", ") if iface.ipv4 else [None]
        for address in addresses:
            items.append(
                [
                    ("hostname", iface.hostname),
                    ("interfaceId", iface.cloud_eni),
                    ("interfaceName", iface.name),
                    ("macAddress", iface.mac),
                    ("type", "PRIVATE" if iface.cloud_eni else None),
                    ("address", address),
                    ("gatewayAddress", iface.gateway),
                ]
            )
        if iface.public_ip:
            items.append(
                [
                    ("interfaceId", iface.cloud_eni),
                    ("interfaceName", iface.name),
                    ("macAddress", iface.mac),
                    ("type", "PUBLIC"),
                    ("address", iface.public_ip),
                ]
            )
    return ListOf("HostAssetInterface", items)


def host_asset(detail: AssetDetail, with_software: bool = True) -> list[Node]:
    """The QPS ``HostAsset`` element tree of an asset."""
    prof = detail.profile
    computer = prof.archetype.cpu_range[1] > 1
    software = ListOf(
        "HostAssetSoftware",
        [
            [
                ("name", sw.PRODUCTS[row.product].raw_name),
                ("version", sw.version_of(sw.PRODUCTS[row.product], row.step)),
            ]
            for row in (detail.software if with_software else [])
        ],
    )
    vulns = ListOf(
        "HostAssetVuln",
        [
            [
                ("qid", 38_170 + (prof.index * 97 + n * 131) % 90_000),
                ("hostInstanceVulnId", prof.host_id * 10 + n),
                ("firstFound", iso_s(prof.created_ms)),
                ("lastFound", iso_s(prof.last_vuln_scan_ms)),
            ]
            for n in range(prof.index % 4 if computer else 0)
        ],
    )
    nodes: list[Node] = [
        ("id", prof.asset_id),
        ("name", prof.asset_name),
        ("created", iso_s(prof.created_ms)),
        ("modified", iso_s(detail.last_modified_ms)),
        ("type", "HOST"),
        ("tags", _tag_simple(prof.tag_ids)),
        ("sourceInfo", _source_info(detail)),
        ("qwebHostId", prof.host_id),
        ("lastComplianceScan", iso_s(prof.last_compliance_ms) if prof.last_compliance_ms else None),
        ("lastVulnScan", iso_s(prof.last_vuln_scan_ms)),
        ("lastSystemBoot", iso_s(detail.last_boot_ms) if computer else None),
        ("lastLoggedOnUser", prof.logged_user),
        ("fqdn", (prof.dns_name or "") if prof.index % 3 == 0 else ""),
        ("os", prof.os.qps_os),
        ("dnsHostName", prof.dns_name),
        ("agentInfo", _agent_info(detail)),
        ("netbiosName", prof.netbios_name),
        ("networkGuid", prof.asset_uuid if prof.agent_id else None),
        ("address", prof.address),
        ("trackingMethod", prof.tracking),
        ("manufacturer", prof.hw_model.manufacturer),
        ("model", prof.hw_model.model),
        ("totalMemory", prof.memory_mb if computer else None),
        ("timezone", prof.timezone),
        ("biosDescription", f"{prof.hw_model.manufacturer} BIOS" if computer else None),
        (
            "openPort",
            ListOf(
                "HostAssetOpenPort",
                [
                    [
                        ("port", p.port),
                        ("protocol", p.protocol),
                        ("serviceId", 1000 + p.port % 997),
                        ("serviceName", p.service),
                    ]
                    for p in detail.ports
                ],
            ),
        ),
        ("software", software),
        ("vuln", vulns),
        (
            "processor",
            ListOf(
                "HostAssetProcessor",
                [
                    [
                        ("name", "Intel(R) Xeon(R) Gold 6430" if prof.os.category1 != "Mac" else "Apple M2"),
                        ("speed", 2100 + (prof.index % 8) * 100),
                    ]
                    for _ in range(prof.n_cpus)
                ],
            ),
        ),
        (
            "volume",
            ListOf("HostAssetVolume", [[("name", n), ("size", s), ("free", f)] for n, s, f in detail.volumes]),
        ),
        ("account", ListOf("HostAssetAccount", [[("username", u)] for u in detail.users])),
        ("networkInterface", _interfaces(detail)),
        ("isDockerHost", prof.archetype.name == "container_host"),
    ]
    return _overridden(nodes, detail.override) if detail.override is not None else nodes


def _overridden(nodes: list[Node], override: AssetOverride) -> list[Node]:
    """``nodes`` of a HostAsset with the override's values in the elements that carry the same facts."""
    laid = {HOSTASSET_ELEMENTS[k]: v for k, v in override.fields.items() if k in HOSTASSET_ELEMENTS}
    out: list[Node] = []
    for key, value in nodes:
        if key in laid:
            value = laid[key]
        elif key == "software" and isinstance(value, ListOf) and override.software:
            rows = [_software_row(row, override.software.get(n)) for n, row in enumerate(value.items)]
            value = ListOf(value.item, rows)
        out.append((key, value))
    return out


def _software_row(row: list[Node], fields: dict[str, object] | None) -> list[Node]:
    """A HostAssetSoftware row with the override's values of a CSAM software row, where they have an element."""
    if not fields:
        return row
    laid = {HOSTASSET_SOFTWARE_ELEMENTS[k]: v for k, v in fields.items() if k in HOSTASSET_SOFTWARE_ELEMENTS}
    return [(key, laid.get(key, value)) for key, value in row]


def generic_asset(prof: Profile, modified_ms: int) -> list[Node]:
    """The QPS generic ``Asset`` element tree."""
    return [
        ("id", prof.asset_id),
        ("name", prof.asset_name),
        ("created", iso_s(prof.created_ms)),
        ("modified", iso_s(modified_ms)),
        ("type", "HOST"),
        ("criticalityScore", 1 + prof.index % 5),
        ("tags", _tag_simple(prof.tag_ids)),
    ]


def tag_object(tag: Tag, children: list[Tag]) -> list[Node]:
    """The QPS ``Tag`` element tree (``children``: the tags whose parent it is)."""
    return [
        ("id", tag.id),
        ("name", tag.name),
        ("created", tag.created),
        ("modified", tag.modified),
        ("ruleType", tag.rule_type),
        ("ruleText", tag.rule_text),
        ("parentTagId", tag.parent_id),
        ("color", tag.color),
        ("criticalityScore", tag.criticality),
        ("description", tag.description),
        ("provider", tag.provider),
        ("reEvalStatus", "COMPLETED" if tag.rule_type != "STATIC" else None),
        ("children", ListOf("TagSimple", [[("id", c.id), ("name", c.name)] for c in children])),
    ]
