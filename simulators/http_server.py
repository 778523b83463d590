"""HTTP plumbing shared by the simulators: a threaded server that can close its keep-alive connections on stop."""

from __future__ import annotations

import contextlib
import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TypeVar


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
