"""staging schema: sync queue, landing, staged assets, bookkeeping

Revision ID: 0001
Revises:
Create Date: 2026-11-21 21:43:32.155925
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "app_log",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("level", sa.String(length=8), nullable=False),
        sa.Column("source", sa.String(length=128), nullable=True),
        sa.Column("schedule", sa.String(length=128), nullable=True),
        sa.Column("run_id", sa.String(length=250), nullable=True),
        sa.Column("component", sa.String(length=64), nullable=True),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("details", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.CheckConstraint("level IN ('debug', 'info', 'warning', 'error')", name="app_log_level"),
        sa.PrimaryKeyConstraint("id"),
        schema="qcmdb",
    )
    op.create_index("ix_app_log_created", "app_log", ["created_at"], unique=False, schema="qcmdb")
    op.create_table(
        "landing_asset",
        sa.Column("queue_id", sa.BigInteger(), nullable=False),
        sa.Column("source", sa.String(length=128), nullable=False),
        sa.Column("asset_id", sa.BigInteger(), nullable=False),
        sa.Column("asset_uuid", sa.String(length=64), nullable=True),
        sa.Column("qweb_host_id", sa.BigInteger(), nullable=True),
        sa.Column("agent_id", sa.String(length=64), nullable=True),
        sa.Column("name", sa.Text(), nullable=True),
        sa.Column("dns_name", sa.Text(), nullable=True),
        sa.Column("netbios_name", sa.Text(), nullable=True),
        sa.Column("ip_address", sa.String(length=64), nullable=True),
        sa.Column("asset_type", sa.String(length=32), nullable=True),
        sa.Column("tracking_method", sa.String(length=32), nullable=True),
        sa.Column("bios_serial_number", sa.Text(), nullable=True),
        sa.Column("bios_asset_tag", sa.Text(), nullable=True),
        sa.Column("bios_description", sa.Text(), nullable=True),
        sa.Column("hw_uuid", sa.String(length=64), nullable=True),
        sa.Column("memory_mb", sa.BigInteger(), nullable=True),
        sa.Column("cpu_count", sa.Integer(), nullable=True),
        sa.Column("timezone", sa.String(length=64), nullable=True),
        sa.Column("last_boot", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_logged_on_user", sa.Text(), nullable=True),
        sa.Column("domain_role", sa.Text(), nullable=True),
        sa.Column("cloud_provider", sa.String(length=16), nullable=True),
        sa.Column("created_date", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_modified_date", sa.DateTime(timezone=True), nullable=True),
        sa.Column("content_hash", sa.String(length=32), nullable=False),
        schema="qcmdb",
        prefixes=["UNLOGGED"],
    )
    op.create_index(
        op.f("ix_qcmdb_landing_asset_queue_id"), "landing_asset", ["queue_id"], unique=False, schema="qcmdb"
    )
    op.create_table(
        "landing_cloud",
        sa.Column("queue_id", sa.BigInteger(), nullable=False),
        sa.Column("source", sa.String(length=128), nullable=False),
        sa.Column("asset_id", sa.BigInteger(), nullable=False),
        sa.Column("provider", sa.String(length=16), nullable=False),
        sa.Column("instance_id", sa.Text(), nullable=True),
        sa.Column("instance_type", sa.Text(), nullable=True),
        sa.Column("instance_state", sa.Text(), nullable=True),
        sa.Column("account_id", sa.Text(), nullable=True),
        sa.Column("region", sa.Text(), nullable=True),
        sa.Column("zone", sa.Text(), nullable=True),
        sa.Column("image_id", sa.Text(), nullable=True),
        sa.Column("network", sa.Text(), nullable=True),
        sa.Column("subnet", sa.Text(), nullable=True),
        sa.Column("resource_group", sa.Text(), nullable=True),
        sa.Column("private_ip_address", sa.String(length=64), nullable=True),
        sa.Column("public_ip_address", sa.String(length=64), nullable=True),
        sa.Column("private_dns", sa.Text(), nullable=True),
        sa.Column("public_dns", sa.Text(), nullable=True),
        sa.Column("mac_address", sa.String(length=64), nullable=True),
        sa.Column("cloud_tags", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        schema="qcmdb",
        prefixes=["UNLOGGED"],
    )
    op.create_index(
        op.f("ix_qcmdb_landing_cloud_queue_id"), "landing_cloud", ["queue_id"], unique=False, schema="qcmdb"
    )
    op.create_table(
        "landing_hardware",
        sa.Column("queue_id", sa.BigInteger(), nullable=False),
        sa.Column("source", sa.String(length=128), nullable=False),
        sa.Column("asset_id", sa.BigInteger(), nullable=False),
        sa.Column("hardware_full_name", sa.Text(), nullable=True),
        sa.Column("hardware_category", sa.Text(), nullable=True),
        sa.Column("hardware_category_1", sa.Text(), nullable=True),
        sa.Column("hardware_category_2", sa.Text(), nullable=True),
        sa.Column("hardware_manufacturer", sa.Text(), nullable=True),
        sa.Column("hardware_product", sa.Text(), nullable=True),
        sa.Column("hardware_model", sa.Text(), nullable=True),
        sa.Column("hardware_lifecycle_intro_date", sa.Date(), nullable=True),
        sa.Column("hardware_lifecycle_ga", sa.Date(), nullable=True),
        sa.Column("hardware_lifecycle_eos_date", sa.Date(), nullable=True),
        sa.Column("hardware_lifecycle_obsolete_date", sa.Date(), nullable=True),
        sa.Column("hardware_lifecycle_stage", sa.Text(), nullable=True),
        sa.Column("hardware_lifecycle_confidence", sa.Text(), nullable=True),
        schema="qcmdb",
        prefixes=["UNLOGGED"],
    )
    op.create_index(
        op.f("ix_qcmdb_landing_hardware_queue_id"),
        "landing_hardware",
        ["queue_id"],
        unique=False,
        schema="qcmdb",
    )
    op.create_table(
        "landing_ip_address",
        sa.Column("queue_id", sa.BigInteger(), nullable=False),
        sa.Column("source", sa.String(length=128), nullable=False),
        sa.Column("asset_id", sa.BigInteger(), nullable=False),
        sa.Column("ip_address", sa.String(length=64), nullable=False),
        sa.Column("ip_version", sa.Integer(), nullable=True),
        sa.Column("interface_name", sa.Text(), nullable=True),
        sa.Column("mac_address", sa.String(length=64), nullable=True),
        schema="qcmdb",
        prefixes=["UNLOGGED"],
    )
    op.create_index(
        op.f("ix_qcmdb_landing_ip_address_queue_id"),
        "landing_ip_address",
        ["queue_id"],
        unique=False,
        schema="qcmdb",
    )
    op.create_table(
        "landing_network_interface",
        sa.Column("queue_id", sa.BigInteger(), nullable=False),
        sa.Column("source", sa.String(length=128), nullable=False),
        sa.Column("asset_id", sa.BigInteger(), nullable=False),
        sa.Column("interface_name", sa.Text(), nullable=True),
        sa.Column("mac_address", sa.String(length=64), nullable=True),
        sa.Column("hostname", sa.Text(), nullable=True),
        sa.Column("ipv4_addresses", sa.Text(), nullable=True),
        sa.Column("ipv6_addresses", sa.Text(), nullable=True),
        sa.Column("gateway_address", sa.Text(), nullable=True),
        sa.Column("dns_address", sa.Text(), nullable=True),
        sa.Column("netmask", sa.Text(), nullable=True),
        sa.Column("manufacturer", sa.Text(), nullable=True),
        schema="qcmdb",
        prefixes=["UNLOGGED"],
    )
    op.create_index(
        op.f("ix_qcmdb_landing_network_interface_queue_id"),
        "landing_network_interface",
        ["queue_id"],
        unique=False,
        schema="qcmdb",
    )
    op.create_table(
        "landing_open_port",
        sa.Column("queue_id", sa.BigInteger(), nullable=False),
        sa.Column("source", sa.String(length=128), nullable=False),
        sa.Column("asset_id", sa.BigInteger(), nullable=False),
        sa.Column("port", sa.Integer(), nullable=False),
        sa.Column("protocol", sa.String(length=16), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("detected_service", sa.Text(), nullable=True),
        sa.Column("first_found", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_updated", sa.DateTime(timezone=True), nullable=True),
        schema="qcmdb",
        prefixes=["UNLOGGED"],
    )
    op.create_index(
        op.f("ix_qcmdb_landing_open_port_queue_id"),
        "landing_open_port",
        ["queue_id"],
        unique=False,
        schema="qcmdb",
    )
    op.create_table(
        "landing_os",
        sa.Column("queue_id", sa.BigInteger(), nullable=False),
        sa.Column("source", sa.String(length=128), nullable=False),
        sa.Column("asset_id", sa.BigInteger(), nullable=False),
        sa.Column("os_name", sa.Text(), nullable=True),
        sa.Column("os_full_name", sa.Text(), nullable=True),
        sa.Column("os_category", sa.Text(), nullable=True),
        sa.Column("os_category_1", sa.Text(), nullable=True),
        sa.Column("os_category_2", sa.Text(), nullable=True),
        sa.Column("os_product_name", sa.Text(), nullable=True),
        sa.Column("os_publisher", sa.Text(), nullable=True),
        sa.Column("os_edition", sa.Text(), nullable=True),
        sa.Column("os_market_version", sa.Text(), nullable=True),
        sa.Column("os_version", sa.Text(), nullable=True),
        sa.Column("os_update", sa.Text(), nullable=True),
        sa.Column("os_architecture", sa.Text(), nullable=True),
        sa.Column("os_lifecycle_ga", sa.Date(), nullable=True),
        sa.Column("os_lifecycle_eol_date", sa.Date(), nullable=True),
        sa.Column("os_lifecycle_eos_date", sa.Date(), nullable=True),
        sa.Column("os_lifecycle_stage", sa.Text(), nullable=True),
        sa.Column("os_lifecycle_confidence", sa.Text(), nullable=True),
        sa.Column("os_lifecycle_eol_support_stage", sa.Text(), nullable=True),
        sa.Column("os_lifecycle_eos_support_stage", sa.Text(), nullable=True),
        sa.Column("os_cpe", sa.Text(), nullable=True),
        schema="qcmdb",
        prefixes=["UNLOGGED"],
    )
    op.create_index(op.f("ix_qcmdb_landing_os_queue_id"), "landing_os", ["queue_id"], unique=False, schema="qcmdb")
    op.create_table(
        "landing_processor",
        sa.Column("queue_id", sa.BigInteger(), nullable=False),
        sa.Column("source", sa.String(length=128), nullable=False),
        sa.Column("asset_id", sa.BigInteger(), nullable=False),
        sa.Column("processor_description", sa.Text(), nullable=True),
        sa.Column("processor_speed", sa.Integer(), nullable=True),
        sa.Column("processor_cpu_counts", sa.Integer(), nullable=True),
        sa.Column("cores_per_socket", sa.Integer(), nullable=True),
        sa.Column("sockets", sa.Integer(), nullable=True),
        sa.Column("threads_per_core", sa.Integer(), nullable=True),
        schema="qcmdb",
        prefixes=["UNLOGGED"],
    )
    op.create_index(
        op.f("ix_qcmdb_landing_processor_queue_id"),
        "landing_processor",
        ["queue_id"],
        unique=False,
        schema="qcmdb",
    )
    op.create_table(
        "landing_serial_number",
        sa.Column("queue_id", sa.BigInteger(), nullable=False),
        sa.Column("source", sa.String(length=128), nullable=False),
        sa.Column("asset_id", sa.BigInteger(), nullable=False),
        sa.Column("serial_number", sa.Text(), nullable=False),
        sa.Column("serial_type", sa.String(length=32), nullable=True),
        schema="qcmdb",
        prefixes=["UNLOGGED"],
    )
    op.create_index(
        op.f("ix_qcmdb_landing_serial_number_queue_id"),
        "landing_serial_number",
        ["queue_id"],
        unique=False,
        schema="qcmdb",
    )
    op.create_table(
        "landing_software",
        sa.Column("queue_id", sa.BigInteger(), nullable=False),
        sa.Column("source", sa.String(length=128), nullable=False),
        sa.Column("asset_id", sa.BigInteger(), nullable=False),
        sa.Column("software_key", sa.String(length=32), nullable=False),
        sa.Column("name", sa.Text(), nullable=True),
        sa.Column("version", sa.Text(), nullable=True),
        sa.Column("publisher", sa.Text(), nullable=True),
        sa.Column("product", sa.Text(), nullable=True),
        sa.Column("full_name", sa.Text(), nullable=True),
        sa.Column("category", sa.Text(), nullable=True),
        sa.Column("category_1", sa.Text(), nullable=True),
        sa.Column("category_2", sa.Text(), nullable=True),
        sa.Column("software_type", sa.Text(), nullable=True),
        sa.Column("component", sa.Text(), nullable=True),
        sa.Column("edition", sa.Text(), nullable=True),
        sa.Column("market_version", sa.Text(), nullable=True),
        sa.Column("update", sa.Text(), nullable=True),
        sa.Column("architecture", sa.Text(), nullable=True),
        sa.Column("language", sa.Text(), nullable=True),
        sa.Column("lifecycle_ga", sa.Date(), nullable=True),
        sa.Column("lifecycle_eol_date", sa.Date(), nullable=True),
        sa.Column("lifecycle_eos_date", sa.Date(), nullable=True),
        sa.Column("lifecycle_stage", sa.Text(), nullable=True),
        sa.Column("lifecycle_confidence", sa.Text(), nullable=True),
        sa.Column("lifecycle_eol_support_stage", sa.Text(), nullable=True),
        sa.Column("lifecycle_eos_support_stage", sa.Text(), nullable=True),
        sa.Column("license_category", sa.Text(), nullable=True),
        sa.Column("license_subcategory", sa.Text(), nullable=True),
        sa.Column("is_ignored", sa.Boolean(), nullable=True),
        sa.Column("ignored_reason", sa.Text(), nullable=True),
        sa.Column("cpe", sa.Text(), nullable=True),
        sa.Column("software_id", sa.Numeric(precision=20, scale=0), nullable=True),
        sa.Column("install_date", sa.DateTime(timezone=True), nullable=True),
        sa.Column("install_path", sa.Text(), nullable=True),
        sa.Column("last_updated", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_use_date", sa.DateTime(timezone=True), nullable=True),
        schema="qcmdb",
        prefixes=["UNLOGGED"],
    )
    op.create_index(
        op.f("ix_qcmdb_landing_software_queue_id"),
        "landing_software",
        ["queue_id"],
        unique=False,
        schema="qcmdb",
    )
    op.create_table(
        "landing_tag",
        sa.Column("queue_id", sa.BigInteger(), nullable=False),
        sa.Column("source", sa.String(length=128), nullable=False),
        sa.Column("asset_id", sa.BigInteger(), nullable=False),
        sa.Column("tag_id", sa.BigInteger(), nullable=True),
        sa.Column("tag_name", sa.Text(), nullable=False),
        schema="qcmdb",
        prefixes=["UNLOGGED"],
    )
    op.create_index(op.f("ix_qcmdb_landing_tag_queue_id"), "landing_tag", ["queue_id"], unique=False, schema="qcmdb")
    op.create_table(
        "landing_volume",
        sa.Column("queue_id", sa.BigInteger(), nullable=False),
        sa.Column("source", sa.String(length=128), nullable=False),
        sa.Column("asset_id", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.Text(), nullable=True),
        sa.Column("total_size", sa.BigInteger(), nullable=True),
        sa.Column("free_size", sa.BigInteger(), nullable=True),
        schema="qcmdb",
        prefixes=["UNLOGGED"],
    )
    op.create_index(
        op.f("ix_qcmdb_landing_volume_queue_id"), "landing_volume", ["queue_id"], unique=False, schema="qcmdb"
    )
    op.create_table(
        "schedule_state",
        sa.Column("schedule", sa.String(length=128), nullable=False),
        sa.Column("source", sa.String(length=128), nullable=False),
        sa.Column("watermark", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resume", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("last_run_id", sa.String(length=250), nullable=True),
        sa.Column("last_run_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_status", sa.String(length=32), nullable=True),
        sa.Column("last_fetched_id", sa.String(length=64), nullable=True),
        sa.Column("last_counts", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("schedule"),
        schema="qcmdb",
    )
    op.create_table(
        "staged_asset",
        sa.Column("source", sa.String(length=128), nullable=False),
        sa.Column("asset_id", sa.BigInteger(), nullable=False),
        sa.Column("asset_uuid", sa.String(length=64), nullable=True),
        sa.Column("qweb_host_id", sa.BigInteger(), nullable=True),
        sa.Column("agent_id", sa.String(length=64), nullable=True),
        sa.Column("name", sa.Text(), nullable=True),
        sa.Column("dns_name", sa.Text(), nullable=True),
        sa.Column("netbios_name", sa.Text(), nullable=True),
        sa.Column("ip_address", sa.String(length=64), nullable=True),
        sa.Column("asset_type", sa.String(length=32), nullable=True),
        sa.Column("tracking_method", sa.String(length=32), nullable=True),
        sa.Column("bios_serial_number", sa.Text(), nullable=True),
        sa.Column("bios_asset_tag", sa.Text(), nullable=True),
        sa.Column("bios_description", sa.Text(), nullable=True),
        sa.Column("hw_uuid", sa.String(length=64), nullable=True),
        sa.Column("memory_mb", sa.BigInteger(), nullable=True),
        sa.Column("cpu_count", sa.Integer(), nullable=True),
        sa.Column("timezone", sa.String(length=64), nullable=True),
        sa.Column("last_boot", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_logged_on_user", sa.Text(), nullable=True),
        sa.Column("domain_role", sa.Text(), nullable=True),
        sa.Column("cloud_provider", sa.String(length=16), nullable=True),
        sa.Column("created_date", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_modified_date", sa.DateTime(timezone=True), nullable=True),
        sa.Column("content_hash", sa.String(length=32), nullable=False),
        sa.Column("queue_id", sa.BigInteger(), nullable=True),
        sa.Column("first_seen_run", sa.String(length=250), nullable=True),
        sa.Column("last_seen_run", sa.String(length=250), nullable=True),
        sa.Column("changed_run", sa.String(length=250), nullable=True),
        sa.Column("staged_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("source", "asset_id"),
        schema="qcmdb",
    )
    op.create_table(
        "staged_cloud",
        sa.Column("source", sa.String(length=128), nullable=False),
        sa.Column("asset_id", sa.BigInteger(), nullable=False),
        sa.Column("provider", sa.String(length=16), nullable=False),
        sa.Column("instance_id", sa.Text(), nullable=True),
        sa.Column("instance_type", sa.Text(), nullable=True),
        sa.Column("instance_state", sa.Text(), nullable=True),
        sa.Column("account_id", sa.Text(), nullable=True),
        sa.Column("region", sa.Text(), nullable=True),
        sa.Column("zone", sa.Text(), nullable=True),
        sa.Column("image_id", sa.Text(), nullable=True),
        sa.Column("network", sa.Text(), nullable=True),
        sa.Column("subnet", sa.Text(), nullable=True),
        sa.Column("resource_group", sa.Text(), nullable=True),
        sa.Column("private_ip_address", sa.String(length=64), nullable=True),
        sa.Column("public_ip_address", sa.String(length=64), nullable=True),
        sa.Column("private_dns", sa.Text(), nullable=True),
        sa.Column("public_dns", sa.Text(), nullable=True),
        sa.Column("mac_address", sa.String(length=64), nullable=True),
        sa.Column("cloud_tags", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        schema="qcmdb",
    )
    op.create_index("ix_staged_cloud_asset", "staged_cloud", ["source", "asset_id"], unique=False, schema="qcmdb")
    op.create_table(
        "staged_hardware",
        sa.Column("source", sa.String(length=128), nullable=False),
        sa.Column("asset_id", sa.BigInteger(), nullable=False),
        sa.Column("hardware_full_name", sa.Text(), nullable=True),
        sa.Column("hardware_category", sa.Text(), nullable=True),
        sa.Column("hardware_category_1", sa.Text(), nullable=True),
        sa.Column("hardware_category_2", sa.Text(), nullable=True),
        sa.Column("hardware_manufacturer", sa.Text(), nullable=True),
        sa.Column("hardware_product", sa.Text(), nullable=True),
        sa.Column("hardware_model", sa.Text(), nullable=True),
        sa.Column("hardware_lifecycle_intro_date", sa.Date(), nullable=True),
        sa.Column("hardware_lifecycle_ga", sa.Date(), nullable=True),
        sa.Column("hardware_lifecycle_eos_date", sa.Date(), nullable=True),
        sa.Column("hardware_lifecycle_obsolete_date", sa.Date(), nullable=True),
        sa.Column("hardware_lifecycle_stage", sa.Text(), nullable=True),
        sa.Column("hardware_lifecycle_confidence", sa.Text(), nullable=True),
        schema="qcmdb",
    )
    op.create_index("ix_staged_hardware_asset", "staged_hardware", ["source", "asset_id"], unique=False, schema="qcmdb")
    op.create_table(
        "staged_ip_address",
        sa.Column("source", sa.String(length=128), nullable=False),
        sa.Column("asset_id", sa.BigInteger(), nullable=False),
        sa.Column("ip_address", sa.String(length=64), nullable=False),
        sa.Column("ip_version", sa.Integer(), nullable=True),
        sa.Column("interface_name", sa.Text(), nullable=True),
        sa.Column("mac_address", sa.String(length=64), nullable=True),
        schema="qcmdb",
    )
    op.create_index(
        "ix_staged_ip_address_asset",
        "staged_ip_address",
        ["source", "asset_id"],
        unique=False,
        schema="qcmdb",
    )
    op.create_table(
        "staged_network_interface",
        sa.Column("source", sa.String(length=128), nullable=False),
        sa.Column("asset_id", sa.BigInteger(), nullable=False),
        sa.Column("interface_name", sa.Text(), nullable=True),
        sa.Column("mac_address", sa.String(length=64), nullable=True),
        sa.Column("hostname", sa.Text(), nullable=True),
        sa.Column("ipv4_addresses", sa.Text(), nullable=True),
        sa.Column("ipv6_addresses", sa.Text(), nullable=True),
        sa.Column("gateway_address", sa.Text(), nullable=True),
        sa.Column("dns_address", sa.Text(), nullable=True),
        sa.Column("netmask", sa.Text(), nullable=True),
        sa.Column("manufacturer", sa.Text(), nullable=True),
        schema="qcmdb",
    )
    op.create_index(
        "ix_staged_network_interface_asset",
        "staged_network_interface",
        ["source", "asset_id"],
        unique=False,
        schema="qcmdb",
    )
    op.create_table(
        "staged_open_port",
        sa.Column("source", sa.String(length=128), nullable=False),
        sa.Column("asset_id", sa.BigInteger(), nullable=False),
        sa.Column("port", sa.Integer(), nullable=False),
        sa.Column("protocol", sa.String(length=16), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("detected_service", sa.Text(), nullable=True),
        sa.Column("first_found", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_updated", sa.DateTime(timezone=True), nullable=True),
        schema="qcmdb",
    )
    op.create_index(
        "ix_staged_open_port_asset", "staged_open_port", ["source", "asset_id"], unique=False, schema="qcmdb"
    )
    op.create_table(
        "staged_os",
        sa.Column("source", sa.String(length=128), nullable=False),
        sa.Column("asset_id", sa.BigInteger(), nullable=False),
        sa.Column("os_name", sa.Text(), nullable=True),
        sa.Column("os_full_name", sa.Text(), nullable=True),
        sa.Column("os_category", sa.Text(), nullable=True),
        sa.Column("os_category_1", sa.Text(), nullable=True),
        sa.Column("os_category_2", sa.Text(), nullable=True),
        sa.Column("os_product_name", sa.Text(), nullable=True),
        sa.Column("os_publisher", sa.Text(), nullable=True),
        sa.Column("os_edition", sa.Text(), nullable=True),
        sa.Column("os_market_version", sa.Text(), nullable=True),
        sa.Column("os_version", sa.Text(), nullable=True),
        sa.Column("os_update", sa.Text(), nullable=True),
        sa.Column("os_architecture", sa.Text(), nullable=True),
        sa.Column("os_lifecycle_ga", sa.Date(), nullable=True),
        sa.Column("os_lifecycle_eol_date", sa.Date(), nullable=True),
        sa.Column("os_lifecycle_eos_date", sa.Date(), nullable=True),
        sa.Column("os_lifecycle_stage", sa.Text(), nullable=True),
        sa.Column("os_lifecycle_confidence", sa.Text(), nullable=True),
        sa.Column("os_lifecycle_eol_support_stage", sa.Text(), nullable=True),
        sa.Column("os_lifecycle_eos_support_stage", sa.Text(), nullable=True),
        sa.Column("os_cpe", sa.Text(), nullable=True),
        schema="qcmdb",
    )
    op.create_index("ix_staged_os_asset", "staged_os", ["source", "asset_id"], unique=False, schema="qcmdb")
    op.create_table(
        "staged_processor",
        sa.Column("source", sa.String(length=128), nullable=False),
        sa.Column("asset_id", sa.BigInteger(), nullable=False),
        sa.Column("processor_description", sa.Text(), nullable=True),
        sa.Column("processor_speed", sa.Integer(), nullable=True),
        sa.Column("processor_cpu_counts", sa.Integer(), nullable=True),
        sa.Column("cores_per_socket", sa.Integer(), nullable=True),
        sa.Column("sockets", sa.Integer(), nullable=True),
        sa.Column("threads_per_core", sa.Integer(), nullable=True),
        schema="qcmdb",
    )
    op.create_index(
        "ix_staged_processor_asset", "staged_processor", ["source", "asset_id"], unique=False, schema="qcmdb"
    )
    op.create_table(
        "staged_serial_number",
        sa.Column("source", sa.String(length=128), nullable=False),
        sa.Column("asset_id", sa.BigInteger(), nullable=False),
        sa.Column("serial_number", sa.Text(), nullable=False),
        sa.Column("serial_type", sa.String(length=32), nullable=True),
        schema="qcmdb",
    )
    op.create_index(
        "ix_staged_serial_number_asset",
        "staged_serial_number",
        ["source", "asset_id"],
        unique=False,
        schema="qcmdb",
    )
    op.create_table(
        "staged_software",
        sa.Column("software_key", sa.String(length=32), nullable=False),
        sa.Column("name", sa.Text(), nullable=True),
        sa.Column("version", sa.Text(), nullable=True),
        sa.Column("publisher", sa.Text(), nullable=True),
        sa.Column("product", sa.Text(), nullable=True),
        sa.Column("full_name", sa.Text(), nullable=True),
        sa.Column("category", sa.Text(), nullable=True),
        sa.Column("category_1", sa.Text(), nullable=True),
        sa.Column("category_2", sa.Text(), nullable=True),
        sa.Column("software_type", sa.Text(), nullable=True),
        sa.Column("component", sa.Text(), nullable=True),
        sa.Column("edition", sa.Text(), nullable=True),
        sa.Column("market_version", sa.Text(), nullable=True),
        sa.Column("update", sa.Text(), nullable=True),
        sa.Column("architecture", sa.Text(), nullable=True),
        sa.Column("language", sa.Text(), nullable=True),
        sa.Column("lifecycle_ga", sa.Date(), nullable=True),
        sa.Column("lifecycle_eol_date", sa.Date(), nullable=True),
        sa.Column("lifecycle_eos_date", sa.Date(), nullable=True),
        sa.Column("lifecycle_stage", sa.Text(), nullable=True),
        sa.Column("lifecycle_confidence", sa.Text(), nullable=True),
        sa.Column("lifecycle_eol_support_stage", sa.Text(), nullable=True),
        sa.Column("lifecycle_eos_support_stage", sa.Text(), nullable=True),
        sa.Column("license_category", sa.Text(), nullable=True),
        sa.Column("license_subcategory", sa.Text(), nullable=True),
        sa.Column("is_ignored", sa.Boolean(), nullable=True),
        sa.Column("ignored_reason", sa.Text(), nullable=True),
        sa.Column("cpe", sa.Text(), nullable=True),
        sa.Column("first_seen", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("last_seen", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("software_key"),
        schema="qcmdb",
    )
    op.create_table(
        "staged_software_install",
        sa.Column("source", sa.String(length=128), nullable=False),
        sa.Column("asset_id", sa.BigInteger(), nullable=False),
        sa.Column("software_key", sa.String(length=32), nullable=False),
        sa.Column("software_id", sa.Numeric(precision=20, scale=0), nullable=True),
        sa.Column("install_date", sa.DateTime(timezone=True), nullable=True),
        sa.Column("install_path", sa.Text(), nullable=True),
        sa.Column("last_updated", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_use_date", sa.DateTime(timezone=True), nullable=True),
        schema="qcmdb",
    )
    op.create_index(
        "ix_staged_software_install_asset",
        "staged_software_install",
        ["source", "asset_id"],
        unique=False,
        schema="qcmdb",
    )
    op.create_table(
        "staged_tag",
        sa.Column("source", sa.String(length=128), nullable=False),
        sa.Column("asset_id", sa.BigInteger(), nullable=False),
        sa.Column("tag_id", sa.BigInteger(), nullable=True),
        sa.Column("tag_name", sa.Text(), nullable=False),
        schema="qcmdb",
    )
    op.create_index("ix_staged_tag_asset", "staged_tag", ["source", "asset_id"], unique=False, schema="qcmdb")
    op.create_table(
        "staged_volume",
        sa.Column("source", sa.String(length=128), nullable=False),
        sa.Column("asset_id", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.Text(), nullable=True),
        sa.Column("total_size", sa.BigInteger(), nullable=True),
        sa.Column("free_size", sa.BigInteger(), nullable=True),
        schema="qcmdb",
    )
    op.create_index("ix_staged_volume_asset", "staged_volume", ["source", "asset_id"], unique=False, schema="qcmdb")
    op.create_table(
        "sync_queue",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("direction", sa.String(length=8), nullable=False),
        sa.Column("source", sa.String(length=128), nullable=False),
        sa.Column("schedule", sa.String(length=128), nullable=False),
        sa.Column("run_id", sa.String(length=250), nullable=False),
        sa.Column("status", sa.String(length=12), server_default="Queued", nullable=False),
        sa.Column("api", sa.String(length=16), nullable=False),
        sa.Column("format", sa.String(length=8), nullable=False),
        sa.Column("page_no", sa.Integer(), nullable=False),
        sa.Column("request", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("cursor", sa.String(length=64), nullable=True),
        sa.Column("next_cursor", sa.String(length=64), nullable=True),
        sa.Column("has_more", sa.Boolean(), nullable=True),
        sa.Column("record_count", sa.Integer(), nullable=True),
        sa.Column("payload", sa.LargeBinary(), nullable=True),
        sa.Column("payload_bytes", sa.BigInteger(), nullable=True),
        sa.Column("processor_id", sa.String(length=250), nullable=True),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("parsed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("direction IN ('download', 'upload')", name="sync_queue_direction"),
        sa.CheckConstraint("status IN ('Queued', 'Processing', 'Success', 'Error')", name="sync_queue_status"),
        sa.PrimaryKeyConstraint("id"),
        schema="qcmdb",
    )
    op.create_index("ix_sync_queue_run", "sync_queue", ["run_id"], unique=False, schema="qcmdb")
    op.create_index("ix_sync_queue_schedule_status", "sync_queue", ["schedule", "status"], unique=False, schema="qcmdb")
    op.create_table(
        "sync_run",
        sa.Column("schedule", sa.String(length=128), nullable=False),
        sa.Column("run_id", sa.String(length=250), nullable=False),
        sa.Column("source", sa.String(length=128), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("fetch_finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("windows", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("api_calls", sa.Integer(), server_default="0", nullable=False),
        sa.Column("pages", sa.Integer(), server_default="0", nullable=False),
        sa.Column("bytes", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("assets_fetched", sa.Integer(), server_default="0", nullable=False),
        sa.Column("assets_staged", sa.Integer(), server_default="0", nullable=False),
        sa.Column("assets_changed", sa.Integer(), server_default="0", nullable=False),
        sa.Column("software_rows", sa.Integer(), server_default="0", nullable=False),
        sa.Column("errors", sa.Integer(), server_default="0", nullable=False),
        sa.Column("stopped_reason", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("schedule", "run_id"),
        schema="qcmdb",
    )


def downgrade() -> None:
    op.drop_table("sync_run", schema="qcmdb")
    op.drop_index("ix_sync_queue_schedule_status", table_name="sync_queue", schema="qcmdb")
    op.drop_index("ix_sync_queue_run", table_name="sync_queue", schema="qcmdb")
    op.drop_table("sync_queue", schema="qcmdb")
    op.drop_index("ix_staged_volume_asset", table_name="staged_volume", schema="qcmdb")
    op.drop_table("staged_volume", schema="qcmdb")
    op.drop_index("ix_staged_tag_asset", table_name="staged_tag", schema="qcmdb")
    op.drop_table("staged_tag", schema="qcmdb")
    op.drop_index("ix_staged_software_install_asset", table_name="staged_software_install", schema="qcmdb")
    op.drop_table("staged_software_install", schema="qcmdb")
    op.drop_table("staged_software", schema="qcmdb")
    op.drop_index("ix_staged_serial_number_asset", table_name="staged_serial_number", schema="qcmdb")
    op.drop_table("staged_serial_number", schema="qcmdb")
    op.drop_index("ix_staged_processor_asset", table_name="staged_processor", schema="qcmdb")
    op.drop_table("staged_processor", schema="qcmdb")
    op.drop_index("ix_staged_os_asset", table_name="staged_os", schema="qcmdb")
    op.drop_table("staged_os", schema="qcmdb")
    op.drop_index("ix_staged_open_port_asset", table_name="staged_open_port", schema="qcmdb")
    op.drop_table("staged_open_port", schema="qcmdb")
    op.drop_index("ix_staged_network_interface_asset", table_name="staged_network_interface", schema="qcmdb")
    op.drop_table("staged_network_interface", schema="qcmdb")
    op.drop_index("ix_staged_ip_address_asset", table_name="staged_ip_address", schema="qcmdb")
    op.drop_table("staged_ip_address", schema="qcmdb")
    op.drop_index("ix_staged_hardware_asset", table_name="staged_hardware", schema="qcmdb")
    op.drop_table("staged_hardware", schema="qcmdb")
    op.drop_index("ix_staged_cloud_asset", table_name="staged_cloud", schema="qcmdb")
    op.drop_table("staged_cloud", schema="qcmdb")
    op.drop_table("staged_asset", schema="qcmdb")
    op.drop_table("schedule_state", schema="qcmdb")
    op.drop_index(op.f("ix_qcmdb_landing_volume_queue_id"), table_name="landing_volume", schema="qcmdb")
    op.drop_table("landing_volume", schema="qcmdb")
    op.drop_index(op.f("ix_qcmdb_landing_tag_queue_id"), table_name="landing_tag", schema="qcmdb")
    op.drop_table("landing_tag", schema="qcmdb")
    op.drop_index(op.f("ix_qcmdb_landing_software_queue_id"), table_name="landing_software", schema="qcmdb")
    op.drop_table("landing_software", schema="qcmdb")
    op.drop_index(op.f("ix_qcmdb_landing_serial_number_queue_id"), table_name="landing_serial_number", schema="qcmdb")
    op.drop_table("landing_serial_number", schema="qcmdb")
    op.drop_index(op.f("ix_qcmdb_landing_processor_queue_id"), table_name="landing_processor", schema="qcmdb")
    op.drop_table("landing_processor", schema="qcmdb")
    op.drop_index(op.f("ix_qcmdb_landing_os_queue_id"), table_name="landing_os", schema="qcmdb")
    op.drop_table("landing_os", schema="qcmdb")
    op.drop_index(op.f("ix_qcmdb_landing_open_port_queue_id"), table_name="landing_open_port", schema="qcmdb")
    op.drop_table("landing_open_port", schema="qcmdb")
    op.drop_index(
        op.f("ix_qcmdb_landing_network_interface_queue_id"),
        table_name="landing_network_interface",
        schema="qcmdb",
    )
    op.drop_table("landing_network_interface", schema="qcmdb")
    op.drop_index(op.f("ix_qcmdb_landing_ip_address_queue_id"), table_name="landing_ip_address", schema="qcmdb")
    op.drop_table("landing_ip_address", schema="qcmdb")
    op.drop_index(op.f("ix_qcmdb_landing_hardware_queue_id"), table_name="landing_hardware", schema="qcmdb")
    op.drop_table("landing_hardware", schema="qcmdb")
    op.drop_index(op.f("ix_qcmdb_landing_cloud_queue_id"), table_name="landing_cloud", schema="qcmdb")
    op.drop_table("landing_cloud", schema="qcmdb")
    op.drop_index(op.f("ix_qcmdb_landing_asset_queue_id"), table_name="landing_asset", schema="qcmdb")
    op.drop_table("landing_asset", schema="qcmdb")
    op.drop_index("ix_app_log_created", table_name="app_log", schema="qcmdb")
    op.drop_table("app_log", schema="qcmdb")
