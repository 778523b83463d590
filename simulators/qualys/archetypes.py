"""Asset archetypes: what kinds of devices make up the simulated estate, and in what proportion.

An archetype fixes the hardware pairs it can use, the OS families, the software platform and volume,
the network site (second octet of the primary address) and the shape of ports/interfaces/volumes.
"""

from __future__ import annotations

from dataclasses import dataclass

from simulators.qualys import hardware as hw


@dataclass(frozen=True, slots=True)
class Archetype:
    """A kind of asset."""

    name: str
    weight: int
    pairs: tuple[tuple[str, str], ...]
    os_keys: tuple[str, ...]
    software_platform: str
    software_range: tuple[int, int]
    site: int
    prefix: str
    ports: str  # key into PORT_PROFILES
    port_range: tuple[int, int]
    iface_range: tuple[int, int]
    volume_range: tuple[int, int]
    cpu_range: tuple[int, int]
    agent_ratio: float
    windows_style: bool = False


_SERVER = ("Computers", "Server")
_VM = ("Virtualized", "Virtual Machine")
_DESKTOP = ("Computers", "Desktop")
_NOTEBOOK = ("Computers", "Notebook")

# fmt: off
ARCHETYPES: dict[str, Archetype] = {a.name: a for a in (
    Archetype(name="windows_server", weight=15, pairs=(_SERVER, _SERVER, _VM), os_keys=("windows_server",),
              software_platform="windows", software_range=(80, 10_000), site=10, prefix="WINSRV",
              ports="windows_server", port_range=(4, 18), iface_range=(1, 3), volume_range=(1, 4),
              cpu_range=(2, 32), agent_ratio=0.85, windows_style=True),
    Archetype(name="linux_server", weight=15, pairs=(_SERVER, _VM, _VM), os_keys=("linux_server",),
              software_platform="linux", software_range=(100, 10_000), site=10, prefix="lnx",
              ports="linux_server", port_range=(3, 16), iface_range=(1, 4), volume_range=(2, 6),
              cpu_range=(2, 64), agent_ratio=0.85),
    Archetype(name="unix_server", weight=3, pairs=(_SERVER,), os_keys=("unix",), software_platform="unix",
              software_range=(30, 110), site=10, prefix="unx", ports="linux_server", port_range=(3, 10),
              iface_range=(1, 3), volume_range=(2, 5), cpu_range=(4, 32), agent_ratio=0.5),
    Archetype(name="windows_desktop", weight=12,
              pairs=(_DESKTOP, ("Computers", "Assembled"), ("Computers", "Other")),
              os_keys=("windows_client",), software_platform="windows", software_range=(40, 250), site=20,
              prefix="WS", ports="windows_client", port_range=(1, 7), iface_range=(1, 2),
              volume_range=(1, 2), cpu_range=(4, 16), agent_ratio=0.9, windows_style=True),
    Archetype(name="windows_notebook", weight=10, pairs=(_NOTEBOOK,), os_keys=("windows_client",),
              software_platform="windows", software_range=(40, 250), site=20, prefix="NB",
              ports="windows_client", port_range=(1, 6), iface_range=(2, 3), volume_range=(1, 1),
              cpu_range=(4, 16), agent_ratio=0.9, windows_style=True),
    Archetype(name="mac_notebook", weight=5, pairs=(_NOTEBOOK,), os_keys=("mac",), software_platform="mac",
              software_range=(20, 76), site=20, prefix="mbp", ports="mac", port_range=(1, 5),
              iface_range=(1, 3), volume_range=(1, 2), cpu_range=(8, 12), agent_ratio=0.8),
    Archetype(name="mac_desktop", weight=2, pairs=(_DESKTOP,), os_keys=("mac",), software_platform="mac",
              software_range=(20, 76), site=20, prefix="imac", ports="mac", port_range=(1, 5),
              iface_range=(1, 2), volume_range=(1, 2), cpu_range=(8, 10), agent_ratio=0.8),
    Archetype(name="linux_desktop", weight=2, pairs=(_DESKTOP,), os_keys=("linux_client",),
              software_platform="linux", software_range=(120, 400), site=20, prefix="ldev",
              ports="linux_server", port_range=(1, 5), iface_range=(1, 2), volume_range=(1, 3),
              cpu_range=(4, 16), agent_ratio=0.7),
    Archetype(name="cloud", weight=11, pairs=(("Virtualized", "Cloud Instance"),),
              os_keys=("linux_cloud", "linux_server", "windows_server"), software_platform="linux",
              software_range=(60, 10_000), site=100, prefix="cloud", ports="linux_server",
              port_range=(2, 10), iface_range=(1, 2), volume_range=(1, 3), cpu_range=(2, 16),
              agent_ratio=0.7),
    Archetype(name="container_host", weight=0, pairs=(("Virtualized", "Container"),),
              os_keys=("linux_server",), software_platform="linux", software_range=(20, 120), site=10,
              prefix="ctr", ports="linux_server", port_range=(1, 4), iface_range=(1, 2),
              volume_range=(1, 2), cpu_range=(1, 4), agent_ratio=0.3),
    Archetype(name="mainframe", weight=0, pairs=(("Computers", "Mainframe"),), os_keys=("mainframe",),
              software_platform="unix", software_range=(10, 60), site=10, prefix="zos",
              ports="linux_server", port_range=(2, 6), iface_range=(1, 2), volume_range=(2, 6),
              cpu_range=(8, 32), agent_ratio=0.0),
    Archetype(name="windows_iot", weight=0,
              pairs=(("Computers", "Point of Sale (POS) Terminal"),
                     ("Industrial Control System (ICS)", "Industrial PC")),
              os_keys=("windows_iot",), software_platform="windows", software_range=(10, 60), site=40,
              prefix="POS", ports="windows_client", port_range=(1, 4), iface_range=(1, 1),
              volume_range=(1, 1), cpu_range=(2, 4), agent_ratio=0.5, windows_style=True),
    Archetype(name="network", weight=7,
              pairs=(("Networking Device", "Switch"), ("Networking Device", "Switch"),
                     ("Networking Device", "Bridges and Routers"),
                     ("Networking Device", "Wireless Access Point"),
                     ("Network Security Device", "Firewall Device"),
                     ("Networking Device", "Server Load Balancer")),
              os_keys=("network",), software_platform="embedded", software_range=(0, 3), site=30,
              prefix="sw", ports="network", port_range=(2, 7), iface_range=(2, 8), volume_range=(0, 0),
              cpu_range=(1, 1), agent_ratio=0.0),
    Archetype(name="printer", weight=4,
              pairs=(("Printers", "Laser"), ("Printers", "Multi-Function Printer (MFP)"),
                     ("Printers", "Inkjet")),
              os_keys=("printer",), software_platform="embedded", software_range=(0, 1), site=40,
              prefix="PRN", ports="printer", port_range=(2, 5), iface_range=(1, 1), volume_range=(0, 0),
              cpu_range=(0, 0), agent_ratio=0.0),
    Archetype(name="mobile", weight=2, pairs=(("Mobile", "Smartphone"), ("Mobile", "Tablet")),
              os_keys=("mobile",), software_platform="mobile", software_range=(3, 10), site=40,
              prefix="mob", ports="iot", port_range=(0, 1), iface_range=(1, 1), volume_range=(0, 0),
              cpu_range=(0, 0), agent_ratio=0.0),
    Archetype(name="iot", weight=5, pairs=tuple(p for p in hw.HARDWARE_PAIRS if hw.family_of(p) == hw.IOT),
              os_keys=("embedded",), software_platform="embedded", software_range=(0, 2), site=40,
              prefix="iot", ports="iot", port_range=(0, 4), iface_range=(1, 1), volume_range=(0, 0),
              cpu_range=(0, 1), agent_ratio=0.0),
)}
# fmt: on

