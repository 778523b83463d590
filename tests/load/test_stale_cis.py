"""BY-7 stale CIs: listed first (a dry run that writes nothing), then retired once, only where no other source looks
after them, and put back when Qualys reports the asset again. Real DAG runs, real Postgres, both simulators over HTTP.

The Qualys simulator's estate was last modified in 2025 (its history ends 2026-01-01); an incremental run after
``advance`` fetches the assets it modified, with a lastModifiedDate of now. So with ``stale_after_days: 30`` the
assets ``advance`` left alone are exactly the stale ones, whatever day the tests run.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from qualys_cmdb.cli import main
from qualys_cmdb.config import ConfigError, parse_config
from qualys_cmdb.load.stale import (
    CLOCK_MARGIN,
    RetirementRules,
    StaleAsset,
    configured_cutoffs,
    judge,
    stale_assets,
    stale_cutoff,
)
from qualys_cmdb.staging.schema import asset_classification, schedule_state, staged_asset
from qualys_cmdb.ui.listing import AssetFilters, list_assets
from qualys_cmdb.ui.reports import build_report
from sqlalchemy import insert, text

from tests.conftest import REPO, SimHandle, write_config

DAG_ID = "qualys_to_cmdb__t"
SN_AUTH = ("sn_integration", "sn-Passw0rd")
LOOKS = "    auto_approve: true\n    stale_after_days: 30\n"
RETIRES = LOOKS + "    retire_stale_cis: true\n"
LEFT_ALONE = 8  # assets `advance` does not modify: the stale ones


def _run_dag(expect: str = "success"):  # type: ignore[no-untyped-def]
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(REPO / "dags"))
    assert bag.import_errors == {}, bag.import_errors
    dag_run = bag.get_dag(DAG_ID).test()
    assert str(dag_run.state) == expect
    return dag_run


def _cis(cmdb_url: str) -> dict[str, dict[str, str]]:
    """Every CI as the CMDB holds it now (the fields a write would change), by sys_id."""
    fields = "sys_id,install_status,discovery_source,last_discovered,sys_updated_on,sys_updated_by,sys_mod_count"
    response = requests.get(
        f"{cmdb_url}/api/now/table/cmdb_ci",
        params={"sysparm_fields": fields, "sysparm_limit": "10000"},
        auth=SN_AUTH,
        headers={"Accept": "application/json"},
        timeout=30,
    )
    response.raise_for_status()
    return {row["sys_id"]: row for row in response.json()["result"]}


def _patches(cmdb_url: str) -> int:
    stats = requests.get(f"{cmdb_url}/sim/control/stats", timeout=10).json()
    return sum(n for key, n in stats["by_method_endpoint"].items() if key.startswith("PATCH "))


def _loaded(engine) -> dict[int, tuple[str, str]]:  # type: ignore[no-untyped-def]
    """Schedule t's loaded assets: asset id -> (CI sys_id, CI class)."""
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT asset_id, cmdb_sys_id, cmdb_class FROM qcmdb.asset_classification "
                "WHERE schedule = 't' AND state = 'loaded' AND cmdb_sys_id IS NOT NULL"
            )
        ).all()
    return {int(a): (s, c) for a, s, c in rows}


def _retired(engine) -> set[str]:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        return set(
            conn.execute(
                text("SELECT cmdb_sys_id FROM qcmdb.asset_classification WHERE cmdb_retired_at IS NOT NULL")
            ).scalars()
        )


def _line(listing: str, sys_id: str) -> str:
    (line,) = [line for line in listing.splitlines() if sys_id in line]
    return line


def _stale_list(capsys: pytest.CaptureFixture[str]) -> str:
    assert main(["stale", "list", "--schedule", "t"]) == 0
    return capsys.readouterr().out


