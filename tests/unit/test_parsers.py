"""Parsers on fixtures covering the API quirks (reference/qualys-api.md §3.3, §3.4, §4.3, §4.4)."""

from __future__ import annotations

import inspect
import io
import json
import random
import re
from pathlib import Path

import pytest
from lxml import etree
from qualys_cmdb.config import DetailFlags
from qualys_cmdb.hooks.qualys_protocol import read_csam_envelope, read_hostasset_envelope
from qualys_cmdb.intake import csam, records
from qualys_cmdb.intake.csam import parse_csam_page
from qualys_cmdb.intake.hostasset import parse_hostasset_page
from qualys_cmdb.intake.landing import copy_text
from qualys_cmdb.intake.records import AssetRecord, timestamp
from qualys_cmdb.utf8_repair import Utf8RepairingReader

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
ALL = DetailFlags()


def _body(name: str) -> io.BytesIO:
    return io.BytesIO((FIXTURES / name).read_bytes())


def test_csam_envelope_gives_the_paging_fields() -> None:
    env = read_csam_envelope(_body("csam_page.json"))
    assert (env.response_code, env.count, env.has_more, env.next_cursor) == ("SUCCESS", 2, True, "9668984")


def test_csam_asset_is_normalised_into_staging_rows() -> None:
    first, second = parse_csam_page((FIXTURES / "csam_page.json").open("rb"), "src", ALL)
    a = first.asset
    assert (a["asset_id"], a["name"], a["ip_address"], a["qweb_host_id"]) == (9668983, "web-01", "10.0.0.5", 107800671)
    assert a["bios_asset_tag"] is None  # the ",," placeholder
    assert a["cloud_provider"] == "aws"
    os_row = first.children["os"][0]
    assert os_row["os_category_1"] == "Windows" and os_row["os_update"] is None
    assert os_row["os_lifecycle_eol_date"] is None  # "Not Announced"
    assert os_row["os_lifecycle_eos_date"] == "2029-01-09"
    assert [r["ip_address"] for r in first.children["ip_address"]] == ["10.0.0.5", "10.0.0.6", "fe80::1"]
    assert first.children["serial_number"] == [{"serial_number": "VMware-42 1a", "serial_type": "bios"}]
    assert {t["tag_name"] for t in first.children["tag"]} == {"Cloud Agent", "Production"}
    cloud = first.children["cloud"][0]
    assert (cloud["instance_id"], cloud["region"], cloud["account_id"]) == ("i-0abc", "us-east-1", "123456789012")
    office = first.software[0]
    assert office["software_id"] == 12345678901234567890  # > 2^53 and exact
    assert (office["license_category"], office["lifecycle_stage"], office["lifecycle_eos_date"]) == (
        "Commercial",
        "EOL",
        None,
    )
    assert len(first.software) == 2 and first.asset["content_hash"]
    # a minimal asset: nulls and missing lists are fine
    assert second.asset["name"] is None and second.software == []
    assert second.children["hardware"][0]["hardware_category_1"] == "Printers"


def test_detail_flags_leave_out_what_the_schedule_does_not_sync() -> None:
    flags = DetailFlags(ports=False, volumes=False, interfaces=False, software=False, processors=False)
    first, _ = parse_csam_page((FIXTURES / "csam_page.json").open("rb"), "src", flags)
    assert first.software == []
    assert not {"open_port", "volume", "network_interface", "processor"} & first.children.keys()
    assert len(first.children["ip_address"]) == 1  # the primary address is always kept


def test_content_hash_is_stable_and_changes_with_content() -> None:
    a1, _ = parse_csam_page((FIXTURES / "csam_page.json").open("rb"), "src", ALL)
    a2, _ = parse_csam_page((FIXTURES / "csam_page.json").open("rb"), "src", ALL)
    assert a1.asset["content_hash"] == a2.asset["content_hash"]
    changed = (FIXTURES / "csam_page.json").read_text().replace('"free": 1000', '"free": 999')
    a3, _ = parse_csam_page(io.BytesIO(changed.encode()), "src", ALL)
    assert a3.asset["content_hash"] != a1.asset["content_hash"]


