"""Asset profiles: the cheap, revision-independent facts about one asset.

A profile is generated from a ``random.Random`` seeded with ``(seed, index)``: archetype, hardware pair,
OS, names, addresses, tags, and the sizes of its lists (software, ports, interfaces, volumes, CPUs).
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass

from simulators.qualys import hardware as hw
from simulators.qualys import software as sw
from simulators.qualys.archetypes import (
    ARCHETYPES,
    CLOUD_PROVIDERS,
    IOT_UNIDENTIFIED_RATIO,
    PORT_PROFILES,
    WEIGHTED,
    Archetype,
    archetypes_for_pair,
)
from simulators.qualys.operating_systems import OS_CATALOG, OsEntry, os_indices, platform_of
from simulators.qualys.shape import SOFTWARE_MISSING_MIN, SOFTWARE_MISSING_RATIO, ShapeTable
from simulators.qualys.tags import NETWORK_TAG_BY_SITE, TAG_BY_NAME
from simulators.qualys.timefmt import BASE_MS, DAY_MS

FIRST_HOST_ID = 1_430_017
LOCATIONS = ("nyc", "lon", "fra", "sgp", "sfo", "chi", "blr", "syd")
AWS_REGIONS = (
    ("us-east-1", "US East (N. Virginia)"),
    ("us-west-2", "US West (Oregon)"),
    ("eu-west-1", "Europe (Ireland)"),
    ("ap-southeast-1", "Asia Pacific (Singapore)"),
)


def _weighted(rng: random.Random, items: tuple[tuple[str, int], ...]) -> str:
    total = sum(w for _, w in items)
    roll = rng.randrange(total)
    for name, weight in items:
        if roll < weight:
            return name
        roll -= weight
    return items[-1][0]


def new_uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def mac_address(rng: random.Random, oui: str = "00:50:56") -> str:
    return oui + "".join(f":{rng.randrange(256):02x}" for _ in range(3))


_SWITCH_OS = ("Cisco IOS XE 17.3", "Cisco NX-OS 9.3")
_ROUTER_OS = ("Cisco IOS 15.2", "Juniper Junos OS 21.4")
_WIRELESS_OS = ("ArubaOS 8.10",)
#: The OS a network or embedded device's hardware runs (catalog osName): a firewall runs a firewall OS, a load
#: balancer F5's, an industrial controller industrial firmware. Other network devices run an OS of routers and
#: switches alike, other embedded devices a non-industrial one.
_OS_BY_PAIR: dict[tuple[str, str], tuple[str, ...]] = {
    ("Networking Device", "Switch"): _SWITCH_OS,
    ("Industrial Networking", "Industrial Ethernet Switch"): _SWITCH_OS,
    ("Networking Device", "Bridges and Routers"): _ROUTER_OS,
    ("Networking Device", "Wireless Access Point"): _WIRELESS_OS,
    ("Networking Device", "Wireless Fidelity Base Stations Wifi"): _WIRELESS_OS,
    ("Industrial Networking", "Industrial Wireless LAN"): _WIRELESS_OS,
    ("Network Security Device", "Firewall Device"): ("Fortinet FortiOS 7.2", "PAN-OS 10.2"),
    ("Networking Device", "Server Load Balancer"): ("F5 BIG-IP TMOS 16.1",),
}
_OTHER_OS = {
    "network": ("Cisco IOS 15.2", "Cisco IOS XE 17.3", "Juniper Junos OS 21.4"),
    "embedded": ("Embedded Linux 4.19", "VxWorks 7"),
}
_INDUSTRIAL_OS = ("SIMATIC S7 Firmware 2.9",)


def _fitting_os(drawn: OsEntry, pair: tuple[str, str], index: int) -> OsEntry:
    """``drawn``, or, when it does not fit the device's hardware, a catalog OS that does (chosen by the asset's index:
    the asset's random stream stays as it was, and with it every other value of the estate)."""
    if drawn.key == "network":
        names = _OS_BY_PAIR.get(pair, _OTHER_OS["network"])
    elif drawn.key == "embedded":
        names = _INDUSTRIAL_OS if pair[0] == "Industrial Control System (ICS)" else _OTHER_OS["embedded"]
    else:
        return drawn
    if drawn.os_name in names:
        return drawn
    return next(e for e in OS_CATALOG if e.os_name == names[index % len(names)])