def test_stale_cis_are_listed_without_a_write_then_retired_once_where_only_this_sync_looks_after_them(
    airflow_db: None,
    staging,  # type: ignore[no-untyped-def]
    qualys_sim: SimHandle,
    cmdb,  # type: ignore[no-untyped-def]
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    write_config(tmp_path, monkeypatch, batch=25, schedule_extra=LOOKS)
    _run_dag()
    assert "retire_stale_cis" not in _dag().task_ids  # no retiring unless the schedule asks for it
    # Qualys reports every asset again but a few: those stay at their 2025 lastModifiedDate, 30+ days before the
    # watermark of the next run
    count = qualys_sim.estate()["count"]
    modified = set(qualys_sim.control("advance", seconds=0, modify=count - LEFT_ALONE)["modified"])
    _run_dag()
    stale = {asset: ci for asset, ci in _loaded(staging).items() if asset not in modified}
    assert len(stale) >= 4, stale
    (edited, _), (other_source, other_class), *retirable_cis = sorted(stale.values())
    retirable = {sys_id for sys_id, _ in retirable_cis}

    # a person edits one stale CI; another discovery source reports another (IRE, nothing changed: NO_CHANGE)
    requests.post(
        f"{cmdb.url}/sim/control/users", json={"username": "dc.ops", "password": "pw", "roles": ["itil"]}, timeout=10
    ).raise_for_status()
    requests.patch(
        f"{cmdb.url}/api/now/table/cmdb_ci/{edited}",
        json={"short_description": "kept by the data centre team"},
        auth=("dc.ops", "pw"),
        headers={"Accept": "application/json", "Content-Type": "application/json"},
        timeout=10,
    ).raise_for_status()
    reported = requests.post(
        f"{cmdb.url}/api/now/identifyreconcile",
        params={"sysparm_data_source": "ServiceNow"},
        json={"items": [{"className": other_class, "values": {"sys_id": other_source}}]},
        auth=SN_AUTH,
        headers={"Accept": "application/json", "Content-Type": "application/json"},
        timeout=10,
    ).json()
    assert reported["result"]["items"][0]["operation"] == "NO_CHANGE"

    # the dry run: what would be retired and why (not), and nothing written anywhere
    before, patches = _cis(cmdb.url), _patches(cmdb.url)
    listing = _stale_list(capsys)
    assert _cis(cmdb.url) == before and _patches(cmdb.url) == patches
    assert _retired(staging) == set()
    assert f"{len(stale)} stale CI(s): would retire {len(retirable)}, skip 2" in listing
    assert "dry run, nothing is written" in listing
    for sys_id in retirable:
        assert "would retire: Qualys last modified the asset on 2025-" in _line(listing, sys_id)
    assert "skip: last updated by dc.ops" in _line(listing, edited)
    assert "skip: discovery source is 'ServiceNow'" in _line(listing, other_source)
    assert not any(f"sim/{asset} " in listing for asset in modified)
    assert main(["stale", "retire", "--schedule", "t", "--dry-run"]) == 0  # the same dry run
    assert capsys.readouterr().out == listing
    assert main(["stale", "list", "--schedule", "t", "--days", "3650"]) == 0  # what if: ten years
    assert "0 stale CI(s)" in capsys.readouterr().out
    assert _cis(cmdb.url) == before and _patches(cmdb.url) == patches

    # the Overview's report counts the same stale CIs, and each bar opens the list of exactly its assets
    report = build_report(staging, "stale_cis", base_url="/qualys-cmdb", limit=1000)
    assert report.total == len(stale) and sum(bar.value for bar in report.rows) == len(stale)
    by_class: dict[str, int] = {}
    for cls in (c for _, c in stale.values()):
        by_class[f"t · {cls}"] = by_class.get(f"t · {cls}", 0) + 1
    assert {bar.label: bar.value for bar in report.rows} == by_class
    assert report.href is not None  # one schedule looks for stale assets: the whole report is one list
    for href, number in [(bar.href, bar.value) for bar in report.rows] + [(report.href, report.total)]:
        rows, listed = list_assets(staging, AssetFilters.from_query(parse_qs(urlsplit(href).query)), page_size=1000)
        assert listed == number and {r["asset_id"] for r in rows} <= set(stale), href

    # the schedule asks for it now: its next run retires the CIs only this sync looks after
    write_config(tmp_path, monkeypatch, batch=25, schedule_extra=RETIRES)
    retire = _dag().get_task("retire_stale_cis")
    assert (retire.upstream_task_ids, retire.downstream_task_ids) == ({"load"}, {"summary"})
    _run_dag()
    after = _cis(cmdb.url)
    assert {s for s in after if after[s] != before[s]} == retirable
    assert {after[s]["install_status"] for s in retirable} == {"100"}  # Absent
    assert after[edited]["install_status"] == after[other_source]["install_status"] == "1"
    assert _retired(staging) == retirable
    with staging.connect() as conn:
        logged = (
            conn.execute(text("SELECT message FROM qcmdb.app_log WHERE component = 'stale' ORDER BY id"))
            .scalars()
            .all()
        )
    assert sum("retired: install_status Absent (100)" in m for m in logged) == len(retirable)
    assert f"{len(retirable)} retired, 0 reinstated, 2 skipped" in logged[-1]

    # run again: nothing is touched twice
    patches = _patches(cmdb.url)
    _run_dag()
    assert _cis(cmdb.url) == after and _patches(cmdb.url) == patches
    listing = _stale_list(capsys)
    for sys_id in retirable:
        assert "retired earlier: retired on " in _line(listing, sys_id)

    # Qualys reports one of them again: its next run loads the change and puts its CI back to Installed
    back_asset, (back, _) = next((a, ci) for a, ci in sorted(stale.items()) if ci[0] in retirable)
    qualys_sim.control("overrides", assetId=back_asset, fields={"lastLoggedOnUser": "back.again"})
    _run_dag()
    again = _cis(cmdb.url)
    assert again[back]["install_status"] == "1"
    assert {s for s in retirable if again[s]["install_status"] == "100"} == retirable - {back}
    assert _retired(staging) == retirable - {back}
    assert "reinstated: install_status Installed (1)" in _last_stale_log(staging, back)


def _dag():  # type: ignore[no-untyped-def]
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(REPO / "dags")).get_dag(DAG_ID)


