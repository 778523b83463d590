"""Asset details: the revision-dependent content of one asset.

Interfaces, open ports, volumes, accounts, services, cloud metadata and (lazily) software rows are
regenerated from ``(seed, index)``; each revision replays a deterministic mutation on top (a software
version bump or a new open port, plus a volume's free space).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

from simulators.qualys import software as sw
from simulators.qualys.archetypes import PORT_PROFILES, volume_names
from simulators.qualys.overrides import AssetOverride
from simulators.qualys.profiles import AWS_REGIONS, Profile, mac_address, new_uuid
from simulators.qualys.timefmt import DAY_MS

_AZURE_LOCATIONS = ("eastus", "westeurope", "northeurope", "southeastasia")
_GCP_ZONES = ("us-central1-a", "europe-west1-b", "asia-southeast1-c")


@dataclass(slots=True)
class Interface:
    """One network interface."""

    name: str
    ipv4: str | None  # several addresses are joined with ", "
    ipv6: str | None
    mac: str
    gateway: str | None
    netmask: str | None
    dns: str | None
    hostname: str | None
    manufacturer: str | None
    vendor_intro_ms: int | None
    cloud_eni: str | None = None
    public_ip: str | None = None


@dataclass(slots=True)
class Port:
    """One open port."""

    port: int
    protocol: str
    service: str
    description: str
    first_found_ms: int


@dataclass(slots=True)
class SoftwareRow:
    """One installed product (catalog index + version step + per-asset dates)."""

    product: int
    step: int
    install_ms: int | None
    updated_ms: int
    last_use_ms: int | None


@dataclass(slots=True)
class AssetDetail:
    """Revision-dependent content of one asset."""

    profile: Profile
    revision: int
    last_modified_ms: int
    interfaces: list[Interface]
    ports: list[Port]
    volumes: list[tuple[str, int, int]]  # name, size, free (bytes)
    users: list[str]
    services: list[tuple[str, str, str]]
    cloud: dict[str, object] | None
    last_boot_ms: int
    agent_checked_in_ms: int | None
    _software: list[SoftwareRow] | None = field(default=None)
    _software_factory: Callable[[], list[SoftwareRow]] | None = field(default=None)
    #: Odd values laid over the generated ones (``POST /sim/control/overrides``), applied when rendered.
    override: AssetOverride | None = None

    @property
    def software(self) -> list[SoftwareRow]:
        """Software rows, generated on first access."""
        if self._software is None:
            assert self._software_factory is not None
            self._software = self._software_factory()
        return self._software


def mutations(seed: int, index: int, revision: int, prof: Profile) -> list[tuple[str, int]]:
    """Deterministic (kind, value) mutation per revision: ("software", pick) or ("port", pick)."""
    result = []
    for rev in range(1, revision + 1):
        rng = random.Random(f"qualys-rev:{seed}:{index}:{rev}")
        kind = "software" if prof.n_software and rng.random() < 0.5 else "port"
        result.append((kind, rng.randrange(1 << 30)))
    return result


def make_detail(seed: int, prof: Profile, revision: int, modified: int) -> AssetDetail:
    """Generate the revision-dependent content of an asset (software lazily)."""
    index = prof.index
    rng = random.Random(f"qualys-detail:{seed}:{index}")
    arch = prof.archetype
    interfaces = _interfaces(rng, prof)
    pool = PORT_PROFILES[arch.ports]
    ports = [
        Port(p, proto, svc, desc, prof.created_ms + rng.randrange(0, 90) * DAY_MS)
        for p, proto, svc, desc in rng.sample(pool, prof.n_ports)
    ]
    volumes = _volumes(rng, prof)
    users = _users(rng, prof)
    services = _services(rng, prof)
    cloud = _cloud(rng, prof) if prof.cloud else None
    last_boot = modified - rng.randrange(3600, 40 * 86400) * 1000
    checked_in = None
    if prof.agent_id:
        checked_in = max(modified - rng.randrange(0, 3600) * 1000, prof.created_ms)
    bumps: list[int] = []
    for rev, (kind, pick) in enumerate(mutations(seed, index, revision, prof), start=1):
        if kind == "port":
            used = {p.port for p in ports}
            port = 10_000 + pick % 50_000
            while port in used:
                port += 1
            ports.append(Port(port, "TCP", "unknown", "Unknown service", modified))
        else:
            bumps.append(pick)
        if volumes:
            vrng = random.Random(f"qualys-vol:{seed}:{index}:{rev}")
            which = vrng.randrange(len(volumes))
            name, size, _free = volumes[which]
            volumes[which] = (name, size, vrng.randrange(size // 20, size))
    seed_text = f"qualys-software:{seed}:{index}"

    def factory() -> list[SoftwareRow]:
        return _software(seed_text, prof, bumps, modified)

    return AssetDetail(
        prof,
        revision,
        modified,
        interfaces,
        ports,
        volumes,
        users,
        services,
        cloud,
        last_boot,
        checked_in,
        None,
        factory,
    )


def _interfaces(rng: random.Random, prof: Profile) -> list[Interface]:
    arch = prof.archetype
    windows = arch.windows_style
    oui = {
        "VMware": "00:50:56",
        "Microsoft": "00:15:5d",
        "Apple": "a4:83:e7",
        "Cisco": "00:1b:54",
        "Dell": "18:66:da",
        "HP": "3c:d9:2b",
        "Amazon": "0a:1f:3e",
    }.get(prof.hw_model.manufacturer, "00:0c:29")
    octets = prof.address.split(".")
    gateway = ".".join(octets[:3]) + ".1"
    first_name = {"windows": "Ethernet0", "mac": "en0", "embedded": "eth0"}.get(prof.platform, "eth0")
    if arch.name == "network":
        first_name = "Vlan100"
    ipv4 = prof.address if prof.secondary_ip is None else f"{prof.address}, {prof.secondary_ip}"
    ipv6 = None
    if prof.platform in ("windows", "linux", "mac") and rng.random() < 0.5:
        suffix = ":".join(f"{rng.randrange(65536):x}" for _ in range(4))
        ipv6 = f"fe80::{suffix}"
        if rng.random() < 0.4:
            ipv6 += f", 2001:db8:{prof.site:x}::{prof.index:x}"
    public_ip = None
    if prof.cloud:
        first = {"aws": 3, "azure": 20, "gcp": 34}[prof.cloud]
        public_ip = f"{first}.{80 + prof.index // 65536 % 100}.{prof.index // 256 % 256}.{prof.index % 256}"
    result = [
        Interface(
            name=first_name,
            ipv4=ipv4,
            ipv6=ipv6,
            mac=_first_mac(prof, mac_address(rng, oui)),
            gateway=gateway,
            netmask="255.255.255.0",
            dns="10.0.0.53, 10.0.1.53" if arch.site in (10, 20) else None,
            hostname=prof.hostname if prof.has_name else None,
            manufacturer=prof.hw_model.manufacturer,
            vendor_intro_ms=946_944_000_000 + rng.randrange(0, 7000) * DAY_MS,
            cloud_eni=f"eni-{rng.getrandbits(68):017x}" if prof.cloud else None,
            public_ip=public_ip,
        )
    ]
    for n in range(1, prof.n_ifaces):
        if arch.name == "network":
            result.append(
                Interface(
                    f"GigabitEthernet1/0/{n}",
                    None,
                    None,
                    mac_address(rng, oui),
                    None,
                    None,
                    None,
                    None,
                    prof.hw_model.manufacturer,
                    None,
                )
            )
        elif prof.platform == "linux" and n == prof.n_ifaces - 1 and rng.random() < 0.4:
            result.append(
                Interface(
                    "lo",
                    "127.0.0.1",
                    "::1",
                    "00:00:00:00:00:00",
                    None,
                    "255.0.0.0",
                    None,
                    prof.hostname if prof.has_name else None,
                    None,
                    None,
                )
            )
        elif windows and n == 1 and arch.name == "windows_notebook":
            connected = rng.random() < 0.5
            result.append(
                Interface(
                    "Wi-Fi",
                    f"192.168.{rng.randrange(256)}.{rng.randrange(2, 250)}" if connected else None,
                    None,
                    mac_address(rng, "a0:c5:89"),
                    "192.168.0.1" if connected else None,
                    "255.255.255.0" if connected else None,
                    None,
                    None,
                    "Intel Corporate",
                    None,
                )
            )
        else:
            backup = f"192.168.{100 + n}.{prof.index % 250 + 2}"
            result.append(
                Interface(
                    f"{'Ethernet' if windows else 'eth'}{n}",
                    backup,
                    None,
                    mac_address(rng, oui),
                    None,
                    "255.255.255.0",
                    None,
                    None,
                    prof.hw_model.manufacturer,
                    None,
                    cloud_eni=f"eni-{rng.getrandbits(68):017x}" if prof.cloud else None,
                )
            )
    return result


def _volumes(rng: random.Random, prof: Profile) -> list[tuple[str, int, int]]:
    result = []
    for name in volume_names(prof.platform)[: prof.n_volumes]:
        size = rng.choice((1, 2, 4, 8, 16, 32)) * 16 * 1024**3 + rng.randrange(0, 1024**3)
        result.append((name, size, rng.randrange(size // 20, size)))
    return result


def _users(rng: random.Random, prof: Profile) -> list[str]:
    platform = prof.platform
    if platform == "windows":
        pool = [
            "Administrator",
            "Guest",
            "DefaultAccount",
            "WDAGUtilityAccount",
            "svc_backup",
            "svc_sql",
            "helpdesk",
            "localadmin",
        ]
    elif platform in ("linux", "unix", "mac"):
        pool = ["root", "daemon", "bin", "sys", "nobody", "sshd", "postfix", "ec2-user", "svc_deploy"]
    else:
        return []
    return pool[: rng.randint(2, len(pool))]


def _services(rng: random.Random, prof: Profile) -> list[tuple[str, str, str]]:
    platform = prof.platform
    if platform == "windows":
        pool = [
            ("Windows Update", "wuauserv", "Running"),
            ("Windows Defender Firewall", "MpsSvc", "Running"),
            ("Remote Desktop Services", "TermService", "Running"),
            ("Print Spooler", "Spooler", "Stopped"),
        ]
    elif platform in ("linux", "unix"):
        pool = [
            ("OpenSSH server daemon", "sshd.service", "loaded/active/running"),
            ("Network Time Service", "chronyd.service", "loaded/active/running"),
            ("Network Name Resolution", "systemd-resolved.service", "loaded/active/running"),
            ("Postfix Mail Transport Agent", "postfix.service", "loaded/inactive/dead"),
        ]
    else:
        return []
    return pool[: rng.randint(1, len(pool))]


def _cloud(rng: random.Random, prof: Profile) -> dict[str, object]:
    launch = prof.created_ms + rng.randrange(0, 3600) * 1000
    if prof.cloud == "aws":
        region, region_name = rng.choice(AWS_REGIONS)
        return {
            "provider": "aws",
            "instanceId": f"i-{rng.getrandbits(68):017x}",
            "accountId": str(100_000_000_000 + rng.randrange(10**11)),
            "region": region,
            "regionName": region_name,
            "zone": region + rng.choice("abc"),
            "instanceType": rng.choice(("t3.medium", "m5.large", "m5.xlarge", "c5.2xlarge", "r5.large")),
            "imageId": f"ami-{rng.getrandbits(68):017x}",
            "vpcId": f"vpc-{rng.getrandbits(32):08x}",
            "subnetId": f"subnet-{rng.getrandbits(32):08x}",
            "groupId": f"sg-{rng.getrandbits(32):08x}",
            "groupName": rng.choice(("default", "web-tier", "app-tier", "db-tier")),
            "reservationId": f"r-{rng.getrandbits(68):017x}",
            "state": rng.choice(("RUNNING",) * 5 + ("STOPPED",)),
            "spot": rng.random() < 0.1,
            "launch": launch,
            "monitoring": rng.random() < 0.3,
            "tags": [
                ("Name", prof.hostname),
                ("Environment", rng.choice(("prod", "dev", "qa"))),
                ("CostCenter", str(rng.randrange(1000, 9999))),
            ],
        }
    if prof.cloud == "azure":
        return {
            "provider": "azure",
            "vmId": new_uuid(rng),
            "subscriptionId": new_uuid(rng),
            "location": rng.choice(_AZURE_LOCATIONS),
            "resourceGroupName": rng.choice(("rg-prod-app", "rg-shared-infra", "rg-dev-sandbox")),
            "size": rng.choice(("Standard_D2s_v5", "Standard_D4s_v5", "Standard_B2ms", "Standard_E4s_v5")),
            "imageOffer": rng.choice(("WindowsServer", "0001-com-ubuntu-server-jammy", "RHEL")),
            "imagePublisher": rng.choice(("MicrosoftWindowsServer", "Canonical", "RedHat")),
            "imageVersion": f"{rng.randrange(17763, 20349)}.{rng.randrange(1000, 6000)}.240207",
            "state": rng.choice(("RUNNING",) * 5 + ("STOPPED",)),
            "virtualNetwork": "vnet-hub-01",
            "subnet": rng.choice(("snet-app", "snet-data", "snet-web")),
            "launch": launch,
            "tags": [("owner", rng.choice(("platform", "data", "web"))), ("env", "prod")],
        }
    return {
        "provider": "gcp",
        "instanceId": str(rng.getrandbits(62)),
        "projectId": "acme-prod-281512",
        "projectIdNo": str(rng.randrange(10**11, 10**12)),
        "zone": rng.choice(_GCP_ZONES),
        "machineType": rng.choice(("e2-standard-4", "n2-standard-8", "e2-medium")),
        "imageId": str(rng.getrandbits(62)),
        "network": "default",
        "state": rng.choice(("RUNNING",) * 5 + ("TERMINATED",)),
        "launch": launch,
        "tags": [("env", rng.choice(("prod", "staging"))), ("team", rng.choice(("sre", "data")))],
    }


def _software(seed_text: str, prof: Profile, bumps: list[int], modified: int) -> list[SoftwareRow]:
    if prof.n_software == 0:
        return []
    rng = random.Random(seed_text)
    catalog = sw.CATALOG[prof.platform]
    picks = sorted(rng.sample(range(len(catalog)), prof.n_software))
    rows = []
    for pos in picks:
        installed = prof.created_ms + rng.randrange(0, 400) * DAY_MS if rng.random() < 0.85 else None
        updated = max(installed or prof.created_ms, prof.created_ms) + rng.randrange(0, 200) * DAY_MS
        last_use = updated + rng.randrange(0, 30) * DAY_MS if rng.random() < 0.2 else None
        rows.append(SoftwareRow(catalog[pos].index, rng.randrange(0, 4), installed, updated, last_use))
    for pick in bumps:
        row = rows[pick % len(rows)]
        row.step += 1
        row.updated_ms = modified
    return rows


def _first_mac(prof: Profile, drawn: str) -> str:
    """The first adapter's MAC address: a clone's is its template's (drawn anyway, so later draws stay put)."""
    return prof.clone_mac or drawn
