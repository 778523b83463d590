"""A tiny HTTP server on 127.0.0.1 that answers with a fixed response, sent at once or dribbled a few bytes at a time.

The hooks' fault tests use it where the simulators cannot misbehave in the way needed: a server that keeps a request
alive for a minute by sending four bytes at a time (each socket read succeeds, so a per-read timeout never fires),
or one that answers with exactly the headers a test needs. Pacing waits on the server's stop event, so :meth:`stop`
ends every connection at once; the tests assert what the client reports, never how long anything took.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from types import TracebackType


def http_response(status: str, headers: dict[str, str], body: bytes = b"") -> bytes:
    """The raw bytes of an HTTP/1.1 response (each connection serves one request, then closes)."""
    head = "".join(f"{name}: {value}\r\n" for name, value in {**headers, "Connection": "close"}.items())
    return f"HTTP/1.1 {status}\r\n{head}\r\n".encode() + body


class DribblingServer:
    """Answer every request with ``response``: its first ``dribble_from`` bytes at once (all of them when None),
    the rest ``step`` bytes every ``interval_s`` seconds until done, the client gives up, or the server stops.

    :ivar requests: the number of requests received.
    :ivar answered: set once a response has been sent complete (a dribbling one never is, in a test).
    """

    def __init__(
        self, response: bytes, *, dribble_from: int | None = None, step: int = 4, interval_s: float = 0.1
    ) -> None:
        self.response = response
        self.dribble_from = len(response) if dribble_from is None else dribble_from
        self.step = step
        self.interval_s = interval_s
        self.requests = 0
        self.answered = threading.Event()
        self._stopped = threading.Event()
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._accepting = threading.Thread(target=self._accept, name="dribbling-server", daemon=True)
        self._handlers: list[threading.Thread] = []
        self._connections: list[socket.socket] = []
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"

    def __enter__(self) -> DribblingServer:
        self._accepting.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    def stop(self) -> None:
        """Stop serving: end the dribbles, close every connection, and wait for the server's threads."""
        self._stopped.set()
        _shut_down(self._listener)  # wakes the blocked accept(); closing alone would not
        self._listener.close()
        self._accepting.join(timeout=10)
        with self._lock:
            for conn in self._connections:
                _shut_down(conn)  # wakes a handler blocked reading the request
                conn.close()
            handlers = list(self._handlers)
        for handler in handlers:
            handler.join(timeout=10)

    def _accept(self) -> None:
        while not self._stopped.is_set():
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return  # the listener was closed by stop()
            handler = threading.Thread(target=self._serve, args=(conn,), name="dribbling-server-conn", daemon=True)
            with self._lock:
                self._connections.append(conn)
                self._handlers.append(handler)
                self.requests += 1
            handler.start()

    def _serve(self, conn: socket.socket) -> None:
        try:
            _read_request(conn)
            conn.sendall(self.response[: self.dribble_from])
            for start in range(self.dribble_from, len(self.response), self.step):
                if self._stopped.wait(self.interval_s):
                    return
                conn.sendall(self.response[start : start + self.step])
            self.answered.set()
        except OSError:
            return  # the client gave up and closed the connection
        finally:
            conn.close()


def _shut_down(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):  # not connected, or already closed
        sock.shutdown(socket.SHUT_RDWR)


def _read_request(conn: socket.socket) -> None:
    """Read one request (headers and a Content-Length body), so the client is not cut off while sending it."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(body) < length:
        chunk = conn.recv(65536)
        if not chunk:
            return
        body += chunk