WEIGHTED: tuple[tuple[str, int], ...] = tuple((a.name, a.weight) for a in ARCHETYPES.values() if a.weight)
# Cloud provider of a "cloud" archetype asset, by weight.
CLOUD_PROVIDERS: tuple[tuple[str, int], ...] = (("aws", 5), ("azure", 3), ("gcp", 2))
# Share of "iot" assets whose OS is not identified.
IOT_UNIDENTIFIED_RATIO = 0.15

# Volume names by software platform (the first ``n_volumes`` are used; the default list is Unix-style).
# Today's archetype ranges use at most the first six (two on macOS); an estate shape may use more.
_UNIX_VOLUMES = (
    "/",
    "/boot",
    "/var",
    "/home",
    "/opt",
    "/data",
    "/var/lib",
    "/srv",
    "/var/log",
    "/usr",
    "/backup",
    "/data2",
)
VOLUME_NAMES: dict[str, tuple[str, ...]] = {
    "windows": tuple(f"{letter}:" for letter in "CDEFGHIJKLMNOPQRSTUVWXYZ"),
    "mac": ("/", "/System/Volumes/Data", "/System/Volumes/Preboot", "/System/Volumes/VM", "/System/Volumes/Update"),
}


def volume_names(platform: str) -> tuple[str, ...]:
    """Volume names of a software platform, in the order they are given to an asset."""
    return VOLUME_NAMES.get(platform, _UNIX_VOLUMES)


