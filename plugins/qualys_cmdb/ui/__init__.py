"""The operator UI inside Airflow: an Airflow plugin with a FastAPI app (approvals, failures, queue, log, reports)."""
