"""Compressed pieces of a page that can be put together in any order into one gzip body.

Each piece is raw deflate data ending in a full flush: it starts on a byte boundary and never
refers back to data before it, so pieces compressed at different times (each source's lines,
when it is collected) join into one valid deflate stream in whatever order the page needs (the
metrics' order across every source). The gzip trailer needs the CRC-32 of the whole text:
each piece carries the CRC and length of its own text, and :func:`gzip_body` combines them
(``crc(A+B)`` is ``crc(B)`` xor ``crc(A)`` carried over ``len(B)`` zero bytes). A page is thus
compressed once, a piece at a time, when its sources are collected, never on a request.

The compression is zlib-ng's (python-zlib-ng, the zlib API over zlib-ng): on the exporter's
pieces its level 1 takes 0.36 to 0.45 of zlib's CPU for output 1.15 to 1.24 times the size
(bench/deflate_cost.py). Each thread keeps one compressor (a full flush ends every piece, so
nothing of one piece carries into the next), instead of starting one per render. The output is
plain deflate, read by any gzip client. Without zlib-ng, the standard zlib.
"""

from __future__ import annotations

import struct
import threading
import zlib
from collections.abc import Iterable, Iterator

try:
    from zlib_ng import zlib_ng as _deflate
except ImportError:  # a platform without its wheel: the same API, more CPU
    _deflate = zlib

LEVEL = 1  # zlib's level 6 is within 10% of its size on these pages, at twice the CPU
Piece = tuple[bytes, int, int]  # (raw deflate data, CRC-32 of the text, length of the text)
EMPTY: Piece = (b"", 0, 0)
_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"  # gzip, deflate, no name, no mtime, unknown OS
_FINAL = b"\x03\x00"  # an empty final block closes the stream
_ZEROS = bytes(1 << 16)
_ZERO_CRC: dict[int, int] = {}  # length -> CRC-32 of that many zero bytes (lengths repeat a lot)


_local = threading.local()


def _compressor():
    z = getattr(_local, "z", None)
    if z is None:
        z = _local.z = _deflate.compressobj(LEVEL, zlib.DEFLATED, -zlib.MAX_WBITS)
    return z


class Compressor:
    """Compresses the pieces of one rendering, with the thread's compressor; each :meth:`piece`
    stands on its own."""

    def __init__(self) -> None:
        self._z = _compressor()

    def piece(self, text: str) -> Piece:
        if not text:
            return EMPTY
        raw = text.encode()
        try:
            return self._z.compress(raw) + self._z.flush(zlib.Z_FULL_FLUSH), _deflate.crc32(raw), len(raw)
        except BaseException:
            self._reset()
            raise

    def lines(self, lines: list[str], batch: int = 4096) -> Piece:
        """A piece of many lines, encoded and compressed BATCH lines at a time: a big target's
        hundred thousand lines are never held joined, as text and as bytes, at once."""
        if len(lines) <= batch:
            return self.piece("".join(lines))
        out, crc, size = [], 0, 0
        try:
            for start in range(0, len(lines), batch):
                raw = "".join(lines[start : start + batch]).encode()
                out.append(self._z.compress(raw))
                crc = _deflate.crc32(raw, crc)
                size += len(raw)
            out.append(self._z.flush(zlib.Z_FULL_FLUSH))
        except BaseException:
            self._reset()
            raise
        return b"".join(out), crc, size

    def _reset(self) -> None:
        """A piece cut short (no memory left) leaves input in the compressor: the thread starts
        a new one, so the next piece never carries the rest of this one."""
        _local.z = None


def piece(text: str) -> Piece:
    return Compressor().piece(text)


def _zero_crc(length: int, crc: int) -> int:
    """CRC-32 continued over ``length`` zero bytes."""
    while length > len(_ZEROS):
        crc = _deflate.crc32(_ZEROS, crc)
        length -= len(_ZEROS)
    return _deflate.crc32(memoryview(_ZEROS)[:length], crc)


def combine(crc_a: int, crc_b: int, length_b: int) -> int:
    """The CRC-32 of A followed by B, from the CRCs of both and the length of B."""
    zeros = _ZERO_CRC.get(length_b)
    if zeros is None:
        zeros = _zero_crc(length_b, 0)
        if len(_ZERO_CRC) < 100_000:
            _ZERO_CRC[length_b] = zeros
    return _zero_crc(length_b, crc_a) ^ zeros ^ crc_b


def gzip_body(pieces: Iterable[Piece]) -> tuple[bytes, int]:
    """(one gzip member holding the pieces in order, the length of the text it holds)."""
    crc = size = 0
    data = [_HEADER]
    for gz, piece_crc, length in pieces:
        if length:
            data.append(gz)
            crc = combine(crc, piece_crc, length)
            size += length
    data.append(_FINAL)
    data.append(struct.pack("<II", crc, size & 0xFFFFFFFF))
    return b"".join(data), size


def inflate(gz: bytes, size: int = 64 * 1024) -> Iterator[bytes]:
    """The text of a :func:`gzip_body`, in pieces of about ``size`` bytes."""
    z = zlib.decompressobj(16 + zlib.MAX_WBITS)
    view = memoryview(gz)
    for start in range(0, len(gz), size // 8):
        out = z.decompress(view[start : start + size // 8])
        if out:
            yield out
    tail = z.flush()
    if tail:
        yield tail
