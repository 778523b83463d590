"""All I/O to Qualys: the connection type ``qualys``, asset search pages, JWT, retries and the connection test.

The hook is an ``HttpHook`` (:class:`~qualys_cmdb.hooks.http_base.ApiHttpHook`): ``get_conn()`` makes the one
``requests.Session`` per hook (and so per task) from the connection: API server URL, basic auth, extra headers, TLS.
The gateway (CSAM) calls carry a JWT instead of the basic credentials. The retry policy follows
reference/qualys-api.md §7: retry 202/409/429/5xx/520 and transport errors, waiting what the server asks
(``SECONDS_TO_WAIT``, ``X-RateLimit-ToWait-Sec``, ``Retry-After``) or a growing back-off; refresh the JWT once on a
gateway 401; never retry a request Qualys rejected as bad. When the rate headers say the window is spent, the hook
waits *before* the next call instead of getting blocked (BY-5). The API timeout property (PR-4) bounds each whole
exchange (connect, headers and body), not each socket read (:mod:`qualys_cmdb.hooks.http_session`). Credentials are
read from the Airflow connection and never appear in a log line, an exception or a header they are not meant for.
"""

from __future__ import annotations

import gzip
import io
import json
import logging
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import IO, TYPE_CHECKING, Any

import requests

from qualys_cmdb.hooks.http_base import NO_AUTH, ApiHttpHook, BearerAuth, ConnectionMissing, session_settings
from qualys_cmdb.hooks.http_session import ExchangeTimedOut
from qualys_cmdb.hooks.qualys_protocol import (
    Envelope,
    QualysAccessDenied,
    QualysAuthError,
    QualysError,
    QualysRateLimited,
    QualysRequestError,
    QualysResponseError,
    QualysSubscriptionExpired,
    QualysUnreachable,
    csam_filters,
    hostasset_request,
    qps_error,
    read_csam_envelope,
    read_hostasset_envelope,
    simple_return,
)
from qualys_cmdb.hooks.qualys_vm_protocol import (
    AssetGroup,
    HostRecord,
    IPv4Range,
    QualysRefused,
    QualysTag,
    asset_group_page,
    host_lookup_request,
    host_page,
    ip_list_ranges,
    tag_page,
    tag_search_request,
    tag_update_request,
)
from qualys_cmdb.pods import platform
from qualys_cmdb.utf8_repair import Utf8RepairingReader

if TYPE_CHECKING:
    from qualys_cmdb.config import Properties, Source

log = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({202, 409, 429, 500, 501, 502, 503, 504, 520})
JWT_LIFETIME_S = 4 * 3600 - 30
#: How long to wait when the rate headers say the window is spent but give neither the wait nor the window length:
#: the longest hourly window (reference §7; qualysdk sleeps 3,601 s then). A day-long Express window still ends the
#: run on its first blocked call, which says how long to wait.
UNKNOWN_RATE_WINDOW_S = 3600
USER_AGENT = "qualys-cmdb-sync"
CSAM_FIELDS_ALWAYS = (
    "assetId,assetUUID,hostId,agentId,assetName,dnsName,netbiosName,address,assetType,lastModifiedDate,createdDate,"
    "biosSerialNumber,biosAssetTag,biosDescription,hwUUID,totalMemory,cpuCount,timeZone,lastBoot,lastLoggedOnUser,"
    "domainRole,operatingSystem,hardware,tagList,cloudProvider,provider"
)
CSAM_DETAIL_FIELDS = {
    "ports": "openPortListData",
    "volumes": "volumeListData",
    "interfaces": "networkInterfaceListData",
    "software": "softwareListData",
    "processors": "processor",
}


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to retry: back-off grows by ``backoff_s`` per attempt up to ``backoff_max_s``."""

    max_attempts: int = 8
    backoff_s: float = 15.0
    backoff_max_s: float = 300.0
    max_wait_s: float = 900.0  # a server-requested wait longer than this ends the run (it resumes later)

    def backoff(self, attempt: int) -> float:
        return min(self.backoff_s * attempt, self.backoff_max_s)


SPOOL_IN_MEMORY = 16 * 1024 * 1024  # a response body beyond this goes to a temporary file
#: gzip level of stored pages: a 54 MB CSAM page compresses in 0.24 s to 4.8 MB (level 5: 0.40 s, 4.2 MB)
STORED_GZIP_LEVEL = 3


@dataclass
class Page:
    """One response page: its body as received (spooled to a temporary file when large) and its paging fields.

    ``payload`` is the body as the sync queue stores it (gzip), compressed on first use: the fetch asks for the
    next page before it compresses and stores this one, so Qualys works on the next page meanwhile.
    """

    raw: IO[bytes]
    format: str
    envelope: Envelope
    raw_bytes: int
    status: int
    request: dict[str, Any] = field(default_factory=dict)
    _payload: IO[bytes] | None = field(default=None, repr=False)
    #: What went wrong on the way to this page and was retried (e.g. a missing hasMore), for the application log.
    retried: list[str] = field(default_factory=list)

    @property
    def payload(self) -> IO[bytes]:
        """The body gzip-compressed (level :data:`STORED_GZIP_LEVEL`), positioned at its start."""
        if self._payload is None:
            spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY)  # noqa: SIM115 - closed by close()
            self.raw.seek(0)
            with gzip.GzipFile(fileobj=spool, mode="wb", compresslevel=STORED_GZIP_LEVEL) as gz:
                while chunk := self.raw.read(1 << 20):
                    gz.write(chunk)
            self._payload = spool
        self._payload.seek(0)
        return self._payload

    def body(self) -> IO[bytes]:
        """The response body (invalid UTF-8 repaired)."""
        self.raw.seek(0)
        return Utf8RepairingReader(self.raw)  # type: ignore[return-value]

    def close(self) -> None:
        self.raw.close()
        if self._payload is not None:
            self._payload.close()


@dataclass
class Endpoints:
    """Where a source's APIs live."""

    api_url: str | None
    gateway_url: str | None


