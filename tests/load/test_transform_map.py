"""The transform-map path (PR-5, CM-7, CM-4) into the ServiceNow simulator: the CI through the Import Set API, its
related-table rows through the Table API under it; copy_empty_fields both ways; a lost answer never writes twice."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from qualys_cmdb.approval.decisions import auto_approve, counts
from qualys_cmdb.classify.mappings import Mappings, load_mappings
from qualys_cmdb.hooks.servicenow import ServiceNowAnswerLost, ServiceNowHook
from qualys_cmdb.load.ire import LoadResult
from qualys_cmdb.load.payload import DUPLICATE_SOFTWARE, NAMELESS_SOFTWARE
from qualys_cmdb.load.transform_map import load_via_import_set
from qualys_cmdb.staging.schema import STAGED_CHILDREN, asset_classification
from sqlalchemy import Engine, insert, select

from tests.classify.test_classify import change, run, stage
from tests.conftest import REPO
from tests.integration.test_servicenow_hook import Sn
from tests.load.test_related_items import LINUX, MAPPINGS, hook, rows, stage_details

IMPORT_TABLE = "u_qualys_computer_import"


def _load(staging: Engine, copy_empty_fields: bool = False, mappings: Mappings = MAPPINGS) -> LoadResult:
    return load_via_import_set(staging, hook(), mappings, "t", IMPORT_TABLE, copy_empty_fields)


def _sys_id(staging: Engine, asset: int) -> str:
    with staging.connect() as conn:
        found = conn.execute(
            select(asset_classification.c.cmdb_sys_id).where(asset_classification.c.asset_id == asset)
        ).scalar_one()
    assert found, "the asset has no CI"
    return str(found)


def _tables(sim: Any) -> dict[str, int]:
    return dict(Sn(sim).control("cmdb", method="GET")["tables"])


def _approved(staging: Engine, asset: int, content: str, **values: object) -> None:
    """The asset's staged content changes (``values``), it is classified and approved again."""
    with staging.begin() as conn:
        change(conn, asset, content, **values)
    assert run(staging).classified == 1
    auto_approve(staging, "t")


def test_the_ci_and_its_related_rows_are_written_once_and_an_unchanged_rerun_makes_no_call(
    staging: Engine, cmdb: Any
) -> None:
    asset = stage(staging, os=LINUX, asset_uuid="u-1", timezone="UTC")
    stage_details(staging, asset)
    run(staging)
    auto_approve(staging, "t")
    Sn(cmdb).control("transform", coalesce=["correlation_id"])
    first = _load(staging)
    assert (first.loaded, first.failed) == (1, 0), first.refused
    # the row, then one insert per related row: asset and OS details, two ports, one processor, two software details
    # (a CI just inserted has no related rows yet: nothing is read)
    assert first.calls == 1 + 7
    ci = _sys_id(staging, asset)
    (details,) = rows(cmdb, "u_qualys_asset_details", f"u_ci={ci}")
    assert (details["u_qualys_asset_id"], details["u_asset_uuid"], details["u_timezone"]) == (str(asset), "u-1", "UTC")
    assert [r["u_os_category_1"] for r in rows(cmdb, "u_qualys_os_details", f"u_ci={ci}")] == ["Linux"]
    ports = rows(cmdb, "u_qualys_open_ports", f"u_ci={ci}^ORDERBYu_port")
    assert [(p["u_port"], p["u_protocol"], p["u_detected_service"]) for p in ports] == [
        ("22", "TCP", "ssh"),
        ("443", "TCP", ""),
    ]
    assert [p["u_processor_cpu_counts"] for p in rows(cmdb, "u_qualys_processors", f"u_ci={ci}")] == ["32"]
    software = {d["u_name"]: d for d in rows(cmdb, "u_qualys_software_details", f"u_ci={ci}")}
    assert set(software) == {"OpenSSL", "bash"}
    assert (software["OpenSSL"]["u_publisher"], software["OpenSSL"]["u_license_category"]) == (
        "OpenSSL Project",
        "Open Source",
    )
    messages = [m for m, _ in first.skipped.log_entries()]  # what the load's application log lists, once
    assert f"{NAMELESS_SOFTWARE}: 1 row(s) on 1 asset(s): s/{asset}: version 0.9" in messages
    assert f"{DUPLICATE_SOFTWARE}: 1 row(s) on 1 asset(s): s/{asset}: bash 5.1" in messages

    assert _load(staging).calls == 0  # BY-1: unchanged, no call
    before = _tables(cmdb)
    with staging.begin() as conn:  # a port closes, another opens
        port = STAGED_CHILDREN["open_port"]
        conn.execute(port.delete().where(port.c.asset_id == asset, port.c.port == 443))
        conn.execute(insert(port).values(source="s", asset_id=asset, port=8443, protocol="TCP"))
    _approved(staging, asset, "ports changed")
    again = _load(staging)
    assert (again.loaded, again.operations) == (1, {"NO_CHANGE": 1})  # the CI's own values are the same
    # the row, a read of the CI's rows of each of its five tables, and the one new port
    assert again.calls == 1 + 5 + 1
    assert [p["u_port"] for p in rows(cmdb, "u_qualys_open_ports", f"u_ci={ci}^ORDERBYu_port")] == ["22", "443", "8443"]
    after = _tables(cmdb)
    assert {k: after[k] - before[k] for k in after if k.startswith("u_qualys") and after[k] != before[k]} == {
        "u_qualys_computer_import": 1,
        "u_qualys_open_ports": 1,
    }