def test_truncated_csam_page_raises() -> None:
    with pytest.raises(ValueError, match="truncated"):
        list(parse_csam_page((FIXTURES / "csam_page_truncated.json").open("rb"), "src", ALL))


def _page(*assets: object) -> io.BytesIO:
    body = json.dumps({"responseCode": "SUCCESS", "assetListData": {"asset": list(assets)}})
    return io.BytesIO(body.replace('"<1.10>"', "1.10").encode())  # a number written with a trailing zero


def _sw(n: int, **fields: object) -> dict[str, object]:
    base = {"id": n, "fullName": "7-Zip", "publisher": "Igor Pavlov", "version": "23.01", "installPath": f"C:\\p{n}"}
    return {**base, **fields}


def test_software_rows_from_the_page_catalog_equal_rows_normalised_one_by_one() -> None:
    """Products repeat across a page; rows built from the cached product part equal rows built alone, and so does
    the content hash. Values that compare equal but normalise differently (1, True, 1.10, "1") never share."""
    variants = [
        _sw(1),
        _sw(2, installDate="2024-01-02T03:04:05.000Z"),
        _sw(3, version=1),
        _sw(4, version=True),
        _sw(5, version="<1.10>"),
        _sw(6, version="1"),
        _sw(7, lifecycle={"stage": "EOL", "eolDate": "2020-01-01T00:00:00Z"}),
        _sw(8, lifecycle={"stage": "EOL", "eolDate": "Not Announced"}),
        _sw(9, lifecycle="weird", license=["x"]),
        _sw(10, isIgnored=1),
        _sw(11, isIgnored=False),
        # an install's own values in every form they come in (its dates and path are remembered per page)
        _sw(12, installDate=1704164645000, lastUpdated="2024-01-02T03:04:05.000Z", lastUseDate="Not Announced"),
        _sw(13, installDate="2024-01-02T03:04:05.000Z", installPath=5, lastUpdated=1704164645),
        _sw(14, id="15", installPath="  ", lastUseDate={"odd": 1}),
        _sw(15, id=None, installPath="C:\\p1"),
    ]
    asset = {"assetId": 1, "softwareListData": {"software": variants}}
    first, together = parse_csam_page(_page(asset, {**asset, "assetId": 2}), "src", ALL)  # 2nd: all from cache
    alone = [
        next(parse_csam_page(_page({"assetId": 2, "softwareListData": {"software": [v]}}), "src", ALL))
        for v in variants
    ]
    assert first.software == together.software
    assert together.software == [a.software[0] for a in alone]
    assert [list(r) for r in together.software] == [list(a.software[0]) for a in alone]  # the column order too
    assert [r["version"] for r in together.software[2:6]] == ["1", "True", "1.10", "1"]
    assert [r["lifecycle_eol_date"] for r in together.software[6:8]] == ["2020-01-01", None]
    assert together.software[8]["lifecycle_stage"] is None and together.software[8]["license_category"] is None
    installs = [
        [r[c] for c in ("software_id", "install_date", "install_path", "last_updated", "last_use_date")]
        for r in together.software[11:]
    ]
    stamp = "2024-01-02T03:04:05+00:00"
    assert installs == [
        [12, stamp, "C:\\p12", stamp, None],
        [13, stamp, "5", stamp, None],
        [15, None, None, None, None],
        [None, None, "C:\\p1", None, None],
    ]
    hashed = together.asset.pop("content_hash")
    together.software_reprs = []
    together.seal()
    assert together.asset["content_hash"] == hashed  # the prebuilt reprs give the same text as repr() itself


