"""HTTP front end of the ServiceNow simulator: routing, faults, :class:`ServiceNowSimulator`, ``main``.

Paths:

* ``/oauth_token.do`` (no auth; form-encoded)
* ``/api/now/[v1|v2/]table/...``, ``/api/now/[v1/]cmdb/meta/{class}`` (Table API family)
* ``/api/now/[v1|v2/]identifyreconcile[/enhanced|/query|/queryEnhanced]`` (IRE family)
* ``/api/now/[v1/]import/{staging_table}`` (Import Set family)
* ``/sim/control/...`` (no auth, no faults, not counted in stats)

Order of checks for an API request: semaphore throttle and injected status faults, authentication
(401), rate-limit rule (429), ``Accept`` (400 when missing, 406 when not JSON), ``Content-Type`` for
bodies (400 missing / 415 not JSON), then the API itself.
"""

from __future__ import annotations

import argparse
import secrets
import socket
import sys
import time
import traceback
from dataclasses import dataclass
from email.message import Message
from http.cookies import CookieError, SimpleCookie
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from simulators.http_server import SimulatorApp, SimulatorServer, TrackedHandler, serve_until_signal
from simulators.http_server import server_class as server_class_for
from simulators.latency import LatencyProfile, latency_profile_arg
from simulators.servicenow import cmdb_meta, control, import_set, ire, table_api
from simulators.servicenow.auth import User
from simulators.servicenow.classes import DEFAULT_DISCOVERY_SOURCES
from simulators.servicenow.instance import Instance, family_of
from simulators.servicenow.pacing import GATED_FAMILIES, ServiceNowPacer
from simulators.servicenow.replies import Reply, Request, error_reply, html_reply
from simulators.servicenow.unverified import text

_API_NAMES = {"table": "Table API", "ire": "Identification and Reconciliation API", "import": "Import Set API"}


def status_fault_reply(code: int) -> Reply:
    """The reply for an injected HTTP status (500 JSON envelope, 502/503/504 HTML from the load balancer)."""
    if code == 500:
        return error_reply(500, "Internal Server Error", "Injected failure (simulator)")
    return html_reply(code)


def _accepts_json(accept: str) -> bool:
    lowered = accept.lower()
    return any(token in lowered for token in ("json", "*/*", "application/*"))


class _Server(SimulatorServer):
    instance: Instance


@dataclass(slots=True)
class _Outcome:
    """What the latency counters need to know of one request."""

    started: float  # time.monotonic() when the work started (past the gates)
    modelled_s: float = 0.0
    refused: bool = False


def session_of(headers: Message) -> str | None:
    """The ``JSESSIONID`` cookie of a request, or None."""
    raw = headers.get("Cookie")
    if not raw:
        return None
    cookies = SimpleCookie()
    try:
        cookies.load(str(raw))
    except CookieError:
        return None
    morsel = cookies.get("JSESSIONID")
    return morsel.value if morsel is not None and morsel.value else None


def new_session_id() -> str:
    """A fresh session id (32 upper-case hex digits, the shape of the instance's)."""
    return secrets.token_hex(16).upper()


