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
