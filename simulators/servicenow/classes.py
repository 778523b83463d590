"""Every table the simulator knows, with its parent class and its own fields (reference sections 4.1-4.2).

This is the one data module to read for "which tables and columns exist".  Each entry of
:data:`TABLE_SPECS` is ``(name, parent, label, display_field, fields)``; a field spec is
``"name:type[:arg]"`` where type is one of

* ``s`` string (arg = max length; longer values are truncated by the store)
* ``i`` integer, ``l`` long integer, ``d`` decimal, ``b`` boolean (``"true"``/``"false"``)
* ``dt`` glide_date_time (``YYYY-MM-DD HH:MM:SS`` UTC), ``date`` glide_date (``YYYY-MM-DD``)
* ``r`` reference (arg = referenced table), ``c`` choice (arg = choice list name in :data:`CHOICES`)

Classes marked "[placement guessed]" are used by the Qualys hardware mapping (seed "Hardware Data
Mappings") but their parent in a real instance was not verified; they sit under the closest plausible
ancestor.  Every table inherits its ancestors' fields; ``sys_*`` bookkeeping fields are added by
:func:`all_fields`.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

# ----------------------------------------------------------------------------- choices
CHOICES: dict[str, tuple[tuple[str, str], ...]] = {
    "install_status": (
        ("1", "Installed"),
        ("2", "On Order"),
        ("3", "In Maintenance"),
        ("4", "Pending Install"),
        ("5", "Pending Repair"),
        ("6", "In Stock"),
        ("7", "Retired"),
        ("8", "Stolen"),
        ("100", "Absent"),
    ),
    "operational_status": (
        ("1", "Operational"),
        ("2", "Non-Operational"),
        ("3", "Repair in Progress"),
        ("4", "DR Standby"),
        ("5", "Ready"),
        ("6", "Retired"),
        ("7", "Pipeline"),
        ("8", "Catalog"),
    ),
    "ip_version": (("4", "IPv4"), ("6", "IPv6")),
    # cmdb_ci.discovery_source: the live list is the sys_choice table (control API replaces it).
    "discovery_source": (),
    "sys_import_state": (
        ("pending", "Pending"),
        ("inserted", "Inserted"),
        ("updated", "Updated"),
        ("ignored", "Ignored"),
        ("skipped", "Skipped"),
        ("error", "Error"),
    ),
}

DEFAULT_DISCOVERY_SOURCES = ("Qualys", "ServiceNow", "ManualEntry", "ImportSet", "Other Automated")

# ----------------------------------------------------------------------------- CI classes
_CI = "cmdb_ci"
_HW = "cmdb_ci_hardware"
_COMPUTER = "cmdb_ci_computer"
_SERVER = "cmdb_ci_server"
_NETGEAR = "cmdb_ci_netgear"

TableSpec = tuple[str, str | None, str, str, tuple[str, ...]]

TABLE_SPECS: tuple[TableSpec, ...] = (
    (
        _CI,
        None,
        "Configuration Item",
        "name",
        (
            "sys_class_name:s:80",
            "name:s:255",
            "short_description:s:160",
            "asset_tag:s:40",
            "serial_number:s:255",
            "correlation_id:s:255",
            "company:r:core_company",
            "manufacturer:r:core_company",
            "vendor:r:core_company",
            "model_id:r:cmdb_model",
            "model_number:s:40",
            "install_status:c:install_status",
            "operational_status:c:operational_status",
            "discovery_source:c:discovery_source",
            "first_discovered:dt",
            "last_discovered:dt",
            "duplicate_of:r:cmdb_ci",
            "ip_address:s:255",
            "mac_address:s:40",
            "fqdn:s:255",
            "dns_domain:s:255",
            "category:s:40",
            "subcategory:s:40",
            "install_date:dt",
            "comments:s:4000",
        ),
    ),
    (_HW, _CI, "Hardware", "name", ("default_gateway:s:255", "firmware_version:s:100", "warranty_expiration:date")),
    (
        _COMPUTER,
        _HW,
        "Computer",
        "name",
        (
            "os:s:40",
            "os_version:s:40",
            "os_service_pack:s:40",
            "os_address_width:i",
            "os_domain:s:255",
            "cpu_count:i",
            "cpu_core_count:i",
            "cpu_core_thread:i",
            "cpu_name:s:100",
            "cpu_manufacturer:r:core_company",
            "cpu_speed:i",
            "cpu_type:s:40",
            "ram:i",
            "disk_space:d",
            "chassis_type:s:40",
            "form_factor:s:40",
            "virtual:b",
            "host_name:s:255",
            "object_id:s:255",
        ),
    ),
    (_SERVER, _COMPUTER, "Server", "name", ("used_for:s:40",)),
    ("cmdb_ci_win_server", _SERVER, "Windows Server", "name", ()),
    ("cmdb_ci_linux_server", _SERVER, "Linux Server", "name", ("kernel_release:s:100",)),
    ("cmdb_ci_unix_server", _SERVER, "UNIX Server", "name", ()),
    ("cmdb_ci_aix_server", "cmdb_ci_unix_server", "AIX Server", "name", ()),
    ("cmdb_ci_solaris_server", "cmdb_ci_unix_server", "Solaris Server", "name", ()),
    ("cmdb_ci_hpux_server", "cmdb_ci_unix_server", "HP-UX Server", "name", ()),
    ("cmdb_ci_esx_server", _SERVER, "ESX Server", "name", ()),
    ("cmdb_ci_osx_server", _SERVER, "OS X Server", "name", ()),
    ("cmdb_ci_pc_hardware", _COMPUTER, "Personal Computer", "name", ()),
    ("cmdb_ci_mainframe_hardware", _COMPUTER, "Mainframe Hardware", "name", ()),
    ("cmdb_ci_pos", _COMPUTER, "Point of Sale Terminal", "name", ()),  # [placement guessed]
    ("cmdb_ci_ucs_blade", _COMPUTER, "UCS Blade", "name", ()),
    ("cmdb_ci_ucs_rack_unit", _COMPUTER, "UCS Rack Unit", "name", ()),
    ("cmdb_ci_storage_switch", _COMPUTER, "Storage Switch", "name", ()),
    (_NETGEAR, _HW, "Network Gear", "name", ("ports:i", "can_route:b", "can_switch:b")),
    ("cmdb_ci_ip_router", _NETGEAR, "IP Router", "name", ()),
    ("cmdb_ci_ip_switch", _NETGEAR, "IP Switch", "name", ()),
    ("cmdb_ci_ip_firewall", _NETGEAR, "IP Firewall", "name", ()),
    ("cmdb_ci_wap_network", _NETGEAR, "Wireless Access Point", "name", ()),
    ("cmdb_ci_hub_network", _NETGEAR, "Hub", "name", ()),  # [placement guessed]
    ("cmdb_ci_modem_network", _NETGEAR, "Modem", "name", ()),  # [placement guessed]
    ("cmdb_ci_lb", _NETGEAR, "Load Balancer", "name", ()),
    ("cmdb_ci_firewall_device", _NETGEAR, "Firewall Device", "name", ()),  # [placement guessed]
    ("cmdb_ci_printer", _HW, "Printer", "name", ()),
    ("cmdb_ci_mfp_printer", "cmdb_ci_printer", "Multi-Function Printer", "name", ()),
    ("cmdb_ci_pdu", _HW, "Power Distribution Unit", "name", ()),  # [placement guessed]
    ("cmdb_ci_ups", _HW, "Uninterruptible Power Supply", "name", ()),  # [placement guessed]
    ("cmdb_ci_wearable", _HW, "Wearable Device", "name", ()),  # [placement guessed]
    ("cmdb_ci_iot", _HW, "IoT Device", "name", ()),  # [placement guessed]
    ("cmdb_ci_iot_gateway", "cmdb_ci_iot", "IoT Gateway", "name", ()),  # [placement guessed]
    ("cmdb_ci_manufacturing", _HW, "Manufacturing Device", "name", ()),  # [placement guessed]
    ("cmdb_ci_hmi", "cmdb_ci_manufacturing", "Human Machine Interface", "name", ()),  # [placement guessed]
    ("cmdb_ci_plc", "cmdb_ci_manufacturing", "Programmable Logic Controller", "name", ()),  # [placement guessed]
    ("cmdb_ci_stv", _HW, "Smart TV", "name", ()),  # [placement guessed]
    ("cmdb_ci_media_player", _HW, "Media Player", "name", ()),  # [placement guessed]
    ("cmdb_ci_display", _HW, "Display Hardware", "name", ()),  # [placement guessed]
    ("cmdb_ci_security", _HW, "Security Device", "name", ()),  # [placement guessed]
    ("cmdb_ci_storage_device", _HW, "Storage Device", "name", ()),
    ("cmdb_ci_comm", _HW, "Communication Device", "name", ()),
    ("cmdb_ci_handheld_computing", _HW, "Handheld Computing Device", "name", ()),
    ("cmdb_ci_unclassed_hardware", _HW, "Unclassed Hardware", "name", ()),
    ("cmdb_ci_vm_object", _CI, "Virtual Machine Object", "name", ("object_id:s:255", "state:s:40")),
    (
        "cmdb_ci_vm_instance",
        "cmdb_ci_vm_object",
        "Virtual Machine Instance",
        "name",
        ("cpus:i", "memory:i", "disks:i", "guest_os_fullname:s:255", "vm_inst_id:s:255"),
    ),
    (
        "cmdb_ci_network_adapter",
        _CI,
        "Network Adapter",
        "name",
        ("cmdb_ci:r:cmdb_ci", "netmask:s:40", "ip_default_gateway:s:255", "dhcp_enabled:b", "alias:s:255"),
    ),
    (
        "cmdb_ci_ip_address",
        _CI,
        "IP Address",
        "name",
        ("nic:r:cmdb_ci_network_adapter", "owned_by_cmdb_ci:r:cmdb_ci", "ip_version:c:ip_version", "netmask:s:40"),
    ),
    (
        "cmdb_ci_file_system",
        _CI,
        "File System",
        "name",
        (
            "computer:r:cmdb_ci_computer",
            "mount_point:s:255",
            "file_system:s:40",
            "label:s:255",
            "media_type:s:40",
            "size:s:40",
            "size_bytes:l",
            "free_space:s:40",
            "free_space_bytes:l",
        ),
    ),
    ("cmdb_ci_spkg", _CI, "Software", "name", ("version:s:100", "key:s:255", "package_name:s:255")),
    # ------------------------------------------------------------------------- non-CI tables
    ("core_company", None, "Company", "name", ("name:s:100", "manufacturer:b", "vendor:b", "website:s:1024")),
    (
        "cmdb_model",
        None,
        "Product Model",
        "display_name",
        (
            "sys_class_name:s:80",
            "name:s:100",
            "display_name:s:255",
            "manufacturer:r:core_company",
            "model_number:s:100",
            "short_description:s:160",
        ),
    ),
    ("cmdb_hardware_product_model", "cmdb_model", "Hardware Model", "display_name", ()),
    (
        "cmdb_serial_number",
        None,
        "Serial Number",
        "serial_number",
        ("serial_number:s:255", "serial_number_type:s:40", "valid:b", "absent:b", "cmdb_ci:r:cmdb_ci"),
    ),
    (
        "cmdb_software_instance",
        None,
        "Software Instance",
        "name",
        ("name:s:255", "installed_on:r:cmdb_ci", "software:r:cmdb_ci_spkg", "install_date:dt"),
    ),
    (
        "cmdb_rel_ci",
        None,
        "CI Relationship",
        "type",
        ("parent:r:cmdb_ci", "child:r:cmdb_ci", "type:r:cmdb_rel_type", "port:s:40"),
    ),
    (
        "cmdb_rel_type",
        None,
        "CI Relationship Type",
        "name",
        ("name:s:100", "parent_descriptor:s:100", "child_descriptor:s:100"),
    ),
    (
        "sys_object_source",
        None,
        "Object Source",
        "name",
        ("name:s:100", "id:s:255", "target_table:s:80", "target_sys_id:s:32", "last_scan:dt", "feed:s:100"),
    ),
    (
        "sys_choice",
        None,
        "Choices",
        "label",
        (
            "name:s:80",
            "element:s:80",
            "value:s:255",
            "label:s:255",
            "sequence:i",
            "inactive:b",
            "language:s:40",
        ),
    ),
    (
        "cmdb_ire_partial_payloads",
        None,
        "IRE Partial Payloads",
        "class_name",
        ("class_name:s:80", "discovery_source:s:40", "payload:s:65000", "error:s:4000"),
    ),
    ("sys_import_set", None, "Import Set", "number", ("number:s:40", "table_name:s:80", "state:s:40", "mode:s:40")),
    # ------------------------------------------------------------------------- Import Set staging table
    (
        "u_qualys_computer_import",
        None,
        "Qualys Computer Import",
        "u_name",
        (
            "u_target_class:s:80",
            "u_name:s:255",
            "u_serial_number:s:255",
            "u_asset_tag:s:255",
            "u_manufacturer:s:255",
            "u_model_id:s:255",
            "u_os:s:255",
            "u_os_version:s:255",
            "u_os_service_pack:s:255",
            "u_os_address_width:s:40",
            "u_cpu_count:s:40",
            "u_cpu_name:s:255",
            "u_cpu_manufacturer:s:255",
            "u_cpu_speed:s:40",
            "u_ram:s:40",
            "u_ip_address:s:255",
            "u_mac_address:s:255",
            "u_fqdn:s:255",
            "u_host_name:s:255",
            "u_dns_domain:s:255",
            "u_short_description:s:1000",
            "u_correlation_id:s:255",
            "u_object_id:s:255",
            "u_discovery_source:s:40",
            "u_last_discovered:s:40",
            "u_install_status:s:40",
            "u_operational_status:s:40",
            "sys_import_set:r:sys_import_set",
            "sys_import_state:c:sys_import_state",
            "sys_import_state_comment:s:4000",
            "sys_target_sys_id:s:32",
            "sys_target_table:s:80",
            "sys_transform_map:s:100",
            "sys_row_error:s:4000",
        ),
    ),
    # ------------------------------------------------------------------------- Qualys related tables
    # (seed "Field Mapping for Tables" > "Related Tables"; one u_ column per Qualys attribute + u_ci)
    (
        "u_qualys_asset_details",
        None,
        "Qualys Asset Details",
        "u_ci",
        (
            "u_ci:r:cmdb_ci",
            "u_asset_lastloggedonuser:s:255",
            "u_asset_mostfrequentuser:s:255",
            "u_qualys_asset_id:s:40",
            "u_asset_uuid:s:40",
            "u_bios_description:s:255",
            "u_last_boot:dt",
            "u_last_modified_date:dt",
            "u_timezone:s:80",
            "u_qweb_host_id:s:40",
            "u_netbios_name:s:255",
            "u_type:s:40",
        ),
    ),
    (
        "u_qualys_os_details",
        None,
        "Qualys Operating System Details",
        "u_os_name",
        (
            "u_ci:r:cmdb_ci",
            "u_os_category:s:100",
            "u_os_category_1:s:100",
            "u_os_category_2:s:100",
            "u_os_category_type:s:100",
            "u_os_edition:s:100",
            "u_os_lifecycle_confidence:s:40",
            "u_os_lifecycle_eol_date:date",
            "u_os_lifecycle_eol_support_stage:s:100",
            "u_os_lifecycle_eos_date:date",
            "u_os_lifecycle_eos_support_stage:s:100",
            "u_os_lifecycle_ga:date",
            "u_os_lifecycle_stage:s:100",
            "u_os_market_version:s:100",
            "u_os_name:s:255",
            "u_os_product_name:s:255",
            "u_os_publisher:s:255",
        ),
    ),
    (
        "u_qualys_hardware_details",
        None,
        "Qualys Hardware Details",
        "u_hardware_full_name",
        (
            "u_ci:r:cmdb_ci",
            "u_hardware_category:s:255",
            "u_hardware_category_1:s:100",
            "u_hardware_category_2:s:100",
            "u_hardware_category_type:s:100",
            "u_hardware_lifecycle_confidence:s:40",
            "u_hardware_lifecycle_eos_date:date",
            "u_hardware_lifecycle_ga:date",
            "u_hardware_lifecycle_intro_date:date",
            "u_hardware_lifecycle_obsolete_date:date",
            "u_hardware_lifecycle_stage:s:100",
            "u_hardware_product:s:255",
            "u_hardware_full_name:s:255",
        ),
    ),
    (
        "u_qualys_open_ports",
        None,
        "Qualys Open Ports",
        "u_port",
        (
            "u_ci:r:cmdb_ci",
            "u_port:i",
            "u_protocol:s:40",
            "u_detected_service:s:100",
            "u_description:s:255",
        ),
    ),
    (
        "u_qualys_processors",
        None,
        "Qualys Processors",
        "u_processor_description",
        (
            "u_ci:r:cmdb_ci",
            "u_processor_description:s:255",
            "u_processor_cpu_counts:i",
            "u_processor_speed:i",
        ),
    ),
    (
        "u_qualys_software_details",
        None,
        "Qualys Software Details",
        "u_name",
        (
            "u_ci:r:cmdb_ci",
            "u_software:r:cmdb_ci_spkg",
            "u_name:s:255",
            "u_version:s:100",
            "u_architecture:s:40",
            "u_category:s:255",
            "u_category_1:s:100",
            "u_category_2:s:100",
            "u_category_type:s:100",
            "u_component:s:255",
            "u_edition:s:100",
            "u_is_ignored:b",
            "u_is_ignored_reason:s:255",
            "u_language:s:40",
            "u_license_category:s:100",
            "u_type:s:40",
            "u_update:s:100",
            "u_lifecycle_ga:date",
            "u_lifecycle_stage:s:100",
            "u_market_version:s:100",
            "u_product:s:255",
            "u_publisher:s:255",
            "u_software_lifecycle_confidence:s:40",
            "u_software_lifecycle_eol_support_stage:s:100",
            "u_software_lifecycle_eos_date:date",
            "u_software_lifecycle_eos_support_stage:s:100",
        ),
    ),
)

# Tables whose rows are CMDB content (emptied by ``POST /sim/control/reset``); the others are metadata.
METADATA_TABLES = frozenset({"sys_choice", "cmdb_rel_type"})

QUALYS_RELATED_TABLES = (
    "u_qualys_asset_details",
    "u_qualys_os_details",
    "u_qualys_hardware_details",
    "u_qualys_open_ports",
    "u_qualys_processors",
    "u_qualys_software_details",
)

REL_TYPES: tuple[str, ...] = (
    "Contains::Contained by",
    "Runs on::Runs",
    "Owns::Owned by",
    "IP Connection::IP Connection",
    "Hosted on::Hosts",
    "Virtualized by::Virtualizes",
    "Instantiates::Instance of",
    "Depends on::Used by",
    "Connects to::Connected by",
    "Uses::Used by",
    "Members::Member of",
    "Cluster of::Cluster",
    "Provisioned From::Provisioned",
)

# Reference data created with a new store (and re-created after a reset): common manufacturers.
DEFAULT_COMPANIES: tuple[str, ...] = (
    "Dell Inc.",
    "HP",
    "Hewlett Packard Enterprise",
    "Lenovo",
    "Microsoft",
    "Apple",
    "Cisco Systems",
    "VMware",
    "IBM",
    "Intel Corporation",
    "Advanced Micro Devices",
    "Red Hat",
    "Canonical",
    "Oracle",
    "Juniper Networks",
)

# ----------------------------------------------------------------------------- model
SYS_FIELDS = ("sys_id", "sys_created_on", "sys_created_by", "sys_updated_on", "sys_updated_by", "sys_mod_count")
_TYPES = {
    "s": "string",
    "i": "integer",
    "l": "longint",
    "d": "decimal",
    "b": "boolean",
    "dt": "glide_date_time",
    "date": "glide_date",
    "r": "reference",
    "c": "choice",
}
_DEFAULTS = {"install_status": "1", "operational_status": "1", "valid": "true", "absent": "false"}


@dataclass(frozen=True, slots=True)
class Field:
    """One column: type, max length, reference target or choice list, default value."""

    name: str
    type: str
    max_length: int = 255
    reference: str | None = None
    choice: str | None = None
    default: str = ""
    table: str = ""  # the table that declares the field

    @property
    def numeric(self) -> bool:
        """Compared and sorted as numbers."""
        return self.type in ("integer", "longint", "decimal")


@dataclass(frozen=True, slots=True)
class Table:
    """A table definition."""

    name: str
    parent: str | None
    label: str
    display_field: str
    own_fields: tuple[Field, ...]


def _field(table: str, spec: str) -> Field:
    parts = spec.split(":")
    name, kind = parts[0], _TYPES[parts[1]]
    arg = parts[2] if len(parts) > 2 else ""
    default = _DEFAULTS.get(name, "")
    if kind == "boolean" and not default:
        default = "false"
    if kind == "string":
        return Field(name, kind, int(arg or 255), default=default, table=table)
    if kind == "reference":
        return Field(name, kind, 32, reference=arg, default=default, table=table)
    if kind == "choice":
        return Field(name, kind, 40, choice=arg, default=default, table=table)
    lengths = {"glide_date_time": 19, "glide_date": 10, "boolean": 5}
    return Field(name, kind, lengths.get(kind, 40), default=default, table=table)


TABLES: dict[str, Table] = {
    name: Table(name, parent, label, display, tuple(_field(name, spec) for spec in specs))
    for name, parent, label, display, specs in TABLE_SPECS
}


def exists(table: str) -> bool:
    """Whether ``table`` is a known table."""
    return table in TABLES


@cache
def ancestors(table: str) -> tuple[str, ...]:
    """``table`` and its ancestors, nearest first (``cmdb_ci_linux_server, cmdb_ci_server, ...``)."""
    chain: list[str] = []
    current: str | None = table
    while current is not None:
        chain.append(current)
        current = TABLES[current].parent
    return tuple(chain)


@cache
def descendants(table: str) -> tuple[str, ...]:
    """``table`` and every class below it."""
    return tuple(name for name in TABLES if table in ancestors(name))


@cache
def children(table: str) -> tuple[str, ...]:
    """Direct subclasses."""
    return tuple(name for name, t in TABLES.items() if t.parent == table)


def root(table: str) -> str:
    """The top of ``table``'s hierarchy (its physical storage table)."""
    return ancestors(table)[-1]


