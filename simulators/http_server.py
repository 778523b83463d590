"""HTTP plumbing shared by the simulators: a threaded server that can close its keep-alive connections on stop,
the start/stop life cycle of a simulator, and serving one from the command line until SIGTERM/SIGINT."""

from __future__ import annotations

import contextlib
import signal
import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType
from typing import Self, TypeVar


class SimulatorServer(ThreadingHTTPServer):
    """A threaded HTTP server that tracks its open connections, so ``stop()`` never waits on idle keep-alives."""

    daemon_threads = True
    allow_reuse_address = True
    verbose: bool = False

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler]) -> None:
        super().__init__(address, handler)
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()

    def close_connections(self) -> None:
        """Shut down open keep-alive connections so their handler threads end."""
        with self.connections_lock:
            connections = list(self.connections)
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)


S = TypeVar("S", bound=SimulatorServer)


def server_class(host: str, base: type[S]) -> type[S]:
    """``base``, or its IPv6 variant for an IPv6 host."""
    if ":" not in host:
        return base
    return type(f"{base.__name__}IPv6", (base,), {"address_family": socket.AF_INET6})


class TrackedHandler(BaseHTTPRequestHandler):
    """A handler that registers its connection with the server and logs only when the server is verbose."""

    protocol_version = "HTTP/1.1"
    sys_version = ""
    server: SimulatorServer

    def setup(self) -> None:
        super().setup()
        with self.server.connections_lock:
            self.server.connections.add(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            with self.server.connections_lock:
                self.server.connections.discard(self.connection)

    def log_message(self, format: str, *args: object) -> None:
        if self.server.verbose:
            sys.stderr.write("%s - %s\n" % (self.address_string(), format % args))  # noqa: UP031


class SimulatorApp:
    """Start/stop of a simulator: bind, serve in a daemon thread, report the URL, shut down cleanly.

    Subclasses build their server (with their state attached) in :meth:`make_server`, and may prepare or clean up
    in :meth:`before_start` / :meth:`after_stop`.
    """

    thread_name = "simulator"

    def __init__(self, host: str, port: int, verbose: bool) -> None:
        self.host = host
        self.port = port
        self.verbose = verbose
        self._server: SimulatorServer | None = None
        self._thread: threading.Thread | None = None

    def make_server(self) -> SimulatorServer:
        raise NotImplementedError

    def before_start(self) -> None:
        """Called before every start."""

    def after_stop(self) -> None:
        """Called after every stop."""

    @property
    def url(self) -> str:
        """Base URL (``http://host:port``)."""
        if self._server is None:
            raise RuntimeError("the simulator is not started")
        port = self._server.server_address[1]
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{port}"

    def start(self) -> Self:
        """Bind and serve in a daemon thread; returns self."""
        if self._server is not None:
            return self
        self.before_start()
        server = self.make_server()
        server.verbose = self.verbose
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.1}, name=self.thread_name, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Shut down the server and join its thread."""
        server, thread = self._server, self._thread
        if server is None:
            return
        server.shutdown()
        server.server_close()
        server.close_connections()
        if thread is not None:
            thread.join(timeout=10)
        self._server = None
        self._thread = None
        self.after_stop()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def serve_until_signal(sim: SimulatorApp, label: str) -> int:
    """Run ``sim`` until SIGTERM/SIGINT; the first stdout line is ``<label> listening on <url>``."""
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        sim.start()
        print(f"{label} listening on {sim.url}", flush=True)
        while not stop.wait(0.5):
            pass
    finally:
        sim.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0
