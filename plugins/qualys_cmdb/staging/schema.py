"""The staging schema (SQLAlchemy Core), in the Postgres schema ``qcmdb``. Alembic migrations create it.

Four groups of tables:

* the **sync queue** (SY-1): one row per downloaded page (or upload item), with the raw response compressed;
* **landing** tables: rows bulk-loaded (COPY) by *parse*, keyed by the queue record they came from; UNLOGGED,
  because they can always be rebuilt from the raw response kept in the queue (BY-4);
* **staged** tables (SY-3): the current state of each Qualys asset and its details, keyed by (source, asset id);
* bookkeeping: schedule state (watermark, resume cursor), sync runs with their counts, and the application log.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    Identity,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Numeric,
    String,
    Table,
    Text,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB

SCHEMA = "qcmdb"
metadata = MetaData(schema=SCHEMA)

QUEUE_STATUSES = ("Queued", "Processing", "Success", "Error")


def _ts(name: str, **kw: object) -> Column[object]:
    return Column(name, DateTime(timezone=True), **kw)  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------- sync queue
sync_queue = Table(
    "sync_queue",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("direction", String(8), nullable=False),  # download | upload
    Column("source", String(128), nullable=False),
    Column("schedule", String(128), nullable=False),
    Column("run_id", String(250), nullable=False),
    Column("status", String(12), nullable=False, server_default="Queued"),
    Column("api", String(16), nullable=False),  # csam | hostasset
    Column("format", String(8), nullable=False),  # json | xml
    Column("page_no", Integer, nullable=False),
    Column("request", JSONB, nullable=False),  # window, cursor, filters: enough to fetch the page again
    Column("cursor", String(64)),  # the cursor this page was requested with
    Column("next_cursor", String(64)),  # the cursor the response pointed to
    Column("has_more", Boolean),
    Column("record_count", Integer),
    Column("payload", LargeBinary),  # gzip of the raw response body, byte for byte
    Column("payload_bytes", BigInteger),  # uncompressed size
    Column("processor_id", String(250)),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("parsed_assets", Integer),  # assets parse landed; stage checks the landing rows are all there
    Column("refetches", Integer, nullable=False, server_default="0"),  # automatic downloads after a parse error
    Column("notes", Text),
    _ts("created_at", nullable=False, server_default=func.now()),
    _ts("updated_at", nullable=False, server_default=func.now()),
    _ts("parsed_at"),
    _ts("processed_at"),
    CheckConstraint(f"status IN {QUEUE_STATUSES!r}", name="sync_queue_status"),
    CheckConstraint("direction IN ('download', 'upload')", name="sync_queue_direction"),
)
Index("ix_sync_queue_schedule_status", sync_queue.c.schedule, sync_queue.c.status)
Index("ix_sync_queue_run", sync_queue.c.run_id)


# --------------------------------------------------------------------------------------------- column sets
def _asset_columns() -> list[Column[object]]:
    return [
        Column("asset_uuid", String(64)),
        Column("qweb_host_id", BigInteger),
        Column("agent_id", String(64)),
        Column("name", Text),
        Column("dns_name", Text),
        Column("netbios_name", Text),
        Column("ip_address", String(64)),
        Column("asset_type", String(32)),
        Column("tracking_method", String(32)),
        Column("bios_serial_number", Text),
        Column("bios_asset_tag", Text),
        Column("bios_description", Text),
        Column("hw_uuid", String(64)),
        Column("memory_mb", BigInteger),
        Column("cpu_count", Integer),
        Column("timezone", String(64)),
        _ts("last_boot"),
        Column("last_logged_on_user", Text),
        Column("domain_role", Text),
        Column("cloud_provider", String(16)),
        _ts("created_date"),
        _ts("last_modified_date"),
        Column("content_hash", String(32), nullable=False),
    ]


def _os_columns() -> list[Column[object]]:
    return [
        Column("os_name", Text),
        Column("os_full_name", Text),
        Column("os_category", Text),
        Column("os_category_1", Text),
        Column("os_category_2", Text),
        Column("os_product_name", Text),
        Column("os_publisher", Text),
        Column("os_edition", Text),
        Column("os_market_version", Text),
        Column("os_version", Text),
        Column("os_update", Text),
        Column("os_architecture", Text),
        Column("os_lifecycle_ga", Date),
        Column("os_lifecycle_eol_date", Date),
        Column("os_lifecycle_eos_date", Date),
        Column("os_lifecycle_stage", Text),
        Column("os_lifecycle_confidence", Text),
        Column("os_lifecycle_eol_support_stage", Text),
        Column("os_lifecycle_eos_support_stage", Text),
        Column("os_cpe", Text),
    ]


def _hardware_columns() -> list[Column[object]]:
    return [
        Column("hardware_full_name", Text),
        Column("hardware_category", Text),
        Column("hardware_category_1", Text),
        Column("hardware_category_2", Text),
        Column("hardware_manufacturer", Text),
        Column("hardware_product", Text),
        Column("hardware_model", Text),
        Column("hardware_lifecycle_intro_date", Date),
        Column("hardware_lifecycle_ga", Date),
        Column("hardware_lifecycle_eos_date", Date),
        Column("hardware_lifecycle_obsolete_date", Date),
        Column("hardware_lifecycle_stage", Text),
        Column("hardware_lifecycle_confidence", Text),
    ]


def _software_catalog_columns() -> list[Column[object]]:
    return [
        Column("name", Text),
        Column("version", Text),
        Column("publisher", Text),
        Column("product", Text),
        Column("full_name", Text),
        Column("category", Text),
        Column("category_1", Text),
        Column("category_2", Text),
        Column("software_type", Text),
        Column("component", Text),
        Column("edition", Text),
        Column("market_version", Text),
        Column("update", Text),
        Column("architecture", Text),
        Column("language", Text),
        Column("lifecycle_ga", Date),
        Column("lifecycle_eol_date", Date),
        Column("lifecycle_eos_date", Date),
        Column("lifecycle_stage", Text),
        Column("lifecycle_confidence", Text),
        Column("lifecycle_eol_support_stage", Text),
        Column("lifecycle_eos_support_stage", Text),
        Column("license_category", Text),
        Column("license_subcategory", Text),
        Column("is_ignored", Boolean),
        Column("ignored_reason", Text),
        Column("cpe", Text),
    ]


def _install_columns() -> list[Column[object]]:
    return [
        Column("software_id", Numeric(20, 0)),  # Qualys ids exceed 2^53: never a float
        _ts("install_date"),
        Column("install_path", Text),
        _ts("last_updated"),
        _ts("last_use_date"),
    ]


#: Child record kinds: name -> the columns of one row (besides source and asset id).
CHILD_COLUMNS: dict[str, Callable[[], list[Column[Any]]]] = {
    "os": _os_columns,
    "hardware": _hardware_columns,
    "serial_number": lambda: [Column("serial_number", Text, nullable=False), Column("serial_type", String(32))],
    "ip_address": lambda: [
        Column("ip_address", String(64), nullable=False),
        Column("ip_version", Integer),
        Column("interface_name", Text),
        Column("mac_address", String(64)),
    ],
    "network_interface": lambda: [
        Column("interface_name", Text),
        Column("mac_address", String(64)),
        Column("hostname", Text),
        Column("ipv4_addresses", Text),
        Column("ipv6_addresses", Text),
        Column("gateway_address", Text),
        Column("dns_address", Text),
        Column("netmask", Text),
        Column("manufacturer", Text),
    ],
    "open_port": lambda: [
        Column("port", Integer, nullable=False),
        Column("protocol", String(16)),
        Column("description", Text),
        Column("detected_service", Text),
        _ts("first_found"),
        _ts("last_updated"),
    ],
    "volume": lambda: [
        Column("name", Text),
        Column("total_size", BigInteger),
        Column("free_size", BigInteger),
    ],
    "processor": lambda: [
        Column("processor_description", Text),
        Column("processor_speed", Integer),
        Column("processor_cpu_counts", Integer),
        Column("cores_per_socket", Integer),
        Column("sockets", Integer),
        Column("threads_per_core", Integer),
    ],
    "tag": lambda: [Column("tag_id", BigInteger), Column("tag_name", Text, nullable=False)],
    "cloud": lambda: [
        Column("provider", String(16), nullable=False),
        Column("instance_id", Text),
        Column("instance_type", Text),
        Column("instance_state", Text),
        Column("account_id", Text),  # AWS account, Azure subscription, GCP project
        Column("region", Text),
        Column("zone", Text),
        Column("image_id", Text),
        Column("network", Text),  # VPC / virtual network
        Column("subnet", Text),
        Column("resource_group", Text),
        Column("private_ip_address", String(64)),
        Column("public_ip_address", String(64)),
        Column("private_dns", Text),
        Column("public_dns", Text),
        Column("mac_address", String(64)),
        Column("cloud_tags", JSONB),
    ],
    "software_install": lambda: [Column("software_key", String(32), nullable=False), *_install_columns()],
}


def _landing(name: str, columns: list[Column[object]]) -> Table:
    return Table(
        f"landing_{name}",
        metadata,
        Column("queue_id", BigInteger, nullable=False, index=True),
        Column("source", String(128), nullable=False),
        Column("asset_id", BigInteger, nullable=False),
        *columns,
        prefixes=["UNLOGGED"],
    )


def _staged(name: str, columns: list[Column[object]]) -> Table:
    table = Table(
        f"staged_{name}",
        metadata,
        Column("source", String(128), nullable=False),
        Column("asset_id", BigInteger, nullable=False),
        *columns,
    )
    Index(f"ix_staged_{name}_asset", table.c.source, table.c.asset_id)
    return table


# --------------------------------------------------------------------------------------------- landing
landing_asset = _landing("asset", _asset_columns())
#: One row per install: the product is named by its key; its catalog columns land once per record below.
landing_software = _landing("software", CHILD_COLUMNS["software_install"]())
landing_software_product = Table(
    "landing_software_product",
    metadata,
    Column("queue_id", BigInteger, nullable=False, index=True),
    Column("software_key", String(32), nullable=False),
    *_software_catalog_columns(),
    prefixes=["UNLOGGED"],
)
LANDING_CHILDREN = {kind: _landing(kind, make()) for kind, make in CHILD_COLUMNS.items() if kind != "software_install"}

# --------------------------------------------------------------------------------------------- staged
staged_asset = Table(
    "staged_asset",
    metadata,
    Column("source", String(128), primary_key=True),
    Column("asset_id", BigInteger, primary_key=True),
    *_asset_columns(),
    Column("queue_id", BigInteger),  # the sync-queue record the current content came from
    Column("first_seen_run", String(250)),
    Column("last_seen_run", String(250)),
    Column("changed_run", String(250)),  # the run that last changed the content (BY-1)
    _ts("staged_at", nullable=False, server_default=func.now()),
    _ts("changed_at", nullable=False, server_default=func.now()),
)
STAGED_CHILDREN = {kind: _staged(kind, make()) for kind, make in CHILD_COLUMNS.items()}

staged_software = Table(
    "staged_software",
    metadata,
    Column("software_key", String(32), primary_key=True),
    *_software_catalog_columns(),
    _ts("first_seen", nullable=False, server_default=func.now()),
    _ts("last_seen", nullable=False, server_default=func.now()),
)

# --------------------------------------------------------------------------------------------- bookkeeping
schedule_state = Table(
    "schedule_state",
    metadata,
    Column("schedule", String(128), primary_key=True),
    Column("source", String(128), nullable=False),
    _ts("watermark"),  # every asset modified up to here has been fetched
    Column("resume", JSONB),  # {"since", "until", "cursor", "run_id"} of an interrupted window
    Column("last_run_id", String(250)),
    _ts("last_run_at"),
    Column("last_status", String(32)),
    Column("last_fetched_id", String(64)),
    Column("last_counts", JSONB),
    _ts("updated_at", nullable=False, server_default=func.now()),
)

sync_run = Table(
    "sync_run",
    metadata,
    Column("schedule", String(128), primary_key=True),
    Column("run_id", String(250), primary_key=True),
    Column("source", String(128), nullable=False),
    Column("status", String(32), nullable=False),  # running | fetched | stopped | complete[_with_errors] | failed
    _ts("started_at", nullable=False, server_default=func.now()),
    _ts("fetch_finished_at"),
    _ts("finished_at"),
    Column("windows", JSONB),
    Column("api_calls", Integer, nullable=False, server_default="0"),
    Column("pages", Integer, nullable=False, server_default="0"),
    Column("bytes", BigInteger, nullable=False, server_default="0"),
    Column("assets_fetched", Integer, nullable=False, server_default="0"),
    Column("assets_staged", Integer, nullable=False, server_default="0"),
    Column("assets_changed", Integer, nullable=False, server_default="0"),
    Column("software_rows", Integer, nullable=False, server_default="0"),
    Column("errors", Integer, nullable=False, server_default="0"),
    Column("stopped_reason", Text),
)

app_log = Table(
    "app_log",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    _ts("created_at", nullable=False, server_default=func.now()),
    Column("level", String(8), nullable=False),
    Column("source", String(128)),
    Column("schedule", String(128)),
    Column("run_id", String(250)),
    Column("component", String(64)),  # scheduler, fetch, parse[0], stage, …
    Column("message", Text, nullable=False),
    Column("details", JSONB),
    CheckConstraint("level IN ('debug', 'info', 'warning', 'error')", name="app_log_level"),
)
Index("ix_app_log_created", app_log.c.created_at)

# --------------------------------------------------------------------------------------------- CMDB side
CLASSIFICATION_STATES = ("pending", "approved", "rejected", "failed", "loaded")

#: Which staged assets each schedule selected (FM-8, BY-12): several schedules may share a source, each with its own
#: slice (QQL, tag) and detail flags. Staged data is one copy per (source, asset); this is each schedule's view of it.
schedule_asset = Table(
    "schedule_asset",
    metadata,
    Column("schedule", String(128), primary_key=True),
    Column("source", String(128), primary_key=True),
    Column("asset_id", BigInteger, primary_key=True),
    Column("content_hash", String(32), nullable=False),  # the content as this schedule fetched it
    Column("first_seen_run", String(250)),
    Column("last_seen_run", String(250)),
    Column("changed_run", String(250)),
    _ts("staged_at", nullable=False, server_default=func.now()),
    _ts("changed_at", nullable=False, server_default=func.now()),
)
Index("ix_schedule_asset_asset", schedule_asset.c.source, schedule_asset.c.asset_id)

asset_classification = Table(
    "asset_classification",
    metadata,
    Column("schedule", String(128), primary_key=True),  # one row per schedule that selects the asset
    Column("source", String(128), primary_key=True),
    Column("asset_id", BigInteger, primary_key=True),
    Column("target_class", String(80)),
    Column("matched_by", Text),  # "rule: <name>", "hardware: <category1> / <category2>" or "schedule override"
    Column("class_override", String(80)),
    Column("mapping_version", String(32), nullable=False),
    Column("content_hash", String(32), nullable=False),  # the staged content that was classified
    Column("payload", JSONB),  # the CI's values from the field maps
    Column("payload_hash", String(32)),  # payload + content: what a load would send
    Column("state", String(12), nullable=False),
    Column("reason", Text),  # why failed (classification or CMDB error)
    Column("failure_code", String(40)),  # short form of the reason: SHARED_CI, an IRE error code, …
    Column("failure_detail", Text),  # the CMDB's whole answer for a failed asset (``reason``: one line of it)
    Column("classified_run", String(250)),
    _ts("classified_at", nullable=False, server_default=func.now()),
    Column("decided_by", String(250)),
    _ts("decided_at"),
    Column("decision_note", Text),
    Column("preview_operation", String(32)),  # IRE dry run: INSERT / UPDATE / … (BY-2)
    Column("preview_sys_id", String(32)),
    _ts("preview_at"),
    Column("loaded_hash", String(32)),  # payload_hash of the last load the CMDB confirmed (BY-1)
    _ts("loaded_at"),
    Column("cmdb_sys_id", String(32)),
    Column("cmdb_class", String(80)),
    Column("last_operation", String(32)),
    # transform map: a row sent whose answer was not recorded (lost); checked against the instance before a resend
    _ts("load_attempt_at"),
    Column("load_attempt_hash", String(32)),
    _ts("cmdb_retired_at"),  # BY-7: the CI of this (stale) asset was retired
    Column("sent_hash", String(32)),  # digest of what the last confirmed load sent (BY-12: written once)
    CheckConstraint(f"state IN {CLASSIFICATION_STATES!r}", name="asset_classification_state"),
)
Index("ix_asset_classification_schedule_state", asset_classification.c.schedule, asset_classification.c.state)
Index("ix_asset_classification_asset", asset_classification.c.source, asset_classification.c.asset_id)
Index("ix_asset_classification_sys_id", asset_classification.c.cmdb_sys_id)

approval_decision = Table(
    "approval_decision",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("source", String(128), nullable=False),
    Column("asset_id", BigInteger, nullable=False),
    Column("schedule", String(128), nullable=False),
    Column("decision", String(12), nullable=False),  # approved | rejected | retried
    Column("decided_by", String(250), nullable=False),
    _ts("decided_at", nullable=False, server_default=func.now()),
    Column("note", Text),
    Column("payload_hash", String(32)),
)
Index("ix_approval_decision_asset", approval_decision.c.source, approval_decision.c.asset_id)

# --------------------------------------------------------------------------------------------- CMDB → Qualys
UPLOAD_STATUSES = ("Queued", "Processing", "Success", "Skipped", "Error")
UPLOAD_KINDS = ("ip", "tag", "group")

cmdb_selection = Table(
    "cmdb_selection",
    metadata,
    Column("schedule", String(128), primary_key=True),
    Column("run_id", String(250), primary_key=True),
    Column("sys_id", String(32), primary_key=True),
    Column("ci_class", String(80)),
    Column("name", String(255)),
    Column("ip_address", String(255)),
    _ts("selected_at", nullable=False, server_default=func.now()),
)

upload_item = Table(
    "upload_item",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("schedule", String(128), nullable=False),
    Column("source", String(128), nullable=False),
    Column("kind", String(8), nullable=False),  # ip | tag | group (RS-6: one item per IP, one per assignment)
    Column("address", String(255), nullable=False),  # as the CMDB holds it (kept even when invalid)
    Column("tracking_method", String(8), nullable=False),
    Column("target", String(255), nullable=False, server_default=""),  # tag name or asset-group title ('' for ip)
    Column("target_id", BigInteger),
    Column("ci_sys_id", String(32)),
    Column("ci_class", String(80)),
    Column("ci_name", String(255)),
    Column("ci_count", Integer, nullable=False, server_default="1"),  # CIs sharing the address
    Column("status", String(12), nullable=False, server_default="Queued"),
    Column("message", Text),  # Qualys's answer, or why the item was skipped or refused
    Column("qualys_code", String(16)),
    Column("queue_id", BigInteger),  # the Upload record of the sync queue that carried it
    Column("run_id", String(250), nullable=False),  # the run that queued it
    Column("last_run_id", String(250)),  # the run that last processed it
    Column("processor_id", String(250)),
    Column("attempts", Integer, nullable=False, server_default="0"),
    _ts("created_at", nullable=False, server_default=func.now()),
    _ts("updated_at", nullable=False, server_default=func.now()),
    _ts("processed_at"),
    Column("qualys_host_id", BigInteger),  # HK-6: filled once Qualys has scan data for the address
    Column("qualys_asset_id", BigInteger),
    _ts("host_found_at"),
    CheckConstraint(f"status IN {UPLOAD_STATUSES!r}", name="upload_item_status"),
    CheckConstraint(f"kind IN {UPLOAD_KINDS!r}", name="upload_item_kind"),
)
# One item per address and assignment in each run (RS-6); a run's items are its upload queue.
Index(
    "ux_upload_item_run_address",
    upload_item.c.schedule,
    upload_item.c.run_id,
    upload_item.c.kind,
    upload_item.c.address,
    upload_item.c.target,
    unique=True,
)
Index("ix_upload_item_source_address", upload_item.c.source, upload_item.c.address)
Index("ix_upload_item_schedule_status", upload_item.c.schedule, upload_item.c.status)

# --------------------------------------------------------------------------------------------- reference data
qualys_tag = Table(
    "qualys_tag",
    metadata,
    Column("source", String(128), primary_key=True),
    Column("tag_id", BigInteger, primary_key=True),
    Column("name", String(255), nullable=False),
    Column("rule_type", String(40)),
    Column("rule_text", Text),
    Column("parent_tag_id", BigInteger),
    Column("color", String(16)),
    Column("criticality", Integer),
    Column("provider", String(16)),
    _ts("created"),
    _ts("modified"),
    _ts("fetched_at", nullable=False, server_default=func.now()),
)
Index("ix_qualys_tag_name", qualys_tag.c.source, qualys_tag.c.name)

qualys_asset_group = Table(
    "qualys_asset_group",
    metadata,
    Column("source", String(128), primary_key=True),
    Column("group_id", BigInteger, primary_key=True),
    Column("title", String(255), nullable=False),
    Column("ip_set", Text),  # IPs and ranges, comma-separated, as Qualys lists them
    Column("network_id", String(32)),
    Column("business_impact", String(32)),
    Column("owner", String(255)),
    _ts("last_update"),
    _ts("fetched_at", nullable=False, server_default=func.now()),
)

reference_fetch = Table(
    "reference_fetch",
    metadata,
    Column("source", String(128), primary_key=True),
    Column("kind", String(16), primary_key=True),  # tags | groups
    _ts("fetched_at", nullable=False),
    Column("count", Integer, nullable=False),
    Column("api_calls", Integer, nullable=False),
)

# --------------------------------------------------------------------------------------------- operator UI
ui_preference = Table(
    "ui_preference",
    metadata,
    Column("username", String(250), primary_key=True),
    Column("key", String(64), primary_key=True),  # overview, approval_columns, …
    Column("value", JSONB, nullable=False),
    _ts("updated_at", nullable=False, server_default=func.now()),
)

#: The Overview's report figures, computed at the end of each run and after decisions (qualys_cmdb.ui.report_figures):
#: one row per report and scope (a Qualys source, or '' for every source), so the Overview reads them instead of
#: counting the whole estate on each view.
report_figure = Table(
    "report_figure",
    metadata,
    Column("report_id", String(64), primary_key=True),
    Column("source", String(128), primary_key=True),  # '' = every source
    Column("total", BigInteger, nullable=False),
    Column("group_count", Integer, nullable=False),  # how many groups there are in all
    Column("other", BigInteger, nullable=False, server_default="0"),  # sum of the groups beyond the stored bars
    Column("bars", JSONB, nullable=False),  # the largest groups: [{"label", "value", "query"}], largest first
    Column("whole", Text),  # the query string of the whole report's list; NULL when it has none
    Column("groups", JSONB),  # every group as [[values…], count]: of a source, to add up the figures of all sources
    Column("basis", String(250)),  # what the staged data looked like when counted: unchanged data is not recounted
    _ts("computed_at", nullable=False, server_default=func.now()),
    Column("computed_by", String(250)),  # the run, or the person, that had it computed
    Column("seconds", Numeric(10, 3)),  # how long counting it took
)

# --------------------------------------------------------------------------------------------- housekeeping
# The queue cleanup picks old processed records and upload items by status and age, across schedules.
Index("ix_sync_queue_status_updated", sync_queue.c.status, sync_queue.c.updated_at)
Index("ix_upload_item_status_updated", upload_item.c.status, upload_item.c.updated_at)

TERMINATION_CAUSES = ("lifetime", "timeout", "terminated", "killed")

#: The steps of runs in progress (one row per task and map index): a step that never recorded its end was killed
#: (a lost worker, SIGKILL), and the next attempt or run finds it here and logs it in ``terminated_run``.
run_step = Table(
    "run_step",
    metadata,
    Column("schedule", String(128), primary_key=True),
    Column("run_id", String(250), primary_key=True),
    Column("step", String(64), primary_key=True),  # fetch, parse, stage, classify, load, upload
    Column("map_index", Integer, primary_key=True),  # -1 unless the task is mapped (parse)
    Column("source", String(128)),
    Column("dag_id", String(250), nullable=False),
    Column("task_id", String(250), nullable=False),
    Column("try_number", Integer, nullable=False, server_default="1"),
    _ts("started_at", nullable=False, server_default=func.now()),
    _ts("finished_at"),
    Column("outcome", String(16)),  # finished | stopped | failed | terminated | deferred; NULL while it runs
    Column("position", JSONB),  # how far it got (cursor, batch), updated as it goes
)
Index("ix_run_step_open", run_step.c.schedule, postgresql_where=run_step.c.finished_at.is_(None))

#: HK-4, the vendor's "Qualys Terminate Schedule Logs": every step stopped by the max transaction lifetime or
#: killed by Airflow (execution timeout, SIGTERM, lost worker): what stopped, where, why, what resumes it, and when.
terminated_run = Table(
    "terminated_run",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("schedule", String(128), nullable=False),
    Column("source", String(128)),
    Column("dag_id", String(250)),
    Column("run_id", String(250), nullable=False),
    Column("step", String(64), nullable=False),
    Column("map_index", Integer, nullable=False, server_default="-1"),
    Column("try_number", Integer),
    Column("cause", String(16), nullable=False),
    Column("reason", Text, nullable=False),
    Column("position", JSONB),  # where it stopped: cursor, batch, records left
    Column("resumes", Text),  # what carries on from there
    _ts("step_started_at"),
    _ts("stopped_at", nullable=False, server_default=func.now()),
    Column("resumed_by_run", String(250)),  # the run (or retry) whose step carried on
    _ts("resumed_at"),
    CheckConstraint(f"cause IN {TERMINATION_CAUSES!r}", name="terminated_run_cause"),
)
Index("ix_terminated_run_schedule", terminated_run.c.schedule, terminated_run.c.stopped_at)
Index(
    "ix_terminated_run_open",
    terminated_run.c.schedule,
    terminated_run.c.step,
    postgresql_where=terminated_run.c.resumed_at.is_(None),
)

# --------------------------------------------------------------------------------------------- software catalog
#: SRC-5 / HK-5: each source's software catalog, pulled by the ``qualys_software_catalog`` DAG from the CSAM asset
#: inventory (software only), one row per product (the ``software_key`` of staged_software), with how many installs
#: the last pass counted, a hash of its catalog columns and, once written, its CMDB row and the hash written there
#: (a product whose hash was written is not written again).
software_catalog = Table(
    "software_catalog",
    metadata,
    Column("source", String(128), primary_key=True),
    Column("software_key", String(32), primary_key=True),
    *_software_catalog_columns(),
    Column("installs", Integer, nullable=False, server_default="0"),
    Column("row_hash", String(32), nullable=False),
    Column("sync_id", String(250), nullable=False),  # the pass that last saw it
    _ts("first_seen", nullable=False, server_default=func.now()),
    _ts("last_seen", nullable=False, server_default=func.now()),
    Column("cmdb_sys_id", String(32)),
    Column("cmdb_hash", String(32)),  # the row_hash last written to the CMDB
    _ts("cmdb_written_at"),
    Column("cmdb_error", Text),
)

#: The vendor app's "Last Sync Timestamp", "Last Sync Key" and "Sync notes" of a source's catalog sync, with the
#: counts of its last run; ``sync_id`` names the pass in progress (a pass stopped by the lifetime resumes after
#: ``last_sync_key``, the last asset id it read).
software_catalog_sync = Table(
    "software_catalog_sync",
    metadata,
    Column("source", String(128), primary_key=True),
    Column("sync_id", String(250)),
    Column("status", String(16), nullable=False),  # complete | stopped | failed
    _ts("last_sync_at"),
    Column("last_sync_key", String(64)),
    Column("notes", Text),
    Column("run_id", String(250)),
    Column("pages", Integer, nullable=False, server_default="0"),
    Column("products", Integer, nullable=False, server_default="0"),
    Column("cmdb_inserted", Integer, nullable=False, server_default="0"),
    Column("cmdb_updated", Integer, nullable=False, server_default="0"),
    Column("cmdb_unchanged", Integer, nullable=False, server_default="0"),
    Column("cmdb_failed", Integer, nullable=False, server_default="0"),
)

#: ``qcmdb adopt``: CIs the vendor's ServiceNow app created, linked to the staged assets they are (by Qualys asset id
#: or host id), so that the first load names each one by sys_id (as for a CI pushed to Qualys, load/pushed_cis.py)
#: and updates it instead of creating a second CI.
adopted_ci = Table(
    "adopted_ci",
    metadata,
    Column("source", String(128), primary_key=True),
    Column("asset_id", BigInteger, primary_key=True),
    Column("ci_sys_id", String(32), nullable=False, unique=True),
    Column("ci_class", String(80)),
    Column("evidence", String(16), nullable=False),  # asset id | host id
    Column("schedule", String(128)),
    Column("adopted_by", String(250)),
    _ts("adopted_at", nullable=False, server_default=func.now()),
)
