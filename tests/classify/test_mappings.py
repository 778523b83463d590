"""Mappings as code (CM-1 … CM-5): loaded and validated once, every problem named with its file and line."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from qualys_cmdb.classify.mappings import MappingError, load_mappings

from tests.conftest import REPO

SHIPPED = REPO / "include" / "mappings"


def _copy(tmp_path: Path) -> Path:
    folder = tmp_path / "mappings"
    shutil.copytree(SHIPPED, folder)
    return folder


def test_the_shipped_mappings_are_valid_and_complete() -> None:
    mappings = load_mappings(SHIPPED)
    assert len(mappings.hardware) == 87  # the whole table of guide 2.2
    assert [r.name for r in mappings.active_rules][:3] == ["VMware ESX server", "Windows server", "Linux server"]
    assert mappings.discovery_source == "Qualys"
    assert {"u_qualys_asset_details", "u_qualys_os_details", "u_qualys_hardware_details"} <= set(
        mappings.related_tables
    )
    assert mappings.is_a("cmdb_ci_aix_server", "cmdb_ci_server") and not mappings.is_a(
        "cmdb_ci_printer", "cmdb_ci_computer"
    )


def test_the_version_changes_when_a_mapping_changes(tmp_path: Path) -> None:
    folder = _copy(tmp_path)
    before = load_mappings(folder).version
    rules = folder / "ci_class_rules.yaml"
    rules.write_text(rules.read_text().replace("priority: 700", "priority: 701"))
    assert load_mappings(folder).version != before


def test_unknown_class_attribute_and_shared_priority_are_named_with_file_and_line(tmp_path: Path) -> None:
    folder = _copy(tmp_path)
    (folder / "ci_class_rules.yaml").write_text(
        "rules:\n"
        "  - name: A\n    priority: 10\n    target_class: cmdb_ci_win_server\n"
        "    when:\n      - {attribute: os_category_1, op: equals, value: Windows}\n"
        "  - name: B\n    priority: 10\n    target_class: cmdb_ci_linux_server\n"
        "    when:\n      - {attribute: os_category_1, op: equals, value: Linux}\n"
        "  - name: C\n    priority: 20\n    target_class: cmdb_ci_toaster\n"
        "    when:\n      - {attribute: os_flavour, op: equals, value: x}\n"
        "      - {attribute: os_name, op: resembles, value: x}\n"
    )
    with (folder / "hardware_classes.csv").open("a") as f:
        f.write("Printers,Laser,cmdb_ci_printer\nKitchen,Toaster,cmdb_ci_toaster\n")
    with pytest.raises(MappingError) as err:
        load_mappings(folder)
    problems = "\n".join(err.value.problems)
    rules, csv = folder / "ci_class_rules.yaml", folder / "hardware_classes.csv"
    assert f"{rules}:7: rule 'B' has priority 10, like active rule 'A'" in problems
    assert f"{rules}:12: rule 'C': unknown class 'cmdb_ci_toaster' (add it to cmdb_classes.yaml)" in problems
    assert f"{rules}:16: rule 'C': staging attribute 'os_flavour' does not exist" in problems
    assert f"{rules}:17: rule 'C': unknown operator 'resembles'" in problems
    assert f"{csv}:89: Printers / Laser is mapped twice" in problems
    assert f"{csv}:90: unknown class 'cmdb_ci_toaster' for Kitchen / Toaster" in problems


def test_a_field_map_naming_a_missing_staging_attribute_is_rejected(tmp_path: Path) -> None:
    folder = _copy(tmp_path)
    maps = folder / "field_maps.yaml"
    maps.write_text(maps.read_text().replace("asset_tag: bios_asset_tag", "asset_tag: bios_asset_label"))
    with pytest.raises(MappingError, match=r"field_maps.yaml:\d+: ci.asset_tag: staging attribute 'bios_asset_label'"):
        load_mappings(folder)


def test_related_tables_of_staged_rows_are_read_with_their_identity() -> None:
    related = load_mappings(SHIPPED).related_tables
    assert (related["u_qualys_open_ports"].rows, related["u_qualys_open_ports"].identified_by) == (
        "open_port",
        ("u_port", "u_protocol"),
    )
    assert related["u_qualys_processors"].rows == "processor"
    software = related["u_qualys_software_details"]
    assert (software.rows, software.identified_by) == ("software", ("u_name", "u_version"))
    assert software.fields["u_publisher"].attributes == ("publisher",)  # from the package's catalog row
    assert related["u_qualys_asset_details"].rows is None  # one row per CI, from the asset's attributes


def test_a_bad_related_table_is_named_with_file_and_line(tmp_path: Path) -> None:
    folder = _copy(tmp_path)
    maps = folder / "field_maps.yaml"
    bad = (
        "related_tables:\n"
        "  u_qualys_ports_2:\n"  # line 54
        "    rows: open_ports\n"
        "    identified_by: [u_port]\n"
        "    fields: {u_port: port}\n"
        "  u_qualys_cpus:\n"  # line 58
        "    rows: processor\n"
        "    fields: {u_speed: processor_speed}\n"
        "  u_qualys_apps:\n"  # line 61
        "    rows: software\n"
        "    identified_by: [u_name, u_build]\n"
        "    fields:\n"
        "      u_name: name\n"
        "      u_vendor: vendor\n"
        "      u_bits: {attribute: architecture, transform: bits}\n"
        "  u_qualys_misc:\n"  # line 68
        "    identified_by: [u_x]\n"
        "    fields: {u_x: timezone}\n"
        "  U-Qualys Details:\n"  # line 71
        "    u_x: timezone\n"
    )
    maps.write_text(maps.read_text().replace("related_tables:\n", bad, 1))
    with pytest.raises(MappingError) as err:
        load_mappings(folder)
    problems = "\n".join(err.value.problems)
    at = f"{maps}:"
    assert f"{at}55: related table u_qualys_ports_2: rows: 'open_ports' is not a staged detail kind (use" in problems
    assert f"{at}59: related table u_qualys_cpus: identified_by must list the fields that tell its rows" in problems
    assert f"{at}62: related table u_qualys_apps: identified_by names 'u_build', not one of its fields" in problems
    assert "u_qualys_apps.fields.u_vendor: staging attribute 'vendor' does not exist" in problems
    assert "u_qualys_apps.fields.u_bits: transforms apply to the CI's fields only" in problems
    assert f"{at}69: related table u_qualys_misc: identified_by and fields go with rows:" in problems
    assert "related table 'U-Qualys Details' is not a table name" in problems


def test_the_shipped_os_name_table_gives_each_os_name_of_the_simulated_estate_the_csam_categories() -> None:
    """os_names.yaml derives, from the OS name alone, what CSAM's catalog says of the same OS (issue 22)."""
    from qualys_cmdb.classify.mappings import os_name_entry

    from simulators.qualys.operating_systems import OS_CATALOG

    table = load_mappings(SHIPPED).os_names
    differ = {}
    for entry in OS_CATALOG:
        got = os_name_entry(table, entry.qps_os)
        derived = (got.category1, got.category2) if got else None
        if derived != (entry.category1, entry.category2):
            differ[entry.qps_os, entry.category2] = derived
    assert differ == {
        # one name for Ubuntu's desktop and server editions: a server (CSAM's catalog tells the desktop apart)
        ("Ubuntu / Linux 22.04.4 LTS", "Client"): ("Linux", "Server"),
        # OSs of routers and switches alike: the name does not tell which
        ("Cisco IOS 15.2(7)E8", "Router"): ("Network Operating System", "Unidentified"),
        ("Cisco IOS XE 17.3.4a", "Switch"): ("Network Operating System", "Unidentified"),
        ("JUNOS 21.4R3", "Router"): ("Network Operating System", "Unidentified"),
        # Qualys writes "Unknown", a placeholder: no OS name at all
        ("Unknown", "Unidentified"): None,
    }


