"""Hardware taxonomy of the simulated estate.

``HARDWARE_PAIRS`` is the "Hardware Data Mappings" table of the Qualys CMDB Sync App guide
(seed document ``000_19c77977991518ad.txt``), reconstructed pair by pair where the PDF text broke
cells over several lines (e.g. "Power Conditioning\\nEquipment", "Industrial Control System\\n(ICS)",
"Wireless Fidelity Base\\nStations Wifi").  The estate uses every pair at least once when it has at
least ``len(HARDWARE_PAIRS)`` assets.

Each pair also carries a device *family* (which drives the OS, software volume, ports, ...) and a
few plausible (manufacturer, product, model) triples.
"""

from __future__ import annotations

from dataclasses import dataclass

# (category1, category2, target CI class in the seed table) in the seed table's order.
_SEED_TABLE: tuple[tuple[str, str, str], ...] = (
    ("Printers", "Laser", "cmdb_ci_printer"),
    ("Communication Devices", "IP Phones", "cmdb_ci_hardware"),
    ("Virtualized", "Container", "cmdb_ci_computer"),
    ("Computers", "Point of Sale (POS) Terminal", "cmdb_ci_pos"),
    ("Networking Device", "Wireless Access Point", "cmdb_ci_wap_network"),
    ("Power Conditioning Equipment", "Power Distribution Unit (PDU)", "cmdb_ci_pdu"),
    ("Wearable Devices", "Smart Glasses", "cmdb_ci_wearable"),
    ("Printers", "Line Matrix Printers", "cmdb_ci_printer"),
    ("Networking Device", "Unidentified", "cmdb_ci_netgear"),
    ("Input Devices", "RFID Device", "cmdb_ci_iot"),
    ("Mobile", "Smartphone", "cmdb_ci_hardware"),
    ("Computers", "Mainframe", "cmdb_ci_mainframe_hardware"),
    ("Building Automation Devices", "Smart Appliance", "cmdb_ci_iot"),
    ("Power Conditioning Equipment", "Uninterruptible Power Supply (UPS)", "cmdb_ci_ups"),
    ("Industrial Networking", "Industrial Ethernet Switch", "cmdb_ci_ip_switch"),
    ("Industrial Control System (ICS)", "Intelligent Electronic Device (IED)", "cmdb_ci_manufacturing"),
    ("Networking Device", "Concentrators, Hubs, and Multiplexers", "cmdb_ci_hub_network"),
    ("Building Automation Devices", "BACnet Controller", "cmdb_ci_iot"),
    ("Building Automation Devices", "HVAC Control", "cmdb_ci_iot"),
    ("Computers", "Assembled", "cmdb_ci_computer"),
    ("Audio and Visual Equipment", "Portable Media Player", "cmdb_ci_media_player"),
    ("Communication Devices", "Conferencing Equipment", "cmdb_ci_hardware"),
    ("Industrial Control System (ICS)", "Distributed Control System (DCS)", "cmdb_ci_manufacturing"),
    ("Audio and Visual Equipment", "Smart TV", "cmdb_ci_stv"),
    ("Industrial Control System (ICS)", "Human Machine Interface (HMI)", "cmdb_ci_hmi"),
    ("Wearable Devices", "Health and Activity Monitor", "cmdb_ci_wearable"),
    ("Field Instruments", "Sensor", "cmdb_ci_iot"),
    ("Network Security Device", "Firewall Device", "cmdb_ci_firewall_device"),
    ("Wearable Devices", "Smart Footwear", "cmdb_ci_wearable"),
    ("Building Automation Devices", "Security Camera", "cmdb_ci_security"),
    ("Networking Device", "Bridges and Routers", "cmdb_ci_ip_router"),
    ("Industrial Control System (ICS)", "Remote Terminal Unit (RTU)", "cmdb_ci_manufacturing"),
    ("Networking Device", "Other", "cmdb_ci_netgear"),
    ("Audio and Visual Equipment", "Media Streaming Device", "cmdb_ci_media_player"),
    ("Building Automation Devices", "Other", "cmdb_ci_hardware"),
    ("Communication Devices", "Other", "cmdb_ci_hardware"),
    ("Computers", "Notebook", "cmdb_ci_pc_hardware"),
    ("Wearable Devices", "Smart Apparel", "cmdb_ci_wearable"),
    ("Industrial Control System (ICS)", "Industrial PC", "cmdb_ci_computer"),
    ("Printers", "Multi-Function Printer (MFP)", "cmdb_ci_mfp_printer"),
    ("Field Instruments", "Motion Control", "cmdb_ci_iot"),
    ("Virtualized", "Cloud Instance", "cmdb_ci_vm_instance"),
    ("Building Automation Devices", "BACnet Router", "cmdb_ci_iot"),
    ("Field Instruments", "Field Device Management", "cmdb_ci_iot"),
    ("Call Management Systems or Accessories", "Premise Branch Exchange (PBX)", "cmdb_ci_hardware"),
    ("Building Automation Devices", "Leak Detection", "cmdb_ci_iot"),
    ("Industrial Networking", "Industrial Wireless LAN", "cmdb_ci_wap_network"),
    ("Audio and Visual Equipment", "Smart Earpiece", "cmdb_ci_media_player"),
    ("Computers", "Other", "cmdb_ci_computer"),
    ("Printers", "3D Printers", "cmdb_ci_printer"),
    ("Building Automation Devices", "Intrusion Detection and Access Control", "cmdb_ci_security"),
    ("Networking Device", "Access Servers", "cmdb_ci_server"),
    ("Field Instruments", "Measurement Systems", "cmdb_ci_iot"),
    ("Networking Device", "Server Load Balancer", "cmdb_ci_lb"),
    ("Industrial Control System (ICS)", "Programmable Logic Controller (PLC)", "cmdb_ci_plc"),
    ("Building Automation Devices", "Lighting and Control", "cmdb_ci_iot"),
    ("Computers", "Desktop", "cmdb_ci_pc_hardware"),
    ("Wearable Devices", "Smart Watch", "cmdb_ci_wearable"),
    ("Storage Devices", "Other", "cmdb_ci_storage_device"),
    ("Building Automation Devices", "Power and Energy Monitoring", "cmdb_ci_iot"),
    ("Networking Device", "Print Server", "cmdb_ci_server"),
    ("Printers", "Thermal Tape Printers", "cmdb_ci_printer"),
    ("Networking Device", "Modem", "cmdb_ci_modem_network"),
    ("Networking Device", "Terminal Server", "cmdb_ci_netgear"),
    ("Wearable Devices", "Wearable Camera", "cmdb_ci_wearable"),
    ("Building Automation Devices", "Fire Safety", "cmdb_ci_iot"),
    ("Industrial Networking", "Other", "cmdb_ci_netgear"),
    ("Communication Devices", "Video Phone", "cmdb_ci_hardware"),
    ("Industrial Control System (ICS)", "Safety Instrumented System (SIS)", "cmdb_ci_manufacturing"),
    ("Industrial Networking", "Industrial Media Converter", "cmdb_ci_netgear"),
    ("Communication Devices", "Answering Machine", "cmdb_ci_hardware"),
    ("Mobile", "Tablet", "cmdb_ci_hardware"),
    ("Communication Devices", "Keyphone System", "cmdb_ci_hardware"),
    ("Field Instruments", "Robots", "cmdb_ci_iot"),
    ("Printers", "Other", "cmdb_ci_printer"),
    ("Networking Device", "Wireless Fidelity Base Stations Wifi", "cmdb_ci_wap_network"),
    ("Virtualized", "Virtual Machine", "cmdb_ci_vm_instance"),
    ("Industrial Networking", "Industrial Serial Device Server", "cmdb_ci_hardware"),
    ("Industrial Control System (ICS)", "Other", "cmdb_ci_manufacturing"),
    ("Printers", "Inkjet", "cmdb_ci_printer"),
    ("Audio and Visual Equipment", "Projector", "cmdb_ci_display"),
    ("Field Instruments", "Smart Meter", "cmdb_ci_iot"),
    ("Industrial Networking", "IoT Gateway", "cmdb_ci_iot_gateway"),
    ("Networking Device", "Switch", "cmdb_ci_ip_switch"),
    ("Industrial Networking", "Communication Processor", "cmdb_ci_netgear"),
    ("Audio and Visual Equipment", "Smart Speaker", "cmdb_ci_media_player"),
    ("Computers", "Server", "cmdb_ci_server"),
)

