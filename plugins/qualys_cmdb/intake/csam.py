"""CSAM/GAV v2 asset JSON → landing rows, one asset at a time from a stored page.

Field names follow reference/qualys-api.md §4.4; staging column names follow the vendor guide's "Field Mapping for
Tables". Any field may be missing or null; lists may be absent; 64-bit software ids stay integers.

A page is read whole (it is bounded by the page size, ``download_batch_size``) and split into its assets' raw JSON
by msgspec in one C pass that does not build the assets; each asset is then decoded on its own when its turn comes,
so only one asset's objects are alive at a time, its software rows into structs of the fields that land. That is
3-4x faster than an event-by-event stream (ijson) and keeps memory bounded by the page, never by the estate.

Any string of the page may hold a NUL (``\\u0000``: odd encodings in real estates), which PostgreSQL text cannot hold.
Each is replaced with U+FFFD in the asset's raw JSON before it is decoded (see :func:`replace_nul_escapes`), so the
landing rows, their COPY text and the content hash all see the same replaced text, and are the same at every re-run.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from decimal import Decimal
from operator import attrgetter
from typing import IO, Any, NamedTuple

import msgspec

from qualys_cmdb.config import DetailFlags
from qualys_cmdb.intake.landing import copy_text
from qualys_cmdb.intake.records import (
    AssetRecord,
    boolean,
    cloud_row,
    date,
    integer,
    listed,
    nested,
    software_key,
    split_addresses,
    text,
    timestamp,
)
from qualys_cmdb.staging.schema import landing_software, landing_software_product

CLOUD_PROVIDERS = ("aws", "azure", "gcp", "oci", "ibm", "alibaba")


class _AssetList(msgspec.Struct):
    # One asset may come unwrapped where a list is meant (as elsewhere in Qualys JSON)
    asset: list[msgspec.Raw] | dict[str, Any] | None = None


class _Page(msgspec.Struct):
    assetListData: _AssetList | None = None


_PAGE = msgspec.json.Decoder(_Page)
#: Non-integral numbers stay exact (Decimal), as they are written; integers of any size stay int
_ASSET = msgspec.json.Decoder(float_hook=Decimal)


def parse_csam_page(stream: IO[bytes], source: str, details: DetailFlags) -> Iterator[AssetRecord]:
    """Yield one :class:`AssetRecord` per asset of a CSAM search page (``assetListData.asset[]``).

    A malformed or truncated page raises ``msgspec.DecodeError`` (a ``ValueError``) before any asset is yielded.
    """
    data = stream.read()
    page = _PAGE.decode(data)
    assets = page.assetListData.asset if page.assetListData else None
    if assets is None:
        return
    # Nearly no page holds a NUL, and one search of the page says so. Backwards: that search anchors on the
    # backslash, rarer in Qualys JSON than the digit a forward search anchors on (15 instead of 33 ms on 60 MB).
    nul_page = data.rfind(NUL_ESCAPE) >= 0
    catalog = SoftwareCatalog()
    for raw in assets if isinstance(assets, list) else [assets]:
        nuls = 0
        if isinstance(raw, dict):  # decoded with the page
            asset, nuls = _without_nul(raw) if nul_page else (raw, 0)
        elif nul_page:
            repaired, nuls = replace_nul_escapes(bytes(raw))
            asset = _decode_asset(repaired)
        else:
            asset = _decode_asset(raw)
        if not isinstance(asset, dict):
            raise ValueError(f"an element of assetListData.asset is not an object: {str(asset)[:80]!r}")
        record = csam_asset(asset, source, details, catalog)
        record.nul_replaced = nuls
        yield record


#: How JSON writes U+0000. It is replaced with U+FFFD, as invalid UTF-8 is (utf8_repair), rather than removed: the
#: staged value (and the CI) then shows that something was there, and an odd value never becomes equal to a real
#: one (a serial number, a name) that identification would take for the same asset.
NUL_ESCAPE = b"\\u0000"
NUL_REPLACEMENT = "\ufffd"
#: ``\u0000`` after a run of backslashes: a NUL when the run is odd; ``\\u0000`` is an escaped backslash and text.
_BACKSLASHES_AND_NUL = re.compile(rb"\\+u0000")


def replace_nul_escapes(raw: bytes) -> tuple[bytes, int]:
    """JSON text ``raw`` with every NUL escape replaced by the escape of U+FFFD, and how many were replaced.

    The replacement has the escape's length and depends on nothing but the text, so a page parses to the same rows
    and content hashes at every re-run.
    """
    if raw.rfind(NUL_ESCAPE) < 0:  # the other assets of a page with a NUL: one search, as for the page
        return raw, 0
    replaced = 0

    def replace(match: re.Match[bytes]) -> bytes:
        nonlocal replaced
        if (match.end() - match.start() - len(b"u0000")) % 2 == 0:
            return match.group()  # every backslash escapes the next one: literal text
        replaced += 1
        return match.group()[: -len(b"u0000")] + b"ufffd"

    return _BACKSLASHES_AND_NUL.sub(replace, raw), replaced


def _without_nul(value: Any) -> tuple[Any, int]:
    """Decoded JSON ``value`` with every NUL of its strings (keys too) replaced by U+FFFD, and how many were."""
    if isinstance(value, str):
        count = value.count("\0")
        return (value.replace("\0", NUL_REPLACEMENT) if count else value), count
    if isinstance(value, list):
        items = [_without_nul(item) for item in value]
        return [item for item, _ in items], sum(count for _, count in items)
    if isinstance(value, dict):
        pairs = [(_without_nul(key), _without_nul(item)) for key, item in value.items()]
        return {key: item for (key, _), (item, _) in pairs}, sum(k + v for (_, k), (_, v) in pairs)
    return value, 0


def _decode_asset(raw: msgspec.Raw | bytes) -> Any:
    """One asset's JSON as a dict of the fields :func:`csam_asset` reads, its software rows as :data:`_Software`.

    Software rows are nearly all of an asset (some 120 rows of about 40 fields); decoded into structs of the 27 fields
    that land, the others skipped unread, they cost about half what dicts cost (decoding and freeing them). An asset
    whose software list has another shape (one row unwrapped, a row that is not an object) is decoded whole into
    dicts instead, as any other JSON value.
    """
    try:
        typed = _TYPED_ASSET.decode(raw)
    except msgspec.ValidationError:
        return _ASSET.decode(raw)
    return msgspec.structs.asdict(typed)


def csam_asset(
    raw: dict[str, Any], source: str, details: DetailFlags, catalog: SoftwareCatalog | None = None
) -> AssetRecord:
    """The landing rows of one CSAM asset."""
    asset_id = integer(raw.get("assetId"))
    if asset_id is None:
        raise ValueError("an asset without assetId")
    os = raw.get("operatingSystem") or {}
    hw = raw.get("hardware") or {}
    cloud = _cloud(raw.get("cloudProvider"), raw.get("provider"))
    record = AssetRecord(
        asset={
            "source": source,
            "asset_id": asset_id,
            "asset_uuid": text(raw.get("assetUUID")),
            "qweb_host_id": integer(raw.get("hostId")),
            "agent_id": text(raw.get("agentId")),
            "name": text(raw.get("assetName")),
            "dns_name": text(raw.get("dnsName")),
            "netbios_name": text(raw.get("netbiosName")),
            "ip_address": text(raw.get("address")),
            "asset_type": text(raw.get("assetType")),
            "tracking_method": text(raw.get("trackingMethod")),
            "bios_serial_number": text(raw.get("biosSerialNumber")),
            "bios_asset_tag": text(raw.get("biosAssetTag")),
            "bios_description": text(raw.get("biosDescription")),
            "hw_uuid": text(raw.get("hwUUID")),
            "memory_mb": integer(raw.get("totalMemory")),
            "cpu_count": integer(raw.get("cpuCount")),
            "timezone": text(raw.get("timeZone")),
            "last_boot": timestamp(raw.get("lastBoot")),
            "last_logged_on_user": text(raw.get("lastLoggedOnUser")),
            "domain_role": text(raw.get("domainRole")),
            "cloud_provider": cloud[0] if cloud else None,
            "created_date": timestamp(raw.get("createdDate")),
            "last_modified_date": timestamp(raw.get("lastModifiedDate")),
        }
    )
    if os:
        life = os.get("lifecycle") or {}
        record.add(
            "os",
            {
                "os_name": text(os.get("osName")),
                "os_full_name": text(os.get("fullName")),
                "os_category": text(os.get("category")),
                "os_category_1": text(os.get("category1")),
                "os_category_2": text(os.get("category2")),
                "os_product_name": text(os.get("productName")),
                "os_publisher": text(os.get("publisher")),
                "os_edition": text(os.get("edition")),
                "os_market_version": text(os.get("marketVersion")),
                "os_version": text(os.get("version")),
                "os_update": text(os.get("update")),
                "os_architecture": text(os.get("architecture")),
                "os_lifecycle_ga": date(life.get("gaDate")),
                "os_lifecycle_eol_date": date(life.get("eolDate")),
                "os_lifecycle_eos_date": date(life.get("eosDate")),
                "os_lifecycle_stage": text(life.get("stage")),
                "os_lifecycle_confidence": text(life.get("lifeCycleConfidence")),
                "os_lifecycle_eol_support_stage": text(life.get("eolSupportStage")),
                "os_lifecycle_eos_support_stage": text(life.get("eosSupportStage")),
                "os_cpe": text(os.get("cpe")),
            },
        )
    if hw:
        life = hw.get("lifecycle") or {}
        record.add(
            "hardware",
            {
                "hardware_full_name": text(hw.get("fullName")),
                "hardware_category": text(hw.get("category")),
                "hardware_category_1": text(hw.get("category1")),
                "hardware_category_2": text(hw.get("category2")),
                "hardware_manufacturer": text(hw.get("manufacturer")),
                "hardware_product": text(hw.get("productName")),
                "hardware_model": text(hw.get("model")),
                "hardware_lifecycle_intro_date": date(life.get("introDate")),
                "hardware_lifecycle_ga": date(life.get("gaDate")),
                "hardware_lifecycle_eos_date": date(life.get("eosDate")),
                "hardware_lifecycle_obsolete_date": date(life.get("obsoleteDate")),
                "hardware_lifecycle_stage": text(life.get("stage")),
                "hardware_lifecycle_confidence": text(life.get("lifeCycleConfidence")),
            },
        )
    serial = record.asset["bios_serial_number"]
    if serial:
        record.add("serial_number", {"serial_number": serial, "serial_type": "bios"})
    for tag in listed(raw, "tagList", "tag"):
        name = text(nested(tag, "tagName"))
        if name:
            record.add("tag", {"tag_id": integer(nested(tag, "tagId")), "tag_name": name})
    if cloud:
        record.add("cloud", cloud[1])
    _interfaces_and_ips(record, raw, details.interfaces)
    if details.ports:
        for port in listed(raw, "openPortListData", "openPort"):
            number = integer(nested(port, "port"))
            if number is not None:
                record.add(
                    "open_port",
                    {
                        "port": number,
                        "protocol": text(port.get("protocol")),
                        "description": text(port.get("description")),
                        "detected_service": text(port.get("detectedService")),
                        "first_found": timestamp(port.get("firstFound")),
                        "last_updated": timestamp(port.get("lastUpdated")),
                    },
                )
    if details.volumes:
        for vol in listed(raw, "volumeListData", "volume"):
            record.add(
                "volume",
                {
                    "name": text(nested(vol, "name")),
                    "total_size": integer(nested(vol, "size")),
                    "free_size": integer(nested(vol, "free")),
                },
            )
    proc = raw.get("processor")
    if details.processors and isinstance(proc, dict) and any(v is not None for v in proc.values()):
        record.add(
            "processor",
            {
                "processor_description": text(proc.get("description")),
                "processor_speed": integer(proc.get("speed")),
                "processor_cpu_counts": integer(proc.get("numCPUs")) or record.asset["cpu_count"],
                "cores_per_socket": integer(proc.get("coresPerSocket")),
                "sockets": integer(proc.get("noOfSocket")),
                "threads_per_core": integer(proc.get("threadsPerCore")),
            },
        )
    if details.software:
        catalog = catalog or SoftwareCatalog()
        software = raw.get("softwareListData")
        if isinstance(software, _SoftwareList):
            for row in getattr(software, "software", None) or ():
                catalog.add_typed(record, row)
        else:
            for sw in listed(raw, "softwareListData", "software"):
                if isinstance(sw, dict):
                    catalog.add(record, sw)
    record.seal()
    return record


def _interfaces_and_ips(record: AssetRecord, raw: dict[str, Any], keep_interfaces: bool) -> None:
    seen: set[str] = set()
    primary = record.asset["ip_address"]
    if primary:
        seen.add(primary)
        record.add(
            "ip_address",
            {
                "ip_address": primary,
                "ip_version": 6 if ":" in primary else 4,
                "interface_name": None,
                "mac_address": None,
            },
        )
    if not keep_interfaces:
        return  # interface addresses come with the interfaces (QS-4)
    for nic in listed(raw, "networkInterfaceListData", "networkInterface"):
        if not isinstance(nic, dict):
            continue
        v4 = split_addresses(nic.get("addressIpV4"))
        v6 = split_addresses(nic.get("addressIpV6"))
        name, mac = text(nic.get("interfaceName")), text(nic.get("macAddress"))
        record.add(
            "network_interface",
            {
                "interface_name": name,
                "mac_address": mac,
                "hostname": text(nic.get("hostname")),
                "ipv4_addresses": ", ".join(v4) or None,
                "ipv6_addresses": ", ".join(v6) or None,
                "gateway_address": text(nic.get("gatewayAddress")),
                "dns_address": text(nic.get("dnsAddress")),
                "netmask": text(nic.get("netmask")),
                "manufacturer": text(nic.get("manufacturer")),
            },
        )
        for address in v4 + v6:
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


#: The raw fields the catalog part of a software row is made of (everything but the install's own fields).
_CATALOG_FIELDS = (
    "fullName", "productName", "discoveredName", "version", "discoveredVersion", "publisher",
    "discoveredPublisher", "architecture", "category", "category1", "category2", "softwareType", "component",
    "edition", "marketVersion", "update", "language", "isIgnored", "ignoredReason", "cpe",
)  # fmt: skip
_LIFECYCLE_FIELDS = (
    "gaDate",
    "eolDate",
    "eosDate",
    "stage",
    "lifeCycleConfidence",
    "eolSupportStage",
    "eosSupportStage",
)
_LICENSE_FIELDS = ("category", "subcategory")
_CACHEABLE = frozenset({str, bool, type(None)})
#: The rest of a software row that lands: its lifecycle and license objects, and the install's own fields.
_SOFTWARE_OWN_FIELDS = ("lifecycle", "license", "id", "installDate", "installPath", "lastUpdated", "lastUseDate")
#: A software row as :func:`_decode_asset` decodes it: the fields that land, any JSON value each; the rest unread.
#: Not tracked by the garbage collector (decoded JSON holds no reference cycles).
_Software = msgspec.defstruct(
    "_Software", [(name, Any, None) for name in (*_CATALOG_FIELDS, *_SOFTWARE_OWN_FIELDS)], gc=False
)
_SOFTWARE_CATALOG = attrgetter(*_CATALOG_FIELDS)
_SOFTWARE_OWN = attrgetter(*_SOFTWARE_OWN_FIELDS)
_SoftwareList = msgspec.defstruct("_SoftwareList", [("software", list[_Software] | None, None)])  # type: ignore[valid-type]
#: The top-level fields of an asset that csam_asset reads (a test checks this against its code).
ASSET_FIELDS = (
    "assetId", "assetUUID", "hostId", "agentId", "assetName", "dnsName", "netbiosName", "address", "assetType",
    "trackingMethod", "biosSerialNumber", "biosAssetTag", "biosDescription", "hwUUID", "totalMemory", "cpuCount",
    "timeZone", "lastBoot", "lastLoggedOnUser", "domainRole", "cloudProvider", "provider", "createdDate",
    "lastModifiedDate", "operatingSystem", "hardware", "tagList", "networkInterfaceListData", "openPortListData",
    "volumeListData", "processor",
)  # fmt: skip
_TYPED_ASSET = msgspec.json.Decoder(
    msgspec.defstruct(
        "_Asset",
        [*((name, Any, None) for name in ASSET_FIELDS), ("softwareListData", _SoftwareList | None, None)],
    ),
    float_hook=Decimal,
)


class Product(NamedTuple):
    """A product's part of a software row, normalised once per page (see SoftwareCatalog)."""

    row: dict[str, Any]  # software_key and the catalog columns, in landing_software_product's order
    repr_head: str  # the start of the row's repr: "(key, name, …, " (the install's values follow)
    copy_line: str  # the product's columns in COPY text (landing_software_product after queue_id)
    key_copy: str  # the software key in COPY text and a tab: the start of an install's COPY line


