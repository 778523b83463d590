"""What the Qualys and ServiceNow hooks take from the http provider's ``HttpHook``, and what they keep their own.

:class:`ApiHttpHook` is an ``HttpHook`` (``apache-airflow-providers-http``): ``get_conn()`` turns the Airflow
connection into a configured ``requests.Session`` the way ``HttpHook`` does it, and each hook sends every request
through that one session with its own request loop (the API's retry rules, deadlines and error handling of
reference/qualys-api.md and reference/servicenow-api.md). ``HttpHook.run()`` and ``run_with_advanced_retry()`` are
not used: they build a new session per call, retry on rules of their own (tenacity; no ``Retry-After``, no
``X-RateLimit`` waits, no errors at HTTP 200) and would send a writing request again after a lost answer, which
the ServiceNow reference forbids.

What ``HttpHook.get_conn()`` does, and what this class keeps or changes:

* **Base URL** (:attr:`base_url`): the connection's host, schema and port, combined as ``HttpHook`` does it, with
  one change: a host without a scheme and no schema gets ``https``, not ``http`` (the connection forms hide the
  schema field, and a password must never go out in clear text).
* **Auth**: ``HttpHook``'s ``auth_type`` (default ``HTTPBasicAuth(login, password)``) on the session. A hook that
  authenticates a request otherwise passes that request's own ``auth`` (:class:`BearerAuth`, :data:`NO_AUTH`),
  which replaces the session's: a bearer token is never overwritten by basic auth, and no request gets a password
  it does not need.
* **Headers**: every connection extra that is not an ``HttpHook`` option becomes an HTTP header (``HttpHook``'s
  behaviour), **except** the connection type's own settings: the keys in :attr:`settings` (the ``conn-fields`` of
  provider_info.py, such as ``pod`` or ``client_secret``) and any ``extra__<type>__<field>`` key (Airflow's
  prefixed spelling of form fields). They are **filtered out**, so a setting, and above all a secret, is never
  sent as a header. An extra whose value is not a string (a JSON number, list, object) is not a valid header
  either, nor is a name that is not an HTTP token or a value on several lines (``requests`` would refuse to send
  every request): such an extra is dropped with a warning naming the key (never the value). The hook's own headers
  (:attr:`default_headers`) win over extras of the same name.
* **TLS**: verification is on unless the connection explicitly says otherwise: ``verify`` (or ``verify_ssl``)
  read by :func:`~qualys_cmdb.hooks.http_session.tls_verify` (``false``/``"false"``/``"0"``... turns it off; a
  string that is not a boolean is the path of a CA bundle to trust; absent or ``null`` keeps it on). ``HttpHook``
  would take the string ``"false"`` for a CA-bundle path. Each request passes the session's ``verify`` and
  ``proxies`` (:func:`session_settings`), as ``HttpHook.run_and_check`` does, so the environment's
  ``REQUESTS_CA_BUNDLE``/``HTTPS_PROXY`` cannot override what the connection sets.
* **Other ``HttpHook`` options in extra**: ``proxies``/``proxy``, ``cert`` (client certificate), ``trust_env`` and
  ``max_redirects`` apply to the session as ``HttpHook`` sets them. ``timeout``, ``allow_redirects`` and
  ``check_response`` are options of ``HttpHook.run()``, which these hooks do not use: the limit of each exchange
  is the API timeout property (PR-4). ``stream`` is reset (each hook streams the responses it needs to, within the
  exchange's deadline). ``srv_lookup`` (DNS SRV failover, ``HttpHook.run()`` only) is refused with a clear error.
* **Adapters**: :class:`KeepAliveDeadlineAdapter` on ``http://`` and ``https://`` (``HttpHook`` mounts its
  TCP keep-alive adapter on them; this one keeps the same keep-alive settings and adds the deadline of the whole
  exchange, :mod:`qualys_cmdb.hooks.http_session`).
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

import requests
from airflow.exceptions import AirflowNotFoundException
from airflow.providers.http.hooks.http import HttpHook
from requests.auth import AuthBase
from requests.structures import CaseInsensitiveDict
from requests_toolbelt.adapters.socket_options import TCPKeepAliveAdapter

from qualys_cmdb.hooks.http_session import DeadlineAdapter, tls_verify

_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")


class KeepAliveDeadlineAdapter(DeadlineAdapter, TCPKeepAliveAdapter):
    """:class:`~qualys_cmdb.hooks.http_session.DeadlineAdapter` with TCP keep-alive socket options.

    The defaults are ``HttpHook``'s (its constructor's ``tcp_keep_alive_*``): probes after 120 s idle, every 30 s,
    20 of them.
    """

    def __init__(self, *, idle: int = 120, count: int = 20, interval: int = 30) -> None:
        # DeadlineAdapter has no __init__ of its own: this is the next one in the MRO, with the keep-alive arguments
        TCPKeepAliveAdapter.__init__(self, idle=idle, count=count, interval=interval)


class BearerAuth(AuthBase):
    """``Authorization: Bearer <token>`` for one request (replaces the session's basic auth)."""

    def __init__(self, token: str) -> None:
        self._token = token

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self._token}"
        return request

    def __repr__(self) -> str:
        return "BearerAuth(<token>)"  # never the token


class _NoAuth(AuthBase):
    """No ``Authorization`` at all for one request: neither the session's basic auth nor a ``.netrc`` entry."""

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        return request


#: Pass as a request's ``auth`` to send it without credentials (a login form, an OAuth token request).
NO_AUTH = _NoAuth()


class ConnectionMissing(AirflowNotFoundException):
    """The hook's Airflow connection is not defined; the message says which to create, of which type, and where."""


