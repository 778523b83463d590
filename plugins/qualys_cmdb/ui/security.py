"""Who may see and change what in the operator UI.

* Every page and endpoint needs an authenticated Airflow user: Airflow's own ``get_user`` dependency (the UI's JWT
  cookie or a Bearer token), so the plugin trusts exactly what Airflow trusts.
* Changing state (approve, reject, retry, re-queue, refetch, trigger a run, test a connection) needs a user Airflow
  lets *run the DAG concerned* (the auth manager's ``is_authorized_dag`` for DAG runs), checked per schedule. The
  pages show these actions disabled to whom may not use them; the server checks all the same (a 403 page).
* Form posts are protected against cross-site requests twice: a request whose ``Origin`` (or, without one,
  ``Referer``) names another site is refused, and every form carries a token derived from the user's name with a
  server secret (HMAC) that another site cannot compute.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from fastapi import HTTPException, Request, status

if TYPE_CHECKING:
    from airflow.api_fastapi.auth.managers.models.base_user import BaseUser

_FALLBACK_SECRET = secrets.token_bytes(32)


def username(user: BaseUser) -> str:
    """The user's display name (what decisions record)."""
    return str(user.get_name() or user.get_id())


def _secret() -> bytes:
    from airflow.configuration import conf

    for section, key in (("api_auth", "jwt_secret"), ("api", "secret_key"), ("core", "fernet_key")):
        value = conf.get(section, key, fallback=None)
        if value:
            return str(value).encode()
    return _FALLBACK_SECRET


def _token_for(user: str, day: str) -> str:
    return hmac.new(_secret(), f"qcmdb-csrf:{user}:{day}".encode(), hashlib.sha256).hexdigest()


def csrf_token(user: BaseUser) -> str:
    """The token forms of this user carry today."""
    return _token_for(username(user), datetime.now(UTC).strftime("%Y-%m-%d"))


def check_csrf(request: Request, user: BaseUser, token: str | None) -> None:
    """Refuse a state-changing request from another site (403)."""
    origin = request.headers.get("origin") or request.headers.get("referer")
    if origin:
        here = request.headers.get("host", "")
        if urlsplit(origin).netloc != here:
            raise HTTPException(status.HTTP_403_FORBIDDEN, "cross-site request refused (the Origin is another site)")
    today = datetime.now(UTC)
    valid = {_token_for(username(user), (today - timedelta(days=d)).strftime("%Y-%m-%d")) for d in (0, 1)}
    if not token or not any(hmac.compare_digest(token, v) for v in valid):
        raise HTTPException(
            status.HTTP_403_FORBIDDEN, "the form's security token is missing or expired: reload the page and try again"
        )


def may_run(user: BaseUser, dag_id: str) -> bool:
    """Whether Airflow lets ``user`` run ``dag_id`` (trigger runs, i.e. change what the DAG does)."""
    from airflow.api_fastapi.app import get_auth_manager
    from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity, DagDetails

    manager: Any = get_auth_manager()
    return bool(
        manager.is_authorized_dag(
            method="POST", access_entity=DagAccessEntity.RUN, details=DagDetails(id=dag_id), user=user
        )
    )


def require_run(user: BaseUser, dag_ids: set[str]) -> None:
    """403 unless the user may run every DAG in ``dag_ids``."""
    denied = sorted(d for d in dag_ids if not may_run(user, d))
    if denied:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            f"{username(user)} may not run {', '.join(denied)}; ask an Airflow admin for the permission to run it",
        )
