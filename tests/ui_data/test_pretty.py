"""The sync-queue record view's raw responses, indented as they are read: the same text whatever the chunk sizes, and
a 30 MB page never held whole (its pieces stay small, and so does the memory while it is written out)."""

from __future__ import annotations

import gzip
import json
import tracemalloc
from html import unescape

import pytest
from qualys_cmdb.ui.pretty import CHUNK, gunzip_chunks, pretty_html, pretty_json, pretty_xml, texts

DOC = {
    "responseCode": "SUCCESS",
    "count": 2,
    "assetListData": {
        "asset": [
            {
                "assetId": 1,
                "name": 'a "quoted" \\ name, {not: a brace}',
                "tags": [],
                "empty": {},
                "n": [1, 2.5e3, True],
            },
            {"assetId": 2, "name": "é ü ✓", "nested": {"deep": {"deeper": [{}, [], None]}}},
        ]
    },
    "hasMore": 0,
}
XML = (
    '<?xml version="1.0" encoding="UTF-8"?><ServiceResponse><responseCode>SUCCESS</responseCode><count>1</count>'
    "<data><HostAsset><id>7</id><name>a &amp; b</name><tags/><note><![CDATA[<not> a tag]]></note>"
    "<!-- a > comment --><os>Linux</os></HostAsset></data></ServiceResponse>"
)


def _pieces(text: str, size: int) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)]


@pytest.mark.parametrize("size", [1, 2, 3, 7, 64, 100_000])
def test_json_is_indented_like_json_dumps_whatever_the_chunks(size: int) -> None:
    compact = json.dumps(DOC, ensure_ascii=False, separators=(",", ":"))
    assert "".join(pretty_json(_pieces(compact, size))) == json.dumps(DOC, indent=2, ensure_ascii=False)


@pytest.mark.parametrize("size", [1, 2, 5, 100_000])
def test_xml_is_one_element_a_line_whatever_the_chunks(size: int) -> None:
    assert "".join(pretty_xml(_pieces(XML, size))) == (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        "<ServiceResponse>\n"
        "  <responseCode>SUCCESS</responseCode>\n"
        "  <count>1</count>\n"
        "  <data>\n"
        "    <HostAsset>\n"
        "      <id>7</id>\n"
        "      <name>a &amp; b</name>\n"
        "      <tags/>\n"
        "      <note><![CDATA[<not> a tag]]></note>\n"
        "      <!-- a > comment -->\n"
        "      <os>Linux</os>\n"
        "    </HostAsset>\n"
        "  </data>\n"
        "</ServiceResponse>\n"
    )


def test_a_cut_off_response_is_shown_as_far_as_it_goes() -> None:
    cut = json.dumps(DOC)[:150]
    shown = "".join(pretty_json([cut]))
    assert shown.replace(" ", "").replace("\n", "") == cut.replace(" ", "")
    assert "".join(pretty_xml(["<a><b>text</b><c"])) == "<a>\n  <b>text</b><c\n"


def test_the_html_is_escaped_and_a_character_split_between_chunks_survives() -> None:
    body = json.dumps({"name": "<script>é</script>"}, ensure_ascii=False).encode()
    payload = gzip.compress(body)
    assert unescape("".join(pretty_html(payload, "json"))) == json.dumps(json.loads(body), indent=2, ensure_ascii=False)
    assert "<script>" not in "".join(pretty_html(payload, "json"))
    assert "".join(texts([b"\xc3", b"\xa9"])) == "é"
    assert list(pretty_html(None, "json")) == []


def test_a_30_mb_page_is_written_out_in_small_pieces_without_holding_it() -> None:
    assets = [
        {"assetId": n, "name": f"host-{n}", "description": f"{n} " + "x" * 4000, "tags": [{"name": "Prod"}]}
        for n in range(7_500)
    ]
    body = json.dumps({"assetListData": {"asset": assets}}, separators=(",", ":")).encode()
    assert len(body) > 30_000_000
    payload = gzip.compress(body, compresslevel=1)
    del assets, body
    assert max(len(piece) for piece in gunzip_chunks(payload)) <= CHUNK

    tracemalloc.start()
    try:
        baseline = tracemalloc.get_traced_memory()[0]
        written = largest = 0
        for piece in pretty_html(payload, "json"):
            written += len(piece)
            largest = max(largest, len(piece))
        peak = tracemalloc.get_traced_memory()[1] - baseline
    finally:
        tracemalloc.stop()
    assert written > 30_000_000
    assert largest < 4 * CHUNK  # a piece is about one decompressed chunk, indented
    assert peak < 8_000_000, f"{peak:,} bytes at the peak: the page was held whole"
