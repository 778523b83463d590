"""Every response text the simulator had to guess, in one table.

The reference (``servicenow-api.md`` sections 1.5, 1.6, 2.4) verifies the Table API envelopes
(401/404/400 invalid table/403/429), the OAuth ``access_denied`` body and the IRE error templates
(paraphrased there; the simulator uses the paraphrase).  The texts below are **unverified guesses**:
clients must not depend on their wording, only on the HTTP status / error code that accompanies them.
"""

from __future__ import annotations

UNVERIFIED_TEXTS: dict[str, str] = {
    "bad_json": "Exception while reading request",
    "bad_json.detail": "The payload is not valid JSON.",
    "no_resource": "Requested URI does not represent any resource",
    "method_not_allowed": "Method not Supported",
    "method_not_allowed.detail": "Method {method} is not supported for this resource",
    "accept_missing": "Accept header is required",
    "accept_missing.detail": "Supported types: application/json",
    "accept_unsupported": "Requested response format is not supported",
    "accept_unsupported.detail": "Supported types: application/json (the simulator does not produce XML)",
    "content_type_missing": "Content-Type header is required for a request with a body",
    "content_type_unsupported": "Unsupported Content-Type",
    "content_type_unsupported.detail": "Supported types: application/json",
    "bad_param": "Invalid value for parameter {name}",
    "bad_param.detail": "{name} must be a non-negative integer",
    "ire_forbidden.detail": "Identification and Reconciliation requires the itil or asset role",
    "throttled": "Too Many Requests",
    "throttled.detail": "The instance is busy (API_INT semaphore queue is full); retry later",
    "acl_update": "ACL Exception Update Failed due to security constraints",
    "acl_delete": "ACL Exception Delete Failed due to security constraints",
    "ire_bad_payload": "Invalid payload",
    "ire_bad_payload.detail": "The payload must be a JSON object with an 'items' array",
    "ire_bad_class": "In payload invalid className [{cls}] exist. Provide a valid CMDB class name",
    "ire_bad_index": "In payload invalid relation {side} [{value}]. It does not refer to a payload item",
    "ire_bad_sub_item": "In payload item {index} the {kind} item className [{cls}] is not a valid table",
    "missing_dependency": (
        "In payload missing dependency for dependent item of class [{cls}]: it needs a relation of type {types} "
        "from an identified parent item, or the owner reference field [{field}]"
    ),
    "related_missing_attrs": (
        "In payload missing minimum set of input values for criterion (matching) attributes from related rule "
        "for table [{table}]. Add these input values in related item '{item}'"
    ),
    "partial_commit_abandoned": (
        "Abandoning processing payload item '{item}', since partial commits are disabled and other payload "
        "items have errors"
    ),
    "skipped_class": "Skipped class {kind} from [{old}] to [{new}] because of the item setting {setting}",
    "import_bad_target": "Invalid target class [{cls}]: not a CMDB class",
    "import_no_change": "No field values changed",
    "import_bad_table": "Invalid staging table {table}",
}


def text(key: str, **values: object) -> str:
    """Return the (unverified) text for ``key`` formatted with ``values``."""
    return UNVERIFIED_TEXTS[key].format(**values)
