"""The Airflow plugin: makes the package's operators and hooks known to Airflow components (UI pages come later)."""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin


class QualysCmdbPlugin(AirflowPlugin):
    """Registered through the ``airflow.plugins`` entry point."""

    name = "qualys_cmdb"