class ApiHttpHook(HttpHook):
    """An ``HttpHook`` whose session carries an API's own request loop (see the module docstring).

    :param conn_id: the Airflow connection (also ``http_conn_id``, for ``HttpHook``).
    :param logger_name: as for any Airflow hook.
    :param http_kwargs: ``HttpHook`` constructor arguments (``auth_type``, ...).

    :cvar settings: the connection extras that are this connection type's own settings, never headers.
    :cvar default_headers: headers every request carries (they win over extras of the same name).
    """

    settings: ClassVar[frozenset[str]] = frozenset()
    default_headers: ClassVar[dict[str, str]] = {}
    base_url: str  # set by HttpHook

    def __init__(self, conn_id: str, *, logger_name: str | None = None, **http_kwargs: Any) -> None:
        http_kwargs.setdefault("method", "GET")
        http_kwargs.setdefault("tcp_keep_alive", False)  # get_conn() mounts KeepAliveDeadlineAdapter instead
        super().__init__(http_conn_id=conn_id, **http_kwargs)
        if logger_name is not None:
            self._logger_name = logger_name  # BaseHook's, which HttpHook does not pass on
        self._connection: Any = None

    def _set_base_url(self, connection: Any) -> None:
        """``HttpHook``'s base URL, but ``https`` for a host without scheme or schema (``HttpHook``: ``http``)."""
        self._connection = connection  # get_conn() calls this first: the connection it configures the session from
        super()._set_base_url(connection)
        host = connection.host or self.default_host
        if host and "://" not in host and not connection.schema and self.base_url.startswith("http://"):
            self.base_url = "https://" + self.base_url.removeprefix("http://")

    def get_conn(
        self, headers: dict[Any, Any] | None = None, extra_options: dict[str, Any] | None = None
    ) -> requests.Session:
        """``HttpHook.get_conn()``, then: our settings out of the headers, TLS per :func:`tls_verify`, deadlines.

        The connection the session was configured from is ``self._connection`` afterwards (one lookup for both).
        """
        try:
            session: requests.Session = super().get_conn(headers, extra_options)
        except AirflowNotFoundException:
            conn_id = self.http_conn_id
            raise ConnectionMissing(
                f"the Airflow connection {conn_id!r} does not exist: create it with connection type "
                f"{self.conn_type!r} ({self.hook_name}) in Admin > Connections, or define it as the environment "
                f"variable AIRFLOW_CONN_{conn_id.upper()} or in your secrets backend"
            ) from None
        extra: dict[str, Any] = dict(self._connection.extra_dejson or {})
        if str(extra.get("srv_lookup", "")).strip().lower() in ("true", "1", "yes", "on", "t", "y"):
            session.close()
            raise ValueError(
                f"srv_lookup (DNS SRV failover) is not supported by the {self.conn_type} connection type; "
                "set the host to the server's URL"
            )
        for key, value in extra.items():
            if key in self.settings or key.startswith("extra__"):
                session.headers.pop(key, None)
            elif key in session.headers and not _is_header(key, session.headers[key]):
                if value is not None:
                    self.log.warning(
                        "Connection %s: extra %r is not a valid HTTP header (a token name and a one-line string "
                        "value), so it is not sent",
                        self.http_conn_id,
                        key,
                    )
                session.headers.pop(key, None)
        session.verify = tls_verify(extra)
        session.stream = False
        adapter = KeepAliveDeadlineAdapter()
        session.mount("https://", adapter)
        session.mount("http://", adapter)
        return session


def session_like(session: requests.Session) -> requests.Session:
    """A new session configured as ``session`` was by :meth:`ApiHttpHook.get_conn` (headers, auth, TLS, client
    certificate, proxies, redirects, adapters), with no connection lookup, that shares nothing with it: a cookie jar
    (empty) and connection pools of its own. For a thread that sends in parallel with others: a session's cookies
    (``JSESSIONID``, a load balancer's) would serialise them all onto one node (servicenow-api.md §1.7)."""
    twin = requests.Session()
    twin.headers = CaseInsensitiveDict(session.headers)
    twin.auth = session.auth
    twin.verify = session.verify
    twin.cert = session.cert
    twin.proxies = dict(session.proxies)
    twin.params = dict(session.params) if isinstance(session.params, dict) else session.params
    twin.trust_env = session.trust_env
    twin.max_redirects = session.max_redirects
    twin.stream = session.stream
    twin.hooks = {event: list(hooks) for event, hooks in session.hooks.items()}
    for prefix, adapter in session.adapters.items():
        # get_conn() mounts a KeepAliveDeadlineAdapter (defaults) on both schemes: a fresh one has pools of its own
        twin.mount(prefix, KeepAliveDeadlineAdapter() if isinstance(adapter, KeepAliveDeadlineAdapter) else adapter)
    return twin


def session_settings(session: requests.Session) -> dict[str, Any]:
    """A request's ``verify`` and ``proxies``: the session's (the connection's), as ``HttpHook.run_and_check`` passes
    them. Left to ``requests``, ``REQUESTS_CA_BUNDLE`` and ``HTTPS_PROXY`` from the environment would override the
    connection's CA bundle, ``verify: false`` and proxies; given like this, they only fill in what it leaves unset.
    """
    return {"verify": session.verify, "proxies": dict(session.proxies)}  # a copy: requests adds the environment's


def _is_header(name: str, value: object) -> bool:
    """A header ``requests`` would send: a token name and a one-line string value (None, a number... are not)."""
    if not isinstance(value, str) or not _TOKEN.fullmatch(name):
        return False
    return "\r" not in value and "\n" not in value and value == value.lstrip()
