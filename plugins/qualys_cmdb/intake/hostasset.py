"""QPS HostAsset XML → landing rows, one streaming pass (lxml iterparse) over a stored page.

Safe parsing: no DTD loading, no entity expansion, no network. Each ``HostAsset`` element is dropped as soon as it
is turned into rows, so memory does not grow with the page. Element names follow reference/qualys-api.md §3.4.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import IO

from lxml import etree

from qualys_cmdb.config import DetailFlags
from qualys_cmdb.intake.records import (
    AssetRecord,
    cloud_row,
    integer,
    software_key,
    split_addresses,
    text,
    timestamp,
)

_CLOUD = {"Ec2AssetSourceSimple": "aws", "AzureAssetSourceSimple": "azure", "GcpAssetSourceSimple": "gcp"}


def parse_hostasset_page(stream: IO[bytes], source: str, details: DetailFlags) -> Iterator[AssetRecord]:
    """Yield one :class:`AssetRecord` per ``HostAsset`` of a QPS ServiceResponse page."""
    for _, elem in etree.iterparse(
        stream,
        events=("end",),
        tag="HostAsset",
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        huge_tree=True,
    ):
        yield hostasset(elem, source, details)
        elem.clear()
        parent = elem.getparent()
        while parent is not None and elem.getprevious() is not None:
            del parent[0]


def _t(elem: etree._Element, path: str) -> str | None:
    return text(elem.findtext(path))


def hostasset(e: etree._Element, source: str, details: DetailFlags) -> AssetRecord:
    """The landing rows of one ``HostAsset`` element."""
    asset_id = integer(e.findtext("id"))
    if asset_id is None:
        raise ValueError("a HostAsset without id")
    cloud_elem = next((c for c in e.iterfind("sourceInfo/list/*") if c.tag in _CLOUD), None)
    record = AssetRecord(
        asset={
            "source": source,
            "asset_id": asset_id,
            "asset_uuid": None,
            "qweb_host_id": integer(e.findtext("qwebHostId")),
            "agent_id": _t(e, "agentInfo/agentId"),
            "name": _t(e, "name"),
            "dns_name": _t(e, "dnsHostName"),
            "netbios_name": _t(e, "netbiosName"),
            "ip_address": _t(e, "address"),
            "asset_type": _t(e, "type"),
            "tracking_method": _t(e, "trackingMethod"),
            "bios_serial_number": None,
            "bios_asset_tag": None,
            "bios_description": _t(e, "biosDescription"),
            "hw_uuid": None,
            "memory_mb": integer(e.findtext("totalMemory")),
            "cpu_count": None,
            "timezone": _t(e, "timezone"),
            "last_boot": timestamp(e.findtext("lastSystemBoot")),
            "last_logged_on_user": _t(e, "lastLoggedOnUser"),
            "domain_role": None,
            "cloud_provider": _CLOUD[cloud_elem.tag] if cloud_elem is not None else None,
            "created_date": timestamp(e.findtext("created")),
            "last_modified_date": timestamp(e.findtext("modified")),
        }
    )
    os_text = _t(e, "os")
    if os_text:
        record.add("os", {"os_name": os_text, "os_full_name": os_text})
    manufacturer, model = _t(e, "manufacturer"), _t(e, "model")
    if manufacturer or model:
        record.add("hardware", {"hardware_manufacturer": manufacturer, "hardware_model": model})
    for tag in e.iterfind("tags/list/TagSimple"):
        name = _t(tag, "name")
        if name:
            record.add("tag", {"tag_id": integer(tag.findtext("id")), "tag_name": name})
    if cloud_elem is not None:
        record.add("cloud", _cloud_row(_CLOUD[cloud_elem.tag], cloud_elem))
    primary = record.asset["ip_address"]
    seen = {primary} if primary else set()
    if primary:
        record.add("ip_address", {"ip_address": primary, "ip_version": 6 if ":" in primary else 4})
    nics = e.iterfind("networkInterface/list/HostAssetInterface") if details.interfaces else iter(())
    for nic in nics:
        name, mac = _t(nic, "interfaceName"), _t(nic, "macAddress")
        addresses = split_addresses(nic.findtext("address"))
        record.add(
            "network_interface",
            {
                "interface_name": name,
                "mac_address": mac,
                "hostname": _t(nic, "hostname"),
                "ipv4_addresses": ", ".join(a for a in addresses if ":" not in a) or None,
                "ipv6_addresses": ", ".join(a for a in addresses if ":" in a) or None,
                "gateway_address": _t(nic, "gatewayAddress"),
            },
        )
        for address in addresses:
            if address not in seen:
                seen.add(address)
                record.add(
                    "ip_address",
                    {
                        "ip_address": address,
                        "ip_version": 6 if ":" in address else 4,
                        "interface_name": name,
                        "mac_address": mac,
                    },
                )
    if details.ports:
        for port in e.iterfind("openPort/list/HostAssetOpenPort"):
            number = integer(port.findtext("port"))
            if number is not None:
                record.add(
                    "open_port",
                    {"port": number, "protocol": _t(port, "protocol"), "detected_service": _t(port, "serviceName")},
                )
    if details.volumes:
        for vol in e.iterfind("volume/list/HostAssetVolume"):
            record.add(
                "volume",
                {
                    "name": _t(vol, "name"),
                    "total_size": integer(vol.findtext("size")),
                    "free_size": integer(vol.findtext("free")),
                },
            )
    if details.processors:
        for proc in e.iterfind("processor/list/HostAssetProcessor"):
            record.add(
                "processor",
                {"processor_description": _t(proc, "name"), "processor_speed": integer(proc.findtext("speed"))},
            )
    if details.software:
        for sw in e.iterfind("software/list/HostAssetSoftware"):
            name, version = _t(sw, "name"), _t(sw, "version")
            record.software.append(
                {"software_key": software_key(name, version, None, None), "name": name, "version": version}
            )
    record.seal()
    return record


def _cloud_row(provider: str, c: etree._Element) -> dict[str, object]:
    tags = {}
    for pair in c.iterfind(".//tags/list/*"):
        key = _t(pair, "key")
        if key:
            tags[key] = _t(pair, "value")
    return cloud_row(provider, lambda name: _t(c, name), tags)
