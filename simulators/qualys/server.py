"""HTTP front end of the Qualys simulator: routing, fault application, :class:`QualysSimulator`, ``main``.

One port serves both "hosts" by path prefix:

* API server: ``/api/...`` (FO), ``/qps/...`` (QPS)
* Gateway: ``/auth``, ``/rest/...`` (CSAM v2), ``/am/...`` (GAV v1)
* Control: ``/sim/control/...`` (no auth, no faults, not counted in stats)

A path the simulator does not serve never answers 200: ``/api/...`` gets an FO SIMPLE_RETURN 404,
``/qps/...`` a ServiceResponse ``INVALID_URL`` 404, ``/rest/...`` and ``/am/...`` the gateway's JSON 404,
anything else (``/msp/about.php``) an HTML 404 page.  The README lists them under "Not simulated".
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import socket
import sys
import time
import traceback
from urllib.parse import parse_qs, urlsplit

from simulators.http_server import SimulatorApp, SimulatorServer, TrackedHandler, serve_until_signal
from simulators.http_server import server_class as server_class_for
from simulators.latency import LatencyProfile, latency_profile_arg
from simulators.qualys import control, fo, gateway, qps
from simulators.qualys.accounts import Account
from simulators.qualys.replies import Reply, Request, html_error, json_reply
from simulators.qualys.shape import EstateShape, ShapeLike
from simulators.qualys.subscription import Subscription, family_of
from simulators.qualys.unverified import text

_MAINTENANCE_HTML = (
    "<!DOCTYPE html>\n<html><head><title>Qualys - Scheduled Maintenance</title></head>\n"
    "<body><h1>Scheduled Maintenance</h1><p>{message}</p></body></html>\n"
)


def status_fault_reply(sub: Subscription, family: str, code: int) -> Reply:
    """The reply for an injected HTTP status (maintenance 503, gateway 5xx, 202 retry-later)."""
    gateway_family = family in ("csam", "auth")
    if code == 503:
        if gateway_family:
            return json_reply(503, {"status": 503, "error": "Service Unavailable", "message": text("maintenance")})
        return Reply(503, [_MAINTENANCE_HTML.format(message=text("maintenance")).encode()], "text/html")
    if code == 500 and gateway_family:
        return json_reply(500, {"status": 500, "error": "Internal Server Error", "message": "Internal Server Error"})
    if code == 202:
        if family == "fo":
            return fo.simple_return(sub, 202, None, text("fo.retry_later"))
        return Reply(202, [], None)
    return html_error(code)


def apply_data_faults(sub: Subscription, family: str, reply: Reply) -> None:
    """Corrupt a successful data response when an invalid-UTF-8 and/or truncate fault is pending."""
    if reply.data_offset is None or reply.status != 200:
        return
    offset = reply.data_offset
    if sub.faults.take_invalid_utf8(family):
        body = reply.body()
        marker = reply.utf8_marker or b'"'
        pos = body.find(marker, offset)
        if pos >= 0:
            cut = pos + len(marker)
            reply.chunks = [body[:cut], b"\xff", body[cut:]]
    if sub.faults.take_disconnect(family):
        # The full Content-Length is announced, half the body is sent, then the connection is closed
        # (a reset proxy or a dropped link): the client sees an incomplete read, not a short document.
        reply.disconnect_after = offset + (reply.length - offset) // 2
    if sub.faults.take_empty_body(family):
        reply.chunks = [b""]
        return
    fraction = sub.faults.take_truncate(family)
    if fraction is not None:
        body = reply.body()
        cut = offset + int((len(body) - offset) * fraction)
        cut = max(offset + 1, min(cut, len(body) - 2))
        reply.chunks = [body[:cut]]


class _Server(SimulatorServer):
    subscription: Subscription


class QualysHandler(TrackedHandler):
    """Request handler; the subscription is reached through ``self.server``."""

    server_version = "Qualys"
    server: _Server

    # ------------------------------------------------------------------ plumbing
    def _read_body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            parts = []
            while True:
                size_line = self.rfile.readline(65537).split(b";")[0].strip()
                size = int(size_line or b"0", 16)
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass
                    break
                parts.append(self.rfile.read(size))
                self.rfile.readline(65537)
            return b"".join(parts)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _write(self, reply: Reply, account: Account | None) -> None:
        sub = self.server.subscription
        chunks = reply.chunks
        encoding = None
        if sub.faults.gzip and chunks and "gzip" in (self.headers.get("Accept-Encoding") or "") and reply.length > 1024:
            chunks = [gzip.compress(reply.body(), compresslevel=1)]
            encoding = "gzip"
        self.send_response(reply.status)
        for name, value in reply.headers:
            self.send_header(name, value)
        if reply.content_type and reply.status != 204:
            self.send_header("Content-Type", reply.content_type)
        if encoding:
            self.send_header("Content-Encoding", encoding)
        self.send_header("X-Powered-By", sub.powered_by(account.user_uuid if account else None))
        if reply.status not in (204, 304):
            self.send_header("Content-Length", str(sum(len(c) for c in chunks)))
        self.end_headers()
        if self.command != "HEAD" and reply.status not in (204, 304):
            if reply.disconnect_after is not None:
                self.wfile.write(b"".join(chunks)[: reply.disconnect_after])
                self.wfile.flush()
                self.close_connection = True
                with contextlib.suppress(OSError):
                    self.connection.shutdown(socket.SHUT_RDWR)
                return
            for chunk in chunks:
                self.wfile.write(chunk)

    # ------------------------------------------------------------------ dispatch
    def _route(self, sub: Subscription, req: Request, family: str | None) -> tuple[Reply, Account | None]:
        if family == "auth":
            return gateway.authenticate(sub, req)
        if family == "csam":
            return gateway.handle(sub, req)
        if family == "qps":
            return qps.handle(sub, req)
        if family == "fo":
            return fo.handle(sub, req)
        # Any other path (``/msp/about.php``, ...) is one the API server's web front does not serve: its HTML
        # 404 page, the shape of the HTML pages the reference shows that front answering (the 414 page).
        return html_error(404), None

    def _handle(self) -> None:
        sub = self.server.subscription
        parts = urlsplit(self.path)
        body = self._read_body()
        req = Request(
            self.command,
            parts.path,
            parse_qs(parts.query, keep_blank_values=True),
            self.headers,
            body,
            self.path,
        )
        account: Account | None = None
        if parts.path.startswith("/sim/control"):
            self._write(control.handle(sub, req), None)
            return
        family = family_of(parts.path)
        reply: Reply | None = None
        # The latency model: with a profile, the reply is ready no sooner than its modelled time after the work
        # started; the gates (rate and concurrency, see simulators/qualys/pacing.py) refuse at once, never queue.
        # Counters, gates (the reply's finalizers) and stats are settled when the reply is ready, before it is
        # written, so a client that has its answer never finds its call still running.
        pacer = sub.pacer
        modelled = sub.stats.modelled
        started = time.monotonic()
        modelled_s = 0.0
        if family is not None:
            modelled.enter(family)
        try:
            try:
                if self.command == "GET" and len(self.path) > sub.faults.max_get_url:
                    reply = html_error(414)
                elif family is not None:
                    code = sub.faults.take_status(family)
                    if code is not None:
                        reply = status_fault_reply(sub, family, code)
                if reply is None:
                    reply, account = self._route(sub, req, family)
                    if family is not None:
                        apply_data_faults(sub, family, reply)
                if sub.faults.latency_ms:
                    time.sleep(sub.faults.latency_ms / 1000)
                if pacer is not None and family is not None and not reply.refused:
                    modelled_s = pacer.modelled_s(family, reply.cost)
                    pacer.pace(started, modelled_s)
            except Exception as exc:  # pragma: no cover - defensive: a bug must not kill the connection silently
                traceback.print_exc()
                failed = reply
                reply = json_reply(500, {"status": 500, "error": "Internal Server Error", "message": str(exc)})
                if failed is not None:
                    reply.finalizers = failed.finalizers
        finally:
            server_s = time.monotonic() - started
            if reply is not None:
                for finalizer in reply.finalizers:
                    finalizer()
                sub.stats.record(self.command, parts.path, reply.status)
            if family is not None:
                modelled.leave(family, modelled_s, server_s, 0.0, rejected=reply is not None and reply.refused)
        assert reply is not None
        self._write(reply, account)

    def do_GET(self) -> None:
        """GET."""
        self._handle()

    def do_POST(self) -> None:
        """POST."""
        self._handle()

    def do_PUT(self) -> None:
        """PUT."""
        self._handle()

    def do_DELETE(self) -> None:
        """DELETE."""
        self._handle()

    def do_HEAD(self) -> None:
        """HEAD."""
        self._handle()


class QualysSimulator(SimulatorApp):
    thread_name = "qualys-simulator"

    """A running (or startable) Qualys simulator.

    >>> sim = QualysSimulator(port=0, assets=200, seed=7).start()   # doctest: +SKIP
    >>> sim.url                                                      # doctest: +SKIP
    'http://127.0.0.1:54321'
    >>> sim.stop()                                                   # doctest: +SKIP

    ``shape`` (an :class:`~simulators.qualys.shape.EstateShape`, a ``"software=120,ports=8"`` string or a
    mapping) sets target averages of the per-asset list sizes and the cloud fraction; ValueError if a target
    is malformed or out of reach.  ``latency`` is a latency profile to answer with (see
    :mod:`simulators.latency`; None = as fast as the simulator can, the default), changeable at run time with
    ``POST /sim/control/latency``.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        assets: int = 200,
        seed: int = 7,
        username: str = "qualys_demo",
        password: str = "demo-Passw0rd",  # noqa: S107 - the simulator's documented demo credential
        pod: str = "US1",
        jwt_ttl_seconds: int = 14_400,
        software_max: int = 400,
        verbose: bool = False,
        shape: ShapeLike = None,
        latency: LatencyProfile | None = None,
    ) -> None:
        super().__init__(host, port, verbose)
        self.subscription = Subscription(
            assets, seed, username, password, pod, jwt_ttl_seconds, software_max, shape, latency
        )

    def make_server(self) -> _Server:
        server = server_class_for(self.host, _Server)((self.host, self.port), QualysHandler)
        server.subscription = self.subscription
        return server

    def after_stop(self) -> None:
        # Let go of requests still held by a modelled wait; the profile stays in force for the next start.
        pacer = self.subscription.pacer
        if pacer is not None:
            self.subscription.set_latency(pacer.profile)


