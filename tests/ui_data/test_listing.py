"""The asset and software lists: columns, filters, search, sorting, paging; the filters' query-string round trip."""

from __future__ import annotations

from dataclasses import fields
from typing import Any
from urllib.parse import parse_qs

import pytest
from qualys_cmdb.ui.listing import (
    ASSET_COLUMNS,
    ASSET_SORTS,
    NONE,
    SOFTWARE_COLUMNS,
    AssetFilters,
    SoftwareFilters,
    list_assets,
    list_software,
)
from sqlalchemy import text

from tests.ui_data.conftest import BARE, BARE_OS, LAB, LAB_TAGS


def scalar(engine: Any, sql: str, **params: Any) -> Any:
    with engine.connect() as conn:
        return conn.execute(text(sql), params).scalar_one()


def column(engine: Any, sql: str, **params: Any) -> list[Any]:
    with engine.connect() as conn:
        return [r[0] for r in conn.execute(text(sql), params)]


def total(engine: Any, **filters: Any) -> int:
    return list_assets(engine, AssetFilters(**filters), page_size=1)[1]


# ------------------------------------------------------------------------------------------------ query strings
def test_filters_round_trip_through_the_query_string() -> None:
    full = AssetFilters(
        **{f.name: (True if f.type == "bool" else f"v {f.name} & <x>=1?") for f in fields(AssetFilters)}
    )
    assert AssetFilters.from_query(parse_qs(full.to_query())) == full
    assert AssetFilters.from_query(full.to_params()) == full
    soft = SoftwareFilters(source="s", name="A&B", publisher="P", category=NONE, eol=True, database=True, search="x")
    assert SoftwareFilters.from_query(parse_qs(soft.to_query())) == soft
    assert AssetFilters().to_query() == "" and AssetFilters().is_empty()


def test_from_query_ignores_unknown_keys_blanks_and_reads_flags() -> None:
    got = AssetFilters.from_query(
        {
            "state": "pending",
            "page": "3",
            "sort": "-name",
            "bogus": "1",
            "tag": "",
            "software": "   ",
            "eol_os": "true",
            "database": "0",
            "eol_software": ["1"],
            "target_class": ["cmdb_ci_server", "ignored second value"],
            "search": "  web  ",
        }
    )
    assert got == AssetFilters(
        state="pending", eol_os=True, eol_software=True, target_class="cmdb_ci_server", search="web"
    )
    assert got.to_params() == {
        "state": "pending",
        "target_class": "cmdb_ci_server",
        "eol_os": "1",
        "eol_software": "1",
        "search": "web",
    }
    assert AssetFilters.from_query({"eol_os": "no", "database": "yes"}) == AssetFilters(database=True)
    assert AssetFilters(state="approved", target_class="x y").to_query() == "state=approved&target_class=x+y"


# ------------------------------------------------------------------------------------------------ asset rows
def test_an_asset_row_has_every_column(estate) -> None:  # type: ignore[no-untyped-def]
    rows, n = list_assets(estate, AssetFilters(source=LAB[0]))
    assert n == 1 and list(rows[0]) == list(ASSET_COLUMNS)
    row = rows[0]
    assert {k: row[k] for k in ("source", "asset_id", "name", "ip_address", "dns_name", "netbios_name")} == {
        "source": "lab",
        "asset_id": 1,
        "name": "LAB-1.example.test",
        "ip_address": "192.0.2.10",
        "dns_name": "lab-1.example.test",
        "netbios_name": "LAB-1",
    }
    assert row["mac_address"] == "aa:bb:cc:00:00:01"  # eth0 before eth1
    assert row["os"] == "Windows 7 Professional" and row["os_category_1"] == "Windows"
    assert (row["hardware_category_1"], row["hardware_category_2"], row["hardware_manufacturer"]) == (
        "Computers",
        "Desktop",
        "  ",
    )
    assert row["tags"] == ", ".join(sorted(LAB_TAGS, key=lambda t: t.lower()))
    assert row["state"] is None and row["target_class"] is None and row["schedule"] is None  # never classified


