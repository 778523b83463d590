"""Reading IRE's reply (PR-5): each item's outcome from the reply's bytes; a body that is no IRE result is an error."""

from __future__ import annotations

import json

import pytest
from qualys_cmdb.hooks.servicenow import IreOutcome, ServiceNowRequestError, ire_outcomes

RESULT = {
    "items": [
        {
            "className": "cmdb_ci_linux_server",
            "operation": "INSERT",
            "sysId": "a" * 32,
            "inputIndices": [0],
            "identificationAttempts": [{"identifierName": "Hardware Rule", "attemptResult": "NO_MATCH"}],
            "relatedItems": [{"className": "cmdb_ci_spkg", "inputIndices": [{"mainIndex": 0, "subIndex": 0}]}],
            "errors": [],
        },
        {
            "className": "cmdb_ci_linux_server",
            "sysId": "Unknown",
            "errors": [{"error": "MISSING_MATCHING_ATTRIBUTES", "message": "no identifier matched"}],
        },
    ],
    "relations": [],
    "hasError": True,
}


def test_each_item_outcome_is_read_and_the_rest_skipped() -> None:
    body = json.dumps({"result": RESULT}).encode()
    outcomes = ire_outcomes(body, 3)
    assert [o.index for o in outcomes] == [0, 1, 2]
    assert outcomes[0] == IreOutcome(0, "cmdb_ci_linux_server", "INSERT", "a" * 32, ())
    assert not outcomes[1].ok and outcomes[1].message == "MISSING_MATCHING_ATTRIBUTES: no identifier matched"
    assert outcomes[2].errors[0]["error"] == "NO_RESULT"  # an item the CMDB said nothing about is never done
    assert ire_outcomes(json.dumps(RESULT).encode(), 3) == outcomes  # a bare result reads the same


@pytest.mark.parametrize(
    "body",
    [
        b"<html><body>502 Bad Gateway</body></html>",
        b'{"result": {"items": [{"className": "x", "sysId": "',  # cut off
        b'{"result": {"items": [{"sysId": 17}]}}',  # a sys_id that is not a string
        b'{"result": {"items": "none"}}',
    ],
)
def test_a_body_that_is_no_ire_result_is_a_clear_error(body: bytes) -> None:
    with pytest.raises(ServiceNowRequestError, match=r"not an IRE result.*its assets stay approved"):
        ire_outcomes(body, 1)


def test_an_empty_result_leaves_every_item_undone() -> None:
    outcomes = ire_outcomes(b'{"result": {}}', 2)
    assert [o.ok for o in outcomes] == [False, False]
    assert {o.errors[0]["error"] for o in outcomes} == {"NO_RESULT"}
