"""A refused asset's reason is one readable line (error code, class, message; at most 200 characters) and the CMDB's
whole answer is kept beside it (``failure_detail``): through the real load against the ServiceNow simulator, and
through ``record_outcomes`` for an answer that quotes the payload it refused."""

from __future__ import annotations

import json

from qualys_cmdb.approval.decisions import Selection, auto_approve, retry_failed
from qualys_cmdb.load.ire import REASON_CHARS, load_approved, one_line, record_outcomes, short_reason
from qualys_cmdb.staging.schema import asset_classification as c
from sqlalchemy import select

from tests.load.test_ire_load import MAPPINGS, _hook, _three
from tests.load.test_ire_load import cmdb as cmdb  # the fixture

IRE_ANSWER = (
    "In payload missing minimum set of input values for criterion (matching) attributes from identify rule for "
    "table [cmdb_ci_hardware]. Add these input values in payload item '"
    + json.dumps({"className": "cmdb_ci_hardware", "values": {"name": "x" * 300, "serial_number": ""}}, indent=2)
    + "'"
)


def _failed(staging) -> list[tuple[int, str, str, str | None]]:  # type: ignore[no-untyped-def]
    with staging.connect() as conn:
        return [
            (int(a), str(r), str(code), d)
            for a, r, code, d in conn.execute(
                select(c.c.asset_id, c.c.reason, c.c.failure_code, c.c.failure_detail)
                .where(c.c.state == "failed")
                .order_by(c.c.asset_id)
            )
        ]


def test_a_refusal_is_stored_as_one_short_line_and_the_whole_answer(staging, cmdb) -> None:  # type: ignore[no-untyped-def]
    _three(staging)
    auto_approve(staging, "t")
    cmdb.control("discovery-sources", values=["ServiceNow"])  # IRE refuses every item, the related ones too
    result = load_approved(staging, _hook(), MAPPINGS, "t")
    assert result.failed == 3
    failed = _failed(staging)
    assert len(failed) == 3
    for _, reason, code, detail in failed:
        assert code == "INVALID_INPUT_DATA"
        assert len(reason) <= REASON_CHARS and "\n" not in reason
        assert reason.startswith("INVALID_INPUT_DATA cmdb_ci_")
        assert ": In payload invalid data source [null] exist" in reason or "[Qualys] exist" in reason
        assert detail is not None
        lines = detail.splitlines()
        # every error of every item of the asset, whole, each naming its class and payload item
        assert all("(payload item " in line and ": INVALID_INPUT_DATA: " in line for line in lines)
        assert all(line.endswith("from field [discovery_source] in table [cmdb_ci]") for line in lines)
        if len(lines) > 1:
            assert reason.endswith(f" (+{len(lines) - 1} more)")
    assert sorted(r for _, r in result.refused) == sorted(r for _, r, _, _ in failed)  # the task log's lines too

    # a retry forgets the answer; the next load's outcome is what the page shows
    cmdb.control("discovery-sources", values=["ServiceNow", "Qualys"])
    assert retry_failed(staging, Selection("t"), "alice") == 3
    with staging.connect() as conn:
        assert set(conn.execute(select(c.c.reason, c.c.failure_detail)).all()) == {(None, None)}
    assert load_approved(staging, _hook(), MAPPINGS, "t").loaded == 3


def test_an_answer_quoting_the_payload_is_cut_to_one_line_and_kept_whole(staging, cmdb) -> None:  # type: ignore[no-untyped-def]
    ids = _three(staging)
    auto_approve(staging, "t")
    refused = {"source": "s", "asset_id": ids[0], "reason": f"cmdb_ci_hardware: {IRE_ANSWER}", "code": "X"}
    plain = {"source": "s", "asset_id": ids[1], "reason": "transform map: row refused", "code": "TRANSFORM_ERROR"}
    recorded = record_outcomes(staging, "t", [], [refused, plain])
    assert [f["reason"] for f in recorded.failed] == [
        "cmdb_ci_hardware: In payload missing minimum set of input values for criterion (matching) attributes from "
        "identify rule for table [cmdb_ci_hardware]. Add these input values in payload item …",
        "transform map: row refused",
    ]
    failed = {a: (r, d) for a, r, _, d in _failed(staging)}
    assert failed[ids[0]] == (recorded.failed[0]["reason"], refused["reason"])  # the whole answer, JSON and all
    assert failed[ids[1]] == ("transform map: row refused", None)  # a reason that says it all has no detail


def test_one_line_and_short_reason() -> None:
    assert one_line("a\n  b\t c") == "a b c"
    long = one_line("word " * 100)
    assert len(long) == REASON_CHARS and long.endswith("…")
    assert one_line('fails for item \'{"className": "x"}\'') == "fails for item …"
    assert one_line('[{"a": 1}]') == '[{"a": 1}]'  # a message that is all JSON stays (cut to the limit)
    reason = short_reason("INVALID_INPUT_DATA", "cmdb_ci_printer", "m " * 200, more=2)
    assert len(reason) <= REASON_CHARS and reason.startswith("INVALID_INPUT_DATA cmdb_ci_printer: m m")
    assert reason.endswith("… (+2 more)")