@dataclass(slots=True)
class Profile:
    """Cheap, stable facts about one asset (independent of its revision)."""

    index: int
    asset_id: int
    host_id: int
    asset_uuid: str
    agent_id: str | None
    archetype: Archetype
    platform: str  # software platform: windows, linux, mac, unix, mobile, embedded
    hw_pair: tuple[str, str]
    hw_model: hw.HardwareModel
    os: OsEntry
    hostname: str
    domain: str
    has_name: bool
    serial: str | None
    serial_absent: bool
    address: str
    site: int
    secondary_ip: str | None
    cloud: str | None
    tracking: str
    tag_ids: tuple[int, ...]
    n_software: int
    n_ports: int
    n_ifaces: int
    n_volumes: int
    n_cpus: int
    memory_mb: int
    timezone: str | None
    logged_user: str | None
    created_ms: int
    agent_version: str | None
    last_vuln_scan_ms: int
    last_compliance_ms: int | None
    clone_mac: str | None = None  # a VM cloned with its template's first MAC address

    @property
    def asset_name(self) -> str:
        """``assetName``/QPS ``name``: the DNS name, or "" for nameless assets."""
        if not self.has_name:
            return ""
        return self.dns_name or self.hostname

    @property
    def dns_name(self) -> str | None:
        """Fully qualified DNS name, or None."""
        if not self.has_name:
            return None
        return f"{self.hostname}.{self.domain}" if self.domain else self.hostname

    @property
    def netbios_name(self) -> str | None:
        """NetBIOS name (Windows-style hosts only)."""
        if not self.has_name or not self.archetype.windows_style:
            return None
        return self.hostname.upper()[:15]


