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

ARCHETYPES: dict[str, Archetype] = {a.name: a for a in (
    Archetype("windows_server", 15, (_SERVER, _SERVER, _VM), ("windows_server",), "windows", (80, 10_000),
              10, "WINSRV", "windows_server", (4, 18), (1, 3), (1, 4), (2, 32), 0.85, windows_style=True),
    Archetype("linux_server", 15, (_SERVER, _VM, _VM), ("linux_server",), "linux", (100, 10_000),
              10, "lnx", "linux_server", (3, 16), (1, 4), (2, 6), (2, 64), 0.85),
    Archetype("unix_server", 3, (_SERVER,), ("unix",), "unix", (30, 110), 10, "unx", "linux_server",
              (3, 10), (1, 3), (2, 5), (4, 32), 0.5),
    Archetype("windows_desktop", 12, (_DESKTOP, ("Computers", "Assembled"), ("Computers", "Other")),
              ("windows_client",), "windows", (40, 250), 20, "WS", "windows_client", (1, 7), (1, 2), (1, 2),
              (4, 16), 0.9, windows_style=True),
    Archetype("windows_notebook", 10, (_NOTEBOOK,), ("windows_client",), "windows", (40, 250), 20, "NB",
              "windows_client", (1, 6), (2, 3), (1, 1), (4, 16), 0.9, windows_style=True),
    Archetype("mac_notebook", 5, (_NOTEBOOK,), ("mac",), "mac", (20, 76), 20, "mbp", "mac", (1, 5), (1, 3),
              (1, 2), (8, 12), 0.8),
    Archetype("mac_desktop", 2, (_DESKTOP,), ("mac",), "mac", (20, 76), 20, "imac", "mac", (1, 5), (1, 2),
              (1, 2), (8, 10), 0.8),
    Archetype("linux_desktop", 2, (_DESKTOP,), ("linux_client",), "linux", (120, 400), 20, "ldev",
              "linux_server", (1, 5), (1, 2), (1, 3), (4, 16), 0.7),
    Archetype("cloud", 11, (("Virtualized", "Cloud Instance"),), ("linux_cloud", "linux_server", "windows_server"),
              "linux", (60, 10_000), 100, "cloud", "linux_server", (2, 10), (1, 2), (1, 3), (2, 16), 0.7),
    Archetype("container_host", 0, (("Virtualized", "Container"),), ("linux_server",), "linux", (20, 120), 10,
              "ctr", "linux_server", (1, 4), (1, 2), (1, 2), (1, 4), 0.3),
    Archetype("mainframe", 0, (("Computers", "Mainframe"),), ("mainframe",), "unix", (10, 60), 10, "zos",
              "linux_server", (2, 6), (1, 2), (2, 6), (8, 32), 0.0),
    Archetype("windows_iot", 0, (("Computers", "Point of Sale (POS) Terminal"),
                                 ("Industrial Control System (ICS)", "Industrial PC")),
              ("windows_iot",), "windows", (10, 60), 40, "POS", "windows_client", (1, 4), (1, 1), (1, 1),
              (2, 4), 0.5, windows_style=True),
    Archetype("network", 7, (("Networking Device", "Switch"), ("Networking Device", "Switch"),
                             ("Networking Device", "Bridges and Routers"),
                             ("Networking Device", "Wireless Access Point"),
                             ("Network Security Device", "Firewall Device"),
                             ("Networking Device", "Server Load Balancer")),
              ("network",), "embedded", (0, 3), 30, "sw", "network", (2, 7), (2, 8), (0, 0), (1, 1), 0.0),
    Archetype("printer", 4, (("Printers", "Laser"), ("Printers", "Multi-Function Printer (MFP)"),
                             ("Printers", "Inkjet")),
              ("printer",), "embedded", (0, 1), 40, "PRN", "printer", (2, 5), (1, 1), (0, 0), (0, 0), 0.0),
    Archetype("mobile", 2, (("Mobile", "Smartphone"), ("Mobile", "Tablet")), ("mobile",), "mobile", (3, 10),
              40, "mob", "iot", (0, 1), (1, 1), (0, 0), (0, 0), 0.0),
    Archetype("iot", 5, tuple(p for p in hw.HARDWARE_PAIRS if hw.family_of(p) == hw.IOT), ("embedded",),
              "embedded", (0, 2), 40, "iot", "iot", (0, 4), (1, 1), (0, 0), (0, 1), 0.0),
)}

WEIGHTED: tuple[tuple[str, int], ...] = tuple((a.name, a.weight) for a in ARCHETYPES.values() if a.weight)