def _product_key(catalog: tuple[Any, ...], life: Any, lic: Any) -> tuple[Any, ...]:
    """What a product is made of: a row's catalog fields and its lifecycle and license values (or odd objects)."""
    return (
        *catalog,
        *(map(life.get, _LIFECYCLE_FIELDS) if isinstance(life, dict) else (life,)),
        *(map(lic.get, _LICENSE_FIELDS) if isinstance(lic, dict) else (lic,)),
    )


class SoftwareCatalog:
    """Software rows of one page, with the catalog part normalised once per distinct product.

    An estate installs the same few thousand products over and over: of a row's 33 columns, 28 describe the product
    (name, version, publisher, category, lifecycle, license …) and only the id and the install dates and path belong
    to the install. The catalog part is keyed by the raw values it is made of, so a product seen earlier on the page
    costs a dictionary lookup instead of 28 normalisations; the repr of its values is kept too, for the content hash.
    A product lands once per page (``software_products`` of the first asset that has it), an install as its key and
    its own five columns. Bounded by the number of rows of one page; the products normalised for earlier pages are
    kept for the next ones, up to ``KNOWN_PRODUCTS_MAX``.
    """

    def __init__(self) -> None:
        self._products: dict[tuple[Any, ...], Product] = {}
        # An install's dates and path, by raw value: (normalised, repr, COPY text). Paths recur with their product.
        self._dates: dict[str | None, _Part] = {}
        self._paths: dict[str | None, _Part] = {}

    def add(self, record: AssetRecord, sw: dict[str, Any]) -> None:
        """Add the landing row of one ``softwareListData.software[]`` element to ``record``."""
        get = sw.get
        key = _product_key(tuple(map(get, _CATALOG_FIELDS)), get("lifecycle"), get("license"))
        self._add(
            record, key, sw, get("id"), get("installDate"), get("installPath"), get("lastUpdated"), get("lastUseDate")
        )

    def add_typed(self, record: AssetRecord, sw: Any) -> None:
        """:meth:`add` for a row decoded as :data:`_Software`: the same landing row from the same values."""
        life, lic, raw_id, installed, path, updated, used = _SOFTWARE_OWN(sw)
        self._add(record, _product_key(_SOFTWARE_CATALOG(sw), life, lic), sw, raw_id, installed, path, updated, used)

    def _add(
        self,
        record: AssetRecord,
        key: tuple[Any, ...],
        sw: Any,
        raw_id: Any,
        raw_installed: Any,
        raw_path: Any,
        raw_updated: Any,
        raw_used: Any,
    ) -> None:
        # A number, a list or an object where text is expected: 1, True and Decimal("1.0") are equal keys that
        # normalise differently, so such rows are normalised without the cache.
        cacheable = _CACHEABLE.issuperset(map(type, key))
        product = self._products.get(key) if cacheable else None
        if product is None:
            values = sw if isinstance(sw, dict) else msgspec.structs.asdict(sw)
            product = _known_product(key, values) if cacheable else _product(values)
            if cacheable:
                self._products[key] = product
            record.software_products.append((product.row["software_key"], product.copy_line))
        software_id = raw_id if type(raw_id) is int else integer(raw_id)
        installed = _part(self._dates, timestamp, raw_installed)
        path = _part(self._paths, text, raw_path)
        updated = _part(self._dates, timestamp, raw_updated)
        used = _part(self._dates, timestamp, raw_used)
        row = product.row.copy()
        row["software_id"] = software_id
        row["install_date"] = installed[0]
        row["install_path"] = path[0]
        row["last_updated"] = updated[0]
        row["last_use_date"] = used[0]
        record.software.append(row)
        id_text = str(software_id)  # "None" is also its repr
        # == repr(tuple(row.values())): the product's values are formatted once, the install's here
        record.software_reprs.append(
            f"{product.repr_head}{id_text}, {installed[1]}, {path[1]}, {updated[1]}, {used[1]})"
        )
        id_copy = _NULL if software_id is None else id_text
        record.software_copy.append(f"{product.key_copy}{id_copy}\t{installed[2]}\t{path[2]}\t{updated[2]}\t{used[2]}")


