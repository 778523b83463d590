"""Render one estate asset as a CSAM/GAV ``asset`` JSON object (section 4.4 of the reference).

Quirks reproduced on purpose: top-level dates are ISO strings with milliseconds while agent/sensor/
inventory times are epoch-ms ints (``-1``/``0`` for "never"); ``cloudProvider`` is keyed by provider
with the inactive providers null; ``addressIpV4`` holds several addresses joined by ", "; software ids
exceed 2**53; placeholders (``",,"``, ``"Not Announced"``) appear in string and date fields; empty
list containers other than software come back as ``null``; CSAM-only/EASM fields are absent on most
assets; nameless assets have no ``dnsName`` and an empty ``assetName``.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterable

from simulators.qualys import software as sw
from simulators.qualys.details import AssetDetail
from simulators.qualys.operating_systems import NA
from simulators.qualys.tags import TAG_BY_ID
from simulators.qualys.timefmt import DAY_MS, iso_ms

# Top-level keys in the order the Qualys sample asset uses.
TOP_LEVEL_KEYS: tuple[str, ...] = (
    "assetId",
    "assetUUID",
    "hostId",
    "lastModifiedDate",
    "agentId",
    "createdDate",
    "sensorLastUpdatedDate",
    "assetType",
    "address",
    "dnsName",
    "assetName",
    "netbiosName",
    "timeZone",
    "biosDescription",
    "lastBoot",
    "totalMemory",
    "cpuCount",
    "lastLoggedOnUser",
    "domainRole",
    "hwUUID",
    "biosSerialNumber",
    "biosAssetTag",
    "isContainerHost",
    "operatingSystem",
    "hardware",
    "userAccountListData",
    "openPortListData",
    "volumeListData",
    "networkInterfaceListData",
    "softwareListData",
    "softwareComponent",
    "provider",
    "cloudProvider",
    "agent",
    "sensor",
    "container",
    "inventory",
    "activity",
    "tagList",
    "serviceList",
    "lastLocation",
    "criticality",
    "businessInformation",
    "assignedLocation",
    "businessAppListData",
    "riskScore",
    "passiveSensor",
    "domain",
    "subdomain",
    "missingSoftware",
    "whois",
    "organizationName",
    "isp",
    "asn",
    "easmTags",
    "hostingCategory1",
    "customAttributes",
    "lparId",
    "processor",
)
ALWAYS_INCLUDED = frozenset({"assetId", "lastModifiedDate"})

# includeFields/excludeFields tokens (short qualysdk-style names and container names) -> top-level keys.
_ALIASES: dict[str, str] = {
    "software": "softwareListData",
    "openport": "openPortListData",
    "port": "openPortListData",
    "networkinterface": "networkInterfaceListData",
    "interface": "networkInterfaceListData",
    "volume": "volumeListData",
    "useraccount": "userAccountListData",
    "account": "userAccountListData",
    "tag": "tagList",
    "tags": "tagList",
    "service": "serviceList",
    "services": "serviceList",
    "businessapp": "businessAppListData",
    "os": "operatingSystem",
}
_BY_LOWER = {key.lower(): key for key in TOP_LEVEL_KEYS}


def resolve_field_token(token: str) -> str | None:
    """Map an includeFields/excludeFields token to a top-level key (None when unknown)."""
    lowered = token.strip().lower()
    if not lowered:
        return None
    return _BY_LOWER.get(lowered) or _ALIASES.get(lowered)


class FieldSelection:
    """Which top-level keys a response carries, from includeFields / excludeFields."""

    def __init__(self, include: Iterable[str] | None = None, exclude: Iterable[str] | None = None) -> None:
        inc = {k for k in (resolve_field_token(t) for t in include or ()) if k}
        exc = {k for k in (resolve_field_token(t) for t in exclude or ()) if k}
        keys = set(TOP_LEVEL_KEYS) if not include else inc | ALWAYS_INCLUDED
        self.keys = frozenset((keys - exc) | ALWAYS_INCLUDED)

    def __contains__(self, key: object) -> bool:
        return key in self.keys


ALL_FIELDS = FieldSelection()
_SOFTWARE_SENTINEL = "\u0000SOFTWARE\u0000"
_SOFTWARE_TOKEN = json.dumps(_SOFTWARE_SENTINEL)
_SEP = (",", ":")


def _date(day: str) -> str:
    return day if day in (NA, ",,", ",") else f"{day}T00:00:00.000Z"


def _os(detail: AssetDetail) -> dict[str, object]:
    os = detail.profile.os
    vendor = os.publisher.split()[0].lower()
    return {
        "osName": os.os_name,
        "fullName": os.full_name,
        "category": os.category,
        "category1": os.category1,
        "category2": os.category2,
        "productName": os.product_name,
        "publisher": os.publisher,
        "edition": os.edition,
        "marketVersion": os.market_version,
        "version": os.version,
        "update": os.update,
        "architecture": os.architecture,
        "lifecycle": {
            "gaDate": _date(os.ga),
            "eolDate": _date(os.eol),
            "eosDate": _date(os.eos),
            "stage": os.stage,
            "lifeCycleConfidence": os.confidence,
            "eolSupportStage": "Not Applicable" if os.eol == NA else "End of Life",
            "eosSupportStage": "Not Applicable" if os.eos == NA else "End of Support",
            "detectionScore": 100 if os.confidence == "Exact" else 80,
        },
        "taxonomy": {
            "id": f"os-{os.key}",
            "name": os.category,
            "category1": os.category1,
            "category2": os.category2,
        },
        "productUrl": None if os.publisher == ",," else f"https://www.{os.publisher.split()[0].lower()}.com",
        "productFamily": os.os_name.split()[0],
        "installDate": iso_ms(detail.profile.created_ms),
        "release": os.update,
        "cpeId": None,
        "cpe": f"cpe:2.3:o:{vendor}:{os.os_name.lower().replace(' ', '_')}:{os.version}:*",
        "cpeType": "Operating System",
    }


def _hardware(detail: AssetDetail, rng: random.Random) -> dict[str, object]:
    prof = detail.profile
    cat1, cat2 = prof.hw_pair
    model = prof.hw_model
    intro = 2012 + prof.index % 11
    announced = rng.random() < 0.6
    return {
        "fullName": f"{model.manufacturer} {model.product}",
        "category": f"{cat1} / {cat2}",
        "category1": cat1,
        "category2": cat2,
        "manufacturer": model.manufacturer,
        "productName": model.product,
        "model": model.model,
        "lifecycle": {
            "introDate": f"{intro}-03-01T00:00:00.000Z",
            "gaDate": f"{intro}-06-01T00:00:00.000Z" if announced else NA,
            "eosDate": f"{intro + 7}-06-30T00:00:00.000Z" if announced else NA,
            "obsoleteDate": f"{intro + 9}-06-30T00:00:00.000Z" if announced else ",,",
            "stage": ("GA" if intro + 7 > 2026 else "EOS") if announced else "Not Applicable",
            "lifeCycleConfidence": "Exact" if announced else "Approximate",
        },
        "taxonomy": {
            "id": f"hw-{cat1[:3].lower()}-{len(cat2)}",
            "name": f"{cat1} / {cat2}",
            "category1": cat1,
            "category2": cat2,
        },
        "productUrl": None if not announced else f"https://www.{model.manufacturer.split()[0].lower()}.com",
        "productFamily": model.product.split()[0],
    }


def _cloud_provider(cloud: dict[str, object], detail: AssetDetail) -> dict[str, object]:
    prof = detail.profile
    first = detail.interfaces[0]
    result: dict[str, object] = {
        "aws": None,
        "azure": None,
        "gcp": None,
        "oci": None,
        "ibm": None,
        "alibaba": None,
    }
    raw_tags = cloud["tags"]
    assert isinstance(raw_tags, list)
    if cloud["provider"] == "aws":
        result["aws"] = {
            "ec2": {
                "accountId": cloud["accountId"],
                "availabilityZone": cloud["zone"],
                "hasAgent": prof.agent_id is not None,
                "hostname": prof.hostname,
                "imageId": cloud["imageId"],
                "instanceId": cloud["instanceId"],
                "instanceState": cloud["state"],
                "instanceType": cloud["instanceType"],
                "qualysScanner": False,
                "kernelId": None,
                "launchdate": cloud["launch"],
                "privateDNS": f"{prof.hostname}.ec2.internal",
                "privateIpAddress": prof.address,
                "publicDNS": None
                if not first.public_ip
                else f"ec2-{first.public_ip.replace('.', '-')}.compute-1.amazonaws.com",
                "publicIpAddress": first.public_ip,
                "region": {"code": cloud["region"], "name": cloud["regionName"]},
                "spotInstance": cloud["spot"],
                "subnetId": cloud["subnetId"],
                "vpcId": cloud["vpcId"],
            },
            "tags": [{"key": k, "value": v} for k, v in raw_tags],
        }
    elif cloud["provider"] == "azure":
        result["azure"] = {
            "vm": {
                "imageOffer": cloud["imageOffer"],
                "imagePublisher": cloud["imagePublisher"],
                "imageVersion": cloud["imageVersion"],
                "location": cloud["location"],
                "macAddress": first.mac,
                "name": prof.hostname,
                "platform": "Windows" if prof.os.category1 == "Windows" else "Linux",
                "resourceGroupName": cloud["resourceGroupName"],
                "size": cloud["size"],
                "state": cloud["state"],
                "subnet": cloud["subnet"],
                "subscriptionId": cloud["subscriptionId"],
                "virtualNetwork": cloud["virtualNetwork"],
                "vmId": cloud["vmId"],
            },
            "tags": [{"name": k, "value": v} for k, v in raw_tags],
        }
    else:
        result["gcp"] = {
            "compute": {
                "instanceId": cloud["instanceId"],
                "hostname": prof.hostname,
                "machineType": cloud["machineType"],
                "imageId": cloud["imageId"],
                "zone": cloud["zone"],
                "projectId": cloud["projectId"],
                "projectIdNo": cloud["projectIdNo"],
                "state": cloud["state"],
                "network": cloud["network"],
                "macAddress": first.mac,
                "privateIpAddress": prof.address,
                "publicIpAddress": first.public_ip,
            },
            "tags": [{"key": k, "value": v} for k, v in raw_tags],
        }
    return result


def _software_json(detail: AssetDetail) -> str:
    overridden = detail.override.software if detail.override else None
    parts = []
    for n, row in enumerate(detail.software):
        product = sw.PRODUCTS[row.product]
        prefix, install_path, suffix = sw.row_template(row.product, sw.version_of(product, row.step))
        install = f'"{iso_ms(row.install_ms)}"' if row.install_ms is not None else "null"
        last_use = f'"{iso_ms(row.last_use_ms)}"' if row.last_use_ms is not None else "null"
        part = (
            f'{prefix}"installDate":{install},"installPath":{install_path},'
            f'"lastUpdated":"{iso_ms(row.updated_ms)}","lastUseDate":{last_use},{suffix}'
        )
        if overridden and n in overridden:
            part = json.dumps({**json.loads(part), **overridden[n]}, separators=_SEP)
        parts.append(part)
    return '{"software":[' + ",".join(parts) + "]}"


def build_asset(detail: AssetDetail, fields: FieldSelection = ALL_FIELDS) -> dict[str, object]:
    """The asset as a dict (softwareListData replaced by a sentinel; see :func:`render_asset`)."""
    prof = detail.profile
    arch = prof.archetype
    rng = random.Random(f"csam:{prof.asset_uuid}:{detail.revision}")
    computer = arch.cpu_range[1] > 1
    modified = detail.last_modified_ms
    agent = prof.agent_id is not None
    doc: dict[str, object] = {}
    put = doc.__setitem__
    w = fields.keys
    put("assetId", prof.asset_id)
    if "assetUUID" in w:
        put("assetUUID", prof.asset_uuid)
    if "hostId" in w:
        put("hostId", prof.host_id)
    put("lastModifiedDate", iso_ms(modified))
    if "agentId" in w:
        put("agentId", prof.agent_id)
    if "createdDate" in w:
        put("createdDate", iso_ms(prof.created_ms))
    if "sensorLastUpdatedDate" in w:
        put("sensorLastUpdatedDate", iso_ms(modified))
    if "assetType" in w:
        put("assetType", "HOST")
    if "address" in w:
        put("address", prof.address)
    if "dnsName" in w and prof.has_name:
        put("dnsName", prof.dns_name)
    if "assetName" in w:
        put("assetName", prof.asset_name)
    if "netbiosName" in w:
        put("netbiosName", prof.netbios_name)
    if "timeZone" in w:
        put("timeZone", prof.timezone)
    if "biosDescription" in w:
        put(
            "biosDescription",
            f"{prof.hw_model.manufacturer} {1 + prof.index % 3}.{prof.index % 20}.0, {1 + prof.index % 12:02d}/15/2023"
            if computer
            else None,
        )
    if "lastBoot" in w:
        put("lastBoot", iso_ms(detail.last_boot_ms) if computer else None)
    if "totalMemory" in w:
        put("totalMemory", prof.memory_mb)
    if "cpuCount" in w:
        put("cpuCount", prof.n_cpus)
    if "lastLoggedOnUser" in w:
        put("lastLoggedOnUser", prof.logged_user)
    if "domainRole" in w:
        role = None
        if arch.windows_style:
            role = "Member Server" if "server" in arch.name else "Member Workstation"
        elif computer:
            role = "Standalone Server" if "server" in arch.name or arch.name == "cloud" else "Standalone Workstation"
        put("domainRole", role)
    if "hwUUID" in w:
        put("hwUUID", prof.asset_uuid[::-1].replace("-", "")[:8] + prof.asset_uuid[8:] if computer else None)
    if "biosSerialNumber" in w and not prof.serial_absent:
        put("biosSerialNumber", prof.serial)
    if "biosAssetTag" in w:
        put(
            "biosAssetTag",
            f"ACME-{prof.host_id % 100000:05d}"
            if computer and prof.index % 4
            else (",," if prof.index % 8 == 0 else None),
        )
    if "isContainerHost" in w:
        put(
            "isContainerHost",
            arch.name in ("container_host",) or (arch.name == "linux_server" and prof.index % 5 == 0),
        )
    if "operatingSystem" in w:
        put("operatingSystem", _os(detail))
    if "hardware" in w:
        put("hardware", _hardware(detail, rng))
    if "userAccountListData" in w:
        put(
            "userAccountListData",
            {"userAccount": [{"name": u} for u in detail.users]} if detail.users else None,
        )
    if "openPortListData" in w:
        put(
            "openPortListData",
            {
                "openPort": [
                    {
                        "port": p.port,
                        "description": p.description,
                        "protocol": p.protocol,
                        "detectedService": p.service,
                        "firstFound": iso_ms(p.first_found_ms),
                        "lastUpdated": iso_ms(max(p.first_found_ms, modified - DAY_MS)),
                        "authorization": "Unspecified",
                        "detectionScore": 100 if p.service != "unknown" else 50,
                        "discoverySources": "Cloud Agent" if agent else "Scanner",
                    }
                    for p in detail.ports
                ]
            }
            if detail.ports
            else None,
        )
    if "volumeListData" in w:
        put(
            "volumeListData",
            {"volume": [{"name": n, "free": f, "size": s} for n, s, f in detail.volumes]} if detail.volumes else None,
        )
    if "networkInterfaceListData" in w:
        put(
            "networkInterfaceListData",
            {
                "networkInterface": [
                    {
                        "hostname": i.hostname,
                        "addressIpV4": i.ipv4,
                        "addressIpV6": i.ipv6,
                        "macAddress": i.mac,
                        "interfaceName": i.name,
                        "dnsAddress": i.dns,
                        "gatewayAddress": i.gateway,
                        "manufacturer": i.manufacturer,
                        "macVendorIntroDate": i.vendor_intro_ms,
                        "netmask": i.netmask,
                        "addresses": None,
                    }
                    for i in detail.interfaces
                ]
            },
        )
    if "softwareListData" in w:
        put("softwareListData", _SOFTWARE_SENTINEL)
    if "softwareComponent" in w:
        put("softwareComponent", None)
    if "provider" in w:
        put("provider", {"aws": "AWS", "azure": "Azure", "gcp": "GCP"}.get(prof.cloud or ""))
    if "cloudProvider" in w:
        put("cloudProvider", _cloud_provider(detail.cloud, detail) if detail.cloud else None)
    if "agent" in w:
        put(
            "agent",
            None
            if not agent
            else {
                "version": prof.agent_version,
                "configurationProfile": "Initial Profile" if prof.index % 3 else "Servers - Full Inventory",
                "activations": [{"key": "VM", "status": "ACTIVE"}, {"key": "PC", "status": "ACTIVE"}]
                if prof.index % 4
                else None,
                "connectedFrom": prof.address,
                "lastActivity": detail.agent_checked_in_ms,
                "lastCheckedIn": detail.agent_checked_in_ms,
                "lastInventory": -1 if prof.index % 17 == 0 else detail.agent_checked_in_ms,
                "udcManifestAssigned": False,
                "errorStatus": prof.index % 23 == 0,
            },
        )
    if "sensor" in w:
        put(
            "sensor",
            {
                "activatedForModules": ["VM", "PC", "GAV"] if agent else ["VM"],
                "pendingActivationForModules": [],
                "lastVMScan": prof.last_vuln_scan_ms,
                "lastComplianceScan": prof.last_compliance_ms or 0,
                "lastFullScan": prof.last_vuln_scan_ms,
                "lastVmScanDateScanner": 0 if agent else prof.last_vuln_scan_ms,
                "lastVmScanDateAgent": prof.last_vuln_scan_ms if agent else 0,
                "lastPcScanDateScanner": 0,
                "lastPcScanDateAgent": prof.last_compliance_ms or 0,
                "firstEasmScanDate": None,
                "lastEasmScanDate": None,
            },
        )
    if "container" in w:
        put(
            "container",
            {
                "product": "docker",
                "version": "24.0.7",
                "noOfContainers": 3 + prof.index % 9,
                "noOfImages": 2 + prof.index % 5,
                "hasSensor": False,
            }
            if arch.name == "container_host"
            else None,
        )
    if "inventory" in w:
        put(
            "inventory",
            {
                "source": "Cloud Agent" if agent else ("EC2 Connector" if prof.cloud else "Scanner"),
                "created": prof.created_ms,
                "lastUpdated": modified,
            },
        )
    if "activity" in w:
        put(
            "activity",
            {"source": "Cloud Agent" if agent else "Scanner", "lastScannedDate": prof.last_vuln_scan_ms},
        )
    if "tagList" in w:
        put(
            "tagList",
            {
                "tag": [
                    {
                        "tagId": t,
                        "tagName": TAG_BY_ID[t].name,
                        "foregroundColor": 0,
                        "backgroundColor": int(TAG_BY_ID[t].color[1:], 16),
                        "businessImpact": None,
                        "criticalityScore": TAG_BY_ID[t].criticality,
                    }
                    for t in prof.tag_ids
                ]
            }
            if prof.tag_ids
            else None,
        )
    if "serviceList" in w:
        put(
            "serviceList",
            {"service": [{"description": d, "name": n, "status": s} for d, n, s in detail.services]}
            if detail.services
            else None,
        )
    if "lastLocation" in w:
        put(
            "lastLocation",
            {
                "city": "New York",
                "state": "New York",
                "country": "United States",
                "name": "United States",
                "continent": "North America",
                "postal": "10001",
            }
            if arch.name in ("windows_notebook", "mac_notebook", "mobile")
            else None,
        )
    if "criticality" in w:
        put(
            "criticality",
            {
                "score": 1 + prof.index % 5,
                "isDefault": prof.index % 3 != 0,
                "lastUpdated": iso_ms(prof.created_ms),
            },
        )
    if "businessInformation" in w:
        put("businessInformation", None)
    if "assignedLocation" in w:
        put("assignedLocation", None)
    if "businessAppListData" in w:
        put("businessAppListData", None)
    if "riskScore" in w:
        put("riskScore", (prof.index * 37) % 1000 if agent else None)
    internet = prof.cloud is not None and detail.interfaces[0].public_ip is not None
    if internet:
        if "domain" in w:
            put("domain", ["acme-demo.com"])
        if "subdomain" in w:
            put("subdomain", [f"{prof.hostname}.acme-demo.com"])
        if "isp" in w:
            put(
                "isp",
                {"aws": "Amazon.com, Inc.", "azure": "Microsoft Corporation", "gcp": "Google LLC"}[prof.cloud or "aws"],
            )
        if "asn" in w:
            put("asn", {"aws": "AS16509", "azure": "AS8075", "gcp": "AS15169"}[prof.cloud or "aws"])
        if "easmTags" in w:
            put("easmTags", ["cloud"])
        if "hostingCategory1" in w:
            put("hostingCategory1", "Cloud")
    if "customAttributes" in w and prof.index % 10 == 0:
        put(
            "customAttributes",
            [{"key": "Owner Group", "value": "Platform Engineering", "connectorName": "Qualys"}],
        )
    if "lparId" in w and arch.name in ("mainframe", "unix_server"):
        put("lparId", f"LPAR{prof.index % 64:02d}")
    if "processor" in w:
        cores = max(1, prof.n_cpus // 2)
        put(
            "processor",
            {
                "description": ("Intel(R) Xeon(R) Gold 6430" if prof.platform != "mac" else "Apple M2"),
                "speed": 2100 + (prof.index % 8) * 100,
                "numCPUs": prof.n_cpus,
                "noOfSocket": 1 if cores < 8 else 2,
                "threadsPerCore": 2 if prof.n_cpus > 1 else 1,
                "coresPerSocket": max(1, cores // (1 if cores < 8 else 2)),
                "multithreadingStatus": "Enabled" if prof.n_cpus > 1 else ",,",
            }
            if prof.n_cpus
            else None,
        )
    return doc


def render_asset(detail: AssetDetail, fields: FieldSelection = ALL_FIELDS) -> str:
    """The asset as compact JSON text, with software rows rendered from cached templates."""
    doc = build_asset(detail, fields)
    if detail.override is not None and detail.override.fields:
        laid = detail.override.fields
        # Kept in the vendor's key order: an overridden field takes its value's place, an added one its key's.
        doc = {
            key: laid[key] if key in laid else doc[key]
            for key in TOP_LEVEL_KEYS
            if key in doc or (key in laid and key in fields.keys)
        }
    text = json.dumps(doc, separators=_SEP)
    if "softwareListData" in fields.keys:
        text = text.replace(_SOFTWARE_TOKEN, _software_json(detail), 1)
    return text
