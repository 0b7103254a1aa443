"""HTTP endpoints: /metrics, /-/healthy, /-/ready, /-/reload, /events, /config and a landing page.

Who may do what (docs/security.md): with a web config (``--web.config.file``) every
endpoint is served over TLS and needs basic auth as configured, as in every Prometheus
exporter, except the probes ``/-/healthy`` and ``/-/ready`` (no credentials for a kubelet).
``POST /-/reload`` answers only with ``--web.enable-lifecycle`` and refuses cross-origin
requests (a web page must not trigger it); SIGHUP always reloads. The listener itself is
``httpserver.py``: bounded workers, connections, timeouts and bodies.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from urllib.parse import parse_qs

from .config import redacted
from .durations import parse_duration
from .exporter import Exporter
from .exposition import OPENMETRICS_CONTENT_TYPE, TEXT_CONTENT_TYPE, negotiate
from .httpmessage import Limits, Request, Response, text_response
from .httpserver import HTTPServer
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


class WebState:
    """The web config in force (none without ``--web.config.file``); swapped whole on reload.
    webconfig.py (and bcrypt) are imported only when there is a file to read."""

    def __init__(self, path: str = ""):
        self.path = path
        self.tls_context = None
        self.headers: tuple[tuple[str, str], ...] = ()
        self.auth = None  # a webconfig.Authenticator when basic_auth_users is set
        if path:
            self.prepare_reload()()

    def prepare_reload(self):
        """Check the file again; return how to apply it (ConfigError when it is bad)."""
        if not self.path:
            return lambda: None
        from .webconfig import Authenticator, load_web_config

        config = load_web_config(self.path)

        def apply() -> None:
            self.tls_context, self.headers = config.tls, config.headers
            self.auth = Authenticator(config.users) if config.users else None

        return apply

    def tls(self):
        return self.tls_context


def same_origin(origin: str, host: str) -> bool:
    """Whether a request's Origin names the host it was sent to (scheme aside)."""
    if not origin:
        return True
    _, sep, rest = origin.partition("://")
    return bool(sep) and rest.rstrip("/").lower() == host.lower()


def _accepted_encodings(value: str) -> str:
    """Accept-Encoding without the codings refused with q=0 ("gzip;q=0" means no gzip)."""
    kept = []
    for part in value.split(","):
        params = [p.strip().replace(" ", "") for p in part.split(";")[1:]]
        if any(p in ("q=0", "q=0.0", "q=0.00", "q=0.000") for p in params):
            continue
        kept.append(part)
    return ",".join(kept)


DEFAULT_LIMITS = Limits()
PROBES = ("/-/healthy", "/-/ready")


class Endpoints:
    """Routes a request to its answer, after the web config's auth; adds its headers."""

    def __init__(self, exporter: Exporter, web: WebState, telemetry_path: str, enable_lifecycle: bool):
        self.exporter = exporter
        self.web = web
        self.telemetry_path = telemetry_path
        self.enable_lifecycle = enable_lifecycle

    def __call__(self, req: Request) -> Response:
        web = self.web
        # The probes answer without credentials, so a kubelet needs none; they tell nothing else.
        auth = web.auth
        if auth is not None and req.path not in PROBES and not auth.check(req.header("authorization")):
            resp = text_response(
                401, "Unauthorized.\n", headers={"WWW-Authenticate": 'Basic realm="inference-exporter"'}
            )
        else:
            resp = self._route(req)
        resp.headers.update(web.headers)
        return resp

    def _route(self, req: Request) -> Response:
        path = req.path
        if req.method == "POST":
            if path == "/-/reload":
                return self._reload(req)
            return text_response(405, "Method not allowed.\n", headers={"Allow": "GET, HEAD"})
        if req.method not in ("GET", "HEAD"):
            allow = "POST" if path == "/-/reload" else "GET, HEAD"
            return text_response(405, "Method not allowed.\n", headers={"Allow": allow})
        exporter = self.exporter
        if path == self.telemetry_path:
            om, gz = negotiate(req.header("accept"), _accepted_encodings(req.header("accept-encoding")))
            length, pieces = exporter.current().payload(om, gz)
            extra = {"Content-Encoding": "gzip"} if gz else {}
            extra["Vary"] = "Accept, Accept-Encoding"
            ctype = OPENMETRICS_CONTENT_TYPE if om else TEXT_CONTENT_TYPE
            return Response(200, pieces, ctype, extra, length)
        if path == "/-/healthy":
            return text_response(200, "Healthy.\n")
        if path == "/-/ready":
            if exporter.ready:
                return text_response(200, "Ready.\n")
            pending = sum(1 for row in exporter.rows() if row["status"] == "pending")
            return text_response(503, f"Not ready: {pending} source(s) not collected yet.\n")
        if path == "/events":
            return self._events(req)
        if path == "/config":
            import yaml

            text = yaml.safe_dump(redacted(exporter.config), sort_keys=False, default_flow_style=False)
            return text_response(200, text)
        if path == "/-/reload":
            return text_response(405, "Use POST.\n", headers={"Allow": "POST"})
        if path == "/":
            page = landing_page(exporter.rows(), self.telemetry_path)
            return Response(200, page.encode(), "text/html; charset=utf-8")
        return text_response(404, "Not found.\n")

    def _events(self, req: Request) -> Response:
        journal = self.exporter.journal
        if journal is None:
            return text_response(404, "No journal.\n")
        try:
            flt, limit = events_query(req.query)
        except ValueError as exc:
            return text_response(400, f"{exc}\n")
        body = json.dumps({"events": journal.read(flt, limit)}, separators=(",", ":")).encode()
        return Response(200, body, "application/json")

    def _reload(self, req: Request) -> Response:
        if not self.enable_lifecycle:
            return text_response(403, "Lifecycle API is not enabled.\n")
        # A browser sends Origin with every cross-site POST: a web page must not reload us.
        if (
            not same_origin(req.header("origin"), req.header("host"))
            or req.header("sec-fetch-site") == "cross-site"
        ):
            return text_response(403, "Cross-origin requests are refused.\n")
        ok, message = self.exporter.reload()
        body = {"status": "success", "result": message} if ok else {"status": "error", "error": message}
        return Response(200 if ok else 500, json.dumps(body).encode() + b"\n", "application/json")


def make_server(
    exporter: Exporter,
    listen_address: str,
    telemetry_path: str = "/metrics",
    web: WebState | None = None,
    enable_lifecycle: bool = False,
    limits: Limits = DEFAULT_LIMITS,
) -> HTTPServer:
    """The listener, not yet serving (``serve_in_thread``). Raises ValueError for a bad address,
    OSError when it cannot listen."""
    host, port, family = parse_listen_address(listen_address)
    web = web if web is not None else WebState()
    exporter.reload_hooks.append(web.prepare_reload)
    handler = Endpoints(exporter, web, telemetry_path, enable_lifecycle)
    return HTTPServer((host, port), family, handler, tls=web.tls, limits=limits)


def serve_in_thread(server: HTTPServer) -> threading.Thread:
    thread = threading.Thread(target=server.serve_forever, name="http", daemon=True)
    thread.start()
    return thread