def test_asset_rows_agree_with_the_staging_tables(estate) -> None:  # type: ignore[no-untyped-def]
    rows, n = list_assets(estate, AssetFilters(source="sim"), page_size=1000, sort="asset_id")
    assert n == len(rows) == 41
    macs = dict(
        zip(
            column(estate, "SELECT asset_id FROM qcmdb.staged_asset WHERE source = 'sim' ORDER BY asset_id"),
            column(
                estate,
                "SELECT (SELECT n.mac_address FROM qcmdb.staged_network_interface n WHERE n.source = a.source "
                "AND n.asset_id = a.asset_id AND coalesce(n.mac_address, '') <> '' "
                "ORDER BY n.interface_name NULLS LAST, n.mac_address LIMIT 1) "
                "FROM qcmdb.staged_asset a WHERE a.source = 'sim' ORDER BY a.asset_id",
            ),
            strict=True,
        )
    )
    tags = dict(
        zip(
            column(estate, "SELECT asset_id FROM qcmdb.staged_asset WHERE source = 'sim' ORDER BY asset_id"),
            column(
                estate,
                "SELECT (SELECT string_agg(DISTINCT t.tag_name, ', ' ORDER BY t.tag_name) FROM qcmdb.staged_tag t "
                "WHERE t.source = a.source AND t.asset_id = a.asset_id) "
                "FROM qcmdb.staged_asset a WHERE a.source = 'sim' ORDER BY a.asset_id",
            ),
            strict=True,
        )
    )
    by_id = {r["asset_id"]: r for r in rows}
    assert {a: r["tags"] for a, r in by_id.items()} == tags
    nic_or_ip = {a: r["mac_address"] for a, r in by_id.items() if macs[a] is not None}
    assert nic_or_ip == {a: m for a, m in macs.items() if m is not None}
    assert by_id[BARE[1]]["state"] == "failed" and by_id[BARE[1]]["os"] == BARE_OS
    loaded = [r for r in rows if r["state"] == "loaded"]
    assert len(loaded) == 8 and all(r["cmdb_sys_id"] and r["cmdb_class"] and r["loaded_at"] for r in loaded)
    assert {r["decided_by"] for r in loaded} == {"alice"}


# ------------------------------------------------------------------------------------------------ filters
def test_each_asset_filter_matches_an_independent_count(estate) -> None:  # type: ignore[no-untyped-def]
    q = "SELECT count(*) FROM qcmdb.asset_classification WHERE state = :v"
    for state in ("pending", "approved", "failed", "loaded", "rejected"):
        assert total(estate, state=state) == scalar(estate, q, v=state)
    assert total(estate, state=NONE) == 1  # the lab asset, never classified
    assert total(estate, schedule="t") == 41 and total(estate, run="manual__ui_data_1") == 41
    os_name = scalar(estate, "SELECT os_name FROM qcmdb.staged_os WHERE source = 'sim' ORDER BY 1 LIMIT 1")
    assert total(estate, os_name=os_name) == scalar(
        estate, "SELECT count(*) FROM qcmdb.staged_os WHERE os_name = :v", v=os_name
    )
    assert total(estate, hardware_manufacturer=NONE) == 2
    assert total(estate, eol_os=True) == scalar(
        estate,
        "SELECT count(*) FROM qcmdb.staged_os WHERE upper(os_lifecycle_stage) IN ('EOL', 'EOS', 'EOL/EOS')",
    )
    assert total(estate, tag="Production") == scalar(
        estate, "SELECT count(DISTINCT (source, asset_id)) FROM qcmdb.staged_tag WHERE tag_name = 'Production'"
    )
    assert (
        total(estate, tag='R&D <lab> "x"', source="lab") == 1 and total(estate, tag='R&D <lab> "x"', source="sim") == 0
    )


def test_software_filters_apply_together_to_one_install(estate) -> None:  # type: ignore[no-untyped-def]
    """software=X&eol_software=1 means an end-of-life install of X, not X and some other EOL software."""
    name = scalar(
        estate,
        "SELECT s.name FROM qcmdb.staged_software s JOIN qcmdb.staged_software_install i USING (software_key) "
        "GROUP BY s.name HAVING count(DISTINCT s.lifecycle_stage) > 1 ORDER BY count(*) DESC, 1 LIMIT 1",
    )
    q = (
        "SELECT count(DISTINCT (i.source, i.asset_id)) FROM qcmdb.staged_software_install i "
        "JOIN qcmdb.staged_software s USING (software_key) WHERE s.name = :n AND (:eol = false "
        "OR upper(s.lifecycle_stage) IN ('EOL', 'EOS', 'EOL/EOS'))"
    )
    assert total(estate, software=name) == scalar(estate, q, n=name, eol=False)
    assert total(estate, software=name, eol_software=True) == scalar(estate, q, n=name, eol=True)
    either = scalar(
        estate,
        "SELECT count(*) FROM qcmdb.staged_asset a WHERE EXISTS (SELECT 1 FROM qcmdb.staged_software_install i "
        "JOIN qcmdb.staged_software s USING (software_key) WHERE i.source = a.source AND i.asset_id = a.asset_id "
        "AND s.name = :n) AND EXISTS (SELECT 1 FROM qcmdb.staged_software_install i JOIN qcmdb.staged_software s "
        "USING (software_key) WHERE i.source = a.source AND i.asset_id = a.asset_id "
        "AND upper(s.lifecycle_stage) IN ('EOL', 'EOS', 'EOL/EOS'))",
        n=name,
    )
    assert total(estate, software=name, eol_software=True) <= either
    assert total(estate, database=True) == scalar(
        estate,
        "SELECT count(DISTINCT (i.source, i.asset_id)) FROM qcmdb.staged_software_install i "
        "JOIN qcmdb.staged_software s USING (software_key) WHERE lower(s.category_1) = 'database' "
        "AND lower(s.category_2) IN ('database servers', 'in-memory data stores')",
    )
    publisher = scalar(estate, "SELECT publisher FROM qcmdb.staged_software ORDER BY 1 LIMIT 1")
    assert total(estate, software_publisher=publisher, source="sim") == scalar(
        estate,
        "SELECT count(DISTINCT i.asset_id) FROM qcmdb.staged_software_install i JOIN qcmdb.staged_software s "
        "USING (software_key) WHERE s.publisher = :p AND i.source = 'sim'",
        p=publisher,
    )