def is_ci(table: str) -> bool:
    """Whether ``table`` is ``cmdb_ci`` or a subclass."""
    return table in TABLES and root(table) == "cmdb_ci"


def extensible(table: str) -> bool:
    """Whether the table's hierarchy carries ``sys_class_name`` (``cmdb_ci`` and ``cmdb_model``)."""
    return any(f.name == "sys_class_name" for f in TABLES[root(table)].own_fields)


def relation_of(a: str, b: str) -> str:
    """``same``, ``upgrade`` (b below a), ``downgrade`` (b above a) or ``switch``."""
    if a == b:
        return "same"
    if a in ancestors(b):
        return "upgrade"
    if b in ancestors(a):
        return "downgrade"
    return "switch"


@cache
def all_fields(table: str) -> dict[str, Field]:
    """Every field of ``table``: ``sys_id`` and bookkeeping, inherited fields, own fields."""
    fields: dict[str, Field] = {}
    top = root(table)
    fields["sys_id"] = Field("sys_id", "GUID", 32, table=top)
    for name in reversed(ancestors(table)):
        for f in TABLES[name].own_fields:
            fields[f.name] = f
    for name in SYS_FIELDS[1:]:
        kind = "integer" if name == "sys_mod_count" else ("glide_date_time" if name.endswith("_on") else "string")
        fields[name] = Field(name, kind, 40, table=top)
    return fields


@cache
def defaults(table: str) -> dict[str, str]:
    """Fields of ``table`` that have a default value, with it (shared: copy before changing)."""
    return {f.name: f.default for f in all_fields(table).values() if f.default}


@cache
def storage_columns(top: str) -> tuple[Field, ...]:
    """Union of the fields of every class stored in the physical table of root ``top``."""
    columns: dict[str, Field] = {}
    for name in descendants(top):
        for f in all_fields(name).values():
            known = columns.get(f.name)
            if known is None:
                columns[f.name] = f
            elif (known.type, known.reference) != (f.type, f.reference):
                raise ValueError(f"field {f.name} is declared twice with different types under {top}")
    return tuple(columns.values())


def roots() -> tuple[str, ...]:
    """Every physical (root) table."""
    return tuple(name for name, t in TABLES.items() if t.parent is None)


def choice_label(field: Field, value: str) -> str:
    """Display label of a static choice value (the value itself when unknown)."""
    for choice_value, label in CHOICES.get(field.choice or "", ()):
        if choice_value == value:
            return label
    return value
