"""Provider metadata: registers the ``qualys`` connection type with its form (declarative, Airflow 3.2+).

A choice field lists its choices only (no ``null`` among them: Airflow's form would offer it as a choice named
"null"); its type still allows null, so leaving it empty (the form's clear button) stays possible.
"""

from __future__ import annotations

from typing import Any

from qualys_cmdb.pods import PLATFORMS


def get_provider_info() -> dict[str, Any]:
    """The ``apache_airflow_provider`` entry point."""
    return {
        "package-name": "qualys-cmdb-sync",
        "name": "Qualys CMDB Sync",
        "description": "Qualys <-> ServiceNow CMDB sync as Airflow DAGs.",
        "versions": ["0.1.0"],
        "connection-types": [
            {
                "hook-class-name": "qualys_cmdb.hooks.qualys.QualysHook",
                "hook-name": "Qualys",
                "connection-type": "qualys",
                "ui-field-behaviour": {
                    "hidden-fields": ["schema", "port"],
                    "relabeling": {
                        "host": "API server URL",
                        "login": "Username",
                        "password": "Password",
                    },
                    "placeholders": {
                        "host": "https://qualysapi.qualys.com (leave empty to use the POD below)",
                        "login": "a Qualys user with API access",
                    },
                },
                "conn-fields": {
                    "pod": {
                        "label": "POD",
                        "description": "Qualys platform: " + ", ".join(PLATFORMS) + ". Sets both URLs.",
                        "schema": {"type": ["string", "null"], "enum": list(PLATFORMS)},
                    },
                    "gateway_url": {
                        "label": "Gateway URL",
                        "description": "Asset Inventory (gateway) URL for a private cloud platform (PCP).",
                        "schema": {"type": ["string", "null"], "format": "uri"},
                    },
                    "api": {
                        "label": "Asset API",
                        "description": "The asset API the connection test checks: csam (CSAM/GAV) or hostasset (QPS).",
                        "schema": {"type": ["string", "null"], "enum": ["csam", "hostasset"], "default": "csam"},
                    },
                    "verify": {
                        "label": "Verify TLS",
                        "description": "Verify the server's TLS certificate (keep on).",
                        "schema": {"type": ["boolean", "null"], "default": True},
                    },
                },
            },
            {
                "hook-class-name": "qualys_cmdb.hooks.servicenow.ServiceNowHook",
                "hook-name": "ServiceNow",
                "connection-type": "servicenow",
                "ui-field-behaviour": {
                    "hidden-fields": ["schema", "port"],
                    "relabeling": {"host": "Instance URL", "login": "Username", "password": "Password"},
                    "placeholders": {
                        "host": "https://<instance>.service-now.com",
                        "login": "an integration user with the itil role",
                    },
                },
                "conn-fields": {
                    "auth": {
                        "label": "Authentication",
                        "description": "basic, oauth_password (user + OAuth client) or oauth_client_credentials.",
                        "schema": {
                            "type": ["string", "null"],
                            "enum": ["basic", "oauth_password", "oauth_client_credentials"],
                            "default": "basic",
                        },
                    },
                    "client_id": {"label": "OAuth client id", "schema": {"type": ["string", "null"]}},
                    "client_secret": {
                        "label": "OAuth client secret",
                        "schema": {"type": ["string", "null"], "format": "password"},
                    },
                    "verify": {"label": "Verify TLS", "schema": {"type": ["boolean", "null"], "default": True}},
                },
            },
        ],
    }