def make_profile(
    seed: int,
    index: int,
    asset_id: int,
    created_ms: int,
    pair_index: int | None,
    software_max: int,
    shape: ShapeTable | None = None,
) -> Profile:
    """Generate the profile of the asset at ``index`` (``pair_index`` forces a seed-table hardware pair).

    ``shape`` (see :mod:`simulators.qualys.shape`) re-weights the cloud archetype and scales the list sizes;
    without it the profile is drawn exactly as the archetypes say.
    """
    rng = random.Random(f"qualys-asset:{seed}:{index}")
    if pair_index is not None:
        pair = hw.HARDWARE_PAIRS[pair_index]
        arch = ARCHETYPES[rng.choice(archetypes_for_pair(pair))]
    else:
        arch = ARCHETYPES[_weighted(rng, WEIGHTED)] if shape is None else shape.pick(rng)
        pair = rng.choice(arch.pairs)
    cloud = _weighted(rng, CLOUD_PROVIDERS) if arch.name == "cloud" else None
    os_key = rng.choice(arch.os_keys)
    if cloud and os_key == "linux_cloud" and cloud != "aws":
        os_key = "linux_server"
    if arch.name == "iot" and rng.random() < IOT_UNIDENTIFIED_RATIO:
        os_entry = OS_CATALOG[os_indices("unidentified")[0]]
    else:
        os_entry = _fitting_os(OS_CATALOG[rng.choice(os_indices(os_key))], pair, index)
    platform = platform_of(os_entry)
    models = hw.models_for(pair)
    if cloud:
        maker = {"aws": "Amazon", "azure": "Microsoft", "gcp": "Google"}[cloud]
        models = tuple(m for m in models if m.manufacturer == maker) or models
    elif pair in (("Computers", "Desktop"), ("Computers", "Notebook")):
        apple = os_entry.category1 == "Mac"
        models = tuple(m for m in models if (m.manufacturer == "Apple") == apple) or models
    model = rng.choice(models)

    host_id = FIRST_HOST_ID + index * 3 + rng.randrange(3)
    asset_uuid = new_uuid(rng)
    has_agent = rng.random() < arch.agent_ratio
    agent_id = new_uuid(rng) if has_agent else None

    site = arch.site + {"aws": 0, "azure": 10, "gcp": 20}.get(cloud or "", 0)
    block, host = divmod(index, 250)
    address = f"10.{site + block // 256}.{block % 256}.{host + 2}"
    secondary = None
    if arch.site == 10 and rng.random() < 0.12:
        secondary = f"10.200.{block % 256}.{host + 2}"

    loc = rng.choice(LOCATIONS)
    code = (index * 7919 + seed * 31) % 100_000
    if cloud == "aws":
        hostname = "ip-" + address.replace(".", "-")
        domain = "ec2.internal" if rng.random() < 0.5 else f"{rng.choice(AWS_REGIONS)[0]}.compute.internal"
    elif cloud == "azure":
        hostname, domain = f"vm-{loc}-app{code:05d}", "internal.cloudapp.net"
    elif cloud == "gcp":
        hostname, domain = f"gce-{loc}-{code:05d}", "c.acme-prod.internal"
    elif arch.windows_style:
        hostname, domain = f"{loc}-{arch.prefix}{code:05d}".upper(), "corp.acme-demo.com"
    elif arch.name in ("network", "printer", "iot", "mobile"):
        prefix = {"Printers": "prn", "Mobile": "mob"}.get(pair[0], arch.prefix)
        if arch.name == "network":
            prefix = {
                "Bridges and Routers": "rtr",
                "Firewall Device": "fw",
                "Wireless Access Point": "ap",
            }.get(pair[1], "sw")
        hostname, domain = f"{loc}-{prefix}{code:05d}", "mgmt.acme-demo.net"
    else:
        hostname, domain = f"{loc}-{arch.prefix}{code:05d}", "dc1.acme-demo.net"
    # A few assets have no name at all, a few no serial number (index 3 / 5 always, for small estates).
    has_name = not (index == 3 or rng.random() < 0.02)
    no_serial = index == 5 or rng.random() < 0.03
    serial: str | None = None
    if not no_serial:
        if cloud == "aws":
            serial = "ec2" + new_uuid(rng)[3:]
        elif cloud:
            serial = new_uuid(rng).upper()
        elif model.manufacturer == "VMware":
            serial = "VMware-" + " ".join(f"{rng.randrange(256):02x}" for _ in range(8))
        else:
            serial = "".join(rng.choice("ABCDEFGHJKLMNPQRSTUVWXYZ0123456789") for _ in range(10))

    if has_agent:
        tracking = "QAGENT"
    elif cloud:
        tracking = "INSTANCE_ID"
    else:
        roll = rng.random()
        tracking = "IP" if roll < 0.8 else ("DNSNAME" if roll < 0.95 or not arch.windows_style else "NETBIOS")

    tags: list[int] = []
    if has_agent:
        tags.append(TAG_BY_NAME["Cloud Agent"].id)
    os_tag = {
        "windows_server": "Windows Servers",
        "windows_client": "Windows Workstations",
        "linux_server": "Linux Servers",
        "linux_cloud": "Linux Servers",
        "unix": "Unix Servers",
        "mainframe": "Unix Servers",
        "mac": "macOS Devices",
        "network": "Network Devices",
        "printer": "Printers and IoT",
        "embedded": "Printers and IoT",
    }.get(os_entry.key)
    if os_tag:
        tags.append(TAG_BY_NAME[os_tag].id)
    if rng.random() < 0.8:
        tags.append(TAG_BY_NAME[rng.choice(("Production", "Production", "Staging", "Development"))].id)
    if rng.random() < 0.6:
        tags.append(TAG_BY_NAME[rng.choice(("BU: Finance", "BU: Engineering", "BU: Sales & Marketing"))].id)
    tags.append(TAG_BY_NAME[NETWORK_TAG_BY_SITE[site]].id)
    if secondary:
        tags.append(TAG_BY_NAME["Net: Secondary VIPs"].id)
    if cloud:
        tags.append(TAG_BY_NAME[{"aws": "AWS", "azure": "Azure", "gcp": "GCP"}[cloud]].id)
    if rng.random() < 0.07:
        tags.append(TAG_BY_NAME["PCI Scope"].id)
    if os_entry.stage == "EOL/EOS":
        tags.append(TAG_BY_NAME["EOL Software"].id)
    if rng.random() < 0.04:
        tags.append(TAG_BY_NAME["Internet Facing"].id)

    if shape is None:
        catalog_size = len(sw.CATALOG[platform])
        high = min(arch.software_range[1], software_max, catalog_size)
        low = min(arch.software_range[0], high)
        n_software = rng.randint(low, high)
        if arch.software_range[0] >= SOFTWARE_MISSING_MIN and rng.random() < SOFTWARE_MISSING_RATIO:
            n_software = 0  # inventory never collected
        n_ports = min(rng.randint(*arch.port_range), len(PORT_PROFILES[arch.ports]))
        n_ifaces = rng.randint(*arch.iface_range)
        n_volumes = rng.randint(*arch.volume_range)
    else:
        # The same draws, scaled: each value is int(start + random() * width) (see simulators.qualys.shape).
        spans = shape.spans[arch.name]
        draw = rng.random
        start, width = spans.software[platform]
        n_software = int(start + draw() * width)
        if arch.software_range[0] >= SOFTWARE_MISSING_MIN and draw() < SOFTWARE_MISSING_RATIO:
            n_software = 0
        start, width = spans.ports
        n_ports = int(start + draw() * width)
        start, width = spans.interfaces
        n_ifaces = int(start + draw() * width)
        start, width = spans.volumes[platform]
        n_volumes = int(start + draw() * width)
    n_cpus = rng.randint(*arch.cpu_range)
    if n_cpus > 1:
        n_cpus -= n_cpus % 2
    memory = 0 if arch.cpu_range[1] == 0 else rng.choice((2048, 4096, 8192, 16384, 32768, 65536, 131072))
    timezone = None if arch.cpu_range[1] <= 1 else rng.choice(("+00:00", "-05:00", "+01:00", "+05:30", "UTC"))
    user = None
    if platform == "windows":
        user = f"ACME\\{rng.choice('abcdefghjkmnprstw')}{rng.choice(('smith', 'jones', 'patel', 'garcia'))}"
    elif platform in ("linux", "unix", "mac") and has_agent:
        user = rng.choice(("root", "ec2-user" if cloud == "aws" else "admin", "svc_deploy"))
    agent_version = None
    if has_agent:
        agent_version = rng.choice(("5.2.0.27", "6.1.0.28", "6.0.0.41", "4.9.0.10", "1.8.0.11"))
    scanned_around = created_ms + (BASE_MS - created_ms) // 2
    serial, hostname, domain, clone_mac = _identifier_oddities(seed, index, cloud, serial, hostname, domain)
    return Profile(
        index=index,
        asset_id=asset_id,
        host_id=host_id,
        asset_uuid=asset_uuid,
        agent_id=agent_id,
        archetype=arch,
        platform=platform,
        hw_pair=pair,
        hw_model=model,
        os=os_entry,
        hostname=hostname,
        domain=domain,
        has_name=has_name,
        serial=serial,
        serial_absent=no_serial and serial is None and rng.random() < 0.5,
        address=address,
        site=site,
        secondary_ip=secondary,
        cloud=cloud,
        tracking=tracking,
        tag_ids=tuple(dict.fromkeys(tags)),
        n_software=n_software,
        n_ports=n_ports,
        n_ifaces=n_ifaces,
        n_volumes=n_volumes,
        n_cpus=n_cpus,
        memory_mb=memory,
        timezone=timezone,
        logged_user=user,
        created_ms=created_ms,
        agent_version=agent_version,
        last_vuln_scan_ms=scanned_around - rng.randrange(0, 30) * DAY_MS,
        last_compliance_ms=(scanned_around - rng.randrange(0, 60) * DAY_MS) if rng.random() < 0.4 else None,
        clone_mac=clone_mac,
    )