class ServiceNowHandler(TrackedHandler):
    """Request handler; the instance is reached through ``self.server``."""

    server_version = "ServiceNow"
    server: _Server
    _cookie: str | None = None  # the JSESSIONID to set on the reply being written

    def version_string(self) -> str:
        """``Server: ServiceNow``."""
        return self.server_version

    # ------------------------------------------------------------------ plumbing
    def _read_body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            parts = []
            while True:
                size = int(self.rfile.readline(65537).split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass
                    break
                parts.append(self.rfile.read(size))
                self.rfile.readline(65537)
            return b"".join(parts)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _write(self, reply: Reply) -> None:
        self.send_response(reply.status)
        for name, value in reply.headers:
            self.send_header(name, value)
        if self._cookie is not None:  # a request without a session gets one, as the instance does
            self.send_header("Set-Cookie", f"JSESSIONID={self._cookie}; Path=/; HttpOnly")
        if reply.content_type and reply.status != 204:
            self.send_header("Content-Type", reply.content_type)
        if reply.status not in (204, 304):
            self.send_header("Content-Length", str(len(reply.body)))
        self.end_headers()
        if self.command != "HEAD" and reply.status not in (204, 304) and reply.body:
            self.wfile.write(reply.body)

    # ------------------------------------------------------------------ dispatch
    def _route(self, inst: Instance, req: Request, family: str | None) -> Reply:
        if family == "oauth":
            return inst.auth.oauth_token(req)
        if family is None:
            return error_reply(400, text("no_resource"), None)
        user = inst.auth.authenticate(req)
        if user is None:
            headers = [("WWW-Authenticate", 'BASIC realm="Service-now"')]
            return error_reply(401, "User Not Authenticated", "Required to provide Auth information", headers)
        rate = inst.faults.check_rate(family, user.username)
        if rate.denied:
            window = "hour" if rate.window_sec == 3600 else f"{rate.window_sec} seconds"
            detail = f"Rate limit of {rate.limit} requests per {window} for {_API_NAMES.get(family, family)} exceeded"
            return error_reply(
                429, "Rate limit exceeded", detail, [*rate.headers, ("Retry-After", str(rate.retry_after))]
            )
        reply = self._api(inst, req, user)
        reply.headers.extend(rate.headers)
        return reply

    @staticmethod
    def _api(inst: Instance, req: Request, user: User) -> Reply:
        accept = req.header("Accept")
        if not accept:
            return error_reply(400, text("accept_missing"), text("accept_missing.detail"))
        if not _accepts_json(accept):
            return error_reply(406, text("accept_unsupported"), text("accept_unsupported.detail"))
        if req.method in ("POST", "PUT", "PATCH") and req.body:
            content_type = req.header("Content-Type")
            if not content_type:
                return error_reply(400, text("content_type_missing"), None)
            if "json" not in content_type.lower():
                return error_reply(415, text("content_type_unsupported"), text("content_type_unsupported.detail"))
        if table_api.PATH.match(req.path):
            return table_api.handle(inst, req, user)
        if cmdb_meta.PATH.match(req.path):
            return cmdb_meta.handle(inst, req)
        if ire.PATH.match(req.path):
            return ire.handle(inst, req, user)
        if import_set.PATH.match(req.path):
            return import_set.handle(inst, req, user)
        return error_reply(400, text("no_resource"), None)

    def _handle(self) -> None:
        inst = self.server.instance
        parts = urlsplit(self.path)
        body = self._read_body()
        method = self.command
        override = self.headers.get("X-HTTP-Method-Override")
        if method == "POST" and override:
            method = override.strip().upper()
        host = self.headers.get("Host") or "{}:{}".format(*self.server.server_address[:2])
        req = Request(
            method,
            parts.path,
            parse_qs(parts.query, keep_blank_values=True),
            self.headers,
            body,
            self.path,
            f"http://{host}",
        )
        self._cookie = None
        if parts.path.startswith("/sim/control"):
            self._write(control.handle(inst, req))
            return
        family = family_of(parts.path)
        if family is not None and session_of(self.headers) is None:
            self._cookie = new_session_id()
        reply = self._gated(inst, req, family) if family is not None else self._answer(inst, req, None, None, None)
        if reply is not None:
            self._write(reply)

    def _gated(self, inst: Instance, req: Request, family: str) -> Reply | None:
        """Answer an API request through the profile's gates (session, API_INT semaphore), counting it.

        Gates are let go and counters settled when the reply is ready, before it is written: a client that has
        its answer never finds its request still holding a thread."""
        arrived = time.monotonic()
        stats = inst.stats.modelled
        pacer = inst.pacer
        gate = pacer if pacer is not None and family in GATED_FAMILIES else None
        session = session_of(self.headers) if gate is not None else None
        has_thread = False
        try:
            if gate is not None:
                with stats.waiting(family):
                    if session is not None:
                        gate.sessions.acquire(session)
                    has_thread = gate.semaphore.acquire()
                if not has_thread:  # threads busy and the queue full: the node refuses at once
                    stats.reject(family, time.monotonic() - arrived)
                    reply = error_reply(429, text("throttled"), text("throttled.detail"))
                    inst.stats.record(req.method, req.path, reply.status)
                    return reply
            outcome = _Outcome(time.monotonic())
            stats.enter(family)
            try:
                return self._answer(inst, req, family, pacer, outcome)
            finally:
                server_s = time.monotonic() - outcome.started
                queued_s = outcome.started - arrived
                stats.leave(family, outcome.modelled_s, server_s, queued_s, rejected=outcome.refused)
        finally:
            if has_thread:
                assert gate is not None
                gate.semaphore.release()
            if session is not None:
                assert gate is not None
                gate.sessions.release(session)

    def _answer(
        self, inst: Instance, req: Request, family: str | None, pacer: ServiceNowPacer | None, outcome: _Outcome | None
    ) -> Reply | None:
        """The reply to one request (counted in the stats), ready no sooner than its modelled time after
        ``outcome.started`` when a profile is in force; None when the connection was dropped instead."""
        method, path = req.method, req.path
        reply: Reply | None = None
        try:
            if family is not None:
                if inst.faults.take_throttle(family):  # a semaphore-style 429: refused, not worked on
                    reply = error_reply(429, text("throttled"), text("throttled.detail"))
                    if outcome is not None:
                        outcome.refused = True
                else:
                    code = inst.faults.take_status(family)
                    if code is not None:
                        reply = status_fault_reply(code)
            if reply is None:
                reply = self._route(inst, req, family)
                lost = inst.faults.take_after_commit(family) if family is not None else None
                if lost == 0:  # processed and committed; the client never hears of it
                    inst.stats.record(method, path, reply.status)
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return None
                if lost is not None:
                    inst.stats.record(method, path, reply.status)
                    reply = status_fault_reply(lost)
            if inst.faults.latency_ms:
                time.sleep(inst.faults.latency_ms / 1000)
            if pacer is not None and family is not None and outcome is not None and not outcome.refused:
                outcome.modelled_s = pacer.modelled_s(family, reply.cost)
                pacer.pace(outcome.started, outcome.modelled_s)
        except Exception as exc:  # pragma: no cover - a bug must not kill the connection silently
            traceback.print_exc()
            reply = error_reply(500, "Internal Server Error", str(exc))
        inst.stats.record(method, path, reply.status)
        return reply

    def do_GET(self) -> None:
        """GET."""
        self._handle()

    def do_POST(self) -> None:
        """POST."""
        self._handle()

    def do_PUT(self) -> None:
        """PUT."""
        self._handle()

    def do_PATCH(self) -> None:
        """PATCH."""
        self._handle()

    def do_DELETE(self) -> None:
        """DELETE."""
        self._handle()

    def do_HEAD(self) -> None:
        """HEAD."""
        self._handle()


class ServiceNowSimulator(SimulatorApp):
    thread_name = "servicenow-simulator"

    """A running (or startable) ServiceNow simulator.

    >>> sim = ServiceNowSimulator(port=0).start()   # doctest: +SKIP
    >>> sim.url                                      # doctest: +SKIP
    'http://127.0.0.1:54321'
    >>> sim.stop()                                   # doctest: +SKIP

    ``data_path`` is a SQLite file whose CMDB survives restarts (None = in memory).  ``latency`` is a latency
    profile to answer with (see :mod:`simulators.latency`; None = as fast as the simulator can, the default),
    changeable at run time with ``POST /sim/control/latency``.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        data_path: str | None = None,
        username: str = "sn_integration",
        password: str = "sn-Passw0rd",  # noqa: S107 - the simulator's documented demo credential
        oauth_client_id: str = "qcmdb_client",
        oauth_client_secret: str = "client-s3cret",  # noqa: S107 - documented demo credential
        discovery_sources: tuple[str, ...] = DEFAULT_DISCOVERY_SOURCES,
        seed: int = 1,
        token_ttl_seconds: int = 1800,
        verbose: bool = False,
        latency: LatencyProfile | None = None,
    ) -> None:
        super().__init__(host, port, verbose)
        self.data_path = data_path
        self._settings = (username, password, oauth_client_id, oauth_client_secret, tuple(discovery_sources))
        self._seed = seed
        self._token_ttl = token_ttl_seconds
        self._latency = latency
        self.instance = self._make_instance()
        self._closed = False

    def _make_instance(self) -> Instance:
        if self.data_path:
            Path(self.data_path).parent.mkdir(parents=True, exist_ok=True)
        username, password, client_id, client_secret, sources = self._settings
        return Instance(
            self.data_path,
            username,
            password,
            client_id,
            client_secret,
            sources,
            self._seed,
            self._token_ttl,
            self._latency,
        )

    def before_start(self) -> None:
        if self._closed:  # a file-backed store was closed by stop(): open it again
            self.instance = self._make_instance()
            self._closed = False

    def make_server(self) -> _Server:
        server = server_class_for(self.host, _Server)((self.host, self.port), ServiceNowHandler)
        server.instance = self.instance
        return server

    def after_stop(self) -> None:
        # Let go of requests still held by a modelled wait; the profile stays in force for the next start.
        pacer = self.instance.pacer
        self._latency = pacer.profile if pacer is not None else None
        self.instance.set_latency(self._latency)
        if self.data_path:
            self.instance.store.close()
            self._closed = True


def build_parser() -> argparse.ArgumentParser:
    """Command-line options."""
    parser = argparse.ArgumentParser(prog="python -m simulators.servicenow", description="ServiceNow CMDB simulator")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8790, help="port (0 = any free port)")
    parser.add_argument("--data", default=None, help="SQLite file that keeps the CMDB across restarts")
    parser.add_argument("--user", default="sn_integration", help="integration user name")
    parser.add_argument("--password", default="sn-Passw0rd", help="integration user password")
    parser.add_argument("--client-id", default="qcmdb_client", help="OAuth client id")
    parser.add_argument("--client-secret", default="client-s3cret", help="OAuth client secret")
    parser.add_argument(
        "--discovery-source",
        action="append",
        default=None,
        help="discovery_source choice for a new store (repeatable; default: Qualys, ServiceNow, ...)",
    )
    parser.add_argument("--seed", type=int, default=1, help="sys_id seed of a new store")
    parser.add_argument("--token-ttl", type=int, default=1800, help="OAuth access token lifetime in seconds")
    parser.add_argument(
        "--latency-profile",
        type=latency_profile_arg,
        default=None,
        metavar="SPEC",
        help="answer no faster than the latency model: 'default', a JSON file or inline JSON "
        '(e.g. \'{"scale": 0.1, "servicenow": {"semaphore": 4}}\'); see README "Latency model"',
    )
    parser.add_argument("--verbose", action="store_true", help="log every request to stderr")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run until SIGTERM/SIGINT; the first stdout line is ``ServiceNow simulator listening on <url>``."""
    args = build_parser().parse_args(argv)
    sim = ServiceNowSimulator(
        host=args.host,
        port=args.port,
        data_path=args.data,
        username=args.user,
        password=args.password,
        oauth_client_id=args.client_id,
        oauth_client_secret=args.client_secret,
        discovery_sources=tuple(args.discovery_source or DEFAULT_DISCOVERY_SOURCES),
        seed=args.seed,
        token_ttl_seconds=args.token_ttl,
        verbose=args.verbose,
        latency=args.latency_profile,
    )
    return serve_until_signal(sim, "ServiceNow simulator")


if __name__ == "__main__":
    sys.exit(main())
