"""GET over plain HTTP with the standard library: one keep-alive connection per target.

Measured on a vLLM page (bench/fleet.py's fake targets): about 0.15 ms of CPU per GET, against
0.8 to 1.0 ms through ``requests`` (whose import alone also takes about a tenth of a second, a
large part of a sidecar's start-up). Most targets are plain HTTP on the pod's loopback or the
cluster network, so ``scrape.HTTPFetcher`` sends those here and keeps ``requests`` for HTTPS,
where TLS settings (CA, client certificates, SNI) matter. The behaviour is the same: no proxy,
no redirects followed (a 3xx is an ``http_status`` failure), gzip answers decoded, the size
limit applied to the decoded body, the deadline enforced by the watchdog shutting the socket.
"""

from __future__ import annotations

import http.client
import socket
import time
import zlib
from urllib.parse import urlsplit

CHUNK = 64 * 1024


class Failure(Exception):
    """A failed GET; ``reason`` is the collection_errors_total label."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason


class PlainHTTP:
    """GETs the URLs of one origin (``http://host:port``) over a kept-alive connection."""

    def __init__(self, url: str):
        parts = urlsplit(url)
        self.host = parts.hostname or ""
        self.port = parts.port or 80
        self._conn: http.client.HTTPConnection | None = None

    def get(
        self, url: str, timeout: float, headers: dict[str, str], limit: int, watchdog
    ) -> tuple[bytes, str]:
        """(body, content type) of URL, or a :class:`Failure`. ``watchdog.arm(deadline, action)``
        shuts the socket of an answer still arriving at the deadline."""
        deadline = time.monotonic() + timeout
        parts = urlsplit(url)
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        for attempt in (1, 2):
            reused = self._conn is not None
            conn = self._conn or http.client.HTTPConnection(self.host, self.port, timeout=timeout)
            self._conn = conn
            conn.timeout = timeout
            try:
                if conn.sock is not None:
                    conn.sock.settimeout(timeout)
                conn.request("GET", path, headers=headers)
                resp = conn.getresponse()
                break
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError) as exc:
                self.close()
                if reused and attempt == 1:
                    continue  # the target closed an idle kept-alive connection: ask once more
                raise Failure("connection", _connection_message(exc)) from None
            except TimeoutError:
                self.close()
                raise Failure("timeout", f"no answer within {timeout:g}s") from None
            except (OSError, http.client.HTTPException) as exc:
                self.close()
                raise Failure("connection", _connection_message(exc)) from None
        sock = conn.sock
        ident = watchdog.arm(deadline, lambda: shutdown_socket(sock))
        try:
            if resp.status in (401, 403):
                raise Failure("auth", f"HTTP {resp.status} from target")
            if resp.status >= 300:
                raise Failure("http_status", f"HTTP {resp.status} from target")
            inflate = decoder(resp.getheader("Content-Encoding") or "")
            body = bytearray()
            while True:
                chunk = resp.read1(CHUNK)
                if not chunk:
                    resp.read()  # ends the answer, so the connection takes the next request
                    break
                if inflate is not None:
                    # Inflate at most one byte past the limit: a gzip bomb never expands in memory.
                    chunk = inflate.decompress(chunk, limit + 1 - len(body))
                if len(body) + len(chunk) > limit:
                    raise Failure("body_size_limit", f"response larger than body_size_limit ({limit} bytes)")
                body += chunk
                if time.monotonic() > deadline:
                    raise Failure("timeout", f"response not complete within {timeout:g}s")
            if time.monotonic() > deadline:
                raise Failure("timeout", f"response not complete within {timeout:g}s")
            if inflate is not None and not inflate.eof:
                raise Failure("connection", "gzip answer cut short")
            if resp.will_close:
                self.close()
            return bytes(body), resp.getheader("Content-Type", "")
        except Failure:
            self.close()
            raise
        except zlib.error:
            self.close()
            raise Failure("parse", "the response is not valid gzip") from None
        except (OSError, http.client.HTTPException) as exc:
            self.close()
            if time.monotonic() >= deadline:
                raise Failure("timeout", f"response not complete within {timeout:g}s") from None
            raise Failure("connection", _connection_message(exc)) from None
        finally:
            watchdog.disarm(ident)

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


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
    if isinstance(exc, (ConnectionResetError, http.client.RemoteDisconnected)):
        return "connection reset" if isinstance(exc, ConnectionResetError) else "remote end closed connection"
    if isinstance(exc, socket.gaierror):
        return "name or service not known"
    text = str(exc) or type(exc).__name__
    return text.splitlines()[0][:300]
