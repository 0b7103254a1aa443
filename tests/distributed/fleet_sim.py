"""A fleet of simulated vLLM targets on one loopback port, with faults that can be switched on.

Each target serves ``/<name>/metrics`` in vLLM's format; its counters grow with the time since
it was last asked, at its request rate, with its error share and latency, so rates computed by
Prometheus follow the simulated behaviour whoever scrapes (each target is scraped by one
exporter only). ``fail(name, share)``, ``slow(name, seconds)`` and ``down(name)`` change a target
from then on.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

BOUNDS = (0.05, 0.1, 0.5, 1.0, 5.0)


@dataclass
class SimTarget:
    name: str
    model: str
    rps: float = 20.0
    error_share: float = 0.0
    latency: float = 0.03  # every request takes this long (the buckets follow)
    is_down: bool = False
    success: float = 0.0
    failure: float = 0.0
    lat_sum: float = 0.0
    buckets: dict[float, float] = field(default_factory=lambda: dict.fromkeys(BOUNDS, 0.0))
    last: float = field(default_factory=time.monotonic)

    def advance(self) -> None:
        now = time.monotonic()
        done = self.rps * (now - self.last)
        self.last = now
        self.success += done * (1 - self.error_share)
        self.failure += done * self.error_share
        self.lat_sum += done * self.latency
        for le in BOUNDS:
            if self.latency <= le:
                self.buckets[le] += done

    def page(self) -> str:
        base = f'engine="0",model_name="{self.model}"'
        total = self.success + self.failure
        lines = [
            "# TYPE vllm:request_success_total counter",
            f'vllm:request_success_total{{engine="0",finished_reason="stop",model_name="{self.model}"}} '
            f"{self.success:.3f}",
            f'vllm:request_success_total{{engine="0",finished_reason="abort",model_name="{self.model}"}} '
            f"{self.failure:.3f}",
            "# TYPE vllm:num_requests_running gauge",
            f"vllm:num_requests_running{{{base}}} 3",
            "# TYPE vllm:e2e_request_latency_seconds histogram",
        ]
        for le in BOUNDS:
            lines.append(
                f'vllm:e2e_request_latency_seconds_bucket{{{base},le="{le}"}} {self.buckets[le]:.3f}'
            )
        lines += [
            f'vllm:e2e_request_latency_seconds_bucket{{{base},le="+Inf"}} {total:.3f}',
            f"vllm:e2e_request_latency_seconds_sum{{{base}}} {self.lat_sum:.4f}",
            f"vllm:e2e_request_latency_seconds_count{{{base}}} {total:.3f}",
        ]
        return "\n".join(lines) + "\n"


class Fleet:
    def __init__(self, targets: list[SimTarget]):
        self.targets = {t.name: t for t in targets}
        self.lock = threading.Lock()
        fleet = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):  # noqa: N802
                name = self.path.strip("/").split("/")[0]
                with fleet.lock:
                    target = fleet.targets.get(name)
                    if target is not None:
                        target.advance()
                    body = None if target is None or target.is_down else target.page().encode()
                if body is None:
                    self.send_response(503)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port}/{name}/metrics"

    def _set(self, name: str, **changes) -> None:
        with self.lock:
            target = self.targets[name]
            target.advance()  # what happened until now, at the old settings
            for key, value in changes.items():
                setattr(target, key, value)

    def fail(self, name: str, share: float) -> None:
        self._set(name, error_share=share)

    def slow(self, name: str, seconds: float) -> None:
        self._set(name, latency=seconds)

    def down(self, name: str) -> None:
        self._set(name, is_down=True)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
