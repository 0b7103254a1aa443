"""A loopback model-server API whose answers a test sets per route (method, path)."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class FakeAPI:
    """``api.routes[("GET", "/v2/health/ready")] = (200, {...})``; a callable value gets the body."""

    def __init__(self) -> None:
        self.routes: dict[tuple[str, str], tuple] = {}
        self.delay: dict[str, float] = {}
        self.received: list[tuple[str, str, bytes, dict]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"  # no keep-alive: close() really takes the server away

            def log_message(self, *args):
                pass

            def _answer(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                path = self.path.split("?", 1)[0]
                outer.received.append((self.command, path, body, dict(self.headers)))
                time.sleep(outer.delay.get(path, 0.0))
                status, payload = outer.routes.get((self.command, path), (404, {"error": "not found"}))
                if callable(payload):
                    payload = payload(body)
                data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = _answer  # noqa: N815

        self.server = _Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def v2_server(self, models: dict[str, list[str]], ready: bool = True) -> None:
        """Answer as a KServe-v2 server (Triton/MLServer) with MODELS {name: [versions]} loaded."""
        code = 200 if ready else 503
        self.routes[("GET", "/v2/health/live")] = (200, b"")
        self.routes[("GET", "/v2/health/ready")] = (code, b"")
        index = [
            {"name": m, "version": v, "state": "READY", "reason": ""} for m, vs in models.items() for v in vs
        ]
        self.routes[("POST", "/v2/repository/index")] = (200, index)
        # Forget the previous models' metadata and readiness (not their config or infer routes).
        for key in [k for k in self.routes if k[1].startswith("/v2/models/")]:
            if key[1].endswith("/ready") or key[1].count("/") == 3:
                del self.routes[key]
        for m, versions in models.items():
            self.routes[("GET", f"/v2/models/{m}")] = (200, {"name": m, "versions": versions})
            for v in versions:
                self.routes[("GET", f"/v2/models/{m}/versions/{v}/ready")] = (code, b"")

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
