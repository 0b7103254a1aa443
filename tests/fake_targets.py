"""Loopback HTTP targets that misbehave in controlled ways, for exporter tests."""

from __future__ import annotations

import inspect
import random
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class FakeTarget:
    """Serves ``body`` on 127.0.0.1; ``url`` is its /metrics.

    ``body`` is a str, a callable returning one, or a callable taking the request path (to
    answer an API beside the metrics). ``paths`` lists the paths asked for, in order."""

    def __init__(self, body="", status: int = 200, delay: float = 0.0):
        self.body = body
        self.status = status
        self.delay = delay
        self.requests = 0
        self.paths: list[str] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):  # noqa: N802
                outer.requests += 1
                outer.paths.append(self.path)
                if outer.delay:
                    time.sleep(outer.delay)
                body = outer.body
                if callable(body):
                    body = body(self.path) if inspect.signature(body).parameters else body()
                data = body.encode() if isinstance(body, str) else body
                self.send_response(outer.status)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = _Server(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/metrics"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class HungTarget:
    """Accepts connections and never answers."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}/metrics"
        self.conns: list[socket.socket] = []
        self._stop = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self._stop:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(conn)

    def close(self):
        self._stop = True
        self.sock.close()
        for c in self.conns:
            c.close()


class TrickleTarget:
    """Answers headers, then sends one byte every ``gap`` seconds forever."""

    def __init__(self, gap: float = 0.2):
        self.gap = gap
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}/metrics"
        self._stop = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self._stop:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn):
        try:
            conn.recv(65536)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 100000000\r\n\r\n")
            while not self._stop:
                conn.sendall(b"#")
                time.sleep(self.gap)
        except OSError:
            pass
        finally:
            conn.close()

    def close(self):
        self._stop = True
        self.sock.close()


def garbage(size: int = 5 * 1024 * 1024, seed: int = 7) -> bytes:
    """Random printable junk with newlines, like a misrouted binary or HTML blob."""
    rng = random.Random(seed)
    alphabet = b'abcdefghijklmnopqrstuvwxyz{}=",. 0123456789#\n<>/'
    return bytes(rng.choice(alphabet) for _ in range(size // 64)) * 64