#: Products normalised for earlier pages in this process (a parse task works through many pages of one estate, and
#: every page installs most of the same products); a product is a function of its key. Emptied when full.
_KNOWN_PRODUCTS: dict[tuple[Any, ...], Product] = {}
KNOWN_PRODUCTS_MAX = 20_000


def _known_product(key: tuple[Any, ...], sw: dict[str, Any]) -> Product:
    product = _KNOWN_PRODUCTS.get(key)
    if product is None:
        if len(_KNOWN_PRODUCTS) >= KNOWN_PRODUCTS_MAX:
            _KNOWN_PRODUCTS.clear()
        product = _KNOWN_PRODUCTS[key] = _product(sw)
    return product


_NULL = copy_text(None)
_Part = tuple[Any, str, str]  # a normalised value, its repr and its COPY text


def _part(cache: dict[str | None, _Part], normalise: Callable[[Any], Any], raw: Any) -> _Part:
    """``normalise(raw)`` with its repr and COPY text; remembered in ``cache`` for text (and missing) values."""
    if raw is None or type(raw) is str:
        hit = cache.get(raw)
        if hit is None:
            value = normalise(raw)
            hit = cache[raw] = (value, repr(value), copy_text(value))
        return hit
    value = normalise(raw)
    return value, repr(value), copy_text(value)