def test_search_is_a_case_insensitive_substring_of_names_and_address(estate) -> None:  # type: ignore[no-untyped-def]
    assert [r["asset_id"] for r in list_assets(estate, AssetFilters(search="lab-1.EXAMPLE"))[0]] == [1]
    assert list_assets(estate, AssetFilters(search="192.0.2."))[1] == 1
    assert list_assets(estate, AssetFilters(search="bare-HOST"))[1] == 1
    assert list_assets(estate, AssetFilters(search="%"))[1] == 0  # wildcards are literal
    assert list_assets(estate, AssetFilters(search="_"))[1] == 0
    assert list_assets(estate, AssetFilters(search="'; DROP TABLE qcmdb.staged_asset; --"))[1] == 0
    expected = scalar(
        estate,
        "SELECT count(*) FROM qcmdb.staged_asset WHERE name ILIKE '%acme%' OR dns_name ILIKE '%acme%' "
        "OR netbios_name ILIKE '%acme%' OR ip_address ILIKE '%acme%'",
    )
    assert expected > 0 and list_assets(estate, AssetFilters(search="ACME"))[1] == expected


# ------------------------------------------------------------------------------------------------ sort and pages
def test_sorting_is_whitelisted_and_falls_back_to_name(estate) -> None:  # type: ignore[no-untyped-def]
    def ids(sort: str) -> list[tuple[str, int]]:
        return [(r["source"], r["asset_id"]) for r in list_assets(estate, AssetFilters(), page_size=100, sort=sort)[0]]

    by_name = ids("name")
    names = column(estate, "SELECT name FROM qcmdb.staged_asset ORDER BY name ASC NULLS LAST, source, asset_id")
    assert [r["name"] for r in list_assets(estate, AssetFilters(), page_size=100)[0]] == names
    for bad in ("bogus", "name; DROP TABLE x", "-", "", "content_hash", "payload"):
        assert ids(bad) == by_name
    assert ids("asset_id") == sorted(by_name, key=lambda k: (k[1], k[0]))
    descending = [r["name"] for r in list_assets(estate, AssetFilters(), page_size=100, sort="-name")[0]]
    assert [n for n in descending if n] == sorted([n for n in names if n], key=names.index, reverse=True)
    assert descending[-1] is None  # missing values last either way
    for key in ASSET_SORTS:
        assert len(ids(key)) == 42 and len(ids("-" + key)) == 42


def test_pages(estate) -> None:  # type: ignore[no-untyped-def]
    everything, n = list_assets(estate, AssetFilters(), page_size=100, sort="asset_id")
    page2, n2 = list_assets(estate, AssetFilters(), page=2, page_size=10, sort="asset_id")
    assert n == n2 == 42 and page2 == everything[10:20]
    assert list_assets(estate, AssetFilters(), page=5, page_size=10, sort="asset_id")[0] == everything[40:]
    assert list_assets(estate, AssetFilters(), page=99, page_size=10) == ([], 42)
    assert (
        list_assets(estate, AssetFilters(), page=0, page_size=0)[0]
        == list_assets(estate, AssetFilters(), page=1, page_size=1)[0]
    )


# ------------------------------------------------------------------------------------------------ software
def _installs(engine: Any, source: str | None = None) -> dict[str, int]:
    with engine.connect() as conn:
        return dict(
            conn.execute(
                text(
                    "SELECT s.software_key, "
                    "count(DISTINCT (i.source, i.asset_id)) FILTER (WHERE i.asset_id IS NOT NULL) "
                    "FROM qcmdb.staged_software s "
                    "LEFT JOIN qcmdb.staged_software_install i ON i.software_key = s.software_key "
                    "AND (CAST(:src AS text) IS NULL OR i.source = :src) GROUP BY 1"
                ),
                {"src": source},
            ).all()
        )


