"""The Airflow plugin: the operator UI (a FastAPI app on Airflow's API server) and its entries in Airflow's menu."""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from qualys_cmdb.ui.app import PREFIX, create_app

_PAGES = (
    ("Qualys CMDB: overview", "/"),
    ("Qualys CMDB: approve assets", "/approvals"),
    ("Qualys CMDB: failed assets", "/failed"),
    ("Qualys CMDB: sync queue", "/queue"),
    ("Qualys CMDB: upload items", "/uploads"),
    ("Qualys CMDB: application log", "/log"),
    ("Qualys CMDB: sources & schedules", "/sources"),
)


class QualysCmdbPlugin(AirflowPlugin):
    """Registered through the ``airflow.plugins`` entry point."""

    name = "qualys_cmdb"
    fastapi_apps = [{"app": create_app(), "url_prefix": PREFIX, "name": "Qualys CMDB sync"}]
    external_views = [
        {"name": name, "href": f"{PREFIX}{path}", "destination": "nav", "category": "browse"} for name, path in _PAGES
    ]