HARDWARE_PAIRS: tuple[tuple[str, str], ...] = tuple((c1, c2) for c1, c2, _ in _SEED_TABLE)
TARGET_CI_CLASS: dict[tuple[str, str], str] = {(c1, c2): ci for c1, c2, ci in _SEED_TABLE}

# Device families drive the OS choice, software volume and network profile of an asset.
SERVER = "server"
CLIENT = "client"
NOTEBOOK = "notebook"
VM = "vm"
CLOUD = "cloud"
CONTAINER = "container"
MAINFRAME = "mainframe"
NETWORK = "network"
PRINTER = "printer"
MOBILE = "mobile"
IOT = "iot"
INDUSTRIAL_PC = "industrial_pc"
POS = "pos"

_FAMILY_BY_PAIR: dict[tuple[str, str], str] = {
    ("Computers", "Server"): SERVER,
    ("Computers", "Desktop"): CLIENT,
    ("Computers", "Assembled"): CLIENT,
    ("Computers", "Other"): CLIENT,
    ("Computers", "Notebook"): NOTEBOOK,
    ("Computers", "Mainframe"): MAINFRAME,
    ("Computers", "Point of Sale (POS) Terminal"): POS,
    ("Industrial Control System (ICS)", "Industrial PC"): INDUSTRIAL_PC,
    ("Virtualized", "Virtual Machine"): VM,
    ("Virtualized", "Cloud Instance"): CLOUD,
    ("Virtualized", "Container"): CONTAINER,
    ("Mobile", "Smartphone"): MOBILE,
    ("Mobile", "Tablet"): MOBILE,
}


