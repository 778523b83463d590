"""A byte stream that replaces invalid UTF-8 with U+FFFD while it streams.

Real Qualys XML sometimes carries an invalid UTF-8 byte (QualysETL has an option for exactly this, reference/
qualys-api.md §8). Strict parsers would reject the whole page for one byte; this reader repairs the byte, counts
it, and lets the page stage, with a note on the queue record saying how many bytes were replaced.
"""

from __future__ import annotations

import codecs
import io
from typing import IO

_CHUNK = 256 * 1024


class Utf8RepairingReader(io.RawIOBase):
    """Wrap ``raw`` (bytes) and yield valid UTF-8; ``replaced`` counts the invalid sequences found."""

    def __init__(self, raw: IO[bytes]) -> None:
        self._raw = raw
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._pending = b""
        self._eof = False
        self.replaced = 0

    def readable(self) -> bool:
        return True

    def _fill(self) -> None:
        chunk = self._raw.read(_CHUNK)
        final = not chunk
        text = self._decoder.decode(chunk, final=final)
        if "\ufffd" in text:
            # Count only what the decoder substituted, not U+FFFD characters already present in the input.
            self.replaced += text.count("\ufffd") - chunk.count("\ufffd".encode())
        self._pending += text.encode("utf-8")
        self._eof = final

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        while not self._pending and not self._eof:
            self._fill()
        n = min(len(buffer), len(self._pending))
        buffer[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        return n

    def read(self, size: int = -1) -> bytes:
        if (size is None or size < 0) and not self._pending and not self._eof and self._decoder.getstate()[0] == b"":
            return self._read_all()
        if size is None or size < 0:
            out = bytearray()
            while True:
                part = self.read(_CHUNK)
                if not part:
                    return bytes(out)
                out += part
        while not self._pending and not self._eof:
            self._fill()
        out_bytes, self._pending = self._pending[:size], self._pending[size:]
        return out_bytes

    def _read_all(self) -> bytes:
        """The whole stream at once: checked in one C pass, and repaired only when it needs it."""
        data = self._raw.read()
        self._eof = True
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            repaired = data.decode("utf-8", errors="replace")
            self.replaced += repaired.count("\ufffd") - data.count("\ufffd".encode())
            return repaired.encode("utf-8")
        return data