def _shape_arg(text: str) -> EstateShape | None:
    try:
        return EstateShape.of(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def build_parser() -> argparse.ArgumentParser:
    """Command-line options."""
    parser = argparse.ArgumentParser(prog="python -m simulators.qualys", description="Qualys API simulator")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8780, help="port (0 = any free port)")
    parser.add_argument("--assets", type=int, default=200, help="number of assets in the estate")
    parser.add_argument("--seed", type=int, default=7, help="estate seed")
    parser.add_argument("--user", default="qualys_demo", help="API username")
    parser.add_argument("--password", default="demo-Passw0rd", help="API password")
    parser.add_argument("--pod", default="US1", help="platform label (US1, US3, EU1, ...)")
    parser.add_argument("--jwt-ttl", type=int, default=14_400, help="gateway JWT lifetime in seconds")
    parser.add_argument("--software-max", type=int, default=400, help="max software rows per asset")
    parser.add_argument(
        "--shape",
        type=_shape_arg,
        default=None,
        metavar="SPEC",
        help="target averages per asset and cloud fraction, e.g. software=120,ports=8,interfaces=2,volumes=3,cloud=0.1",
    )
    parser.add_argument(
        "--latency-profile",
        type=latency_profile_arg,
        default=None,
        metavar="SPEC",
        help="answer no faster than the latency model: 'default', a JSON file or inline JSON "
        '(e.g. \'{"scale": 0.1, "qualys": {"concurrency": 2}}\'); see README "Latency model"',
    )
    parser.add_argument("--verbose", action="store_true", help="log every request to stderr")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run until SIGTERM/SIGINT; the first stdout line is ``Qualys simulator listening on <url>``."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        sim = QualysSimulator(
            host=args.host,
            port=args.port,
            assets=args.assets,
            seed=args.seed,
            username=args.user,
            password=args.password,
            pod=args.pod,
            jwt_ttl_seconds=args.jwt_ttl,
            software_max=args.software_max,
            verbose=args.verbose,
            shape=args.shape,
            latency=args.latency_profile,
        )
    except ValueError as exc:  # a shape out of reach for this estate
        parser.error(str(exc))
    return serve_until_signal(sim, "Qualys simulator")


if __name__ == "__main__":
    sys.exit(main())
