"""GET over plain HTTP: one keep-alive connection per target, the answer read by httptools.

Most targets are plain HTTP on the pod's loopback or the cluster network, so
``scrape.HTTPFetcher`` sends those here and keeps ``requests`` for HTTPS, where TLS settings
(CA, client certificates, SNI) matter. The answer is framed by httptools (llhttp, Node.js'
parser, in C): ``http.client`` read the header lines through the ``email`` package, a tenth of
the exporter's CPU per collection (docs/performance.md). The behaviour is the same: no proxy,
no redirects followed (a 3xx is an ``http_status`` failure), gzip answers decoded, the size
limit applied to the decoded body, and the deadline: each read waits at most for what is left
of it, so an answer still trickling in at the deadline ends there.
"""

from __future__ import annotations

import socket
import time
import zlib
from urllib.parse import urlsplit

import httptools

CHUNK = 64 * 1024
MAX_HEAD_BYTES = 64 * 1024  # an answer's status line and headers


class Failure(Exception):
    """A failed GET; ``reason`` is the collection_errors_total label."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason


class _Answer:
    """httptools' callbacks: what the answer's head says, and its body as it arrives."""

    __slots__ = (
        "parser",
        "status",
        "keep_alive",
        "framed",
        "content_type",
        "encoding",
        "parts",
        "head",
        "done",
    )

    def __init__(self) -> None:
        self.parser = httptools.HttpResponseParser(self)
        self.status = 0
        self.keep_alive = False
        self.framed = False  # a length or chunks say where the body ends (else: the connection's end)
        self.content_type = ""
        self.encoding = ""
        self.parts: list[bytes] = []
        self.head = False  # the head is complete
        self.done = False

    def on_header(self, name: bytes, value: bytes) -> None:
        name = name.lower()
        if name == b"content-type":
            self.content_type = value.decode("latin-1")
        elif name == b"content-encoding":
            self.encoding = value.decode("latin-1")
        elif name in (b"content-length", b"transfer-encoding"):
            self.framed = True

    def on_headers_complete(self) -> None:
        self.status = self.parser.get_status_code()
        self.keep_alive = self.parser.should_keep_alive()
        self.head = self.status >= 200  # an interim answer (1xx) is followed by the real one

    def on_body(self, body: bytes) -> None:
        self.parts.append(body)

    def on_message_complete(self) -> None:
        if self.status >= 200:
            self.done = True
        else:
            self.framed, self.content_type, self.encoding = False, "", ""


class PlainHTTP:
    """GETs the URLs of one origin (``http://host:port``) over a kept-alive connection."""

    def __init__(self, url: str):
        parts = urlsplit(url)
        self.host = parts.hostname or ""
        self.port = parts.port or 80
        self.host_header = parts.netloc.rpartition("@")[2]
        self._sock: socket.socket | None = None

    def get(self, url: str, timeout: float, headers: dict[str, str], limit: int) -> tuple[bytes, str]:
        """(body, content type) of URL, or a :class:`Failure` within TIMEOUT seconds."""
        deadline = time.monotonic() + timeout
        parts = urlsplit(url)
        request = _request(
            (parts.path or "/") + (f"?{parts.query}" if parts.query else ""), self.host_header, headers
        )
        for attempt in (1, 2):
            reused = self._sock is not None
            try:
                if self._sock is None:
                    self._sock = socket.create_connection((self.host, self.port), timeout)
                    self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                self._sock.settimeout(max(0.001, deadline - time.monotonic()))
                self._sock.sendall(request)
                return self._read(self._sock, deadline, limit)
            except Exception as exc:
                self.close()
                if reused and attempt == 1 and isinstance(exc, _IDLE_CLOSED):
                    continue  # the target closed an idle kept-alive connection: ask once more
                failure = _failure(exc, timeout)
                if failure is None:
                    raise
                raise failure from None
        raise AssertionError("unreachable")  # the second attempt returns or raises

    def _read(self, sock: socket.socket, deadline: float, limit: int) -> tuple[bytes, str]:
        answer = _Answer()
        try:
            return self._read_answer(answer, sock, deadline, limit)
        finally:
            answer.parser = None  # the parser and its callbacks' object refer to each other: freed now

    def _read_answer(
        self, answer: _Answer, sock: socket.socket, deadline: float, limit: int
    ) -> tuple[bytes, str]:
        body = bytearray()
        inflate = None
        received = 0
        while not answer.done:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError
            sock.settimeout(left)
            data = sock.recv(CHUNK)
            if not data:
                if received == 0:
                    raise _ClosedBeforeAnswer("remote end closed connection")
                if answer.head and not answer.framed:
                    break  # the body ends with the connection
                raise Failure("connection", "answer cut short")
            received += len(data)
            if not answer.head and received > MAX_HEAD_BYTES:  # before httptools holds it all
                raise Failure("connection", f"answer head larger than {MAX_HEAD_BYTES} bytes")
            answer.parser.feed_data(data)
            if not answer.head:
                continue
            if inflate is None:  # the head has just completed
                if answer.status in (401, 403):
                    raise Failure("auth", f"HTTP {answer.status} from target")
                if answer.status >= 300:
                    raise Failure("http_status", f"HTTP {answer.status} from target")
                inflate = decoder(answer.encoding) or False
            for chunk in answer.parts:
                if inflate:
                    # Inflate at most one byte past the limit: a gzip bomb never expands in memory.
                    chunk = inflate.decompress(chunk, limit + 1 - len(body))
                if len(body) + len(chunk) > limit:
                    raise Failure("body_size_limit", f"response larger than body_size_limit ({limit} bytes)")
                body += chunk
            answer.parts.clear()
        if inflate and not inflate.eof:
            raise Failure("connection", "gzip answer cut short")
        if not answer.keep_alive or not answer.done:
            self.close()
        return bytes(body), answer.content_type

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None


class _ClosedBeforeAnswer(Exception):
    """The connection ended before any byte of an answer (a kept-alive one the target closed)."""


# What a kept-alive connection the target closed while idle looks like on the next request.
_IDLE_CLOSED = (_ClosedBeforeAnswer, ConnectionResetError, BrokenPipeError)


def _failure(exc: Exception, timeout: float) -> Failure | None:
    """The Failure a GET's exception stands for (None: not one of a GET's, let it propagate)."""
    if isinstance(exc, Failure):
        return exc
    if isinstance(exc, _ClosedBeforeAnswer):
        return Failure("connection", str(exc))
    if isinstance(exc, TimeoutError):  # before OSError: it is one
        return Failure("timeout", f"no complete answer within {timeout:g}s")
    if isinstance(exc, zlib.error):
        return Failure("parse", "the response is not valid gzip")
    if isinstance(exc, httptools.HttpParserError):
        return Failure("connection", f"invalid HTTP answer: {_first_line(exc)}")
    if isinstance(exc, OSError):
        return Failure("connection", _connection_message(exc))
    return None


def _request(path: str, host: str, headers: dict[str, str]) -> bytes:
    """The request head; refuses what would break its framing (a line break in a credential)."""
    lines = [f"GET {path} HTTP/1.1", f"Host: {host}", *(f"{k}: {v}" for k, v in headers.items())]
    text = "".join(lines)
    if " " in path or "\r" in text or "\n" in text or "\x00" in text:
        credential = headers.get("Authorization", "")
        reason = "auth" if any(c in credential for c in "\r\n\x00") else "connection"
        raise Failure(reason, "a header or the URL holds a line break")
    head = "\r\n".join(lines)
    return (head + "\r\n\r\n").encode("latin-1", errors="replace")


def decoder(encoding: str):
    """A bounded inflater for a response's Content-Encoding (None: the body is as sent)."""
    encoding = encoding.strip().lower()
    if encoding in ("", "identity"):
        return None
    if encoding in ("gzip", "x-gzip"):
        return zlib.decompressobj(16 + zlib.MAX_WBITS)
    if encoding == "deflate":
        return zlib.decompressobj()
    raise Failure("parse", "response in a Content-Encoding other than gzip")


def shutdown_socket(sock: socket.socket | None) -> None:
    """Shut a socket both ways (the watchdog's way to end an answer past its deadline)."""
    if sock is not None:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def _connection_message(exc: BaseException) -> str:
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, ConnectionResetError):
        return "connection reset"
    if isinstance(exc, socket.gaierror):
        return "name or service not known"
    return _first_line(exc)


def _first_line(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text.splitlines()[0][:300]
