"""Odd values from Qualys (a NUL in a user name, in a software name), through the real DAG into staging: PostgreSQL
text cannot hold U+0000, so the parser replaces it with U+FFFD, the same way at every run; XML, which cannot carry a
NUL at all, makes its page an error record and the other pages go on."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from qualys_cmdb.config import DetailFlags
from qualys_cmdb.intake.csam import parse_csam_page
from qualys_cmdb.intake.landing import LandingWriter
from qualys_cmdb.staging.schema import (
    STAGED_CHILDREN,
    landing_asset,
    staged_asset,
    staged_software,
    sync_queue,
)
from sqlalchemy import func, select, text

from tests.conftest import REPO, SimHandle, write_config
from tests.integration.test_intake_dag import DAG_ID, _counts, _run_dag, _run_row

ODD_USER = "ACME\\adm\u0000in"
ODD_SOFTWARE = "Odd\u0000Zip"
FFFD_USER = "ACME\\adm\ufffdin"
FFFD_SOFTWARE = "Odd\ufffdZip"


def _two_assets(qualys_sim: SimHandle) -> tuple[int, int]:
    """An asset for the odd user name and another, with software, for the odd software name."""
    assets = qualys_sim.estate()["assets"]
    with_software = [a["assetId"] for a in assets if a["software"]]
    return next(a["assetId"] for a in assets if a["assetId"] != with_software[0]), with_software[0]


def test_nuls_in_a_field_and_a_software_name_stage_as_u_fffd_and_a_rerun_changes_nothing(
    airflow_db: None, staging: Any, qualys_sim: SimHandle, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    odd_user, odd_software = _two_assets(qualys_sim)
    qualys_sim.control("overrides", assetId=odd_user, fields={"lastLoggedOnUser": ODD_USER})
    qualys_sim.control("overrides", assetId=odd_software, software={"0": {"fullName": ODD_SOFTWARE}})
    write_config(tmp_path, monkeypatch, batch=10)
    estate = qualys_sim.estate()

    run1 = _run_dag()
    counts = _counts(staging)
    assert counts["asset"] == estate["count"] and counts["software_install"] == estate["software_rows"]
    install = STAGED_CHILDREN["software_install"]
    with staging.connect() as conn:
        user = conn.execute(
            select(staged_asset.c.last_logged_on_user).where(staged_asset.c.asset_id == odd_user)
        ).scalar_one()
        software = conn.execute(
            select(staged_software.c.name)
            .join(install, install.c.software_key == staged_software.c.software_key)
            .where(install.c.asset_id == odd_software, staged_software.c.name.contains("\ufffd"))
        ).scalar_one()
        statuses = dict(conn.execute(select(sync_queue.c.status, func.count()).group_by(sync_queue.c.status)).all())
        hashes = dict(conn.execute(select(staged_asset.c.asset_id, staged_asset.c.content_hash)).all())
    assert (user, software) == (FFFD_USER, FFFD_SOFTWARE)
    assert statuses == {"Success": _run_row(staging, run1.run_id)["pages"]}

    # Every asset again (a window from 2001): the replaced values hash the same, so nothing is new or changed.
    run2 = _run_dag(run_conf={"since": "2001-01-01T00:00:00Z"})
    row = _run_row(staging, run2.run_id)
    assert (row["assets_fetched"], row["assets_changed"]) == (estate["count"], 0)
    assert _counts(staging) == counts
    with staging.connect() as conn:
        assert dict(conn.execute(select(staged_asset.c.asset_id, staged_asset.c.content_hash)).all()) == hashes
        assert set(conn.execute(select(sync_queue.c.status)).scalars()) == {"Success"}


def test_a_nul_in_hostasset_xml_makes_its_page_an_error_record_and_the_other_pages_stage(
    airflow_db: None, staging: Any, qualys_sim: SimHandle, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """XML 1.0 cannot carry a NUL, not even as ``&#0;``: that page is malformed; a clear per-record parse error, never
    a database error, and nothing else is lost. (Whether the run ends green is the summary step's business: only the
    intake steps are checked here.)"""
    from airflow.dag_processing.dagbag import DagBag

    odd_user, _ = _two_assets(qualys_sim)
    qualys_sim.control("overrides", assetId=odd_user, fields={"lastLoggedOnUser": ODD_USER})
    write_config(tmp_path, monkeypatch, api="hostasset", batch=10)
    run = DagBag(dag_folder=str(REPO / "dags")).get_dag(DAG_ID).test()
    states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    assert [states[step] for step in ("fetch", "parse", "stage")] == ["success"] * 3
    with staging.connect() as conn:
        errors = conn.execute(
            select(sync_queue.c.id, sync_queue.c.record_count, sync_queue.c.notes).where(sync_queue.c.status == "Error")
        ).all()
        staged = set(conn.execute(select(staged_asset.c.asset_id)).scalars())
    ((bad_id, bad_count, note),) = errors
    assert note.startswith("malformed XML response") and "XMLSyntaxError" in note
    assert f"qcmdb queue requeue {bad_id}" in note
    assert odd_user not in staged and len(staged) == qualys_sim.estate()["count"] - bad_count
    assert _run_row(staging, run.run_id)["errors"] == 1


def test_the_landing_writer_counts_the_replaced_nuls_and_copy_takes_every_value(staging: Any) -> None:
    """Text and JSONB columns (the cloud tags) both: COPY would refuse a NUL in either."""
    odd = {
        "assetId": 7,
        "assetName": "web\u000001",
        "cloudProvider": {"aws": {"ec2": {"instanceId": "i-7"}, "tags": [{"key": "Na\u0000me", "value": "\u0000"}]}},
        "softwareListData": {"software": [{"id": 1, "fullName": ODD_SOFTWARE, "installPath": "C:\\\u0000"}]},
    }
    page = json.dumps({"assetListData": {"asset": [odd, {"assetId": 8, "assetName": "plain"}]}}).encode()
    with staging.connect() as conn:
        writer = LandingWriter(conn, queue_id=1)
        writer.add_all(parse_csam_page(io.BytesIO(page), "src", DetailFlags()))
        writer.close()
        names = dict(conn.execute(select(landing_asset.c.asset_id, landing_asset.c.name)).all())
        tags = conn.execute(text("SELECT cloud_tags FROM qcmdb.landing_cloud")).scalar_one()
        paths = conn.execute(text("SELECT install_path FROM qcmdb.landing_software")).scalars().all()
        conn.rollback()
    assert (writer.assets, writer.nul_replaced, writer.nul_asset_ids) == (2, 5, [7])
    assert names == {7: "web\ufffd01", 8: "plain"}
    assert tags == {"Na\ufffdme": "\ufffd"} and paths == ["C:\\\ufffd"]