def test_the_software_list_counts_installing_assets(estate) -> None:  # type: ignore[no-untyped-def]
    rows, n = list_software(estate, SoftwareFilters(), page_size=1000)
    assert n == len(rows) == scalar(estate, "SELECT count(*) FROM qcmdb.staged_software")
    assert list(rows[0]) == list(SOFTWARE_COLUMNS)
    assert {r["software_key"]: r["installs"] for r in rows} == _installs(estate)
    lab, n_lab = list_software(estate, SoftwareFilters(source="lab"), page_size=1000)
    assert n_lab == 2 and {r["software_key"]: r["installs"] for r in lab} == {
        k: v for k, v in _installs(estate, "lab").items() if v
    }
    assert {r["installs"] for r in lab} == {1}  # installed twice on one asset: one asset
    by_installs, _ = list_software(estate, SoftwareFilters(), page_size=1000, sort="-installs")
    assert [r["installs"] for r in by_installs] == sorted(_installs(estate).values(), reverse=True)
    first_page, _ = list_software(estate, SoftwareFilters(), page=2, page_size=7, sort="-installs")
    assert first_page == by_installs[7:14]
    assert list_software(estate, SoftwareFilters(), page_size=5, sort="nope")[0] == rows[:5]  # by name


def test_software_filters(estate) -> None:  # type: ignore[no-untyped-def]
    def n(**kw: Any) -> int:
        return list_software(estate, SoftwareFilters(**kw), page_size=1)[1]

    assert n(eol=True) == scalar(
        estate, "SELECT count(*) FROM qcmdb.staged_software WHERE lifecycle_stage IN ('EOL', 'EOS', 'EOL/EOS')"
    )
    rows, count = list_software(estate, SoftwareFilters(database=True), page_size=100)
    assert count == len(rows) > 0 and all(r["database"] and r["category_1"] == "Database" for r in rows)
    assert {r["category_2"] for r in rows} <= {"Database Servers", "In-Memory Data Stores"}
    assert n(category="Database") > count  # the tools and drivers are in the category, not databases
    assert n(publisher="Microsoft") == scalar(
        estate, "SELECT count(*) FROM qcmdb.staged_software WHERE publisher = 'Microsoft'"
    )
    assert n(search="openssl") == scalar(
        estate,
        "SELECT count(*) FROM qcmdb.staged_software WHERE name ILIKE '%openssl%' OR publisher ILIKE '%openssl%' "
        "OR product ILIKE '%openssl%'",
    )
    assert n(name="OpenSSL", lifecycle_stage="GA") == scalar(
        estate, "SELECT count(*) FROM qcmdb.staged_software WHERE name = 'OpenSSL' AND lifecycle_stage = 'GA'"
    )
    assert n(search="%") == 0 and n(source="nowhere") == 0


@pytest.mark.parametrize("sort", ["name", "-version", "publisher", "lifecycle_eol_date", "-last_seen", "-installs"])
def test_software_sorts(estate, sort: str) -> None:  # type: ignore[no-untyped-def]
    rows, n = list_software(estate, SoftwareFilters(), page_size=1000, sort=sort)
    assert len(rows) == n
    key = sort.lstrip("-")
    values = [r[key] for r in rows if r[key] is not None]
    assert values == sorted(values, reverse=sort.startswith("-")) or key in ("name", "version", "publisher")


def test_an_asset_two_schedules_select_is_a_row_per_schedule(estate) -> None:  # type: ignore[no-untyped-def]
    """FM-8: each schedule keeps its own state for an asset; the list shows both and pages over rows."""
    asset = column(estate, "SELECT asset_id FROM qcmdb.asset_classification WHERE source = 'sim' ORDER BY 1 LIMIT 1")[0]
    with estate.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO qcmdb.asset_classification (schedule, source, asset_id, target_class, state, "
                "failure_code, reason, mapping_version, content_hash) SELECT 'second', source, asset_id, target_class, "
                "'failed', 'CLASS_CONFLICT', 'CLASS_CONFLICT: held', mapping_version, content_hash "
                "FROM qcmdb.asset_classification WHERE source = 'sim' AND asset_id = :a"
            ),
            {"a": asset},
        )
    try:
        rows, n = list_assets(estate, AssetFilters(), page_size=100, sort="asset_id")
        assert n == len(rows) == 43
        mine = [r for r in rows if (r["source"], r["asset_id"]) == ("sim", asset)]
        assert [r["schedule"] for r in mine] == sorted(r["schedule"] for r in mine) and len(mine) == 2
        assert "second" in {r["schedule"] for r in mine}
        assert total(estate, schedule="second") == 1
        assert total(estate, state="failed", schedule="second") == 1
        assert list_assets(estate, AssetFilters(), page=5, page_size=10, sort="asset_id")[0] == rows[40:]
    finally:
        with estate.begin() as conn:
            conn.execute(text("DELETE FROM qcmdb.asset_classification WHERE schedule = 'second'"))