def _last_stale_log(engine, sys_id: str) -> str:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        return str(
            conn.execute(
                text(
                    "SELECT message FROM qcmdb.app_log WHERE component = 'stale' AND details ->> 'sys_id' = :s "
                    "ORDER BY id DESC LIMIT 1"
                ),
                {"s": sys_id},
            ).scalar_one()
        )


# --------------------------------------------------------------------------------------------- the rules, one by one
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
RULES = RetirementRules(discovery_source="Qualys", retired_value="100", integration_user="sn_integration")


def _asset(**kw: Any) -> StaleAsset:
    values: dict[str, Any] = {
        "source": "sim",
        "asset_id": 1,
        "name": "web-1",
        "sys_id": "abc",
        "cmdb_class": "cmdb_ci_linux_server",
        "last_modified": NOW - timedelta(days=90),
        "last_load": NOW - timedelta(days=60),
    } | kw
    values.setdefault("retired_at", None)
    return StaleAsset(**values)


def _ci(**kw: str) -> dict[str, str]:
    loaded = f"{NOW - timedelta(days=60):%Y-%m-%d %H:%M:%S}"
    return {
        "install_status": "1",
        "discovery_source": "Qualys",
        "last_discovered": loaded,
        "sys_updated_on": loaded,
        "sys_updated_by": "sn_integration",
    } | kw


def _sn(moment: datetime) -> str:
    return f"{moment:%Y-%m-%d %H:%M:%S}"


def test_a_ci_only_this_sync_looks_after_is_retired_and_each_other_sign_keeps_it() -> None:
    asset = _asset()
    assert judge(asset, _ci(), RULES)[0] == "retire"
    kept = {
        "install_status is In Maintenance (3), not Installed": _ci(install_status="3"),
        "install_status is Absent (100), not Installed": _ci(install_status="100"),
        "discovery source is 'SG-SCCM'": _ci(discovery_source="SG-SCCM"),
        "another Qualys feed still reports it": _ci(last_discovered=_sn(NOW - timedelta(days=1))),
        "last updated by jdoe": _ci(sys_updated_by="jdoe"),
    }
    for reason, ci in kept.items():
        verdict, why = judge(asset, ci, RULES)
        assert (verdict, reason in why) == ("skip", True), (reason, why)
    assert judge(asset, None, RULES) == (
        "skip",
        "the CI is not in the CMDB (deleted, or hidden from the integration user)",
    )
    verdict, why = judge(_asset(still_reported_by="lab/7"), _ci(), RULES)
    assert (verdict, why) == ("skip", "the CI also holds Qualys asset lab/7, which Qualys still reports")


def test_without_the_users_name_an_update_later_than_the_last_load_keeps_the_ci_beyond_the_clock_margin() -> None:
    """OAuth client credentials: the connection does not name the CMDB user, so times decide (two clocks)."""
    rules = RetirementRules(discovery_source="Qualys", retired_value="100", integration_user=None)
    asset = _asset()
    assert asset.last_load is not None
    within = _sn(asset.last_load + CLOCK_MARGIN - timedelta(seconds=1))
    beyond = _sn(asset.last_load + CLOCK_MARGIN + timedelta(seconds=1))
    assert judge(asset, _ci(sys_updated_on=within, sys_updated_by="oauth.app"), rules)[0] == "retire"
    verdict, why = judge(asset, _ci(sys_updated_on=beyond, sys_updated_by="jdoe"), rules)
    assert verdict == "skip" and "by jdoe, after this sync's last load" in why
    assert judge(asset, _ci(last_discovered=within), rules)[0] == "retire"
    assert judge(asset, _ci(last_discovered=beyond), rules)[0] == "skip"


def test_a_retired_ci_whose_asset_came_back_is_reinstated_only_if_it_still_holds_our_value() -> None:
    retired = _asset(retired_at=NOW - timedelta(days=3))
    assert judge(retired, None, RULES) == ("retired", "retired on 2026-11-28 12:00 UTC")  # never read, never written
    back = _asset(retired_at=NOW - timedelta(days=3), came_back=True, last_modified=NOW)
    assert judge(back, _ci(install_status="100"), RULES)[0] == "reinstate"
    verdict, why = judge(back, _ci(install_status="7", sys_updated_by="asset.mgr"), RULES)
    assert verdict == "release" and "now Retired (7) (last updated by asset.mgr): left as it is" in why
    assert judge(back, None, RULES)[0] == "release"


