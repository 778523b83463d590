"""HTTP reply value type shared by the FO, QPS, gateway and control handlers."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import Message
from http import HTTPStatus
from urllib.parse import parse_qs


@dataclass(slots=True)
class Request:
    """A parsed incoming request."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: Message
    body: bytes
    target: str

    def param(self, name: str) -> str | None:
        """First query-string value of ``name`` (exact name), or None."""
        values = self.query.get(name)
        return values[0] if values else None

    def header(self, name: str) -> str | None:
        """A request header (case-insensitive), or None."""
        value = self.headers.get(name)
        return str(value) if value is not None else None

    def form(self) -> dict[str, list[str]]:
        """Query-string parameters merged with a form-encoded body (FO style)."""
        merged = {k: list(v) for k, v in self.query.items()}
        content_type = (self.header("Content-Type") or "").lower()
        if self.body and ("form" in content_type or not content_type):
            try:
                text = self.body.decode("utf-8")
            except UnicodeDecodeError:
                text = self.body.decode("latin-1")
            for key, values in parse_qs(text, keep_blank_values=True).items():
                merged.setdefault(key, []).extend(values)
        return merged


@dataclass(slots=True)
class Reply:
    """A response before it is written.

    ``chunks`` is the body as a list of byte strings (written one by one; ``Content-Length`` is their
    total).  ``data_offset`` marks a *data* response (eligible for the truncate / invalid-UTF-8 faults):
    the byte offset where the records start, after the envelope's cursor fields; ``utf8_marker`` is a
    byte string after which an invalid byte may be inserted (inside a string value).  ``cost`` is what the
    latency model needs to know of the work done (:mod:`simulators.qualys.pacing`): ``{"assets",
    "software_rows", "detail_rows"}`` for a CSAM page, ``{"assets"}`` for a QPS HostAsset page; ``refused``
    marks a reply of a rate or concurrency gate (not worked on, so not paced).
    """

    status: int
    chunks: list[bytes] = field(default_factory=list)
    content_type: str | None = "application/json"
    headers: list[tuple[str, str]] = field(default_factory=list)
    data_offset: int | None = None
    utf8_marker: bytes | None = None
    disconnect_after: int | None = None  # the "disconnect" fault: send this many body bytes, then drop the link
    finalizers: list[Callable[[], None]] = field(default_factory=list)
    cost: dict[str, int] | None = None
    refused: bool = False

    @property
    def length(self) -> int:
        """Total body length."""
        return sum(len(c) for c in self.chunks)

    def body(self) -> bytes:
        """The body as one byte string."""
        return b"".join(self.chunks)


def json_reply(status: int, document: object, headers: list[tuple[str, str]] | None = None) -> Reply:
    """A compact JSON reply."""
    body = json.dumps(document, separators=(",", ":")).encode()
    return Reply(status, [body], "application/json", list(headers or []))


def text_reply(status: int, text: str, content_type: str = "text/plain;charset=UTF-8") -> Reply:
    """A plain-text (or any textual content type) reply."""
    return Reply(status, [text.encode()], content_type)


def xml_reply(status: int, text: str) -> Reply:
    """An XML reply."""
    return Reply(status, [text.encode()], "text/xml;charset=UTF-8")


def html_error(status: int, detail: str | None = None) -> Reply:
    """A load-balancer style HTML error page (502/504/520/414/...)."""
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "Unknown Error" if status != 520 else "Web Server Returned an Unknown Error"
    if status == 520:
        phrase = "Web Server Returned an Unknown Error"
    body = (
        f"<html>\r\n<head><title>{status} {phrase}</title></head>\r\n<body>\r\n"
        f"<center><h1>{status} {phrase}</h1></center>\r\n"
        + (f"<p>{detail}</p>\r\n" if detail else "")
        + "<hr><center>Qualys</center>\r\n</body>\r\n</html>\r\n"
    )
    return Reply(status, [body.encode()], "text/html")