def family_of(pair: tuple[str, str]) -> str:
    """Return the device family of a hardware (category1, category2) pair."""
    fam = _FAMILY_BY_PAIR.get(pair)
    if fam is not None:
        return fam
    cat1 = pair[0]
    if cat1 in ("Networking Device", "Network Security Device", "Industrial Networking"):
        return NETWORK
    if cat1 == "Printers":
        return PRINTER
    return IOT


@dataclass(frozen=True, slots=True)
class HardwareModel:
    """A concrete hardware product: what ``hardware.manufacturer/productName/model`` report."""

    manufacturer: str
    product: str
    model: str


def _m(manufacturer: str, product: str, model: str) -> HardwareModel:
    return HardwareModel(manufacturer, product, model)


# Specific products for the common pairs; everything else falls back to _BY_CATEGORY1.
_MODELS_BY_PAIR: dict[tuple[str, str], tuple[HardwareModel, ...]] = {
    ("Computers", "Server"): (
        _m("Dell", "PowerEdge R740", "R740"),
        _m("Dell", "PowerEdge R650", "R650"),
        _m("Hewlett Packard Enterprise", "ProLiant DL380 Gen10", "DL380 Gen10"),
        _m("Hewlett Packard Enterprise", "ProLiant DL360 Gen11", "DL360 Gen11"),
        _m("Lenovo", "ThinkSystem SR650", "7X06"),
        _m("Cisco", "UCS C220 M5", "UCSC-C220-M5SX"),
        _m("Oracle", "SPARC T8-1", "T8-1"),
        _m("IBM", "Power System S922", "9009-22A"),
    ),
    ("Computers", "Desktop"): (
        _m("Dell", "OptiPlex 7090", "OptiPlex 7090"),
        _m("HP", "EliteDesk 800 G6", "800 G6 SFF"),
        _m("Lenovo", "ThinkCentre M70q", "11DT"),
        _m("Apple", "iMac 24-inch M1", "iMac21,1"),
        _m("Apple", "Mac mini M2", "Mac14,3"),
    ),
    ("Computers", "Notebook"): (
        _m("Dell", "Latitude 5420", "Latitude 5420"),
        _m("Lenovo", "ThinkPad T14 Gen 3", "21AH"),
        _m("HP", "EliteBook 840 G8", "840 G8"),
        _m("Microsoft", "Surface Laptop 5", "1950"),
        _m("Apple", "MacBook Pro 14-inch M3", "Mac15,3"),
        _m("Apple", "MacBook Air 13-inch M2", "Mac14,2"),
    ),
    ("Virtualized", "Virtual Machine"): (
        _m("VMware", "VMware Virtual Platform", "VMware7,1"),
        _m("Microsoft", "Hyper-V Virtual Machine", "Virtual Machine"),
        _m("Nutanix", "AHV", "AHV"),
        _m("Red Hat", "KVM", "RHEL 7.6.0 PC (i440FX + PIIX, 1996)"),
    ),
    ("Virtualized", "Cloud Instance"): (
        _m("Amazon", "Amazon EC2", "m5.large"),
        _m("Microsoft", "Azure Virtual Machine", "Standard_D4s_v5"),
        _m("Google", "Google Compute Engine", "e2-standard-4"),
    ),
    ("Virtualized", "Container"): (_m("Docker", "Docker Container", "Container"),),
    ("Computers", "Mainframe"): (_m("IBM", "IBM z15", "8561-T01"), _m("IBM", "IBM z16", "3931-A01")),
    ("Computers", "Point of Sale (POS) Terminal"): (
        _m("NCR", "NCR RealPOS XR7", "7702"),
        _m("Toshiba", "TCx800", "6140-E"),
    ),
    ("Networking Device", "Switch"): (
        _m("Cisco", "Catalyst 9300-48P", "C9300-48P"),
        _m("Cisco", "Nexus 93180YC-FX", "N9K-C93180YC-FX"),
        _m("Arista", "7050SX3-48YC8", "DCS-7050SX3-48YC8"),
        _m("Juniper Networks", "EX4300-48T", "EX4300-48T"),
    ),
    ("Networking Device", "Bridges and Routers"): (
        _m("Cisco", "ISR 4331", "ISR4331/K9"),
        _m("Juniper Networks", "MX204", "MX204"),
    ),
    ("Networking Device", "Wireless Access Point"): (
        _m("Cisco", "Aironet 2802I", "AIR-AP2802I-E-K9"),
        _m("Aruba", "AP-515", "AP-515"),
    ),
    ("Network Security Device", "Firewall Device"): (
        _m("Palo Alto Networks", "PA-3220", "PA-3220"),
        _m("Fortinet", "FortiGate 100F", "FG-100F"),
        _m("Cisco", "Firepower 2130", "FPR2130-NGFW-K9"),
    ),
    ("Networking Device", "Server Load Balancer"): (_m("F5", "BIG-IP i5800", "i5800"),),
    ("Printers", "Laser"): (
        _m("HP", "LaserJet Enterprise M607", "M607dn"),
        _m("Lexmark", "MS826de", "4063-830"),
    ),
    ("Printers", "Multi-Function Printer (MFP)"): (
        _m("Xerox", "VersaLink C405", "C405/DN"),
        _m("Ricoh", "IM C3000", "IM C3000"),
        _m("Canon", "imageRUNNER ADVANCE DX C5860i", "C5860i"),
    ),
    ("Printers", "Inkjet"): (_m("Epson", "WorkForce Pro WF-C579R", "C579R"),),
    ("Mobile", "Smartphone"): (
        _m("Apple", "iPhone 15", "iPhone15,4"),
        _m("Samsung", "Galaxy S23", "SM-S911B"),
    ),
    ("Mobile", "Tablet"): (_m("Apple", "iPad Air 5th generation", "iPad13,16"),),
}