def archetypes_for_pair(pair: tuple[str, str]) -> tuple[str, ...]:
    """Archetypes that can own a given hardware pair (used to give every seed-table pair an asset)."""
    family = hw.family_of(pair)
    return {
        hw.SERVER: ("windows_server", "linux_server", "unix_server"),
        hw.VM: ("windows_server", "linux_server"),
        hw.CLOUD: ("cloud",),
        hw.CONTAINER: ("container_host",),
        hw.MAINFRAME: ("mainframe",),
        hw.CLIENT: ("windows_desktop", "linux_desktop", "mac_desktop")
        if pair == _DESKTOP
        else ("windows_desktop", "linux_desktop"),
        hw.NOTEBOOK: ("windows_notebook", "mac_notebook"),
        hw.POS: ("windows_iot",),
        hw.INDUSTRIAL_PC: ("windows_iot",),
        hw.NETWORK: ("network",),
        hw.PRINTER: ("printer",),
        hw.MOBILE: ("mobile",),
        hw.IOT: ("iot",),
    }[family]


# port, protocol, service, description
PortDef = tuple[int, str, str, str]
PORT_PROFILES: dict[str, tuple[PortDef, ...]] = {
    "windows_server": (
        (135, "TCP", "msrpc", "Microsoft RPC"),
        (139, "TCP", "netbios-ssn", "NetBIOS Session Service"),
        (445, "TCP", "microsoft-ds", "SMB over TCP"),
        (3389, "TCP", "ms-wbt-server", "Remote Desktop"),
        (5985, "TCP", "wsman", "WinRM HTTP"),
        (5986, "TCP", "wsmans", "WinRM HTTPS"),
        (80, "TCP", "http", "World Wide Web HTTP"),
        (443, "TCP", "https", "http protocol over TLS/SSL"),
        (1433, "TCP", "ms-sql-s", "Microsoft SQL Server"),
        (137, "UDP", "netbios-ns", "NetBIOS Name Service"),
        (123, "UDP", "ntp", "Network Time Protocol"),
        (161, "UDP", "snmp", "SNMP"),
        (53, "TCP", "domain", "Domain Name Server"),
        (88, "TCP", "kerberos", "Kerberos"),
        (389, "TCP", "ldap", "LDAP"),
        (636, "TCP", "ldaps", "LDAP over SSL"),
        (49664, "TCP", "unknown", "Dynamic RPC"),
        (49665, "TCP", "unknown", "Dynamic RPC"),
        (49666, "TCP", "unknown", "Dynamic RPC"),
        (49667, "TCP", "unknown", "Dynamic RPC"),
    ),
    "windows_client": (
        (135, "TCP", "msrpc", "Microsoft RPC"),
        (139, "TCP", "netbios-ssn", "NetBIOS Session Service"),
        (445, "TCP", "microsoft-ds", "SMB over TCP"),
        (3389, "TCP", "ms-wbt-server", "Remote Desktop"),
        (137, "UDP", "netbios-ns", "NetBIOS Name Service"),
        (5040, "TCP", "unknown", "CDPSvc"),
        (7680, "TCP", "unknown", "Delivery Optimization"),
        (5353, "UDP", "mdns", "Multicast DNS"),
    ),
    "linux_server": (
        (22, "TCP", "ssh", "SSH Remote Login Protocol"),
        (80, "TCP", "http", "World Wide Web HTTP"),
        (443, "TCP", "https", "http protocol over TLS/SSL"),
        (111, "TCP", "rpcbind", "SUN Remote Procedure Call"),
        (2049, "TCP", "nfs", "Network File System"),
        (3306, "TCP", "mysql", "MySQL"),
        (5432, "TCP", "postgresql", "PostgreSQL"),
        (6379, "TCP", "redis", "Redis"),
        (8080, "TCP", "http-proxy", "HTTP Alternate"),
        (8443, "TCP", "https-alt", "HTTPS Alternate"),
        (9100, "TCP", "jetdirect", "node_exporter"),
        (123, "UDP", "ntp", "Network Time Protocol"),
        (161, "UDP", "snmp", "SNMP"),
        (53, "UDP", "domain", "Domain Name Server"),
        (25, "TCP", "smtp", "Simple Mail Transfer"),
        (9200, "TCP", "wap-wsp", "Elasticsearch"),
        (2375, "TCP", "docker", "Docker API"),
        (10050, "TCP", "zabbix-agent", "Zabbix Agent"),
    ),
    "mac": (
        (22, "TCP", "ssh", "SSH Remote Login Protocol"),
        (5353, "UDP", "mdns", "Multicast DNS"),
        (88, "TCP", "kerberos", "Kerberos"),
        (5900, "TCP", "vnc", "Screen Sharing"),
        (7000, "TCP", "afs3-fileserver", "AirPlay Receiver"),
    ),
    "network": (
        (22, "TCP", "ssh", "SSH Remote Login Protocol"),
        (23, "TCP", "telnet", "Telnet"),
        (80, "TCP", "http", "World Wide Web HTTP"),
        (443, "TCP", "https", "http protocol over TLS/SSL"),
        (161, "UDP", "snmp", "SNMP"),
        (179, "TCP", "bgp", "Border Gateway Protocol"),
        (830, "TCP", "netconf-ssh", "NETCONF over SSH"),
        (514, "UDP", "syslog", "Syslog"),
    ),
    "printer": (
        (80, "TCP", "http", "World Wide Web HTTP"),
        (443, "TCP", "https", "http protocol over TLS/SSL"),
        (515, "TCP", "printer", "LPD"),
        (631, "TCP", "ipp", "Internet Printing Protocol"),
        (9100, "TCP", "jetdirect", "HP JetDirect"),
        (161, "UDP", "snmp", "SNMP"),
    ),
    "iot": (
        (80, "TCP", "http", "World Wide Web HTTP"),
        (443, "TCP", "https", "http protocol over TLS/SSL"),
        (502, "TCP", "modbus", "Modbus"),
        (47808, "UDP", "bacnet", "BACnet"),
        (1883, "TCP", "mqtt", "MQTT"),
        (554, "TCP", "rtsp", "Real Time Streaming Protocol"),
        (161, "UDP", "snmp", "SNMP"),
    ),
}
