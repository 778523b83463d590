"""All I/O to the ServiceNow CMDB: connection type ``servicenow``, Table API, IRE, Import Set, auth, retries.

Reference: ``shared/reference/servicenow-api.md``. The hook is an ``HttpHook``
(:class:`~qualys_cmdb.hooks.http_base.ApiHttpHook`): ``get_conn()`` makes its one ``requests.Session`` from the
connection (instance URL, extra headers, TLS). Basic auth (``HttpHook``'s), or OAuth (password grant with refresh, or
client credentials) through ``/oauth_token.do``, the token sent as a bearer. Retries on 429 (honouring
``Retry-After``) and 5xx; other 4xx are errors to fix, not to retry. IRE answers HTTP 200 even when items fail:
:meth:`ServiceNowHook.identify_reconcile` returns every item's outcome (:func:`ire_outcomes`). The API timeout property
(PR-4) bounds each whole exchange, body included (:mod:`qualys_cmdb.hooks.http_session`). Credentials never reach a
log line or an exception.

One hook may be used by several threads at once (the load's parallel IRE batches, ``properties.ire_concurrency``):
each thread sends through a session of its own (reference §1.7: a client that keeps the ``JSESSIONID`` cookies
serialises its parallel calls onto one node, so no cookies are shared between workers), while the OAuth token and
the call counter :attr:`ServiceNowHook.calls` are the hook's, guarded by a lock.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import msgspec
import requests

from qualys_cmdb.hooks.http_base import (
    NO_AUTH,
    ApiHttpHook,
    BearerAuth,
    ConnectionMissing,
    session_like,
    session_settings,
)
from qualys_cmdb.hooks.http_session import ExchangeTimedOut

if TYPE_CHECKING:
    from qualys_cmdb.config import Properties

log = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
IRE_MODES = {
    "classic": "/api/now/identifyreconcile",
    "enhanced": "/api/now/identifyreconcile/enhanced",
    "query": "/api/now/identifyreconcile/query",
    "query_enhanced": "/api/now/identifyreconcile/queryEnhanced",
}


class ServiceNowError(Exception):
    """Any failure talking to ServiceNow; the message says what and what to do, never a secret."""


class ServiceNowUnreachable(ServiceNowError):
    """The instance could not be reached or kept failing."""


class ServiceNowAuthError(ServiceNowError):
    """Credentials or OAuth client rejected."""


class ServiceNowAccessDenied(ServiceNowError):
    """Authenticated, but not allowed (role, ACL, scoped OAuth app)."""


class ServiceNowRequestError(ServiceNowError):
    """The request itself is wrong (unknown table, bad body): retrying would not help."""


class ServiceNowAnswerLost(ServiceNowError):
    """A request that writes was sent, and its answer lost (timeout, dropped connection, gateway error): the instance
    may have committed it. Sending it again blindly could write it twice; find out what the instance did first."""


#: Statuses that say the instance did not process the request: a writing request may be sent again after them.
NOT_PROCESSED = frozenset({429, 503})


@dataclass(frozen=True)
class SnRetryPolicy:
    """Attempts and back-off for 429/5xx and transport errors."""

    max_attempts: int = 6
    backoff_s: float = 2.0
    backoff_max_s: float = 60.0
    max_wait_s: float = 600.0

    def backoff(self, attempt: int) -> float:
        return float(min(self.backoff_s * 2 ** (attempt - 1), self.backoff_max_s))


@dataclass(frozen=True)
class IreOutcome:
    """What IRE did with one payload item."""

    index: int
    class_name: str | None
    operation: str | None
    sys_id: str | None
    errors: tuple[dict[str, str], ...]

    @property
    def ok(self) -> bool:
        return not self.errors and bool(self.sys_id) and self.sys_id != "Unknown"

    @property
    def message(self) -> str:
        return "; ".join(f"{e.get('error', '?')}: {e.get('message', '')}" for e in self.errors)


class _ItemOutcome(msgspec.Struct, gc=False):
    """The fields of one IRE result item that make its outcome (the rest of the item is skipped unread)."""

    className: str | None = None  # IRE's field names
    operation: str | None = None
    sysId: str | None = None
    errors: list[dict[str, Any]] | None = None
    inputIndices: list[int] | None = None


class _IreResult(msgspec.Struct, gc=False):
    items: list[_ItemOutcome] | None = None


class _IreReply(msgspec.Struct, gc=False):
    """``{"result": {"items": [...]}}``, or a bare result."""

    result: _IreResult | None = None
    items: list[_ItemOutcome] | None = None


_IRE_REPLY = msgspec.json.Decoder(_IreReply)


def ire_outcomes(body: bytes, expected: int) -> list[IreOutcome]:
    """One outcome per payload item, in payload order, read from an IRE reply's bytes; a missing item is an error
    (never assumed done). Only what an outcome holds is read.

    A 500-asset batch's reply is about 25 MB, nearly all of it identification attempts and related items; read
    into dicts it took 1.6 s of the load task's interpreter per batch (most of it garbage collection over the
    new objects), read like this 0.03 s. Raises :class:`ServiceNowRequestError` for a body that is not an IRE
    result.
    """
    try:
        reply = _IRE_REPLY.decode(body)
    except msgspec.DecodeError as exc:
        raise ServiceNowRequestError(
            f"IRE answered with a body that is not an IRE result ({exc}; {len(body):,} bytes); nothing of the "
            "batch was recorded, so its assets stay approved and the next run sends them again"
        ) from None
    items = reply.result.items if reply.result is not None else reply.items
    by_index: dict[int, IreOutcome] = {}
    for position, item in enumerate(items or []):
        for index in item.inputIndices or [position]:
            by_index[index] = IreOutcome(index, item.className, item.operation, item.sysId, tuple(item.errors or ()))
    return [by_index.get(i, IreOutcome(i, None, None, None, (_MISSING,))) for i in range(expected)]


_MISSING = {"error": "NO_RESULT", "message": "the CMDB returned no result for this item"}


class ServiceNowHook(ApiHttpHook):
    """Talk to one ServiceNow instance.

    :param servicenow_conn_id: Airflow connection (type ``servicenow``): host = instance URL, login/password =
        integration user; extra ``auth`` (``basic``, ``oauth_password``, ``oauth_client_credentials``),
        ``client_id``, ``client_secret``, ``verify`` (true, false, or the path of a CA bundle to trust). These
        extras are settings (:attr:`settings`), never sent as headers; any other extra is an HTTP header, and the
        ``HttpHook`` options apply (:mod:`qualys_cmdb.hooks.http_base`).
    :param timeout_s: the limit of each whole exchange (connect, request, headers and body; an IRE reply of a
        500-asset batch is about 25 MB): the API timeout property, through :meth:`for_properties`.
    :param retry: the retry policy.
    :param sleep: how to wait (tests pass a recorder).
    :param kwargs: for :class:`~qualys_cmdb.hooks.http_base.ApiHttpHook` (``logger_name``, ``HttpHook`` arguments).
    """

    conn_name_attr = "servicenow_conn_id"
    default_conn_name = "servicenow_default"
    conn_type = "servicenow"
    hook_name = "ServiceNow"
    settings = frozenset({"auth", "client_id", "client_secret", "verify", "verify_ssl"})
    default_headers = {"Accept": "application/json", "User-Agent": "qualys-cmdb-sync"}

    def __init__(
        self,
        servicenow_conn_id: str = default_conn_name,
        *,
        timeout_s: float = 120.0,
        retry: SnRetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        **kwargs: Any,
    ) -> None:
        super().__init__(servicenow_conn_id, **kwargs)
        self.servicenow_conn_id = servicenow_conn_id
        self.timeout_s = timeout_s
        self.retry = retry or SnRetryPolicy()
        self._sleep = sleep
        # The first session, made from the connection; any other thread that sends gets a copy of its own (no
        # cookies shared, see the module docstring). ``_generation`` moves on at close(), so a thread's old session
        # is never used again.
        self._session: requests.Session | None = None
        self._copies: list[tuple[threading.Thread, requests.Session]] = []
        self._local = threading.local()
        self._generation = 0
        self._lock = threading.RLock()  # the sessions, the token and the call counter
        self._base = ""
        self._auth_mode = "basic"
        self._secrets: dict[str, str] = {}
        self._token: str | None = None
        self._refresh: str | None = None
        self._token_expires = 0.0
        #: Requests sent (token grants included), by every thread.
        self.calls = 0

    @classmethod
    def for_properties(cls, properties: Properties, **kwargs: Any) -> ServiceNowHook:
        """The hook for the configured CMDB connection, with the API timeout property (PR-4)."""
        return cls(properties.cmdb_connection_id, timeout_s=properties.api_timeout_ms / 1000, **kwargs)

    def user_name(self) -> str | None:
        """The instance user this hook writes as (what ``sys_updated_by`` shows for its writes), when the connection
        names it: basic auth and the OAuth password grant. None for client credentials (the OAuth application's
        user, which the connection does not name)."""
        self._load()
        if self._auth_mode == "oauth_client_credentials":
            return None
        return self._secrets["username"] or None

    # ------------------------------------------------------------------------------------------ connection
    def _load(self) -> requests.Session:
        """The calling thread's session. The first one is built from the connection (``HttpHook.get_conn()``:
        instance URL, basic auth, extra headers, TLS); another thread gets a copy of it with a cookie jar and
        connection pools of its own (:func:`~qualys_cmdb.hooks.http_base.session_like`)."""
        mine: tuple[int, requests.Session] | None = getattr(self._local, "session", None)
        if mine is not None and mine[0] == self._generation:
            return mine[1]
        with self._lock:
            if self._session is None:
                self._connect()
                assert self._session is not None
                session = self._session
            else:
                for thread, old in [c for c in self._copies if not c[0].is_alive()]:  # workers that are gone
                    old.close()
                    self._copies.remove((thread, old))
                session = session_like(self._session)
                self._copies.append((threading.current_thread(), session))
            self._local.session = (self._generation, session)
            return session

    def _send_counted(self) -> None:
        """Count one request (any thread)."""
        with self._lock:
            self.calls += 1

    def _connect(self) -> None:
        """Build the first session from the connection and read its settings."""
        try:
            session = self.get_conn()
        except ValueError as exc:
            raise ServiceNowRequestError(f"connection {self.servicenow_conn_id!r}: {exc}") from None
        conn = self._connection
        extra = conn.extra_dejson
        try:
            if not conn.host:
                raise ServiceNowRequestError(f"connection {self.servicenow_conn_id!r} has no host (the instance URL)")
            self._base = self.base_url.rstrip("/")
            self._auth_mode = str(extra.get("auth") or "basic")
            if self._auth_mode not in ("basic", "oauth_password", "oauth_client_credentials"):
                raise ServiceNowRequestError(
                    f"connection {self.servicenow_conn_id!r}: auth must be basic, oauth_password or "
                    f"oauth_client_credentials, not {self._auth_mode!r}"
                )
        except ServiceNowRequestError:
            session.close()
            raise
        self._secrets = {
            "username": conn.login or "",
            "password": conn.password or "",
            "client_id": str(extra.get("client_id") or ""),
            "client_secret": str(extra.get("client_secret") or ""),
        }
        if self._auth_mode != "basic":
            session.auth = None  # OAuth: each request carries the bearer token; the password goes to the token grant
        self._session = session

    def close(self) -> None:
        """Close the HTTP sessions (every thread's)."""
        with self._lock:
            self._generation += 1
            for _, copy in self._copies:
                copy.close()
            self._copies.clear()
            if self._session is not None:
                self._session.close()
                self._session = None

    def _oauth(self, session: requests.Session) -> str:
        """A valid bearer token: cached, refreshed with the refresh token, or obtained anew (through ``session``, the
        calling thread's). One token for every thread: while one thread gets it, the others wait for it."""
        with self._lock:
            return self._token_locked(session)

    def _token_locked(self, session: requests.Session) -> str:
        if self._token and time.monotonic() < self._token_expires - 30:
            return self._token
        s = self._secrets
        if self._refresh and self._auth_mode == "oauth_password":
            form = {
                "grant_type": "refresh_token",
                "refresh_token": self._refresh,
                "client_id": s["client_id"],
                "client_secret": s["client_secret"],
            }
        elif self._auth_mode == "oauth_password":
            form = {
                "grant_type": "password",
                "client_id": s["client_id"],
                "client_secret": s["client_secret"],
                "username": s["username"],
                "password": s["password"],
            }
        else:
            form = {
                "grant_type": "client_credentials",
                "client_id": s["client_id"],
                "client_secret": s["client_secret"],
            }
        self.calls += 1
        try:
            response = session.post(
                f"{self._base}/oauth_token.do",
                data=form,
                timeout=self.timeout_s,
                auth=NO_AUTH,
                **session_settings(session),
            )
        except requests.RequestException as exc:
            raise ServiceNowUnreachable(self._transport_failure("POST", "/oauth_token.do", exc)) from None
        if response.status_code != 200:
            if form["grant_type"] == "refresh_token":
                self._refresh = None  # the refresh token expired: start over with the password grant
                return self._token_locked(session)
            detail = _error_text(response)
            raise ServiceNowAuthError(
                f"OAuth {form['grant_type']} grant refused by {self._base} (HTTP {response.status_code}: {detail}); "
                "check the client id/secret and, for client credentials, that the grant is enabled on the instance"
            )
        data = response.json()
        self._token = str(data["access_token"])
        self._refresh = data.get("refresh_token") or self._refresh
        self._token_expires = time.monotonic() + float(data.get("expires_in") or 1800)
        return self._token

    def _transport_failure(self, method: str, path: str, exc: requests.RequestException, attempts: int = 1) -> str:
        """Why an exchange failed without an HTTP answer; for a timeout, how far it got and which setting to raise."""
        tries = f" ({attempts} attempts)" if attempts > 1 else ""
        if isinstance(exc, requests.Timeout):
            what = str(exc) if isinstance(exc, ExchangeTimedOut) else f"{method} {path} timed out"
            return (
                f"{what}{tries}; if the instance needs longer (a large IRE batch), raise properties.api_timeout_ms "
                f"(now {self.timeout_s * 1000:.0f} ms) or lower properties.ire_batch_size"
            )
        return f"{method} {path}: cannot reach {self._base} ({type(exc).__name__}){tries}"

    # ------------------------------------------------------------------------------------------ HTTP core
    def request(self, method: str, path: str, *, idempotent: bool = True, **kwargs: Any) -> requests.Response:
        """Send with the retry policy; returns a 2xx response or raises a :class:`ServiceNowError`.

        ``idempotent=False`` (a request that writes, such as an Import Set row): it is sent again only when the
        instance surely did not process it (refused connection, 429, 503); after a lost answer (timeout, dropped
        connection, 500/502/504) it raises :class:`ServiceNowAnswerLost` instead of retrying.
        """
        session = self._load()
        url = f"{self._base}{path}"
        reauthenticated = False
        base_headers = dict(kwargs.pop("headers", None) or {})
        for attempt in range(1, self.retry.max_attempts + 1):
            # basic: the session's (HttpHook's auth_type); OAuth: the bearer token, which replaces it
            token = self._oauth(session) if self._auth_mode != "basic" else None
            auth = BearerAuth(token) if token is not None else None
            self._send_counted()
            try:
                response = session.request(
                    method,
                    url,
                    timeout=self.timeout_s,
                    headers=dict(base_headers),
                    auth=auth,
                    **session_settings(session),
                    **kwargs,
                )
            except requests.RequestException as exc:
                if not idempotent and not _never_sent(exc):
                    raise ServiceNowAnswerLost(
                        f"{method} {path}: the answer was lost ({type(exc).__name__}) after the request was sent; "
                        "the instance may have committed it, so it is not sent again blindly: the next attempt "
                        "checks what the instance did first"
                    ) from None
                if attempt == self.retry.max_attempts:
                    raise ServiceNowUnreachable(self._transport_failure(method, path, exc, attempt)) from None
                self._sleep(self.retry.backoff(attempt))
                continue
            status = response.status_code
            if status < 300:
                return response
            if status == 401 and self._auth_mode != "basic" and not reauthenticated:
                reauthenticated = True  # expired token: get a new one once (unless another thread already did)
                with self._lock:
                    if self._token == token:
                        self._token = None
                continue
            if status not in RETRY_STATUSES:
                raise _http_error(method, path, response, self.servicenow_conn_id)
            if not idempotent and status not in NOT_PROCESSED:
                raise ServiceNowAnswerLost(
                    f"{method} {path}: HTTP {status} ({_error_text(response)}) after the request was sent; the "
                    "instance may have committed it, so it is not sent again blindly: the next attempt checks what "
                    "the instance did first"
                )
            wait = _retry_after(response) or self.retry.backoff(attempt)
            if attempt == self.retry.max_attempts or wait > self.retry.max_wait_s:
                raise ServiceNowUnreachable(
                    f"{method} {path}: still HTTP {status} after {attempt} attempt(s) ({_error_text(response)}); "
                    "the work is kept and the next run carries on"
                )
            log.warning("%s %s: HTTP %d, retry %d in %.1f s", method, path, status, attempt, wait)
            self._sleep(wait)
        raise AssertionError("unreachable")  # pragma: no cover

    # ------------------------------------------------------------------------------------------ Table API
    def table_query(
        self, table: str, query: str = "", fields: list[str] | None = None, page_size: int = 1000
    ) -> Iterator[dict[str, Any]]:
        """Every row of ``table`` matching the encoded ``query``, paged by offset in a stable order."""
        order = "ORDERBYsys_id"
        full = f"{query}^{order}" if query else order
        offset = 0
        while True:
            params = {
                "sysparm_query": full,
                "sysparm_limit": str(page_size),
                "sysparm_offset": str(offset),
                "sysparm_exclude_reference_link": "true",
            }
            if fields:
                params["sysparm_fields"] = ",".join(fields)
            response = self.request("GET", f"/api/now/table/{table}", params=params)
            rows = response.json().get("result") or []
            yield from rows
            total = response.headers.get("X-Total-Count")
            offset += len(rows)
            if len(rows) < page_size or (total is not None and total.isdigit() and offset >= int(total)):
                return

    def class_attributes(self, table: str) -> set[str]:
        """The fields of a CMDB class, inherited ones included (CMDB Meta API, reference §1.9).

        Raises :class:`ServiceNowRequestError` when the instance does not know ``table`` as a CMDB class.
        """
        response = self.request("GET", f"/api/now/cmdb/meta/{table}", headers={"Accept": "application/json"})
        result = response.json().get("result") or {}
        return {str(a.get("element")) for a in result.get("attributes") or [] if a.get("element")}

    def table_insert(self, table: str, values: dict[str, Any]) -> dict[str, Any]:
        """Insert one row; returns it. Never sent twice by the retry policy (a second POST is a second row): raises
        :class:`ServiceNowAnswerLost` when the answer is lost, and the caller reads back what the instance did."""
        response = self.request(
            "POST",
            f"/api/now/table/{table}",
            idempotent=False,
            json=values,
            headers={"Content-Type": "application/json"},
        )
        return dict(response.json().get("result") or {})

    def table_update(self, table: str, sys_id: str, values: dict[str, Any]) -> dict[str, Any]:
        """Update one row (PATCH); returns it."""
        response = self.request(
            "PATCH", f"/api/now/table/{table}/{sys_id}", json=values, headers={"Content-Type": "application/json"}
        )
        return dict(response.json().get("result") or {})

    # ------------------------------------------------------------------------------------------ IRE
    def identify_reconcile(
        self,
        items: list[dict[str, Any]],
        data_source: str,
        *,
        relations: list[dict[str, Any]] | None = None,
        mode: str = "classic",
        options: str | None = None,
    ) -> list[IreOutcome]:
        """POST a payload to IRE (``classic``, ``enhanced``, ``query`` dry run …); returns each item's outcome."""
        params = {"sysparm_data_source": data_source}
        if options and mode in ("enhanced", "query_enhanced"):
            params["options"] = options
        # msgspec writes the UTF-8 bytes in one pass: a 500-asset batch is ~20 MB, built without a str copy
        body = msgspec.json.encode({"items": items, "relations": relations or []})
        response = self.request(
            "POST", IRE_MODES[mode], params=params, data=body, headers={"Content-Type": "application/json"}
        )
        return ire_outcomes(response.content, len(items))

    # ------------------------------------------------------------------------------------------ Import Set
    def import_row(self, staging_table: str, row: dict[str, Any]) -> dict[str, Any]:
        """One row through the Import Set API (synchronous transform with coalesce); returns the response.

        Never sent twice by the retry policy: raises :class:`ServiceNowAnswerLost` when the answer is lost.
        """
        response = self.request(
            "POST",
            f"/api/now/import/{staging_table}",
            idempotent=False,
            json=row,
            headers={"Content-Type": "application/json"},
        )
        return dict(response.json())

    def latest_import_row(self, staging_table: str, correlation_id: str, fields: list[str]) -> dict[str, Any] | None:
        """The newest row of the import set table ``staging_table`` whose ``u_correlation_id`` is ``correlation_id``
        (its ``fields``, with what the transform did with it), or None."""
        if "^" in correlation_id or "\n" in correlation_id:
            raise ServiceNowRequestError(f"cannot query an import row by {correlation_id!r}")
        response = self.request(
            "GET",
            f"/api/now/table/{staging_table}",
            params={
                "sysparm_query": f"u_correlation_id={correlation_id}^ORDERBYDESCsys_created_on",
                "sysparm_limit": "1",
                "sysparm_fields": ",".join(dict.fromkeys(["u_correlation_id", *fields])),
                "sysparm_exclude_reference_link": "true",
            },
        )
        rows = response.json().get("result") or []
        return dict(rows[0]) if rows else None

    # ------------------------------------------------------------------------------------------ connection test
    def test_connection(self) -> tuple[bool, str]:
        """Check the instance answers, the credentials work, and "Qualys" is a discovery source; never raises."""
        try:
            rows = list(self.table_query("sys_choice", "name=cmdb_ci^element=discovery_source", ["value"], 500))
            values = {r.get("value") for r in rows}
            if "Qualys" not in values:
                return False, (
                    "Connected, but 'Qualys' is not a discovery_source choice on cmdb_ci: add it "
                    "(System Definition > Tables > cmdb_ci > discovery_source > Choices), or IRE will "
                    "reject every item with INVALID_INPUT_DATA"
                )
            return True, f"Connection OK: {self._base} answers, and 'Qualys' is a discovery source"
        except ServiceNowAuthError as exc:
            return False, f"Wrong credentials: {exc}"
        except ServiceNowAccessDenied as exc:
            return False, f"Access denied: {exc}"
        except ServiceNowUnreachable as exc:
            return False, f"Instance unreachable: {exc}"
        except ServiceNowError as exc:
            return False, f"ServiceNow error: {exc}"
        except ConnectionMissing as exc:
            return False, f"Connection missing: {exc}"
        except Exception as exc:  # the Test button must always get an answer
            return False, f"Unexpected error: {type(exc).__name__}: {exc}"


def _error_text(response: requests.Response) -> str:
    try:
        data = response.json()
    except ValueError:
        text = response.text.strip().replace("\n", " ")
        return text[:200] or "empty body"
    err = data.get("error") if isinstance(data, dict) else None
    if isinstance(err, dict):
        return f"{err.get('message')}: {err.get('detail')}" if err.get("detail") else str(err.get("message"))
    if isinstance(data, dict) and "error_description" in data:
        return f"{data.get('error')}: {data.get('error_description')}"
    return str(data)[:200]


def _never_sent(exc: requests.RequestException) -> bool:
    """True when the request surely never reached the instance (no connection was made)."""
    if isinstance(exc, requests.ConnectTimeout):
        return True
    return isinstance(exc, requests.ConnectionError) and "NewConnectionError" in repr(exc)


def _retry_after(response: requests.Response) -> float | None:
    value = (response.headers.get("Retry-After") or "").strip()
    return float(value) if value.isdigit() else None


def _http_error(method: str, path: str, response: requests.Response, conn_id: str) -> ServiceNowError:
    text = _error_text(response)
    where = f"{method} {path}: HTTP {response.status_code}"
    if response.status_code == 401:
        return ServiceNowAuthError(f"{where}, the instance rejected the credentials of {conn_id!r} ({text})")
    if response.status_code == 403:
        return ServiceNowAccessDenied(f"{where}, not allowed ({text}); IRE needs the itil or asset role")
    return ServiceNowRequestError(f"{where} ({text})")
