"""HTTP endpoints: /metrics, /-/healthy, /-/ready, /-/reload, /events, /config and a landing page."""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

from . import __version__
from .config import redacted
from .durations import parse_duration
from .exporter import Exporter
from .exposition import OPENMETRICS_CONTENT_TYPE, TEXT_CONTENT_TYPE, negotiate
from .journal import EVENT_TYPES, Filter
from .landing import landing_page

EVENTS_LIMIT = 1000  # default and cap of /events?limit=

log = logging.getLogger("inference_exporter.server")


def parse_listen_address(address: str) -> tuple[str, int, int]:
    """':9072' -> ('0.0.0.0', 9072, AF_INET); '[::]:9072' -> ('::', 9072, AF_INET6)."""
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"--web.listen-address: expected [host]:port, got {address!r}")
    family = socket.AF_INET
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
        family = socket.AF_INET6
    elif ":" in host:
        family = socket.AF_INET6
    return host or "0.0.0.0", int(port), family


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64


def parse_since(value: str, now: float | None = None) -> float:
    """Unix seconds, an RFC 3339 time (2026-11-29T20:31:02Z) or an age (90s, 15m, 2h30m, 7d)."""
    value = value.strip()
    now = time.time() if now is None else now
    try:
        return now - parse_duration(value)
    except ValueError:
        pass
    try:
        return float(value)
    except ValueError:
        pass
    from datetime import datetime, timezone

    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(
            f"since: expected unix seconds, an RFC 3339 time or an age like 15m, got {value!r}"
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.timestamp()


def events_query(query: str) -> tuple[Filter, int]:
    """/events?since=15m&type=target_down,canary_failed&model=ranker&target=t&limit=50"""
    q = {k: v[-1] for k, v in parse_qs(query).items()}
    unknown = set(q) - {"since", "type", "model", "target", "limit"}
    if unknown:
        raise ValueError(f"unknown parameter {sorted(unknown)[0]!r} (since, type, model, target, limit)")
    limit = EVENTS_LIMIT
    if "limit" in q:
        if not q["limit"].isdigit() or not 0 < int(q["limit"]) <= EVENTS_LIMIT:
            raise ValueError(f"limit: expected a whole number from 1 to {EVENTS_LIMIT}")
        limit = int(q["limit"])
    types = frozenset(t for t in q.get("type", "").split(",") if t)
    unknown = sorted(types - set(EVENT_TYPES))
    if unknown:
        raise ValueError(f"type: unknown event type {unknown[0]!r}")
    since = parse_since(q["since"]) if q.get("since") else 0.0
    return Filter(since=since, types=types, model=q.get("model", ""), target=q.get("target", "")), limit


def make_server(exporter: Exporter, listen_address: str, telemetry_path: str = "/metrics") -> _Server:
    host, port, family = parse_listen_address(listen_address)

    class Handler(BaseHTTPRequestHandler):
        server_version = f"inference-exporter/{__version__}"
        protocol_version = "HTTP/1.1"
        # Headers and a small (gzipped) body go out in two writes; with Nagle's algorithm
        # the body would wait for the client's delayed ACK (40 ms on Linux).
        disable_nagle_algorithm = True

        def log_message(self, fmt, *args):  # noqa: D102 - requests are logged at debug only
            log.debug(fmt % args)

        def _send(self, status: int, body, ctype: str, extra: dict | None = None, length: int = -1) -> None:
            """Send ``body``: bytes, or an iterator of byte pieces with its ``length``."""
            if isinstance(body, bytes):
                length, body = len(body), (body,)
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(length))
            for k, v in (extra or {}).items():
                self.send_header(k, v)
            self.end_headers()
            if self.command != "HEAD":
                for piece in body:
                    self.wfile.write(piece)

        def do_HEAD(self):  # noqa: N802
            self.do_GET()

        def do_GET(self):  # noqa: N802
            path = self.path.split("?", 1)[0]
            if path == telemetry_path:
                om, gz = negotiate(self.headers.get("Accept", ""), self.headers.get("Accept-Encoding", ""))
                length, pieces = exporter.current().payload(om, gz)
                extra = {"Content-Encoding": "gzip"} if gz else {}
                extra["Vary"] = "Accept, Accept-Encoding"
                self._send(200, pieces, OPENMETRICS_CONTENT_TYPE if om else TEXT_CONTENT_TYPE, extra, length)
            elif path == "/-/healthy":
                self._send(200, b"Healthy.\n", "text/plain; charset=utf-8")
            elif path == "/-/ready":
                if exporter.ready:
                    self._send(200, b"Ready.\n", "text/plain; charset=utf-8")
                else:
                    pending = sum(1 for row in exporter.rows() if row["status"] == "pending")
                    msg = f"Not ready: {pending} source(s) not collected yet.\n"
                    self._send(503, msg.encode(), "text/plain; charset=utf-8")
            elif path == "/events":
                self._events()
            elif path == "/config":
                import yaml

                text = yaml.safe_dump(redacted(exporter.config), sort_keys=False, default_flow_style=False)
                self._send(200, text.encode(), "text/plain; charset=utf-8")
            elif path == "/-/reload":
                self._send(405, b"Use POST.\n", "text/plain; charset=utf-8", {"Allow": "POST"})
            elif path == "/":
                self._send(
                    200, landing_page(exporter.rows(), telemetry_path).encode(), "text/html; charset=utf-8"
                )
            else:
                self._send(404, b"Not found.\n", "text/plain; charset=utf-8")

        def _events(self):
            if exporter.journal is None:
                self._send(404, b"No journal.\n", "text/plain; charset=utf-8")
                return
            try:
                flt, limit = events_query(self.path.partition("?")[2])
            except ValueError as exc:
                self._send(400, f"{exc}\n".encode(), "text/plain; charset=utf-8")
                return
            events = exporter.journal.read(flt, limit)
            body = json.dumps({"events": events}, separators=(",", ":")).encode()
            self._send(200, body, "application/json")

        def do_POST(self):  # noqa: N802
            # Drain a body, if any, so the connection stays usable.
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(min(length, 1 << 16))
            if self.path.split("?", 1)[0] != "/-/reload":
                self._not_allowed()
                return
            ok, message = exporter.reload()
            if ok:
                self._send(200, f"Config {message}.\n".encode(), "text/plain; charset=utf-8")
            else:
                self._send(500, f"Failed to reload config: {message}\n".encode(), "text/plain; charset=utf-8")

        def _not_allowed(self):
            self._send(405, b"Method not allowed.\n", "text/plain; charset=utf-8", {"Allow": "GET, HEAD"})

        do_PUT = do_DELETE = do_PATCH = _not_allowed  # noqa: N815

    _Server.address_family = family
    return _Server((host, port), Handler)


def serve_in_thread(server: _Server) -> threading.Thread:
    thread = threading.Thread(target=server.serve_forever, name="http", daemon=True)
    thread.start()
    return thread