class QualysHook(ApiHttpHook):
    """Talk to one Qualys subscription.

    :param qualys_conn_id: Airflow connection (type ``qualys``): host = API server URL (or empty with a POD in
        extra), login/password = a Qualys user with API access, extra ``pod``, ``gateway_url``, ``api``,
        ``api_url``, ``verify``. These extras are settings (:attr:`settings`), never sent as headers; any other
        extra is an HTTP header, and the ``HttpHook`` options apply (:mod:`qualys_cmdb.hooks.http_base`).
    :param api_url: override of the API server URL (a source's ``api_url``).
    :param gateway_url: override of the gateway URL (a source's ``gateway_url``).
    :param pod: the source's POD when it names one.
    :param api: which asset API the source reads (``csam`` or ``hostasset``): the connection test checks that one.
    :param timeout_ms: the API timeout property (PR-4): the limit of each whole exchange (connect, headers and body).
    :param retry: the retry policy.
    :param sleep: how to wait (tests pass a recorder).
    :param kwargs: for :class:`~qualys_cmdb.hooks.http_base.ApiHttpHook` (``logger_name``, ``HttpHook`` arguments).
    """

    conn_name_attr = "qualys_conn_id"
    default_conn_name = "qualys_default"
    conn_type = "qualys"
    hook_name = "Qualys"
    settings = frozenset({"pod", "gateway_url", "api", "api_url", "verify", "verify_ssl"})
    #: every call carries them; FO calls need ``X-Requested-With`` (reference §2, §6)
    default_headers = {"User-Agent": USER_AGENT, "X-Requested-With": USER_AGENT}

    def __init__(
        self,
        qualys_conn_id: str = default_conn_name,
        *,
        api_url: str | None = None,
        gateway_url: str | None = None,
        pod: str | None = None,
        api: str | None = None,
        timeout_ms: int = 480_000,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        **kwargs: Any,
    ) -> None:
        super().__init__(qualys_conn_id, **kwargs)
        self.qualys_conn_id = qualys_conn_id
        self._override = Endpoints(api_url, gateway_url)
        self._pod = pod
        self._api_kind = api
        self.api = api or "csam"
        self.timeout_s = timeout_ms / 1000
        self.retry = retry or RetryPolicy()
        self._sleep = sleep
        self._session: requests.Session | None = None
        self._credentials: tuple[str, str] | None = None
        self._endpoints: Endpoints | None = None
        self._jwt: str | None = None
        self._jwt_at = 0.0
        # per endpoint path (each has its own rate counter): monotonic time before which its window is spent
        self._not_before: dict[str, float] = {}
        self.api_calls = 0

    @classmethod
    def for_source(cls, source: Source, properties: Properties) -> QualysHook:
        """The hook for a configured source, with its URL overrides and the API timeout property."""
        return cls(
            source.connection_id,
            api_url=source.api_url,
            gateway_url=source.gateway_url,
            pod=source.pod,
            api=source.api,
            timeout_ms=properties.api_timeout_ms,
        )

    # ------------------------------------------------------------------------------------------ connection
    def _load(self) -> None:
        """Build the session (``HttpHook.get_conn()``: base URL, basic auth, extra headers, TLS) and the endpoints."""
        if self._credentials is not None:
            return
        try:
            session = self.get_conn()
        except ValueError as exc:
            raise QualysRequestError(f"connection {self.qualys_conn_id!r}: {exc}") from None
        conn = self._connection
        if not conn.login or not conn.password:
            session.close()
            raise QualysAuthError(
                f"connection {self.qualys_conn_id!r} has no username or password: "
                "set both (a Qualys user with API access)"
            )
        self._credentials = (conn.login, conn.password)  # the gateway's /auth form needs them
        extra = conn.extra_dejson
        self.api = self._api_kind or str(extra.get("api") or "csam")
        pod = self._pod or extra.get("pod")
        api_url = self._override.api_url or (self.base_url if conn.host else None) or extra.get("api_url")
        gateway_url = self._override.gateway_url or extra.get("gateway_url")
        if pod:
            plat = platform(str(pod))
            api_url = api_url or plat.api_url
            gateway_url = gateway_url or plat.gateway_url
        self._endpoints = Endpoints(
            api_url.rstrip("/") if api_url else None, gateway_url.rstrip("/") if gateway_url else None
        )
        self._session = session

    @property
    def endpoints(self) -> Endpoints:
        self._load()
        assert self._endpoints is not None
        return self._endpoints

    def _api(self, path: str) -> str:
        if not self.endpoints.api_url:
            raise QualysRequestError(
                f"no API server URL for connection {self.qualys_conn_id!r}: set a POD or the connection host / api_url"
            )
        return self.endpoints.api_url + path

    def _gateway(self, path: str) -> str:
        if not self.endpoints.gateway_url:
            raise QualysRequestError(
                f"no gateway URL for connection {self.qualys_conn_id!r}: set a POD or gateway_url (needed for CSAM)"
            )
        return self.endpoints.gateway_url + path

    def close(self) -> None:
        """Close the HTTP session."""
        if self._session is not None:
            self._session.close()
            self._session = None
            self._credentials = None

    # ------------------------------------------------------------------------------------------ HTTP core
    def _send(self, method: str, url: str, *, stream: bool = False, **kwargs: Any) -> requests.Response:
        """One HTTP exchange within the API timeout, with transport errors turned into :class:`QualysUnreachable`.

        The timeout bounds the whole exchange; with ``stream`` the body is read by the caller, still within it.
        """
        assert self._session is not None
        endpoint = _path(url)
        wait = self._not_before.get(endpoint, 0.0) - time.monotonic()
        if wait > self.retry.max_wait_s:
            raise QualysRateLimited(
                f"the Qualys rate window of {endpoint} is spent for another {wait:.0f} s (X-RateLimit headers); "
                "the run stops and the next one resumes where this one stopped",
                wait,
            )
        if wait > 0:
            log.info("Qualys rate window of %s spent: waiting %.1f s before the next call", endpoint, wait)
            self._sleep(wait)
        self.api_calls += 1
        try:
            response = self._session.request(
                method, url, timeout=self.timeout_s, stream=stream, **session_settings(self._session), **kwargs
            )
        except requests.Timeout as exc:
            raise QualysUnreachable(self._timed_out(method, url, exc)) from None
        except requests.ConnectionError as exc:
            raise QualysUnreachable(f"cannot reach {_host(url)}: {_reason(exc)}") from None
        self._note_rate_headers(endpoint, response)
        return response

    def _timed_out(self, method: str, url: str, exc: requests.Timeout, attempts: int | None = None) -> str:
        """What timed out, how far it got, and which setting to raise."""
        what = (
            str(exc)
            if isinstance(exc, ExchangeTimedOut)
            else f"{method} {_path(url)} timed out after {self.timeout_s:g} s"
        )
        tries = f", {attempts} times" if attempts else ""
        return (
            f"{what}{tries}; if Qualys needs longer for this call, raise properties.api_timeout_ms "
            f"(now {self.timeout_s * 1000:.0f} ms), else check the network to Qualys"
        )

    def _note_rate_headers(self, endpoint: str, response: requests.Response) -> None:
        """Note when the endpoint's rate window is spent, so the next call waits it out instead of being blocked.

        A spent window (``X-RateLimit-Remaining: 0``) whose ``X-RateLimit-ToWait-Sec`` is 0 or absent (qualysdk saw
        the header "sometimes only" on the blocked call, reference §7) is waited out in full: the window's length,
        or :data:`UNKNOWN_RATE_WINDOW_S` when that is not given either. Calling anyway would only get a 409/429.
        """
        remaining = _int_header(response, "X-RateLimit-Remaining")
        to_wait = _int_header(response, "X-RateLimit-ToWait-Sec")
        # Both spellings occur (reference §7); we send one call at a time, so a full gate only needs noting.
        limit = _int_header(response, "X-Concurrency-Limit-Limit") or _int_header(response, "X-ConcurrencyLimit-Limit")
        running = _int_header(response, "X-Concurrency-Limit-Running") or _int_header(
            response, "X-ConcurrencyLimit-Running"
        )
        if limit is not None and running is not None and running >= limit:
            log.info("Qualys concurrency limit reached (%d of %d calls running)", running, limit)
        if remaining == 0:
            wait = to_wait or _int_header(response, "X-RateLimit-Window-Sec") or UNKNOWN_RATE_WINDOW_S
            self._not_before[endpoint] = time.monotonic() + wait
        elif remaining is not None and remaining < 10:
            log.warning("Qualys rate limit nearly spent: %s calls left in this window", remaining)

    def _request(
        self, method: str, url: str, *, gateway: bool = False, stream: bool = False, **kwargs: Any
    ) -> requests.Response:
        """Send with the retry policy; returns a 2xx response (other than 202) or raises a :class:`QualysError`."""
        self._load()
        refreshed = False
        for attempt in range(1, self.retry.max_attempts + 1):
            if gateway:
                kwargs["auth"] = BearerAuth(self._token())  # replaces the session's basic auth
            try:
                response = self._send(method, url, stream=stream, **kwargs)
            except QualysUnreachable as exc:
                if attempt == self.retry.max_attempts:
                    raise
                delay = self.retry.backoff(attempt)
                log.warning("%s; retry %d/%d in %.0f s", exc, attempt, self.retry.max_attempts - 1, delay)
                self._sleep(delay)
                continue
            status = response.status_code
            if 200 <= status < 300 and status != 202:
                return response
            try:
                body = response.content[:65536] if not stream or status >= 300 else b""
            except requests.RequestException:
                body = b""  # an error body that broke off or ran out of time: the status still says what to do
            response.close()
            if status == 401 and gateway and not refreshed:
                refreshed = True
                self._jwt = None  # expired or revoked: get a new one once
                continue
            if status not in RETRY_STATUSES:
                raise _http_error(method, url, status, body)
            server_wait = _server_wait(response, body)
            if server_wait:
                self._not_before.pop(_path(url), None)  # the blocked call says how long: that replaces our estimate
            delay = server_wait or self.retry.backoff(attempt)
            if delay > self.retry.max_wait_s:
                code, text, _ = simple_return(body) if b"<SIMPLE_RETURN" in body[:600] else (None, None, {})
                why = {"1960": "concurrency limit", "1965": "rate limit"}.get(code or "", "limit")
                detail = f" (CODE {code}: {text})" if code else ""
                raise QualysRateLimited(
                    f"{method} {_path(url)} is blocked by the Qualys {why} for {delay:.0f} s, HTTP {status}{detail}; "
                    "the run stops and the next one resumes where this one stopped",
                    delay,
                )
            if attempt == self.retry.max_attempts:
                raise QualysUnreachable(
                    f"{method} {_path(url)} still failing after {attempt} attempts (last: HTTP {status} "
                    f"{_snippet(body)}); check the Qualys status page, then re-run"
                )
            log.warning("%s %s: HTTP %d, retry %d in %.1f s", method, _path(url), status, attempt, delay)
            self._sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    def _token(self) -> str:
        if self._jwt and time.monotonic() - self._jwt_at < JWT_LIFETIME_S:
            return self._jwt
        assert self._credentials is not None
        user, password = self._credentials
        response = self._send(
            "POST",
            self._gateway("/auth"),
            data={"username": user, "password": password, "token": "true", "permissions": "true"},
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            auth=NO_AUTH,  # the credentials go in the form only
        )
        if response.status_code != 201:
            body = response.content[:4096]
            if response.status_code in (401, 403):
                message = _json_message(body)
                low = message.lower()
                if "expired" in low:
                    raise QualysSubscriptionExpired(f"the Qualys subscription has expired ({message})")
                if "api access" in low:
                    raise QualysAccessDenied(f"the user has no API access ({message})")
                raise QualysAuthError(
                    f"Qualys rejected the username or password of connection {self.qualys_conn_id!r} ({message})"
                )
            raise _http_error("POST", self._gateway("/auth"), response.status_code, body)
        self._jwt = response.text.strip()
        self._jwt_at = time.monotonic()
        return self._jwt

    # ------------------------------------------------------------------------------------------ pages
    def _download(self, method: str, url: str, **kwargs: Any) -> tuple[int, IO[bytes], int]:
        """Request a page and stream its body into a temporary spool (memory up to 16 MB, then disk).

        Returns (HTTP status, body, its size). A body that breaks off mid-transfer, or is not complete within the API
        timeout (the session checks it between chunks, and cuts a read that hangs), is asked for again.
        """
        for attempt in range(1, self.retry.max_attempts + 1):
            response = self._request(method, url, stream=True, **kwargs)
            spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY)  # noqa: SIM115 - returned to the caller
            raw = 0
            try:
                for chunk in response.iter_content(chunk_size=256 * 1024):
                    raw += len(chunk)
                    spool.write(chunk)
            except requests.RequestException as exc:
                spool.close()
                if attempt == self.retry.max_attempts:
                    if isinstance(exc, requests.Timeout):
                        raise QualysUnreachable(self._timed_out(method, url, exc, attempt)) from None
                    raise QualysUnreachable(
                        f"{method} {_path(url)}: the response broke off after {raw} bytes, {attempt} times "
                        f"({_reason(exc)}); check the network to Qualys, then re-run"
                    ) from None
                delay = self.retry.backoff(attempt)
                what = "was not complete within the API timeout" if isinstance(exc, requests.Timeout) else "broke off"
                log.warning("%s %s: response %s after %d bytes; retry in %.0f s", method, _path(url), what, raw, delay)
                self._sleep(delay)
                continue
            finally:
                response.close()
            spool.seek(0)
            return response.status_code, spool, raw
        raise AssertionError("unreachable")  # pragma: no cover

    def csam_page(
        self,
        *,
        cursor: int,
        page_size: int,
        since: datetime,
        until: datetime,
        qql: list[dict[str, str]],
        tag: str | None,
        details: dict[str, bool],
    ) -> Page:
        """One CSAM v2 ``search/am/asset`` page after asset id ``cursor`` (§4.1-4.3). HTTP 204 is the end."""
        include = ",".join([CSAM_FIELDS_ALWAYS, *(f for k, f in CSAM_DETAIL_FIELDS.items() if details.get(k))])
        params = {"pageSize": str(page_size), "lastSeenAssetId": str(cursor), "includeFields": include}
        body = csam_filters(since=since, until=until, qql=qql, tag=tag)
        request = {"api": "csam", "cursor": cursor, "page_size": page_size, "filters": body["filters"]}
        url = self._gateway("/rest/2.0/search/am/asset")
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        retried: list[str] = []
        for attempt in range(1, self.retry.max_attempts + 1):
            status, payload, raw = self._download(
                "POST", url, gateway=True, params=params, data=json.dumps(body), headers=dict(headers)
            )
            if status == 204:
                payload.close()
                return _empty_page("json", request)
            try:
                envelope = read_csam_envelope(payload)
            except QualysResponseError:
                # The head of the body is unreadable: keep it anyway so the queue shows what came back.
                return Page(payload, "json", Envelope(None, 0, None, None), raw, status, request)
            problem = _csam_problem(envelope)
            if problem is None:
                return Page(payload, "json", envelope, raw, status, request, retried=retried)
            payload.close()
            if attempt == self.retry.max_attempts:
                raise QualysResponseError(f"CSAM search kept answering badly: {problem}")
            delay = self.retry.backoff(attempt)
            log.warning("CSAM search: %s; retry %d in %.0f s", problem, attempt, delay)
            retried.append(f"CSAM search after asset id {cursor}: {problem}; asked again (attempt {attempt + 1})")
            self._sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    def hostasset_page(self, *, cursor: int, page_size: int, since: datetime, until: datetime, tag: str | None) -> Page:
        """One QPS ``search/am/hostasset`` page of ids greater than ``cursor`` (§3.2, §3.3), as XML."""
        body = hostasset_request(last_id=cursor, page_size=page_size, since=since, until=until, tag=tag)
        request = {"api": "hostasset", "cursor": cursor, "page_size": page_size, "tag": tag}
        status, payload, raw = self._download(
            "POST",
            self._api("/qps/rest/2.0/search/am/hostasset"),
            data=body,
            headers={"Content-Type": "text/xml", "Accept": "application/xml"},
        )
        try:
            envelope = read_hostasset_envelope(payload)
        except QualysResponseError:
            return Page(payload, "xml", Envelope(None, 0, None, None), raw, status, request)
        if envelope.response_code not in (None, "SUCCESS"):
            payload.close()
            raise _qps_error(envelope.response_code, envelope.message, self.qualys_conn_id)
        return Page(payload, "xml", envelope, raw, status, request)

    # ------------------------------------------------------------------------------------------ FO (VM) and tags
    def fo(self, path: str, params: dict[str, str]) -> tuple[str | None, dict[str, str], bytes]:
        """POST an FO action (form-encoded, as long IP lists need); returns (TEXT, ITEM_LIST, body) of success.

        An FO answer with an error CODE (HTTP 400, or 200 for account errors) raises :class:`QualysRefused` (or the
        account error); 409 blocks (CODE 1960/1965) are waited out as the server asks, up to the retry policy.
        """
        try:
            response = self._request("POST", self._api(path), data=params)
        except QualysRefused as exc:
            raise _fo_error(path, params.get("action", ""), exc.code or "", exc.text) from None
        body = response.content
        code, text, items = simple_return(body) if b"<SIMPLE_RETURN" in body[:600] else (None, None, {})
        if code is not None:
            raise _fo_error(path, params.get("action", ""), code, text)
        return text, items, body

    def ips_in_subscription(self, addresses: list[str]) -> list[IPv4Range]:
        """Which of ``addresses`` the subscription already has (``asset/ip`` list restricted to them), as ranges."""
        _, _, body = self.fo("/api/2.0/fo/asset/ip/", {"action": "list", "ips": ",".join(addresses)})
        return ip_list_ranges(body)

    def add_ips(self, ips: list[str], *, tracking_method: str, enable_vm: bool, enable_pc: bool) -> str:
        """Add IPs (single or ranges) to the subscription (``asset/ip`` action=add); returns Qualys's text."""
        text, _, _ = self.fo(
            "/api/2.0/fo/asset/ip/",
            {
                "action": "add",
                "ips": ",".join(ips),
                "tracking_method": tracking_method,
                "enable_vm": "1" if enable_vm else "0",
                "enable_pc": "1" if enable_pc else "0",
            },
        )
        return text or "added"

    def asset_groups(self, page_size: int = 1000) -> Iterator[AssetGroup]:
        """Every asset group, following the ``WARNING/URL`` ``id_min`` of truncated pages (§6.2)."""
        params = {"action": "list", "truncation_limit": str(page_size), "show_attributes": "ALL"}
        while True:
            _, _, body = self.fo("/api/2.0/fo/asset/group/", params)
            groups, next_min = asset_group_page(body)
            yield from groups
            if next_min is None:
                return
            if next_min == params.get("id_min"):
                raise QualysRefused(f"asset/group list: the next page starts at id_min {next_min} again", None, None)
            params = {**params, "id_min": next_min}

    def asset_group(self, group_id: int) -> AssetGroup | None:
        """One asset group as Qualys has it now, or None when it no longer exists."""
        _, _, body = self.fo("/api/2.0/fo/asset/group/", {"action": "list", "ids": str(group_id)})
        groups, _ = asset_group_page(body)
        return next((g for g in groups if g.id == group_id), None)

    def add_ips_to_group(self, group_id: int, ips: list[str]) -> str:
        """``asset/group`` action=edit ``add_ips``; the IPs must already be in the subscription."""
        text, _, _ = self.fo(
            "/api/2.0/fo/asset/group/", {"action": "edit", "id": str(group_id), "add_ips": ",".join(ips)}
        )
        return text or "updated"

    def _qps(self, path: str, body: bytes | None = None) -> bytes:
        response = self._request(
            "POST",
            self._api(path),
            data=body if body is not None else b"",
            headers={"Content-Type": "text/xml", "Accept": "application/xml"},
        )
        return response.content

    def tags(self, page_size: int = 1000, name: str | None = None) -> Iterator[QualysTag]:
        """Every tag (or those called ``name``), paged by ``id GREATER lastId``."""
        after = 0
        while True:
            tags, has_more, last_id = tag_page(
                self._qps("/qps/rest/2.0/search/am/tag", tag_search_request(after, page_size, name))
            )
            yield from tags
            if not has_more or not tags:
                return
            after = last_id if last_id is not None else max(t.id for t in tags)

    def tag(self, tag_id: int) -> QualysTag:
        """One tag, fresh from Qualys."""
        tags, _, _ = tag_page(self._qps(f"/qps/rest/2.0/get/am/tag/{tag_id}"))
        if not tags:
            raise QualysRefused(f"tag {tag_id} came back empty", None, None)
        return tags[0]

    def set_tag_rule_text(self, tag_id: int, rule_text: str) -> QualysTag:
        """Replace a tag's ruleText (``update/am/tag/{id}``); returns the tag as Qualys now has it."""
        tags, _, _ = tag_page(self._qps(f"/qps/rest/2.0/update/am/tag/{tag_id}", tag_update_request(rule_text)))
        return tags[0] if tags else self.tag(tag_id)

    def hosts_at(self, addresses: list[str], page_size: int = 1000) -> Iterator[HostRecord]:
        """Host assets Qualys has at ``addresses`` (the host-id updater's lookup)."""
        after = 0
        while True:
            hosts, has_more, last_id = host_page(
                self._qps("/qps/rest/2.0/search/am/hostasset", host_lookup_request(addresses, after, page_size))
            )
            yield from hosts
            if not has_more or not hosts:
                return
            after = last_id if last_id is not None else max(h.asset_id for h in hosts)

    # ------------------------------------------------------------------------------------------ connection test
    def test_connection(self) -> tuple[bool, str]:
        """Check credentials, subscription, API access and the asset-inventory module (SRC-4); never raises."""
        try:
            self._load()
            self._check_fo()
            if self.api == "csam":
                response = self._request(
                    "POST",
                    self._gateway("/rest/2.0/count/am/asset"),
                    gateway=True,
                    headers={"Accept": "application/json"},
                )
                count = _json_field(response.content, "count")
                return True, f"Connection OK: API access and asset inventory (CSAM/GAV) available, {count} assets"
            response = self._request(
                "POST",
                self._api("/qps/rest/2.0/count/am/hostasset"),
                data=b"<ServiceRequest/>",
                headers={"Content-Type": "text/xml"},
            )
            code, message = qps_error(response.content)
            if code != "SUCCESS":
                raise _qps_error(code, message, self.qualys_conn_id)
            return True, "Connection OK: API access and asset management (hostasset) available"
        except QualysAuthError as exc:
            return False, f"Wrong credentials: {exc}"
        except QualysSubscriptionExpired as exc:
            return False, f"Subscription expired: {exc}"
        except QualysAccessDenied as exc:
            return False, f"Access denied: {exc}"
        except QualysUnreachable as exc:
            return False, f"Server unreachable: {exc}"
        except QualysError as exc:
            return False, f"Qualys error: {exc}"
        except ConnectionMissing as exc:
            return False, f"Connection missing: {exc}"
        except Exception as exc:  # the Test button must always get an answer
            return False, f"Unexpected error: {type(exc).__name__}: {exc}"

    def _check_fo(self) -> None:
        """An FO call tells apart expired subscriptions (CODE 2001 at HTTP 200) and missing API access (403)."""
        try:
            response = self._request(
                "POST",
                self._api("/api/2.0/fo/asset/ip/"),
                data={"action": "list", "ips": "127.0.0.1"},
            )
        except QualysAccessDenied:
            raise QualysAccessDenied(
                "the user has no API access (ask your Qualys manager to enable 'API access' for this user)"
            ) from None
        code, text, _ = simple_return(response.content)
        if code == "2001":
            raise QualysSubscriptionExpired(f"{text} Contact your Qualys TAM to renew the subscription.")
        if code is not None and code.startswith("20"):
            raise QualysAccessDenied(f"Qualys refused the account: {text} (CODE {code})")