def test_install_dates_in_every_form_normalise_as_the_general_path_does() -> None:
    """Dates of Qualys's usual form take a shortcut in ``timestamp``; it gives what the general path (the ISO parse
    behind it) gives, impossible dates included, and the COPY text and content hash agree with the values."""
    forms = [
        "2024-01-02T03:04:05.000Z",
        "2024-02-29T23:59:59.000Z",
        "2023-02-29T00:00:00.000Z",  # no such day
        "2024-13-01T00:00:00.000Z",  # no such month
        "2024-01-02T24:00:00.000Z",  # no such hour
        "2024-01-02T03:04:05.123Z",
        "2024-01-02T03:04:05Z",
        " 2024-01-02T03:04:05.000Z",
        "2024-01-02T03:04:05.000+02:00",
        "Not Announced",
        "1704164645000",
        1704164645000,
        None,
    ]
    software = [_sw(n, installDate=f, lastUpdated=f, lastUseDate=f) for n, f in enumerate(forms, 1)]
    (record,) = parse_csam_page(_page({"assetId": 1, "softwareListData": {"software": software}}), "src", ALL)
    expected = [records._timestamp_text(f) if isinstance(f, str) else timestamp(f) for f in forms]  # no shortcut
    assert [r["install_date"] for r in record.software] == expected
    assert [r["last_updated"] for r in record.software] == [r["last_use_date"] for r in record.software] == expected
    assert expected[:3] == ["2024-01-02T03:04:05+00:00", "2024-02-29T23:59:59+00:00", None]
    assert [line.split("\t")[2] for line in record.software_copy] == [copy_text(v) for v in expected]
    hashed = record.asset.pop("content_hash")
    record.software_reprs = []
    record.seal()
    assert record.asset["content_hash"] == hashed


def test_the_date_shortcut_agrees_with_the_iso_parse_on_every_day_and_time() -> None:
    rng = random.Random(3)
    forms = []
    for _ in range(5000):
        y, m, d = rng.randrange(1, 10000), rng.randrange(0, 14), rng.randrange(0, 33)
        h, mi, sec = (rng.randrange(0, 62) for _ in "hms")
        forms.append(f"{y:04d}-{m:02d}-{d:02d}T{h:02d}:{mi:02d}:{sec:02d}.000Z")  # some are no real date or time
    assert [timestamp(f) for f in forms] == [records._timestamp_text(f) for f in forms]
    assert any(timestamp(f) is None for f in forms) and any(timestamp(f) for f in forms)


def test_copy_text_escapes_what_copy_reads_as_special() -> None:
    assert copy_text("C:\\Program Files\tx\ny\rz") == "C:\\\\Program Files\\tx\\ny\\rz"
    assert [copy_text(c) for c in ("\\", "\t", "\n", "\r")] == ["\\\\", "\\t", "\\n", "\\r"]
    assert copy_text("plain text, 'quoted'") == "plain text, 'quoted'"
    assert (copy_text(None), copy_text(True), copy_text(False), copy_text(12)) == ("\\N", "t", "f", "12")


def _whole(records: list[AssetRecord]) -> list[tuple[object, ...]]:
    return [(r.asset, r.children, r.software, r.software_reprs, r.software_copy, r.software_products) for r in records]


def test_software_rows_decoded_as_structs_land_as_rows_decoded_as_dicts(monkeypatch: pytest.MonkeyPatch) -> None:
    """Assets are decoded with their software rows as structs of the fields that land; the rows, COPY lines and
    hashes equal those of assets decoded whole into dicts. An asset whose software list has another shape (one row
    unwrapped, a row that is not an object) is decoded into dicts and parsed as before."""
    odd = [
        {"assetId": 7, "softwareListData": {"software": _sw(1, version="2.0")}},  # one row, unwrapped
        {"assetId": 8, "softwareListData": {"software": [_sw(2), "junk", None, _sw(3, id="9")]}},
        {"assetId": 9, "softwareListData": None},
        {"assetId": 10, "softwareListData": {"software": None}},
        {"assetId": 11, "softwareListData": {}},
    ]
    variants = {"assetId": 12, "softwareListData": {"software": [_sw(4, version=1.5, lifecycle="odd"), _sw(5)]}}
    pages = [(FIXTURES / "csam_page.json").read_bytes(), _page(*odd, variants).read()]
    typed = [list(parse_csam_page(io.BytesIO(page), "src", ALL)) for page in pages]
    monkeypatch.setattr(csam, "_decode_asset", csam._ASSET.decode)
    as_dicts = [list(parse_csam_page(io.BytesIO(page), "src", ALL)) for page in pages]
    assert [_whole(t) for t in typed] == [_whole(d) for d in as_dicts]
    assert [len(r.software) for r in typed[1]] == [1, 2, 0, 0, 0, 2]
    assert typed[1][5].software[0]["version"] == "1.5"