def test_staging_sees_every_schedule_and_every_asset_that_holds_a_ci(staging) -> None:  # type: ignore[no-untyped-def]
    """One classification row per schedule that selects an asset, and assets of two sources matched to one CI: the
    last load is the latest of all holders, and a CI another asset still reports stays."""
    watermark = datetime(2026, 6, 1, tzinfo=UTC)
    old, fresh = watermark - timedelta(days=100), watermark - timedelta(days=1)
    with staging.begin() as conn:
        conn.execute(
            insert(schedule_state),
            [{"schedule": name, "source": "sim", "watermark": watermark} for name in ("t", "u")],
        )
        conn.execute(
            insert(staged_asset),
            [
                {"source": "sim", "asset_id": 1, "content_hash": "a", "last_modified_date": old, "name": "gone"},
                {"source": "sim", "asset_id": 2, "content_hash": "b", "last_modified_date": old, "name": "twin"},
                {"source": "lab", "asset_id": 9, "content_hash": "c", "last_modified_date": fresh, "name": "twin"},
                {"source": "sim", "asset_id": 3, "content_hash": "d", "last_modified_date": fresh, "name": "back"},
                {"source": "sim", "asset_id": 4, "content_hash": "e", "last_modified_date": fresh, "name": "live"},
            ],
        )
        row = {"mapping_version": "1", "content_hash": "x", "state": "loaded", "cmdb_retired_at": None}
        conn.execute(
            insert(asset_classification),
            [
                {**row, "schedule": "t", "source": "sim", "asset_id": 1, "cmdb_sys_id": "ci1", "loaded_at": old},
                {**row, "schedule": "u", "source": "sim", "asset_id": 1, "cmdb_sys_id": "ci1", "loaded_at": fresh},
                {**row, "schedule": "t", "source": "sim", "asset_id": 2, "cmdb_sys_id": "ci2", "loaded_at": old},
                {**row, "schedule": "x", "source": "lab", "asset_id": 9, "cmdb_sys_id": "ci2", "loaded_at": old},
                {**row, "schedule": "t", "source": "sim", "asset_id": 3, "cmdb_sys_id": "ci3", "loaded_at": old}
                | {"state": "pending", "cmdb_retired_at": fresh},  # retired; Qualys changed it since (to approve)
                {**row, "schedule": "t", "source": "sim", "asset_id": 4, "cmdb_sys_id": "ci4", "loaded_at": old},
            ],
        )
    with staging.connect() as conn:
        assert stale_cutoff(conn, "t", 30) == (watermark, watermark - timedelta(days=30))
        assert configured_cutoffs(conn, [("t", 30), ("u", None), ("never-ran", 30)]) == {
            "t": watermark - timedelta(days=30)
        }
        found = {a.asset_id: a for a in stale_assets(conn, "t", watermark - timedelta(days=30))}
    assert sorted(found) == [1, 2, 3]  # one row each, though schedule u selects asset 1 too
    assert (found[1].last_load, found[1].still_reported_by, found[1].came_back) == (fresh, None, False)
    assert found[2].still_reported_by == "lab/9"
    assert found[3].came_back and found[3].retired_at == fresh


# --------------------------------------------------------------------------------------------- configuration, CLI
def _config(extra: str) -> str:
    return f"sources: [{{name: s, pod: US1, connection_id: c}}]\nschedules:\n  - name: t\n    source: s\n{extra}"


def test_retiring_stale_cis_needs_the_days_and_the_days_a_sensible_range() -> None:
    parse_config(_config(RETIRES))  # valid
    with pytest.raises(ConfigError) as caught:
        parse_config(_config("    retire_stale_cis: true\n    stale_ci_status: gone\n    stale_after_days: 0\n"))
    problems = caught.value.problems
    assert "schedules[0].stale_after_days: Input should be greater than or equal to 1" in problems
    assert any(p.startswith("schedules[0].stale_ci_status: Input should be 'absent' or 'retired'") for p in problems)
    with pytest.raises(ConfigError) as caught:
        parse_config(_config("    retire_stale_cis: true\n"))
    assert caught.value.problems == [
        "schedules[0].retire_stale_cis: set stale_after_days too: it says after how many days without a change "
        "reported by Qualys an asset counts as stale and its CI is retired"
    ]


def test_the_stale_list_of_a_schedule_without_days_says_how_to_ask_for_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    write_config(tmp_path, monkeypatch)
    assert main(["stale", "list", "--schedule", "t"]) == 2
    assert "set stale_after_days in its configuration, or give --days" in capsys.readouterr().err