# ---------------------------------------------------------------------------------------------- helpers
def _empty_page(fmt: str, request: dict[str, Any]) -> Page:
    return Page(io.BytesIO(), fmt, Envelope("SUCCESS", 0, False, None), 0, 204, request)


def _csam_problem(envelope: Envelope) -> str | None:
    if envelope.response_code is None:
        return "the response has no responseCode (gateway error)"
    if envelope.response_code != "SUCCESS":
        return f"responseCode {envelope.response_code}: {envelope.message or 'no message'}"
    if envelope.has_more is None:
        return "the response has no hasMore field (an intermittent Qualys issue)"
    if envelope.has_more and envelope.next_cursor is None:
        return "hasMore is 1 but lastSeenAssetId is missing"
    return None


def _qps_error(code: str | None, message: str | None, conn_id: str) -> QualysError:
    text = message or "no details"
    if code == "INVALID_CREDENTIALS":
        return QualysAuthError(f"Qualys rejected the username or password of connection {conn_id!r} ({text})")
    if code == "UNAUTHORIZED":
        if "expired" in text.lower():
            return QualysSubscriptionExpired(f"the Qualys subscription has expired ({text})")
        return QualysAccessDenied(
            f"not authorised: {text} (the user needs the Asset Management 'Read Asset' permission)"
        )
    if code == "INVALID_REQUEST":
        return QualysRequestError(f"Qualys rejected the request: {text}")
    return QualysResponseError(f"unexpected responseCode {code}: {text}")


