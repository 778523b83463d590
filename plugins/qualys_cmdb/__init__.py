"""Qualys <-> ServiceNow CMDB sync as an Apache Airflow 3 DAG package."""

__version__ = "0.1.0"
