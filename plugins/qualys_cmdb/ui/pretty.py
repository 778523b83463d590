"""Raw responses made readable, a piece at a time: JSON and XML indented as they are read.

A Qualys page can be 30 MB. The record view never holds it whole: the stored (gzip) response is decompressed in
chunks, each chunk is re-indented as far as its last complete token, and the rest is carried into the next one. A
response that is not well-formed (cut off, or not JSON / XML at all) is still shown, token by token, as far as it
goes; the indentation then is only as good as its brackets.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Iterable, Iterator
from html import escape

CHUNK = 256 * 1024  # decompressed bytes per step
INDENT = "  "

# A JSON token: a whole string, a structural character, white space, or a bare literal (number, true, false, null).
_JSON_TOKEN = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[{}\[\],:]|\s+|[^"{}\[\],:\s]+')
# An XML token: CDATA, a comment, a processing instruction or declaration, a tag, or text.
_XML_TOKEN = re.compile(r"<!\[CDATA\[.*?\]\]>|<!--.*?-->|<[?!][^>]*>|<[^>]*>|[^<]+", re.S)


def gunzip_chunks(payload: bytes | None, size: int = CHUNK) -> Iterator[bytes]:
    """The decompressed body of a stored (gzip) response, ``size`` bytes at most per piece."""
    if not payload:
        return
    inflate = zlib.decompressobj(wbits=31)
    view = memoryview(payload)
    for start in range(0, len(view), 64 * 1024):
        data = inflate.decompress(view[start : start + 64 * 1024], size)
        yield from _split(data, size)
        while inflate.unconsumed_tail:
            data = inflate.decompress(inflate.unconsumed_tail, size)
            yield from _split(data, size)
    yield from _split(inflate.flush(), size)


def _split(data: bytes, size: int) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


def texts(chunks: Iterable[bytes]) -> Iterator[str]:
    """UTF-8 text of byte chunks (a character split between two chunks is joined; invalid bytes become U+FFFD)."""
    import codecs

    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    for chunk in chunks:
        text = decoder.decode(chunk)
        if text:
            yield text
    rest = decoder.decode(b"", final=True)
    if rest:
        yield rest


def pretty_json(chunks: Iterable[str]) -> Iterator[str]:
    """JSON text indented by two spaces per level (like ``json.dumps(indent=2)`` for a well-formed document), piece
    by piece; strings are copied as they are."""
    depth = 0
    carry = ""
    opened = False  # the last token opened an object or array (an empty one stays "{}" / "[]")
    for chunk in _with_end(iter(chunks)):
        final = chunk is None
        text = carry + (chunk or "")
        out: list[str] = []
        pos = 0
        while pos < len(text):
            match = _JSON_TOKEN.match(text, pos)
            if match is None:  # an unterminated string: wait for the rest (or show it as it is at the end)
                if not final:
                    break
                out.append(text[pos:])
                pos = len(text)
                break
            token = match.group()
            if match.end() == len(text) and not final and token[0] not in "{}[],:":
                break  # a literal, string or space may go on in the next chunk
            pos = match.end()
            first = token[0]
            if first.isspace():
                continue
            if first in "}]":
                depth = max(0, depth - 1)
                out.append(token if opened else "\n" + INDENT * depth + token)
                opened = False
                continue
            if opened:
                out.append("\n" + INDENT * depth)
            opened = False
            if first in "{[":
                out.append(token)
                depth += 1
                opened = True
            elif first == ",":
                out.append(",\n" + INDENT * depth)
            elif first == ":":
                out.append(": ")
            else:
                out.append(token)
        carry = text[pos:]
        if out:
            yield "".join(out)
        if final:
            return


def pretty_xml(chunks: Iterable[str]) -> Iterator[str]:
    """XML text with one element per line, indented by two spaces per level, piece by piece; an element holding
    only text stays on one line, and text is copied as it is (leading and trailing white space aside)."""
    depth = 0
    carry = ""
    started = False
    inline = False  # the last start tag's element so far holds text only: its end tag follows on the same line
    for chunk in _with_end(iter(chunks)):
        final = chunk is None
        text = carry + (chunk or "")
        out: list[str] = []
        pos = 0
        while pos < len(text):
            match = _XML_TOKEN.match(text, pos)
            if match is None:  # "<" without its ">" (or an unfinished CDATA / comment)
                if not final:
                    break
                out.append(text[pos:])
                pos = len(text)
                break
            token = match.group()
            if not final and (match.end() == len(text) or (token.startswith("<!") and _unfinished(token))):
                break  # text may go on, and a CDATA or comment may end in the next chunk
            pos = match.end()
            if not token.startswith("<") or token.startswith("<![CDATA["):  # text (CDATA is text too)
                content = token.strip()
                if content:
                    out.append(content)
                continue
            if token.startswith("</"):
                depth = max(0, depth - 1)
                out.append(token if inline else ("\n" if started else "") + INDENT * depth + token)
                inline = False
            elif token.startswith(("<?", "<!")) or token.endswith("/>"):
                out.append(("\n" if started else "") + INDENT * depth + token)
                inline = False
            else:
                out.append(("\n" if started else "") + INDENT * depth + token)
                depth += 1
                inline = True
            started = True
        carry = text[pos:]
        if out:
            yield "".join(out)
        if final:
            if started:
                yield "\n"
            return


def _unfinished(token: str) -> bool:
    """A CDATA section or comment the token regex cut at a ">" that does not end it."""
    return (token.startswith("<![CDATA[") and not token.endswith("]]>")) or (
        token.startswith("<!--") and not token.endswith("-->")
    )


def _with_end(chunks: Iterator[str]) -> Iterator[str | None]:
    yield from chunks
    yield None


def pretty_html(payload: bytes | None, fmt: str) -> Iterator[str]:
    """A stored response, decompressed, re-indented (``fmt`` json or xml) and HTML-escaped, piece by piece: what
    goes between ``<pre>`` and ``</pre>``."""
    indent = pretty_json if fmt == "json" else pretty_xml
    for piece in indent(texts(gunzip_chunks(payload))):
        yield escape(piece, quote=False)
