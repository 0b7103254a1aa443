"""HTTP/1.1 messages as the exporter's listener reads and writes them: strict framing.

A request head is parsed strictly (RFC 9112): one ``Content-Length`` of digits, no
``Transfer-Encoding``, no folded or malformed header lines, exactly one ``Host`` on HTTP/1.1.
Anything ambiguous raises :class:`HTTPError`, and the listener closes the connection after
answering it, so two parsers can never disagree about where a request ends.
"""

from __future__ import annotations

import collections
import http
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

_TOKEN_RE = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+\Z")
_TARGET_RE = re.compile(rb"/[\x21-\x7e]*\Z")
_VERSION_RE = re.compile(rb"HTTP/\d\.\d\Z")
_DIGITS_RE = re.compile(r"[0-9]{1,15}\Z")
_BAD_VALUE_RE = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")


@dataclass(frozen=True)
class Limits:
    """What one client may use; docs/security.md lists the defaults."""

    workers: int = 8  # requests answered at once
    max_connections: int = 128  # open connections; the longest idle one is closed beyond
    header_timeout: float = 10.0  # a request head (and a TLS handshake) must arrive within
    idle_timeout: float = 120.0  # a keep-alive connection with no request in flight
    body_timeout: float = 10.0  # a request body must arrive within
    write_timeout: float = 30.0  # each response write
    max_header_bytes: int = 16 * 1024
    max_headers: int = 100
    max_body_bytes: int = 64 * 1024


class HTTPError(Exception):
    """A request that cannot be answered normally; the connection is closed after the answer."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


@dataclass
class Request:
    method: str
    target: str
    version: str
    headers: dict[str, str]  # lower-case names; repeated headers joined with ", "
    body: bytes = b""
    client: str = ""
    tls: bool = False

    @property
    def path(self) -> str:
        return self.target.split("?", 1)[0]

    @property
    def query(self) -> str:
        return self.target.partition("?")[2]

    def header(self, name: str, default: str = "") -> str:
        return self.headers.get(name, default)


@dataclass
class Response:
    status: int
    body: bytes | Iterable[bytes] = b""
    content_type: str = "text/plain; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)
    length: int = -1  # of an iterable body
    close: bool = False

    def head(self, method: str) -> bytes:
        length = len(self.body) if isinstance(self.body, bytes) else self.length
        lines = [f"HTTP/1.1 {self.status} {http.HTTPStatus(self.status).phrase}"]
        if self.status not in (204, 304):
            lines.append(f"Content-Type: {self.content_type}")
            lines.append(f"Content-Length: {length}")
        lines += [f"{k}: {v}" for k, v in self.headers.items()]
        if self.close:
            lines.append("Connection: close")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def text_response(status: int, text: str, **kw) -> Response:
    return Response(status, text.encode(), **kw)


def parse_head(head: bytes, limits: Limits) -> Request:
    """The request line and headers, strictly; raises HTTPError for anything ambiguous."""
    lines = head.split(b"\n")
    lines = [line[:-1] if line.endswith(b"\r") else line for line in lines]
    while lines and not lines[-1]:
        lines.pop()
    if not lines:
        raise HTTPError(400, "empty request")
    parts = lines[0].split(b" ")
    if len(parts) != 3:
        raise HTTPError(400, "malformed request line")
    method, target, version = parts
    if not _TOKEN_RE.match(method):
        raise HTTPError(400, "malformed method")
    if not _VERSION_RE.match(version):
        raise HTTPError(400, "malformed HTTP version")
    if version not in (b"HTTP/1.1", b"HTTP/1.0"):
        raise HTTPError(505, "only HTTP/1.0 and HTTP/1.1 are served")
    if not _TARGET_RE.match(target):
        raise HTTPError(400, "malformed request target")
    headers: dict[str, str] = {}
    counts: collections.Counter[str] = collections.Counter()
    if len(lines) - 1 > limits.max_headers:
        raise HTTPError(431, "too many header lines")
    for line in lines[1:]:
        if b"\r" in line or not line or line[:1] in b" \t":
            raise HTTPError(400, "malformed or folded header line")
        name, sep, value = line.partition(b":")
        if not sep or not _TOKEN_RE.match(name):
            raise HTTPError(400, "malformed header name")
        value = value.strip(b" \t")
        if _BAD_VALUE_RE.search(value):
            raise HTTPError(400, "control character in a header value")
        key = name.decode("ascii").lower()
        text = value.decode("latin-1")
        counts[key] += 1
        headers[key] = f"{headers[key]}, {text}" if key in headers else text
    if "transfer-encoding" in headers:
        raise HTTPError(501, "Transfer-Encoding is not supported in requests")
    if counts["content-length"] > 1:
        raise HTTPError(400, "more than one Content-Length")
    if "content-length" in headers and not _DIGITS_RE.match(headers["content-length"]):
        raise HTTPError(400, "Content-Length is not a number of bytes")
    if version == b"HTTP/1.1" and counts["host"] != 1:
        raise HTTPError(400, "exactly one Host header is required")
    return Request(method.decode("ascii"), target.decode("ascii"), version.decode("ascii"), headers)


def head_end(buf: bytearray) -> int:
    """Index just past the blank line ending a request head, or -1."""
    crlf = buf.find(b"\r\n\r\n")
    lf = buf.find(b"\n\n")
    ends = [i + 4 for i in (crlf,) if i >= 0] + [i + 2 for i in (lf,) if i >= 0]
    return min(ends) if ends else -1


def keep_alive(req: Request) -> bool:
    tokens = {t.strip().lower() for t in req.header("connection").split(",")}
    if req.version == "HTTP/1.0":
        return "keep-alive" in tokens
    return "close" not in tokens