#: Identifiers real estates get wrong (BY-10; reference/servicenow-api.md §5.7): firmware that reports a placeholder
#: for the serial number, VMs cloned from one template that keep its serial and MAC address, and a host name two
#: machines share. Drawn from random streams of their own, so every other value of the estate stays as it was.
#: Small estates always have them: asset 11 a placeholder serial, 12 and 13 clones, 14 and 15 one name.
PLACEHOLDER_SERIALS = ("To be filled by O.E.M.", "Default string", "Not Specified", "0", "System Serial Number")
PLACEHOLDER_SERIAL_RATIO = 0.015
CLONE_PAIR_RATIO = 0.01
SHARED_NAME_PAIR_RATIO = 0.01


def _identifier_oddities(
    seed: int, index: int, cloud: str | None, serial: str | None, hostname: str, domain: str
) -> tuple[str | None, str, str, str | None]:
    """The asset's serial, host name and domain after the oddities, and its cloned first MAC address (or None)."""
    odd = random.Random(f"qualys-odd:{seed}:{index}")
    pair = index // 2  # assets 2k and 2k + 1 draw their pair's oddities from one stream
    pair_rng = random.Random(f"qualys-pair:{seed}:{pair}")
    clones, same_name = pair_rng.random() < CLONE_PAIR_RATIO or pair == 6, pair_rng.random() < SHARED_NAME_PAIR_RATIO
    clone_mac = None
    if not cloud and serial is not None and (index == 11 or odd.random() < PLACEHOLDER_SERIAL_RATIO):
        serial = odd.choice(PLACEHOLDER_SERIALS)
    if clones:
        serial = "VMware-" + " ".join(f"{pair_rng.randrange(256):02x}" for _ in range(8))
        clone_mac = mac_address(pair_rng, "00:50:56")
    if same_name or pair == 7:
        hostname, domain = f"app{(pair * 7919 + seed * 31) % 100_000:05d}", "corp.acme-demo.com"
    return serial, hostname, domain, clone_mac