def test_the_struct_an_asset_is_decoded_into_has_every_field_the_parser_reads() -> None:
    """A field read from the asset but missing from ASSET_FIELDS would always be empty: checked against the code."""
    source = inspect.getsource(csam)
    read = set(re.findall(r"raw\.get\(\"(\w+)\"\)", source)) | set(re.findall(r"listed\(raw, \"(\w+)\"", source))
    assert read - {"softwareListData"} == set(csam.ASSET_FIELDS)


def test_one_asset_unwrapped_where_a_list_is_meant_is_parsed() -> None:
    page = io.BytesIO(json.dumps({"assetListData": {"asset": {"assetId": 5, "assetName": "solo"}}}).encode())
    (record,) = parse_csam_page(page, "src", ALL)
    assert (record.asset["asset_id"], record.asset["name"]) == (5, "solo")
    assert list(parse_csam_page(io.BytesIO(b'{"assetListData": null}'), "src", ALL)) == []


def test_a_page_read_whole_is_repaired_and_counted() -> None:
    page = b'{"assetListData": {"asset": [{"assetId": 5, "assetName": "caf\xc3\xa9 \xff \xef\xbf\xbd"}]}}'
    reader = Utf8RepairingReader(io.BytesIO(page))
    (record,) = parse_csam_page(reader, "src", ALL)  # type: ignore[arg-type]
    assert reader.replaced == 1  # the U+FFFD already in the input is not counted
    assert record.asset["name"] == "café \ufffd \ufffd"


def test_hostasset_single_record_and_ec2_source() -> None:
    env = read_hostasset_envelope(_body("hostasset_single.xml"))
    assert (env.count, env.has_more, env.next_cursor) == (1, False, "5693290")
    (record,) = parse_hostasset_page((FIXTURES / "hostasset_single.xml").open("rb"), "src", ALL)
    assert record.asset["asset_id"] == 5693290 and record.asset["tracking_method"] == "INSTANCE_ID"
    assert record.asset["netbios_name"] is None  # empty element
    assert record.children["cloud"][0]["instance_id"] == "i-0def"
    assert record.children["cloud"][0]["cloud_tags"] == '{"Name": "app"}'
    assert [s["name"] for s in record.software] == ["openssl", "bash"]
    assert [r["ip_address"] for r in record.children["ip_address"]] == ["10.0.0.7", "3.4.5.6"]


def test_hostasset_zero_match_has_no_paging_fields() -> None:
    env = read_hostasset_envelope(_body("hostasset_zero.xml"))
    assert (env.response_code, env.count, env.has_more, env.next_cursor) == ("SUCCESS", 0, False, None)
    assert list(parse_hostasset_page((FIXTURES / "hostasset_zero.xml").open("rb"), "src", ALL)) == []


def test_invalid_utf8_is_repaired_and_counted() -> None:
    reader = Utf8RepairingReader((FIXTURES / "hostasset_invalid_utf8.xml").open("rb"))
    (record,) = parse_hostasset_page(reader, "src", ALL)  # type: ignore[arg-type]
    assert reader.replaced == 1
    assert record.children["os"][0]["os_name"] == "Amazon Linux 2 café \ufffd"


def test_xml_entities_are_never_expanded() -> None:
    (record,) = parse_hostasset_page((FIXTURES / "hostasset_entity.xml").open("rb"), "src", ALL)
    assert "root:" not in (record.asset["name"] or "")


def test_every_page_lands_its_products_though_earlier_pages_normalised_them() -> None:
    """Products normalised for one page are reused by the next pages; each page still lands each of its products."""
    asset = {"assetId": 1, "softwareListData": {"software": [_sw(1), _sw(2, fullName="curl"), _sw(3)]}}
    first = next(parse_csam_page(_page(asset), "src", ALL))
    second = next(parse_csam_page(_page({**asset, "assetId": 2}), "src", ALL))
    assert [key for key, _ in second.software_products] == [key for key, _ in first.software_products]
    assert len(second.software_products) == 2  # 7-Zip once, curl once
    assert second.software == first.software and second.software_copy == first.software_copy