def archetypes_for_pair(pair: tuple[str, str]) -> tuple[str, ...]:
    """Archetypes that can own a given hardware pair (used to give every seed-table pair an asset)."""
    family = hw.family_of(pair)
    return {
        hw.SERVER: ("windows_server", "linux_server", "unix_server"),
        hw.VM: ("windows_server", "linux_server"),
        hw.CLOUD: ("cloud",),
        hw.CONTAINER: ("container_host",),
        hw.MAINFRAME: ("mainframe",),
        hw.CLIENT: ("windows_desktop", "linux_desktop", "mac_desktop") if pair == _DESKTOP
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
        (135, "TCP", "msrpc", "Microsoft RPC"), (139, "TCP", "netbios-ssn", "NetBIOS Session Service"),
        (445, "TCP", "microsoft-ds", "SMB over TCP"), (3389, "TCP", "ms-wbt-server", "Remote Desktop"),
        (5985, "TCP", "wsman", "WinRM HTTP"), (5986, "TCP", "wsmans", "WinRM HTTPS"),
        (80, "TCP", "http", "World Wide Web HTTP"), (443, "TCP", "https", "http protocol over TLS/SSL"),
        (1433, "TCP", "ms-sql-s", "Microsoft SQL Server"), (137, "UDP", "netbios-ns", "NetBIOS Name Service"),
        (123, "UDP", "ntp", "Network Time Protocol"), (161, "UDP", "snmp", "SNMP"),
        (53, "TCP", "domain", "Domain Name Server"), (88, "TCP", "kerberos", "Kerberos"),
        (389, "TCP", "ldap", "LDAP"), (636, "TCP", "ldaps", "LDAP over SSL"),
        (49664, "TCP", "unknown", "Dynamic RPC"), (49665, "TCP", "unknown", "Dynamic RPC"),
        (49666, "TCP", "unknown", "Dynamic RPC"), (49667, "TCP", "unknown", "Dynamic RPC"),
    ),
    "windows_client": (
        (135, "TCP", "msrpc", "Microsoft RPC"), (139, "TCP", "netbios-ssn", "NetBIOS Session Service"),
        (445, "TCP", "microsoft-ds", "SMB over TCP"), (3389, "TCP", "ms-wbt-server", "Remote Desktop"),
        (137, "UDP", "netbios-ns", "NetBIOS Name Service"), (5040, "TCP", "unknown", "CDPSvc"),
        (7680, "TCP", "unknown", "Delivery Optimization"), (5353, "UDP", "mdns", "Multicast DNS"),
    ),
    "linux_server": (
        (22, "TCP", "ssh", "SSH Remote Login Protocol"), (80, "TCP", "http", "World Wide Web HTTP"),
        (443, "TCP", "https", "http protocol over TLS/SSL"), (111, "TCP", "rpcbind", "SUN Remote Procedure Call"),
        (2049, "TCP", "nfs", "Network File System"), (3306, "TCP", "mysql", "MySQL"),
        (5432, "TCP", "postgresql", "PostgreSQL"), (6379, "TCP", "redis", "Redis"),
        (8080, "TCP", "http-proxy", "HTTP Alternate"), (8443, "TCP", "https-alt", "HTTPS Alternate"),
        (9100, "TCP", "jetdirect", "node_exporter"), (123, "UDP", "ntp", "Network Time Protocol"),
        (161, "UDP", "snmp", "SNMP"), (53, "UDP", "domain", "Domain Name Server"),
        (25, "TCP", "smtp", "Simple Mail Transfer"), (9200, "TCP", "wap-wsp", "Elasticsearch"),
        (2375, "TCP", "docker", "Docker API"), (10050, "TCP", "zabbix-agent", "Zabbix Agent"),
    ),
    "mac": (
        (22, "TCP", "ssh", "SSH Remote Login Protocol"), (5353, "UDP", "mdns", "Multicast DNS"),
        (88, "TCP", "kerberos", "Kerberos"), (5900, "TCP", "vnc", "Screen Sharing"),
        (7000, "TCP", "afs3-fileserver", "AirPlay Receiver"),
    ),
    "network": (
        (22, "TCP", "ssh", "SSH Remote Login Protocol"), (23, "TCP", "telnet", "Telnet"),
        (80, "TCP", "http", "World Wide Web HTTP"), (443, "TCP", "https", "http protocol over TLS/SSL"),
        (161, "UDP", "snmp", "SNMP"), (179, "TCP", "bgp", "Border Gateway Protocol"),
        (830, "TCP", "netconf-ssh", "NETCONF over SSH"), (514, "UDP", "syslog", "Syslog"),
    ),
    "printer": (
        (80, "TCP", "http", "World Wide Web HTTP"), (443, "TCP", "https", "http protocol over TLS/SSL"),
        (515, "TCP", "printer", "LPD"), (631, "TCP", "ipp", "Internet Printing Protocol"),
        (9100, "TCP", "jetdirect", "HP JetDirect"), (161, "UDP", "snmp", "SNMP"),
    ),
    "iot": (
        (80, "TCP", "http", "World Wide Web HTTP"), (443, "TCP", "https", "http protocol over TLS/SSL"),
        (502, "TCP", "modbus", "Modbus"), (47808, "UDP", "bacnet", "BACnet"),
        (1883, "TCP", "mqtt", "MQTT"), (554, "TCP", "rtsp", "Real Time Streaming Protocol"),
        (161, "UDP", "snmp", "SNMP"),
    ),
}
