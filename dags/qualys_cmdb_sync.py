"""Every DAG of the configuration (``QUALYS_CMDB_CONFIG`` or the default file).

The configuration is ``$QUALYS_CMDB_CONFIG``, else ``include/config/qualys_cmdb.yaml`` beside this DAG folder, else
the default shipped with the package. One DAG per active Qualys → CMDB schedule (``qualys_to_cmdb__<name>``), one
per active CMDB → Qualys schedule (``cmdb_to_qualys__<name>``), and the housekeeping DAGs (``qualys_asset_tags``,
``qualys_asset_groups``, ``qualys_host_id_updater``, ``qualys_queue_cleanup``). An invalid configuration raises here
with one line per problem, which Airflow shows as this file's import error.
"""

from __future__ import annotations

import os
from pathlib import Path

from airflow.sdk import get_parsing_context
from qualys_cmdb.config import CONFIG_ENV
from qualys_cmdb.dag_factory import build_dags

_beside = Path(__file__).resolve().parents[1] / "include/config/qualys_cmdb.yaml"  # the project's own file
_config = os.environ.get(CONFIG_ENV) or (str(_beside) if _beside.is_file() else None)  # else the packaged default
globals().update(build_dags(_config, only=get_parsing_context().dag_id))