def _odd_asset(nul: str) -> dict[str, object]:
    """An asset with ``nul`` in strings of every kind the parser lands (a key of a cloud tag included)."""
    return {
        "assetId": 21,
        "assetName": f"web{nul}01",
        "lastLoggedOnUser": f"ACME\\adm{nul}in",
        "tagList": {"tag": [{"tagId": 1, "tagName": f"Prod{nul}"}]},
        "cloudProvider": {"aws": {"ec2": {"instanceId": "i-1"}, "tags": [{"key": f"N{nul}", "value": f"a{nul}{nul}"}]}},
        "openPortListData": {"openPort": [{"port": 22, "description": f"ssh{nul}"}]},
        "networkInterfaceListData": {"networkInterface": [{"interfaceName": f"eth{nul}0", "addressIpV4": "10.0.0.9"}]},
        "softwareListData": {"software": [_sw(1, fullName=f"7-Zip{nul}"), _sw(2, installPath=f"C:\\p{nul}")]},
    }


def test_a_nul_in_any_string_of_a_csam_page_lands_as_u_fffd_and_is_counted() -> None:
    """PostgreSQL text cannot hold U+0000: the parser replaces each with U+FFFD before decoding, so rows, COPY lines
    and the content hash are those of the same page written with U+FFFD, at every parse."""
    with_nul = [list(parse_csam_page(_page(_odd_asset("\0"), {"assetId": 22}), "src", ALL)) for _ in range(2)]
    with_fffd = list(parse_csam_page(_page(_odd_asset("\ufffd"), {"assetId": 22}), "src", ALL))
    assert _whole(with_nul[0]) == _whole(with_nul[1]) == _whole(with_fffd)
    odd, plain = with_nul[0]
    assert "\0" not in repr(_whole(with_nul[0]))
    assert (odd.asset["name"], odd.asset["last_logged_on_user"]) == ("web\ufffd01", "ACME\\adm\ufffdin")
    assert odd.children["cloud"][0]["cloud_tags"] == json.dumps({"N\ufffd": "a\ufffd\ufffd"})
    assert [r["name"] for r in odd.software] == ["7-Zip\ufffd", "7-Zip"]
    assert odd.software[1]["install_path"] == "C:\\p\ufffd"
    assert (odd.nul_replaced, plain.nul_replaced) == (10, 0)


def test_an_escaped_backslash_before_u0000_is_text_not_a_nul() -> None:
    asset = {"assetId": 1, "assetName": "x\0", "softwareListData": {"software": [_sw(1, installPath="C:\\u0000\\\0")]}}
    (record,) = parse_csam_page(_page(asset), "src", ALL)
    assert record.software[0]["install_path"] == "C:\\u0000\\\ufffd"  # JSON text: C:\\u0000\\\u0000
    assert record.nul_replaced == 2


def test_a_nul_in_one_asset_unwrapped_where_a_list_is_meant_is_replaced() -> None:
    page = {"assetListData": {"asset": {"assetId": 5, "assetName": "so\0lo", "tagList": {"tag": {"tagName": "\0"}}}}}
    (record,) = parse_csam_page(io.BytesIO(json.dumps(page).encode()), "src", ALL)
    assert (record.asset["name"], record.nul_replaced) == ("so\ufffdlo", 2)
    assert record.children["tag"][0]["tag_name"] == "\ufffd"


@pytest.mark.parametrize("nul", [b"\x00", b"&#0;", b"&#x0;"])
def test_a_nul_in_hostasset_xml_is_a_parse_error_of_the_page(nul: bytes) -> None:
    """XML 1.0 cannot carry U+0000, raw or as a character reference: the page is malformed, an error of its queue
    record (parse.PAGE_ERRORS), never a value that reaches the database."""
    page = (FIXTURES / "hostasset_single.xml").read_bytes().replace(b"<name>bash", b"<name>ba" + nul + b"sh")
    with pytest.raises(etree.XMLSyntaxError, match=r"0x0|value 0"):
        list(parse_hostasset_page(Utf8RepairingReader(io.BytesIO(page)), "src", ALL))  # type: ignore[arg-type]
