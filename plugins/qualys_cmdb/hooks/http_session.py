"""The transport both hooks' sessions use: a deadline over each whole exchange, and a connection's TLS setting.

The sessions themselves come from ``HttpHook.get_conn()`` (:mod:`qualys_cmdb.hooks.http_base`), which mounts
:class:`DeadlineAdapter` and sets ``verify`` from :func:`tls_verify`.

``requests`` applies its ``timeout`` to the connect and to *each* socket read, so a server that sends a few bytes at
a time holds a request for as long as it likes (a 2 s setting held one for 60 s). With :class:`DeadlineAdapter`
mounted, the ``timeout`` a request passes is the limit of the whole exchange instead: connecting, sending the
request, the response headers and the body. A watchdog shuts the exchange's socket down when the deadline passes,
which wakes a read or write blocked in the kernel; the body reader also checks the deadline between chunks, and a
body that "ends" because the watchdog cut it is not mistaken for a complete one. The exchange then fails with
:class:`ExchangeTimedOut`, a ``requests.Timeout``, so the hooks' retry policies treat it like any other timeout.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import requests
from requests.adapters import DEFAULT_POOLBLOCK, HTTPAdapter
from urllib3 import poolmanager
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import HTTPError as Urllib3Error

if TYPE_CHECKING:
    from requests import PreparedRequest, Response


class ExchangeTimedOut(requests.Timeout):
    """An exchange did not complete within its deadline; the message says how far it got.

    ``received`` is the number of body bytes read before the deadline, or None when the response headers were not
    complete yet.
    """

    def __init__(self, message: str, *, received: int | None) -> None:
        super().__init__(message)
        self.received = received


class ConnectionTimedOut(ExchangeTimedOut, requests.ConnectTimeout):
    """No connection was made within the deadline: the request was surely never sent (safe to send again)."""


class Deadline:
    """The deadline of one exchange, and the sockets carrying it that the watchdog shuts down when it passes.

    The watchdog holds a duplicate of each socket's descriptor: shutting the connection down through it works from
    another thread, even while TLS is being set up on the original (which detaches the plain socket object).
    """

    def __init__(self, seconds: float, what: str) -> None:
        self.seconds = seconds
        self.what = what
        self.cut = False  # the watchdog shut the exchange down
        self._expires = time.monotonic() + seconds
        self._lock = threading.Lock()
        self._handles: dict[int, socket.socket] = {}  # by connection object: one socket per connection
        self._finished = False
        self._watchdog = threading.Timer(seconds, self._cut)
        self._watchdog.daemon = True
        self._watchdog.start()

    @property
    def passed(self) -> bool:
        """The deadline has passed (whether or not the watchdog has already acted)."""
        return self.cut or time.monotonic() >= self._expires

    def watch(self, connection: object, sock: socket.socket) -> None:
        """Shut ``sock`` down when the deadline passes (at once if it has)."""
        with self._lock:
            if self._finished or id(connection) in self._handles:
                return
            try:
                handle = socket.fromfd(sock.fileno(), sock.family, sock.type)
            except OSError:
                return  # already closed: nothing left to cut
            self._handles[id(connection)] = handle
            if self.cut:
                _shut_down(handle)

    def finish(self) -> bool:
        """The exchange is over: stop the watchdog; returns whether it had cut the exchange."""
        with self._lock:
            if not self._finished:
                self._finished = True
                self._watchdog.cancel()
                for handle in self._handles.values():
                    handle.close()
                self._handles.clear()
            return self.cut

    def timed_out(self, received: int | None, *, connected: bool = True) -> ExchangeTimedOut:
        """The error for this exchange, saying how far it got."""
        kind: type[ExchangeTimedOut]
        if not connected:
            progress, kind = "no connection was made", ConnectionTimedOut
        elif received is None:
            progress, kind = "the response headers were not complete", ExchangeTimedOut
        else:
            progress, kind = f"{received:,} bytes of the response body had arrived", ExchangeTimedOut
        return kind(
            f"{self.what} timed out after {self.seconds:g} s, the limit for the whole exchange ({progress})",
            received=received,
        )

    def _cut(self) -> None:
        with self._lock:
            if self._finished:
                return
            self.cut = True
            for handle in self._handles.values():
                _shut_down(handle)


def _shut_down(handle: socket.socket) -> None:
    with contextlib.suppress(OSError):  # the peer closed it already
        handle.shutdown(socket.SHUT_RDWR)


#: The deadline of the exchange this thread is sending, for the connections it opens or reuses.
_CURRENT: ContextVar[Deadline | None] = ContextVar("qualys_cmdb_exchange_deadline", default=None)


def _watch_current(connection: object, sock: socket.socket | None) -> None:
    deadline = _CURRENT.get()
    if deadline is not None and sock is not None:
        deadline.watch(connection, sock)


class _WatchedConnection(HTTPConnection):
    """An HTTP connection whose socket the current exchange's watchdog can shut down (new or reused)."""

    def _new_conn(self) -> socket.socket:
        sock = super()._new_conn()
        _watch_current(self, sock)
        return sock

    def request(self, *args: Any, **kwargs: Any) -> None:
        _watch_current(self, self.sock)  # a reused connection: no new socket is made
        super().request(*args, **kwargs)


