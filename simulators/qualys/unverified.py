"""Every response text the simulator had to guess, in one table.

The reference (``qualys-api.md``) verifies only a few failure texts (INVALID_CREDENTIALS at HTTP 200,
FO CODE 2001 "This account has expired.", the 1965 "This API cannot be run again for another ..."
sentence, the JWT 401 body, FO "IPs successfully added to Vulnerability Management", "IP(s) do not
exist." and "Asset Group Updated Successfully").  Everything below is an **unverified guess**: clients
must not depend on the exact wording, only on the HTTP status / code / responseCode that accompanies it.
"""

from __future__ import annotations

UNVERIFIED_TEXTS: dict[str, str] = {
    # FO (VM/PC API v2)
    "fo.missing_x_requested_with": ("Missing required header: X-Requested-With. Please add the header to the request."),
    "fo.bad_login": "Bad Login/Password",  # CODE 2000 at HTTP 401
    "fo.no_api": "API access is not enabled for this account.",  # CODE 2002 at HTTP 403
    "fo.concurrency": ("This API cannot be run again until {running} currently running instances have finished."),
    "fo.unknown_action": "Parameter action has invalid value: {action}",
    "fo.missing_action": "Missing required parameter(s): action",
    "fo.unrecognized": "Unrecognized parameter(s): {params}",
    "fo.bad_ips": "Parameter ips has invalid value: {value}",
    "fo.bad_tracking": "Parameter tracking_method has invalid value: {value}",
    "fo.retry_later": "Another request with the same parameters is being processed. Please retry later.",
    "fo.missing": "Missing required parameter(s): {params}",  # CODE 1903
    "fo.bad_value": "Parameter {name} has invalid value: {value}",  # CODE 1905
    "fo.only_one": "Only one of these parameters may be specified: {params}",  # CODE 1904
    "fo.post_required": "HTTP method {method} is not compatible with action={action}. Please use POST.",  # 1908
    "fo.param_not_supported": "Parameter(s) not supported by the simulator: {params}",  # CODE 1905
    "fo.enable_module": "Specify at least one of these parameters with value 1: enable_vm, enable_pc",  # 1922
    "fo.reserved_ips": "Parameter ips has invalid value: reserved IP(s) cannot be added: {ips}",  # CODE 1905
    "fo.too_many_ips": "Parameter {name} has invalid value: more than {limit} IPs in one request",  # CODE 1905
    "fo.ips_added_pc": "IPs successfully added to Policy Compliance",
    "fo.ips_added_vm_pc": "IPs successfully added to Vulnerability Management and Policy Compliance",
    "fo.ips_updated": "IPs successfully updated",
    "fo.host_name_single_ip": "Parameters host_dns and host_netbios are valid only with a single IP in ips",
    "fo.ag_title_not_found": "Parameter ag_title has invalid value: no asset group titled {title}",  # CODE 1905
    "fo.ag_not_found": "Asset Group ID {id} does not exist.",  # CODE 1905
    "fo.ag_all_readonly": "The All asset group cannot be modified.",  # CODE 1905
    "fo.ag_duplicate_title": "An asset group with title {title} already exists.",  # CODE 1905
    "fo.ips_not_in_subscription": "The following IPs are not in your subscription: {ips}",  # CODE 1905
    "fo.ag_added": "Asset Group successfully added.",
    "fo.ag_deleted": "Asset Group Deleted Successfully",
    "fo.csv_not_supported": "Parameter output_format has invalid value: csv (the simulator only renders xml)",
    "fo.truncated": "{limit} record limit exceeded. Use URL to get next batch of results.",  # WARNING CODE 1980
    # QPS (Asset Management & Tagging)
    "qps.expired": "This account has expired.",
    "qps.no_api": "API access is not enabled for this account.",
    "qps.no_asset_inventory": "Not authorized to access Asset Management",
    "qps.bad_field": "Criteria: Unknown criteria field '{field}'.",
    "qps.bad_field_resolution": "Specify a valid field name.",
    "qps.bad_operator": "Criteria: Operator '{operator}' is not supported for criteria '{field}'.",
    "qps.bad_operator_resolution": "Specify one of the supported operators: {allowed}.",
    "qps.date_resolution": "Specify criteria value(s) as Date (yyyy-MM-dd'T'HH:mm:ss'Z').",
    "qps.keyword_resolution": "Specify criteria value(s) as one of: {allowed}.",
    "qps.limit": "limitResults must be between 1 and 1000 (given: {value}).",
    "qps.limit_resolution": "Specify a limitResults value between 1 and 1000.",
    "qps.offset": "startFromOffset must be a positive integer (given: {value}).",
    "qps.bad_request": "Request could not be parsed: {detail}",
    "qps.bad_request_resolution": "Send a valid ServiceRequest document.",
    "qps.not_found": "{object} with id={id} was not found.",
    "qps.unknown_endpoint": "Unsupported operation: {path}",
    "qps.bad_method": "HTTP method {method} is not supported for {path}; use POST.",
    "qps.bad_method_resolution": "Send the request with POST.",
    "qps.no_tag_data": "The request must contain data/Tag.",
    "qps.no_tag_fields": "data/Tag contains no field to update.",
    "qps.unknown_tag_field": "Unknown or read-only Tag field '{field}'.",
    "qps.tag_resolution": "Specify only name, ruleType, ruleText, color, criticalityScore, description, parentTagId.",
    "qps.bad_tag_value": "Invalid value for Tag field '{field}': {value}",
    "qps.bad_tag_value_resolution": "{hint}",
    "qps.bad_rule_text": "Invalid ruleText for {rule_type} tag: {value}",
    "qps.bad_rule_text_resolution": "Specify a comma-separated list of IP addresses, CIDR blocks or IP ranges (a-b).",
    "qps.tag_name_required": "Tag name is required.",
    "qps.bad_children": "children must hold an action element (set) with TagSimple elements.",
    "qps.children_resolution": "On create, list the new child tags as children/set/TagSimple/name.",
    "qps.children_update": "children is not supported by the simulator on update (add/remove are not simulated).",
    "qps.children_action": "children/{action} is not supported by the simulator on create; use children/set.",
    "qps.children_field": "TagSimple field '{field}' in children/set is not supported by the simulator.",
    # Gateway (JWT, CSAM/GAV)
    "auth.bad_credentials": "Invalid username or password",  # 401 JSON from POST /auth
    "auth.expired": "Subscription expired",
    "auth.no_api": "API access disabled",
    "auth.missing": "Missing required parameter(s): username, password",
    "gateway.no_asset_inventory": ("Access to Asset Inventory (CSAM/GAV) is not enabled for this subscription."),
    "csam.bad_filter_field": "Invalid filter field: {field}",
    "csam.bad_operator": "Invalid operator {operator} for field {field}",
    "csam.bad_value": "Invalid value '{value}' for field {field}",
    "csam.bad_page_size": "pageSize must be between 1 and 300",
    "csam.bad_param": "Invalid value for parameter {name}: {value}",
    "csam.bad_body": "Request body is not a valid filter document",
    "csam.failed": "Internal error while processing the request. Please retry.",
    "csam.no_response_code": "Unexpected error while processing request",
    "csam.rate_limited": "Too many requests. Please retry after {seconds} seconds.",
    "csam.not_found": "No asset found for assetId {id}",
    "maintenance": ("The Qualys Cloud Platform is currently undergoing scheduled maintenance. Please try again later."),
}


def text(key: str, **values: object) -> str:
    """Return the (unverified) text for ``key`` formatted with ``values``."""
    return UNVERIFIED_TEXTS[key].format(**values)