_INSTALL_COLUMNS = ("software_id", "install_date", "install_path", "last_updated", "last_use_date")


def _product(sw: dict[str, Any]) -> Product:
    """The product's columns of a software row (the install's columns follow them in a row)."""
    life = sw.get("lifecycle")
    life = life if isinstance(life, dict) else {}
    lic = sw.get("license")
    lic = lic if isinstance(lic, dict) else {}
    name = text(sw.get("fullName")) or text(sw.get("productName")) or text(sw.get("discoveredName"))
    version = text(sw.get("version")) or text(sw.get("discoveredVersion"))
    publisher = text(sw.get("publisher")) or text(sw.get("discoveredPublisher"))
    architecture = text(sw.get("architecture"))
    part = {
        "software_key": software_key(name, version, publisher, architecture),
        "name": name,
        "version": version,
        "publisher": publisher,
        "product": text(sw.get("productName")),
        "full_name": text(sw.get("fullName")),
        "category": text(sw.get("category")),
        "category_1": text(sw.get("category1")),
        "category_2": text(sw.get("category2")),
        "software_type": text(sw.get("softwareType")),
        "component": text(sw.get("component")),
        "edition": text(sw.get("edition")),
        "market_version": text(sw.get("marketVersion")),
        "update": text(sw.get("update")),
        "architecture": architecture,
        "language": text(sw.get("language")),
        "lifecycle_ga": date(life.get("gaDate")),
        "lifecycle_eol_date": date(life.get("eolDate")),
        "lifecycle_eos_date": date(life.get("eosDate")),
        "lifecycle_stage": text(life.get("stage")),
        "lifecycle_confidence": text(life.get("lifeCycleConfidence")),
        "lifecycle_eol_support_stage": text(life.get("eolSupportStage")),
        "lifecycle_eos_support_stage": text(life.get("eosSupportStage")),
        "license_category": text(lic.get("category")),
        "license_subcategory": text(lic.get("subcategory")),
        "is_ignored": boolean(sw.get("isIgnored")),
        "ignored_reason": text(sw.get("ignoredReason")),
        "cpe": text(sw.get("cpe")),
    }
    return Product(
        part,
        "(" + ", ".join(map(repr, part.values())) + ", ",
        "\t".join(map(copy_text, part.values())),
        copy_text(part["software_key"]) + "\t",
    )


