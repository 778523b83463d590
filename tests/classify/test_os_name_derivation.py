"""Issue 22: the OS family and category of a hostasset source's staged OS rows, derived from their OS names."""

from __future__ import annotations

import shutil
from pathlib import Path

from qualys_cmdb.classify.mappings import load_mappings
from qualys_cmdb.intake.os_names import derive_os_categories
from qualys_cmdb.intake.stage import stage_records
from qualys_cmdb.staging.schema import STAGED_CHILDREN, staged_asset
from sqlalchemy import insert, select

from tests.conftest import REPO

SHIPPED = load_mappings(REPO / "include" / "mappings")
OS = STAGED_CHILDREN["os"]
NAMES = {
    1: "Windows Server 2019 Datacenter 64 bit Edition Version 1809",
    2: "Ubuntu / Linux 22.04.4 LTS",
    3: "Wind River VxWorks",
    4: "Plan 9 from Bell Labs",
    5: "Windows Server 2019 Datacenter 64 bit Edition Version 1809",
}


def _stage_os(engine, source: str = "q") -> None:  # type: ignore[no-untyped-def]
    """Staged OS rows as the hostasset parser lands them: the name, no category."""
    with engine.begin() as conn:
        for asset_id, name in NAMES.items():
            conn.execute(insert(staged_asset).values(source=source, asset_id=asset_id, content_hash=f"h{asset_id}"))
            conn.execute(insert(OS).values(source=source, asset_id=asset_id, os_name=name, os_full_name=name))


def _categories(engine, source: str = "q") -> dict[int, tuple[str | None, ...]]:  # type: ignore[no-untyped-def]
    cols = (OS.c.os_category_1, OS.c.os_category_2, OS.c.os_category, OS.c.os_publisher)
    with engine.connect() as conn:
        rows = conn.execute(select(OS.c.asset_id, *cols).where(OS.c.source == source)).all()
    return {int(r[0]): tuple(r[1:]) for r in rows}


def test_each_os_name_gets_the_categories_of_the_first_pattern_it_matches(staging) -> None:  # type: ignore[no-untyped-def]
    _stage_os(staging)
    _stage_os(staging, source="csam")  # another source's rows are not touched
    with staging.begin() as conn:
        assert derive_os_categories(conn, "q", SHIPPED.os_names) == 4  # the name no pattern matches stays as it is
    assert _categories(staging) == {
        1: ("Windows", "Server", "Windows / Server", "Microsoft"),
        2: ("Linux", "Server", "Linux / Server", "Canonical"),
        3: ("Embedded", "RTOS", "Embedded / RTOS", None),
        4: (None, None, None, None),
        5: ("Windows", "Server", "Windows / Server", "Microsoft"),
    }
    assert set(_categories(staging, "csam").values()) == {(None, None, None, None)}
    with staging.begin() as conn:  # derived again with the same table: nothing to write
        assert derive_os_categories(conn, "q", SHIPPED.os_names) == 0


def test_a_change_of_the_table_reaches_assets_that_did_not_change(staging, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _stage_os(staging)
    with staging.begin() as conn:
        derive_os_categories(conn, "q", SHIPPED.os_names)
    folder = tmp_path / "mappings"
    shutil.copytree(REPO / "include" / "mappings", folder)
    names = folder / "os_names.yaml"
    text = names.read_text().replace("category2: RTOS", "category2: Real-time")  # a category changes
    text = text.replace("    publisher: Canonical\n", "")  # a publisher goes
    names.write_text(text + "  - pattern: '^Plan 9'\n    category1: Unix\n    category2: Research\n")  # a row comes
    changed = load_mappings(folder)
    # a stage run that has no new record still derives: the table changed, the assets did not
    result = stage_records(staging, "t", "run-2", source="q", os_names=changed.os_names)
    assert (result.records, result.os_rows_derived) == (0, 3)
    got = _categories(staging)
    assert got[3][:2] == ("Embedded", "Real-time") and got[2][3] is None and got[4][:2] == ("Unix", "Research")
    assert got[1] == got[5] == ("Windows", "Server", "Windows / Server", "Microsoft")