class _WatchedHTTPSConnection(HTTPSConnection):
    """:class:`_WatchedConnection` for HTTPS; the plain socket is watched before the TLS handshake starts."""

    def _new_conn(self) -> socket.socket:
        sock = super()._new_conn()
        _watch_current(self, sock)
        return sock

    def request(self, *args: Any, **kwargs: Any) -> None:
        _watch_current(self, self.sock)
        super().request(*args, **kwargs)


class _WatchedPool(HTTPConnectionPool):
    ConnectionCls = _WatchedConnection


class _WatchedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


_WATCHED_POOLS: dict[str, type[HTTPConnectionPool]] = {"http": _WatchedPool, "https": _WatchedHTTPSPool}


class _BodyWithinDeadline:
    """A response body (urllib3's response, what ``requests`` reads) read within its exchange's deadline."""

    def __init__(self, raw: Any, deadline: Deadline) -> None:
        self._raw = raw
        self._deadline = deadline
        self.received = 0

    def stream(self, amt: int | None = 2**16, decode_content: bool | None = None) -> Iterator[bytes]:
        chunks = self._raw.stream(amt, decode_content=decode_content)
        while True:
            try:
                chunk = next(chunks)
            except StopIteration:
                break
            except (Urllib3Error, OSError) as exc:
                raise self._failed(exc) from None
            self.received += len(chunk)
            if self._deadline.passed:
                self._deadline.finish()
                raise self._deadline.timed_out(self.received)
            yield chunk
        self._ended()

    def read(self, amt: int | None = None, *args: Any, **kwargs: Any) -> bytes:
        try:
            data: bytes = self._raw.read(amt, *args, **kwargs)
        except (Urllib3Error, OSError) as exc:
            raise self._failed(exc) from None
        self.received += len(data)
        if self._deadline.passed:
            self._deadline.finish()
            raise self._deadline.timed_out(self.received)
        if not data or amt is None:
            self._ended()
        return data

    def release_conn(self) -> None:
        self._deadline.finish()
        self._raw.release_conn()

    def close(self) -> None:
        self._deadline.finish()
        self._raw.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._raw, name)

    def _failed(self, exc: Exception) -> Exception:
        """The error to raise for a failed read: the deadline's when it had passed, else the read's own."""
        cut = self._deadline.finish()
        return self._deadline.timed_out(self.received) if cut or self._deadline.passed else exc

    def _ended(self) -> None:
        # A body read until the connection closes looks complete when the watchdog cut it: check.
        if self._deadline.finish():
            raise self._deadline.timed_out(self.received)


class DeadlineAdapter(HTTPAdapter):
    """An ``HTTPAdapter`` that makes a request's ``timeout`` (seconds) the deadline of the whole exchange.

    A ``(connect, read)`` tuple keeps ``requests``' per-phase meaning. Without ``stream=True`` the body is read
    here, within the deadline; with it, the deadline goes on until the body is read or the response is closed.
    """

    def init_poolmanager(
        self, connections: int, maxsize: int, block: bool = DEFAULT_POOLBLOCK, **pool_kwargs: Any
    ) -> None:
        super().init_poolmanager(connections, maxsize, block, **pool_kwargs)
        self.poolmanager.pool_classes_by_scheme = _WATCHED_POOLS

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        if manager.pool_classes_by_scheme == poolmanager.pool_classes_by_scheme:  # a SOCKS proxy has its own
            manager.pool_classes_by_scheme = _WATCHED_POOLS
        return manager

    def send(
        self,
        request: PreparedRequest,
        stream: bool = False,
        timeout: Any = None,
        verify: Any = True,
        cert: Any = None,
        proxies: Mapping[str, str] | None = None,
    ) -> Response:
        if not isinstance(timeout, int | float):
            return super().send(request, stream, timeout, verify, cert, proxies)
        deadline = Deadline(float(timeout), f"{request.method} {urlsplit(request.url or '').path or '/'}")
        token = _CURRENT.set(deadline)
        try:
            response = super().send(request, stream, timeout, verify, cert, proxies)
        except requests.RequestException as exc:
            if deadline.finish() or deadline.passed:
                raise deadline.timed_out(None, connected=not isinstance(exc, requests.ConnectTimeout)) from None
            raise
        except BaseException:
            deadline.finish()
            raise
        finally:
            _CURRENT.reset(token)
        if deadline.cut:  # http.client takes headers cut short by the watchdog for complete ones
            deadline.finish()
            response.close()
            raise deadline.timed_out(None)
        response.raw = _BodyWithinDeadline(response.raw, deadline)
        if not stream:
            _ = response.content  # the body is part of the exchange: read it before the deadline passes
        return response


def tls_verify(extra: dict[str, Any]) -> bool | str:
    """A connection extra's ``verify`` (or ``verify_ssl``): true, false, or the path of a CA bundle to trust.

    Verification stays on unless the connection explicitly turns it off: absent, ``null`` (a form field left
    empty) or an empty string mean true.
    """
    value = extra.get("verify")
    if value is None:
        value = extra.get("verify_ssl")
    if value is None:
        return True
    if isinstance(value, str) and value.strip().lower() in ("false", "0", "no", "off"):
        return False
    if isinstance(value, str) and value.strip().lower() in ("true", "1", "yes", "on", ""):
        return True
    if isinstance(value, str):
        return value.strip()  # a CA bundle path (a private CA, or a TLS-inspecting proxy's)
    return bool(value)
