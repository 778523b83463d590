"""The CMDB → Qualys wire protocol: address ranges, FO list pages, tag pages (pure functions, no I/O)."""

from __future__ import annotations

import pytest
from qualys_cmdb.hooks.qualys_protocol import QualysRequestError
from qualys_cmdb.hooks.qualys_vm_protocol import (
    QualysRefused,
    asset_group_page,
    compress,
    covered,
    host_page,
    ip_list_ranges,
    ip_to_int,
    parse_ranges,
    tag_page,
)


def test_ranges_accept_ips_hyphen_ranges_and_cidrs_with_any_spacing() -> None:
    ranges = parse_ranges("10.40.0.0/16, 10.41.0.0-10.41.255.255,10.0.0.7")
    assert covered(ip_to_int("10.40.200.1"), ranges)
    assert covered(ip_to_int("10.41.3.4"), ranges)
    assert covered(ip_to_int("10.0.0.7"), ranges)
    assert not covered(ip_to_int("10.0.0.8"), ranges)
    assert parse_ranges("") == []


def test_a_range_list_with_garbage_names_the_piece() -> None:
    with pytest.raises(ValueError, match=r"'10\.0\.0\.300' is not an IPv4"):
        parse_ranges("10.0.0.1,10.0.0.300")


def test_compress_joins_consecutive_addresses_into_ranges() -> None:
    values = [ip_to_int(a) for a in ("10.0.0.3", "10.0.0.1", "10.0.0.2", "10.0.0.9", "10.0.0.2")]
    assert compress(values) == ["10.0.0.1-10.0.0.3", "10.0.0.9"]


def test_ip_list_output_and_its_error_envelope() -> None:
    body = b"""<?xml version="1.0" encoding="UTF-8" ?>
<!DOCTYPE IP_LIST_OUTPUT SYSTEM "https://qualysapi.qualys.com/api/2.0/fo/asset/ip/ip_list_output.dtd">
<IP_LIST_OUTPUT><RESPONSE><DATETIME>2026-11-22T00:00:00Z</DATETIME>
<IP_SET><IP>10.0.0.5</IP><IP_RANGE>10.0.1.0-10.0.1.9</IP_RANGE></IP_SET></RESPONSE></IP_LIST_OUTPUT>"""
    ranges = ip_list_ranges(body)
    assert covered(ip_to_int("10.0.1.4"), ranges) and covered(ip_to_int("10.0.0.5"), ranges)
    refused = b"<SIMPLE_RETURN><RESPONSE><CODE>1905</CODE><TEXT>bad ips</TEXT></RESPONSE></SIMPLE_RETURN>"
    with pytest.raises(QualysRefused) as info:
        ip_list_ranges(refused)
    assert info.value.code == "1905"


def test_asset_group_page_reads_members_and_the_next_id_min_from_the_warning_url() -> None:
    body = b"""<ASSET_GROUP_LIST_OUTPUT><RESPONSE><DATETIME>x</DATETIME><ASSET_GROUP_LIST>
<ASSET_GROUP><ID>1001</ID><TITLE><![CDATA[PCI Zone]]></TITLE><IP_SET><IP>10.0.0.1</IP>
<IP_RANGE>10.0.0.5-10.0.0.6</IP_RANGE></IP_SET></ASSET_GROUP>
<ASSET_GROUP><ID>1002</ID><TITLE>Empty</TITLE></ASSET_GROUP></ASSET_GROUP_LIST>
<WARNING><CODE>1980</CODE><TEXT>limit</TEXT>
<URL><![CDATA[https://q/api/2.0/fo/asset/group/?action=list&truncation_limit=2&id_min=1003]]></URL></WARNING>
</RESPONSE></ASSET_GROUP_LIST_OUTPUT>"""
    groups, next_min = asset_group_page(body)
    assert [(g.id, g.title, g.ip_set) for g in groups] == [
        (1001, "PCI Zone", "10.0.0.1,10.0.0.5-10.0.0.6"),
        (1002, "Empty", ""),
    ]
    assert next_min == "1003"


def test_a_truncation_warning_without_id_min_is_an_error_not_a_silent_end() -> None:
    body = b"<ASSET_GROUP_LIST_OUTPUT><RESPONSE><WARNING><URL>https://q/x?action=list</URL></WARNING></RESPONSE>"
    with pytest.raises(QualysRequestError, match="no id_min"):
        asset_group_page(body + b"</ASSET_GROUP_LIST_OUTPUT>")


def test_tag_page_and_qps_errors_at_http_200() -> None:
    body = b"""<ServiceResponse><responseCode>SUCCESS</responseCode><count>1</count>
<hasMoreRecords>true</hasMoreRecords><lastId>7</lastId>
<data><Tag><id>7</id><name>Net: Lab</name><ruleType>NETWORK_RANGE</ruleType>
<ruleText>10.0.0.0/24</ruleText><parentTagId>3</parentTagId></Tag></data></ServiceResponse>"""
    tags, more, last = tag_page(body)
    assert (tags[0].id, tags[0].rule_type, tags[0].rule_text, tags[0].parent_tag_id, more, last) == (
        7,
        "NETWORK_RANGE",
        "10.0.0.0/24",
        3,
        True,
        7,
    )
    error = b"""<ServiceResponse><responseCode>INVALID_REQUEST</responseCode><responseErrorDetails>
<errorMessage>bad ruleText</errorMessage><errorResolution>use CIDRs</errorResolution></responseErrorDetails>
</ServiceResponse>"""
    with pytest.raises(QualysRefused, match="bad ruleText \\(use CIDRs\\)"):
        tag_page(error)


def test_host_page_without_matches_is_empty() -> None:
    empty = b"<ServiceResponse><responseCode>SUCCESS</responseCode><count>0</count></ServiceResponse>"
    hosts, more, last = host_page(empty)
    assert (hosts, more, last) == ([], False, None)


def test_xml_with_an_external_entity_is_not_resolved() -> None:
    body = b"""<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>
<IP_LIST_OUTPUT><RESPONSE><IP_SET><IP>&e;</IP></IP_SET></RESPONSE></IP_LIST_OUTPUT>"""
    assert ip_list_ranges(body) == []


def test_entities_a_doctype_declares_are_never_expanded_and_their_loss_is_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Issue 18.3: the safe parser leaves ``&x;`` unresolved (no billion laughs, no file read); the value loses it,
    so it says so instead of changing a field silently."""
    from qualys_cmdb.hooks.qualys_vm_protocol import parse_xml

    body = b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><r><a>one &x; two</a></r>'
    with caplog.at_level("WARNING"):
        root = parse_xml(body, "asset group list")
    assert root.findtext("a") == "one "  # the entity and what follows it drop out of the value: hence the warning
    assert "asset group list: the response uses entities that are never expanded (&x;)" in caplog.text


def test_the_parser_keeps_libxml2s_limits_on() -> None:
    """No huge_tree: a document nested deeper than libxml2's default limit is refused with a clear error."""
    from qualys_cmdb.hooks.qualys_protocol import QualysRequestError
    from qualys_cmdb.hooks.qualys_vm_protocol import parse_xml

    with pytest.raises(QualysRequestError, match="host list: the response is not XML"):
        parse_xml(b"<a>" * 300 + b"</a>" * 300, "host list")