def _cloud(value: Any, provider_hint: Any) -> tuple[str, dict[str, Any]] | None:
    """(provider, cloud row) from ``cloudProvider`` ({"aws": {...}, "azure": null, …}, or a plain string)."""
    if isinstance(value, str):
        name = text(value)
        return (name.lower(), _cloud_row(name.lower(), {}, [])) if name else None
    if not isinstance(value, dict):
        hint = text(provider_hint)
        return (hint.lower(), _cloud_row(hint.lower(), {}, [])) if hint and hint.lower() in CLOUD_PROVIDERS else None
    for provider in CLOUD_PROVIDERS:
        obj = value.get(provider)
        if isinstance(obj, dict) and obj:
            # The instance details sit in a sub-object (aws.ec2, azure.vm, gcp.compute …) or at this level.
            inner = next((v for k, v in obj.items() if isinstance(v, dict) and k != "tags"), obj)
            return provider, _cloud_row(provider, inner, listed(obj, "tags"))
    return None


def _cloud_row(provider: str, d: dict[str, Any], tags: list[Any]) -> dict[str, Any]:
    def lookup(key: str) -> str | None:
        value = d.get(key)
        return text(value.get("code") or value.get("name")) if isinstance(value, dict) else text(value)

    pairs = {}
    for tag in tags:
        key = text(tag.get("key") or tag.get("name")) if isinstance(tag, dict) else None
        if key:
            pairs[key] = text(tag.get("value"))
    return cloud_row(provider, lookup, pairs)


# The COPY lines rely on these orders.
if [*_product({}).row] != [c.name for c in landing_software_product.columns][1:] or [
    "software_key",
    *_INSTALL_COLUMNS,
] != [c.name for c in landing_software.columns][3:]:
    raise RuntimeError("the landing software tables no longer match SoftwareCatalog's rows: update both together")
