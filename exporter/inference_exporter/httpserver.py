"""A small HTTP/1.1 server with every resource bounded: the exporter's listener.

One selector thread accepts connections, runs TLS handshakes and reads request heads
without blocking; a bounded pool of worker threads answers complete requests. So:

* a client that connects and sends nothing, or trickles its headers (slowloris), holds a
  buffer of at most ``max_header_bytes`` and no thread, and is closed at its deadline
  (``header_timeout`` for a request head, ``idle_timeout`` between keep-alive requests);
* at ``max_connections`` the connection idle the longest is closed to make room, so
  idle sockets never lock a scraper out, and file descriptors stay bounded;
* a request is framed strictly (one ``Content-Length`` of digits, no ``Transfer-Encoding``,
  no folded or malformed header lines, ``Host`` required): anything ambiguous is answered
  with an error and the connection closed, so no request can hide inside another's body;
* a request body (a GET's too) is read in full, up to ``max_body_bytes``, within
  ``body_timeout``, or the connection is closed;
* a client that goes away is logged at debug through the logger, never as a traceback.

Why not ``http.server``: a thread per connection, no timeouts, lenient framing. Why not
cheroot (CherryPy's server): it runs TLS handshakes in its accepting thread, so one client
that never sends a ClientHello stalls every new connection for the socket timeout, and it
reads request heads in its worker threads, so a few slowloris clients occupy the whole
pool; it also costs the sidecar about 2.5 MB more memory (measured, see docs/security.md).
"""

from __future__ import annotations

import collections
import logging
import selectors
import socket
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from .httpmessage import HTTPError, Limits, Request, Response, head_end, keep_alive, parse_head, text_response
from .threadpool import ThreadPool

if TYPE_CHECKING:
    import ssl

log = logging.getLogger("inference_exporter.http")


class _NoTLS(Exception):
    """Never raised: stands for ssl's errors until a TLS connection is accepted, so a server
    without TLS never imports ssl (7 ms of a sidecar's start)."""


_SSLError: type[Exception] = _NoTLS
_WantRead: type[Exception] = _NoTLS
_WantWrite: type[Exception] = _NoTLS


def _tls_errors() -> None:
    global _SSLError, _WantRead, _WantWrite
    import ssl

    _SSLError, _WantRead, _WantWrite = ssl.SSLError, ssl.SSLWantReadError, ssl.SSLWantWriteError


DEFAULT_LIMITS = Limits()


class _Conn:
    __slots__ = ("sock", "client", "buf", "deadline", "since", "handshake", "tls")

    def __init__(self, sock: socket.socket, client: str, deadline: float, tls: bool):
        self.sock = sock
        self.client = client
        self.buf = bytearray()
        self.deadline = deadline
        self.since = time.monotonic()
        self.handshake = tls
        self.tls = tls


class _Gone(Exception):
    """The client went away or timed out; already logged."""