def _fo_error(path: str, action: str, code: str, text: str | None) -> QualysError:
    """The exception for an FO SIMPLE_RETURN with an error CODE (§6.4)."""
    what = f"{path.removeprefix('/api/2.0/fo/').rstrip('/')} {action}".strip()
    if code == "2001":
        return QualysSubscriptionExpired(f"{what}: {text} Contact your Qualys TAM to renew the subscription.")
    if code.startswith("20"):
        return QualysAccessDenied(f"{what}: Qualys refused the account: {text} (CODE {code})")
    return QualysRefused(f"{what}: Qualys refused the call: {text} (CODE {code})", code, text)


def _http_error(method: str, url: str, status: int, body: bytes) -> QualysError:
    snippet = _snippet(body)
    where = f"{method} {_path(url)}"
    if b"<SIMPLE_RETURN" in body[:600] and status not in (401, 403):
        code, text, _ = simple_return(body)
        if code is not None:
            path = _path(url)
            return _fo_error(path, "", code, text)
    if status == 401:
        return QualysAuthError(f"{where}: HTTP 401, Qualys rejected the credentials ({snippet})")
    if status == 403:
        return QualysAccessDenied(f"{where}: HTTP 403, access denied ({snippet})")
    if status == 400 or status == 414:
        return QualysRequestError(
            f"{where}: HTTP {status}, Qualys rejected the request ({snippet}); fix it, do not retry"
        )
    return QualysError(f"{where}: HTTP {status} ({snippet})")


