"""Request/reply value types and the ServiceNow error envelope (reference section 1.5)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from email.message import Message
from http import HTTPStatus
from urllib.parse import parse_qs

import msgspec

JSON_TYPE = "application/json;charset=UTF-8"


@dataclass(slots=True)
class Request:
    """A parsed incoming request; ``base_url`` is ``http://<Host header>`` for links."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: Message
    body: bytes
    target: str
    base_url: str = ""

    def param(self, name: str, default: str | None = None) -> str | None:
        """First query-string value of ``name``, or ``default``."""
        values = self.query.get(name)
        return values[0] if values else default

    def flag(self, name: str, default: bool = False) -> bool:
        """A ``true``/``false`` query parameter."""
        value = self.param(name)
        if value is None or value == "":
            return default
        return value.strip().lower() == "true"

    def header(self, name: str) -> str | None:
        """A request header (case-insensitive), or None."""
        value = self.headers.get(name)
        return str(value) if value is not None else None

    def form(self) -> dict[str, str]:
        """A form-encoded body as a flat dict (first value wins)."""
        try:
            text = self.body.decode("utf-8")
        except UnicodeDecodeError:
            text = self.body.decode("latin-1")
        return {k: v[0] for k, v in parse_qs(text, keep_blank_values=True).items()}


@dataclass(slots=True)
class Reply:
    """A response before it is written.

    ``cost`` is what the latency model needs to know of the work done (:mod:`simulators.servicenow.pacing`):
    ``{"cis", "related", "dependents"}`` for an IRE request, ``{"rows"}`` for a Table API request.
    """

    status: int
    body: bytes = b""
    content_type: str | None = JSON_TYPE
    headers: list[tuple[str, str]] = field(default_factory=list)
    cost: dict[str, int] | None = None


def json_reply(status: int, document: object, headers: list[tuple[str, str]] | None = None) -> Reply:
    """A compact JSON reply."""
    body = json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()
    return Reply(status, body, JSON_TYPE, list(headers or []))


def large_json_reply(status: int, document: object) -> Reply:
    """:func:`json_reply` for a large document without floats (an IRE result): the same bytes, sooner.

    msgspec writes strings, integers, booleans, null, lists and dicts byte for byte as :func:`json_reply`
    does (compact, UTF-8, the same escapes), several times faster; floats it would spell differently
    (``1e16`` for ``1e+16``), so a document that may hold one must use :func:`json_reply`.  What msgspec
    refuses (a lone surrogate) goes through :func:`json_reply`, to fail the same way.
    """
    try:
        body = msgspec.json.encode(document)
    except (TypeError, ValueError, msgspec.EncodeError):
        return json_reply(status, document)
    return Reply(status, body, JSON_TYPE, [])


def error_reply(status: int, message: str, detail: str | None, headers: list[tuple[str, str]] | None = None) -> Reply:
    """The platform envelope ``{"error": {"message", "detail"}, "status": "failure"}``."""
    return json_reply(status, {"error": {"message": message, "detail": detail}, "status": "failure"}, headers)


def html_reply(status: int, detail: str = "") -> Reply:
    """A load-balancer style HTML error page (502/503)."""
    phrase = HTTPStatus(status).phrase
    body = (
        f"<html><head><title>{status} {phrase}</title></head><body><h1>{phrase}</h1>"
        + (f"<p>{detail}</p>" if detail else "")
        + "</body></html>"
    )
    return Reply(status, body.encode(), "text/html;charset=UTF-8")
