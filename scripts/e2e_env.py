"""Where `make e2e` keeps its state, and the demo helpers it reuses, configured for it.

Import this module before anything else of the e2e: it points ``QUALYS_CMDB_HOME`` at .qcmdb/e2e (its own embedded
PostgreSQL, CMDB file, users and secrets) and ``UI_PORT`` at a free port of 127.0.0.1 *before* scripts/demo_env.py
and scripts/ui.py read them, then re-exports their helpers.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
STATE = REPO / ".qcmdb"
HOME = STATE / "e2e"  # the e2e's QUALYS_CMDB_HOME: embedded PostgreSQL, CMDB file, users, secrets, config
LOGS = STATE / "e2e-logs"  # every component's output


def free_port() -> int:
    """A TCP port of 127.0.0.1 nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


os.environ["QUALYS_CMDB_HOME"] = str(HOME)
os.environ["UI_PORT"] = str(free_port())

import demo_env  # noqa: E402 - reads QUALYS_CMDB_HOME when imported
import ui  # noqa: E402 - reads UI_PORT when imported
from demo import add_acquired_cis  # noqa: E402
from demo_env import SN_PASSWORD, SN_USER, airflow_env, start_simulators, stop_process_groups  # noqa: E402
from ui import USERS, ui_env  # noqa: E402

API_PORT = ui.PORT
PASSWORDS = ui.PASSWORDS

__all__ = [
    "API_PORT",
    "HOME",
    "LOGS",
    "PASSWORDS",
    "REPO",
    "SN_PASSWORD",
    "SN_USER",
    "STATE",
    "USERS",
    "add_acquired_cis",
    "airflow_env",
    "demo_env",
    "free_port",
    "start_simulators",
    "stop_process_groups",
    "ui_env",
]