def _server_wait(response: requests.Response, body: bytes) -> float | None:
    """Seconds the server asks us to wait, from SIMPLE_RETURN or headers."""
    _, _, items = simple_return(body) if body.lstrip().startswith(b"<") else (None, None, {})
    if items.get("SECONDS_TO_WAIT", "").isdigit():
        return float(items["SECONDS_TO_WAIT"])
    for header in ("X-RateLimit-ToWait-Sec", "Retry-After"):
        value = _int_header(response, header)
        if value:
            return float(value)
    return None


def _int_header(response: requests.Response, name: str) -> int | None:
    value = (response.headers.get(name) or "").strip()
    return int(value) if value.isdigit() else None


def _json_message(body: bytes) -> str:
    try:
        data = json.loads(body)
    except ValueError:
        return _snippet(body)
    if isinstance(data, dict):
        return str(data.get("message") or data.get("error") or data)
    return str(data)


def _json_field(body: bytes, key: str) -> Any:
    try:
        return json.loads(body).get(key)
    except (ValueError, AttributeError):
        return None


def _snippet(body: bytes, limit: int = 300) -> str:
    text = body.decode("utf-8", errors="replace").strip().replace("\n", " ")
    return text[:limit] + ("…" if len(text) > limit else "") if text else "empty body"


def _path(url: str) -> str:
    return "/" + url.split("://", 1)[-1].split("/", 1)[-1].split("?", 1)[0]


def _host(url: str) -> str:
    return url.split("://", 1)[-1].split("/", 1)[0]


def _reason(exc: Exception) -> str:
    text = str(exc)
    for marker in ("Connection refused", "Name or service not known", "timed out", "certificate verify failed"):
        if marker in text:
            return marker
    return type(exc).__name__