class HTTPServer:
    """Serves ``handler(request) -> Response`` on ``address``; ``tls()`` gives the current TLS
    context (None: plain HTTP), asked at each new connection so a reload applies at once."""

    def __init__(
        self,
        address: tuple[str, int],
        family: int,
        handler: Callable[[Request], Response],
        tls: Callable[[], ssl.SSLContext | None] = lambda: None,
        limits: Limits = DEFAULT_LIMITS,
    ):
        self.handler = handler
        self.limits = limits
        self._tls = tls
        self._listener = socket.socket(family, socket.SOCK_STREAM)
        try:
            self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                self._listener.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
            self._listener.bind(address)
            self._listener.listen(128)
        except OSError:
            self._listener.close()
            raise
        self._listener.setblocking(False)
        self.server_address = self._listener.getsockname()
        self._selector = selectors.DefaultSelector()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._returned: collections.deque[_Conn] = collections.deque()
        self._waiting: dict[int, _Conn] = {}  # connections in the selector, by descriptor
        self._open = 0  # every open connection, waiting or in a worker
        self._lock = threading.Lock()
        self._pool = ThreadPool(limits.workers, name="http")
        self._stopping = threading.Event()
        self._stopped = threading.Event()
        self._accept_paused_until = 0.0
        self.stats = collections.Counter()  # accepted, evicted, timeouts, rejected, errors

    # --- the selector thread ----------------------------------------------------------
    def serve_forever(self) -> None:
        sel = self._selector
        sel.register(self._listener, selectors.EVENT_READ, "listen")
        sel.register(self._wake_r, selectors.EVENT_READ, "wake")
        try:
            while not self._stopping.is_set():
                now = time.monotonic()
                if self._accept_paused_until and now >= self._accept_paused_until:
                    self._accept_paused_until = 0.0
                    sel.register(self._listener, selectors.EVENT_READ, "listen")
                for key, _mask in sel.select(timeout=0.25):
                    if key.data == "listen":
                        self._accept()
                    elif key.data == "wake":
                        self._drain_wake()
                    else:
                        self._ready(key.data)
                self._expire(time.monotonic())
        finally:
            for conn in list(self._waiting.values()):
                self._close(conn)
            sel.close()
            self._stopped.set()

    def _drain_wake(self) -> None:
        try:
            while self._wake_r.recv(4096):
                pass
        except BlockingIOError:
            pass
        while self._returned:
            conn = self._returned.popleft()
            if self._stopping.is_set():
                self._close(conn)
            elif head_end(conn.buf) >= 0:
                self._dispatch(conn)
            else:
                self._wait(conn)

    def _wait(self, conn: _Conn) -> None:
        conn.since = time.monotonic()
        self._waiting[conn.sock.fileno()] = conn
        self._selector.register(conn.sock, selectors.EVENT_READ, conn)

    def _unwait(self, conn: _Conn) -> None:
        if self._waiting.pop(conn.sock.fileno(), None) is not None:
            self._selector.unregister(conn.sock)

    def _accept(self) -> None:
        for _ in range(64):
            try:
                sock, addr = self._listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:  # EMFILE/ENFILE: out of descriptors; shed idle ones, back off
                self.stats["accept_errors"] += 1
                log.warning("cannot accept connections", extra={"err": exc.strerror or str(exc)})
                self._evict_oldest()
                self._selector.unregister(self._listener)
                self._accept_paused_until = time.monotonic() + 0.1
                return
            with self._lock:
                crowded = self._open >= self.limits.max_connections
            if crowded and not self._evict_oldest():
                self.stats["rejected"] += 1
                log.debug("connection refused: every connection is busy", extra={"client": addr[0]})
                sock.close()
                continue
            with self._lock:
                self._open += 1
            self.stats["accepted"] += 1
            sock.setblocking(False)
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:
                pass
            deadline = time.monotonic() + self.limits.header_timeout
            context = self._tls()
            if context is not None:
                if _SSLError is _NoTLS:
                    _tls_errors()
                try:
                    sock = context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
                except (OSError, ValueError) as exc:
                    log.debug("TLS setup failed", extra={"client": addr[0], "err": str(exc)})
                    self._count_closed()
                    sock.close()
                    continue
            self._wait(_Conn(sock, str(addr[0]), deadline, context is not None))

    def _evict_oldest(self) -> bool:
        """Close the connection that has waited the longest; False when none waits."""
        if not self._waiting:
            return False
        oldest = min(self._waiting.values(), key=lambda c: c.since)
        self.stats["evicted"] += 1
        log.debug("connection closed to make room", extra={"client": oldest.client})
        self._unwait(oldest)
        self._close(oldest)
        return True

    def _expire(self, now: float) -> None:
        for conn in [c for c in self._waiting.values() if c.deadline <= now]:
            self.stats["timeouts"] += 1
            log.debug("connection timed out", extra={"client": conn.client})
            self._unwait(conn)
            self._close(conn)

    def _ready(self, conn: _Conn) -> None:
        sock = conn.sock
        try:
            if conn.handshake:
                sock.do_handshake()  # type: ignore[attr-defined]
                conn.handshake = False
                self._selector.modify(sock, selectors.EVENT_READ, conn)
            data = sock.recv(65536)
            if not data:
                raise ConnectionResetError("closed by the client")
            if not conn.buf:  # the first bytes of a request: its head is due within header_timeout
                conn.deadline = time.monotonic() + self.limits.header_timeout
            conn.buf += data
            while conn.tls and sock.pending():  # type: ignore[attr-defined]
                conn.buf += sock.recv(65536)
        except _WantRead:
            self._selector.modify(sock, selectors.EVENT_READ, conn)
            return
        except _WantWrite:
            self._selector.modify(sock, selectors.EVENT_WRITE, conn)
            return
        except BlockingIOError:
            return
        except (OSError, ValueError) as exc:  # ssl's errors are OSErrors
            log.debug("client connection ended", extra={"client": conn.client, "err": _why(exc)})
            self._unwait(conn)
            self._close(conn)
            return
        while conn.buf[:2] == b"\r\n":  # a stray CRLF after a previous request body
            del conn.buf[:2]
        if head_end(conn.buf) >= 0:
            self._unwait(conn)
            self._dispatch(conn)
        elif len(conn.buf) > self.limits.max_header_bytes:
            self._unwait(conn)
            self._reject_quickly(conn, 431, "request header fields too large")

    def _reject_quickly(self, conn: _Conn, status: int, message: str) -> None:
        """Answer an error from the selector thread without waiting on the client, then close."""
        resp = text_response(status, message + "\n", close=True)
        try:
            conn.sock.send(resp.head("GET") + resp.body)  # type: ignore[operator]
        except (OSError, ValueError):
            pass
        self._close(conn)

    def _dispatch(self, conn: _Conn) -> None:
        try:
            self._pool.submit(self._work, conn)
        except RuntimeError:  # shutting down
            self._close(conn)

    def _close(self, conn: _Conn) -> None:
        try:
            conn.sock.close()
        except OSError:
            pass
        self._count_closed()

    def _count_closed(self) -> None:
        with self._lock:
            self._open -= 1

    # --- the workers ------------------------------------------------------------------
    def _work(self, conn: _Conn) -> None:
        sock = conn.sock
        try:
            sock.settimeout(self.limits.body_timeout)
            while True:
                end = head_end(conn.buf)
                if end < 0:
                    break
                head, rest = bytes(conn.buf[:end]), bytearray(conn.buf[end:])
                keep = self._one(conn, head, rest)
                if not keep:
                    self._close(conn)
                    return
                while conn.buf[:2] == b"\r\n":
                    del conn.buf[:2]
            if self._stopping.is_set():
                self._close(conn)
                return
            sock.setblocking(False)
            conn.deadline = time.monotonic() + (
                self.limits.header_timeout if conn.buf else self.limits.idle_timeout
            )
            self._returned.append(conn)
            self._wake()
        except _Gone:
            self._close(conn)
        except Exception as exc:  # noqa: BLE001 - a bug must cost one connection, not a thread
            self.stats["errors"] += 1
            log.error("request handling failed", extra={"client": conn.client, "err": _why(exc)})
            self._close(conn)

    def _one(self, conn: _Conn, head: bytes, rest: bytearray) -> bool:
        """Answer one request; True to keep the connection. ``conn.buf`` becomes what follows it."""
        try:
            if len(head) > self.limits.max_header_bytes:
                raise HTTPError(431, "request header fields too large")
            req = parse_head(head, self.limits)
            length = int(req.headers.get("content-length", "0"))
            if length > self.limits.max_body_bytes:
                raise HTTPError(413, f"request body larger than {self.limits.max_body_bytes} bytes")
            if length > len(rest) and req.header("expect").lower() == "100-continue":
                self._send(conn, b"HTTP/1.1 100 Continue\r\n\r\n")
            body = self._read_body(conn, rest, length)
        except HTTPError as exc:
            self._send(conn, *self._error(exc, "GET"))
            return False
        conn.buf = rest[length:] if len(rest) > length else bytearray()
        req.body, req.client, req.tls = body, conn.client, conn.tls
        try:
            resp = self.handler(req)
        except Exception as exc:  # noqa: BLE001 - answer 500 and log one line
            self.stats["errors"] += 1
            log.error("request failed", extra={"path": req.path, "err": _why(exc)})
            resp = text_response(500, "Internal error.\n", close=True)
        keep = keep_alive(req) and not resp.close and not self._stopping.is_set()
        if not keep:
            resp.close = True
        self._respond(conn, resp, req.method)
        return keep

    def _read_body(self, conn: _Conn, rest: bytearray, length: int) -> bytes:
        deadline = time.monotonic() + self.limits.body_timeout
        while len(rest) < length:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise HTTPError(408, "request body not complete in time")
            conn.sock.settimeout(remaining)
            try:
                data = conn.sock.recv(min(65536, length - len(rest)))
            except TimeoutError:
                raise HTTPError(408, "request body not complete in time") from None
            except OSError as exc:  # ssl's errors too
                log.debug("client connection ended", extra={"client": conn.client, "err": _why(exc)})
                raise _Gone from None
            if not data:
                log.debug("client connection ended", extra={"client": conn.client, "err": "closed in body"})
                raise _Gone
            rest += data
        return bytes(rest[:length])

    def _error(self, exc: HTTPError, method: str) -> tuple[bytes, ...]:
        self.stats["bad_requests"] += 1
        log.debug("bad request", extra={"status": exc.status, "err": str(exc)})
        resp = text_response(exc.status, f"{exc}\n", close=True)
        return resp.head(method), resp.body  # type: ignore[return-value]

    def _respond(self, conn: _Conn, resp: Response, method: str) -> None:
        self._send(conn, resp.head(method))
        if method == "HEAD":
            return
        for piece in (resp.body,) if isinstance(resp.body, bytes) else resp.body:
            self._send(conn, piece)

    def _send(self, conn: _Conn, *pieces: bytes) -> None:
        conn.sock.settimeout(self.limits.write_timeout)
        try:
            for piece in pieces:
                if piece:
                    conn.sock.sendall(piece)
        except OSError as exc:  # ssl's errors too
            log.debug("client connection ended", extra={"client": conn.client, "err": _why(exc)})
            raise _Gone from None

    # --- lifecycle --------------------------------------------------------------------
    def _wake(self) -> None:
        try:
            self._wake_w.send(b"x")
        except OSError:
            pass

    def shutdown(self, timeout: float = 5.0) -> None:
        """Stop accepting, close waiting connections, let requests in flight finish."""
        self._stopping.set()
        self._wake()
        self._stopped.wait(timeout)
        self._pool.shutdown()
        self._listener.close()
        self._wake_r.close()
        self._wake_w.close()

    @property
    def open_connections(self) -> int:
        return self._open


def _why(exc: BaseException) -> str:
    if isinstance(exc, _SSLError):
        return exc.reason or type(exc).__name__
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__