def test_copy_empty_fields_on_blanks_emptied_values_and_off_never_sends_them(
    staging: Engine, cmdb: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The property mirrors the "Copy empty fields" setting of the instance's transform map (an import row's column
    left out is as empty as one sent empty: the transform map alone decides whether it blanks the CI's field). The
    related rows follow the property (the Table API writes what it is sent)."""
    sent: list[dict[str, Any]] = []
    import_row = ServiceNowHook.import_row

    def recorded(self: ServiceNowHook, staging_table: str, row: dict[str, Any]) -> dict[str, Any]:
        sent.append(dict(row))
        return import_row(self, staging_table, row)

    monkeypatch.setattr(ServiceNowHook, "import_row", recorded)
    asset = stage(staging, os=LINUX, bios_asset_tag="TAG-1", timezone="UTC")
    run(staging)
    auto_approve(staging, "t")
    Sn(cmdb).control("transform", coalesce=["correlation_id"], copy_empty_fields=False)
    assert _load(staging).loaded == 1
    ci = _sys_id(staging, asset)

    def cmdb_values() -> tuple[str, str]:
        (server,) = rows(cmdb, "cmdb_ci_linux_server", f"sys_id={ci}")
        (details,) = rows(cmdb, "u_qualys_asset_details", f"u_ci={ci}")
        return server["asset_tag"], details["u_timezone"]

    assert cmdb_values() == ("TAG-1", "UTC")
    _approved(staging, asset, "emptied", bios_asset_tag=None, timezone=None)
    assert _load(staging, copy_empty_fields=False).loaded == 1
    assert "u_asset_tag" not in sent[-1]  # off: the emptied value is not sent …
    assert cmdb_values() == ("TAG-1", "UTC")  # … and blanks nothing, in the CI or its related rows

    Sn(cmdb).control("transform", copy_empty_fields=True)
    _approved(staging, asset, "sent again")
    assert _load(staging, copy_empty_fields=True).loaded == 1
    assert sent[-1]["u_asset_tag"] == ""  # on: sent empty …
    assert cmdb_values() == ("", "")  # … and the fields are blanked


def test_a_related_row_whose_answer_is_lost_is_read_back_and_never_written_twice(staging: Engine, cmdb: Any) -> None:
    asset = stage(staging, os=LINUX)
    run(staging)
    auto_approve(staging, "t")
    Sn(cmdb).control("transform", coalesce=["correlation_id"])
    # the first Table API request (the asset details row) is committed, and its answer never arrives
    Sn(cmdb).control("faults", after_commit={"family": "table", "count": 1, "answer": "drop"})
    with pytest.raises(ServiceNowAnswerLost):
        _load(staging)
    assert counts(staging, "t") == {"approved": 1}  # not recorded: the next attempt finishes it
    finished = _load(staging)
    assert (finished.loaded, finished.operations) == (1, {"INSERT": 1})  # the CI row's outcome, read back
    ci = _sys_id(staging, asset)
    assert len(rows(cmdb, "u_qualys_asset_details", f"u_ci={ci}")) == 1
    assert len(rows(cmdb, "u_qualys_os_details", f"u_ci={ci}")) == 1
    tables = _tables(cmdb)
    assert (tables["u_qualys_computer_import"], tables["u_qualys_asset_details"]) == (1, 1)  # each sent once


def test_a_related_table_the_instance_refuses_fails_the_asset_with_the_reason(
    staging: Engine, cmdb: Any, tmp_path: Path
) -> None:
    folder = tmp_path / "mappings"
    shutil.copytree(REPO / "include" / "mappings", folder)
    maps = folder / "field_maps.yaml"
    maps.write_text(
        maps.read_text().replace("related_tables:\n", "related_tables:\n  u_qualys_zone:\n    u_tz: timezone\n")
    )
    asset = stage(staging, os=LINUX, timezone="UTC")
    mappings = load_mappings(folder)
    run(staging, mappings=mappings)
    auto_approve(staging, "t")
    result = _load(staging, mappings=mappings)
    assert (result.loaded, result.failed, result.errors) == (0, 1, {"TRANSFORM_ERROR": 1})
    ((who, reason),) = result.refused
    (ci,) = [r["sys_id"] for r in rows(cmdb, "cmdb_ci_linux_server", "")]
    assert who == f"s/{asset}"
    assert reason.startswith(
        f"transform map: the CI ({ci}) is written, but POST /api/now/table/u_qualys_zone: HTTP 400"
    )
