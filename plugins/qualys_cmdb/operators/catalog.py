"""Thin Airflow operator of the ``qualys_software_catalog`` DAG (SRC-5, HK-5, PR-6)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from qualys_cmdb.catalog.sync import sync_catalog
from qualys_cmdb.operators.base import SourceOperator

if TYPE_CHECKING:
    from airflow.sdk import Context


class SoftwareCatalogOperator(SourceOperator):
    """Pull the source's software catalog into staging and, when the source has ``sync_software_catalog_to_cmdb``,
    write its new and changed products to the CMDB; record the last sync time, key and notes. Returns the counts."""

    ui_color = "#d6eaf8"

    def execute(self, context: Context) -> dict[str, Any]:
        config, source, engine, app_log = self.setup(context)
        result = sync_catalog(engine, config, source, context["run_id"], app_log)
        self.log.info("%s", result.pop("notes"))
        return result