def test_a_bad_os_name_table_is_named_with_file_and_line(tmp_path: Path) -> None:
    folder = _copy(tmp_path)
    names = folder / "os_names.yaml"
    names.write_text(
        "os_names:\n"
        "  - pattern: 'Windows'\n"  # line 2
        "    category1: Windows\n"
        "    category2: Client\n"
        "  - pattern: 'Windows Server'\n"  # line 5: taken by the row above
        "    category1: Windows\n"
        "    category2: Server\n"
        "    examples: [Windows Server 2022 Standard]\n"
        "  - pattern: 'Linux ('\n"  # line 9
        "    category1: Linux\n"
        "    category2: Server\n"
        "  - pattern: 'BeOS'\n"  # line 12
        "    category2: Client\n"
        "    vendor: Be Inc.\n"
        "    examples: [Haiku R1]\n"
    )
    with pytest.raises(MappingError) as err:
        load_mappings(folder)
    problems = "\n".join(err.value.problems)
    assert (
        f"{names}:5: example 'Windows Server 2022 Standard' of pattern 'Windows Server' is taken by the earlier "
        f"pattern 'Windows' ({names}:2)"
    ) in problems
    assert f"{names}:9: pattern 'Linux (' is not a valid regular expression" in problems
    assert f"{names}:12: unknown setting(s) vendor" in problems
    assert f"{names}:12: pattern 'BeOS': category1 (the OS family) and category2 are required" in problems


def test_the_os_name_table_is_part_of_the_version_and_optional(tmp_path: Path) -> None:
    folder = _copy(tmp_path)
    shipped = load_mappings(folder)
    names = folder / "os_names.yaml"
    names.write_text(names.read_text().replace("category2: RTOS", "category2: Real-time"))
    assert load_mappings(folder).version != shipped.version
    names.unlink()  # a mappings folder written before the table existed stays valid: no OS name gets a category
    without = load_mappings(folder)
    assert without.os_names == () and without.version not in (shipped.version, load_mappings(SHIPPED).version)