_BY_CATEGORY1: dict[str, tuple[str, ...]] = {
    "Printers": ("HP", "Zebra", "Printronix", "Brother", "Ultimaker", "Epson"),
    "Communication Devices": ("Polycom", "Cisco", "Yealink", "Avaya", "Panasonic"),
    "Networking Device": ("Cisco", "Netgear", "Digi", "Lantronix", "Zyxel", "Ubiquiti"),
    "Industrial Networking": ("Siemens", "Moxa", "Hirschmann", "Phoenix Contact", "Cisco"),
    "Industrial Control System (ICS)": ("Siemens", "Rockwell Automation", "Schneider Electric", "ABB"),
    "Building Automation Devices": ("Honeywell", "Johnson Controls", "Axis", "Siemens", "Bosch"),
    "Field Instruments": ("Emerson", "Endress+Hauser", "Yokogawa", "FANUC", "Itron"),
    "Wearable Devices": ("Apple", "Garmin", "Fitbit", "Vuzix", "GoPro"),
    "Audio and Visual Equipment": ("Sonos", "Samsung", "Roku", "Epson", "Apple", "Bose"),
    "Power Conditioning Equipment": ("APC", "Eaton", "Vertiv", "CyberPower"),
    "Input Devices": ("Zebra", "Honeywell", "Impinj"),
    "Storage Devices": ("NetApp", "Synology", "Dell EMC", "Pure Storage"),
    "Call Management Systems or Accessories": ("Avaya", "Mitel", "Cisco"),
    "Computers": ("Dell", "HP", "Lenovo", "Supermicro"),
    "Mobile": ("Apple", "Samsung", "Google"),
    "Network Security Device": ("Palo Alto Networks", "Fortinet", "Check Point"),
    "Virtualized": ("VMware",),
}


def models_for(pair: tuple[str, str]) -> tuple[HardwareModel, ...]:
    """Return candidate products for a hardware pair (specific ones, or generic per category1)."""
    specific = _MODELS_BY_PAIR.get(pair)
    if specific:
        return specific
    short = "".join(word[0] for word in pair[1].replace("(", " ").split() if word[0].isalnum())
    return tuple(
        _m(maker, f"{maker} {pair[1]} {short.upper()}-{100 * (n + 1)}", f"{short.upper()}-{100 * (n + 1)}")
        for n, maker in enumerate(_BY_CATEGORY1.get(pair[0], ("Generic",)))
    )
