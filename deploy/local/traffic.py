"""Search-shaped traffic for the demo's model servers.

Each search ranks a page of candidate products (10 to 40 rows) on a ranking server,
and embeds the shopper's query (one to three words, now and then a few query
suggestions in one request) on an embedding server. The request rate
follows a compressed day: a sinusoid over ``day_seconds`` (quiet night, busy
evening), multiplicative noise each second, and now and then a burst (a flash sale)
of a few times the rate for 10 to 30 s. A small share of searches is malformed
(rows one feature short, a number among the query texts) so the model really fails them; the control file can
raise that share and scale the rate (see ``control.py``).

It is bounded on purpose: at most ``max_in_flight`` requests per server, and
requests beyond that are skipped and counted, never queued, so a slow or stopped
server cannot make the generator pile up work. Targets must be on loopback.
"""

from __future__ import annotations

import math
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Protocol
from urllib.parse import urlsplit

from inference_devtools import repo

repo.use("deploy/local/servers")
import control  # noqa: E402
import embedding_model  # noqa: E402
import ranking_model  # noqa: E402

LOOPBACK = ("127.0.0.1", "localhost", "::1")


class Server(Protocol):
    """What the generator needs of a server: ``launch.Handle`` fits."""

    server: str
    name: str  # unique in the demo; `down` in the control file lists these
    model: str
    api_url: str

    def infer(self, inputs: list) -> tuple[int, bytes]: ...


@dataclass(frozen=True)
class Shape:
    """The load curve, in requests per second per server."""

    day_seconds: float = 600.0
    peak_rps: float = 6.0
    night_rps: float = 1.0
    noise: float = 0.25  # sigma of the per-second log-normal factor
    bursts_per_day: float = 2.0
    burst_factor: float = 3.0
    start_phase: float = 0.3  # share of a day already gone at start: mid-morning, traffic rising

    def daily(self, t: float) -> float:
        """Smooth part: trough at t=0 ("4 am"), peak half a day later."""
        phase = (1 - math.cos(2 * math.pi * t / self.day_seconds)) / 2
        return self.night_rps + (self.peak_rps - self.night_rps) * phase


@dataclass
class Counts:
    ok: int = 0
    failed: int = 0  # the server answered with an error (meant or not)
    unreachable: int = 0  # no answer: connection refused, timeout
    skipped: int = 0  # over max_in_flight
    in_flight: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, what: str, n: int = 1) -> None:
        with self.lock:
            setattr(self, what, getattr(self, what) + n)

    def line(self) -> str:
        return f"ok {self.ok}, failed {self.failed}, unreachable {self.unreachable}, skipped {self.skipped}"


class Traffic:
    """Sends requests to every server from background threads until ``stop()``."""

    def __init__(
        self,
        servers: list[Server],
        control_file,
        shape: Shape | None = None,
        max_in_flight: int = 8,
        seed: int = 7,
    ):
        for s in servers:
            host = urlsplit(s.api_url).hostname
            if host not in LOOPBACK:
                raise ValueError(f"{s.server}: traffic goes to loopback only, not {s.api_url}")
        self.servers = servers
        self.control_file = control_file
        self.shape = shape or Shape()
        self.max_in_flight = max_in_flight
        self.counts = {s.name: Counts() for s in servers}
        self._rng = random.Random(seed)
        self._stop = threading.Event()
        self._pool = ThreadPoolExecutor(
            max_workers=max_in_flight * max(1, len(servers)), thread_name_prefix="traffic"
        )
        self._thread = threading.Thread(target=self._loop, name="traffic", daemon=True)
        self._burst_until = 0.0

    def start(self) -> Traffic:
        self._started = time.monotonic() - self.shape.start_phase * self.shape.day_seconds
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._pool.shutdown(wait=True, cancel_futures=True)

    def rate(self, t: float, rate_factor: float) -> float:
        """Requests per second per server for this second of the run."""
        shape = self.shape
        if t >= self._burst_until and self._rng.random() < shape.bursts_per_day / shape.day_seconds:
            self._burst_until = t + self._rng.uniform(10, 30)
        burst = shape.burst_factor if t < self._burst_until else 1.0
        noise = self._rng.lognormvariate(0, shape.noise)
        return shape.daily(t) * burst * noise * rate_factor

    def _loop(self) -> None:
        while not self._stop.is_set():
            second = time.monotonic()
            settings = control.read(self.control_file)
            down = set(settings["down"])
            rps = self.rate(second - self._started, float(settings["rate_factor"]))
            # Poisson arrivals within this second, per server.
            plan = []
            for s in self.servers:
                if s.name in down:
                    continue
                t = self._rng.expovariate(rps) if rps > 0 else 1.0
                while t < 1.0:
                    plan.append((t, s))
                    t += self._rng.expovariate(rps)
            plan.sort(key=lambda item: item[0])
            for offset, s in plan:
                if self._stop.wait(max(0.0, second + offset - time.monotonic())):
                    return
                self._submit(s, self._rng.random() < float(settings["error_share"]))
            self._stop.wait(max(0.0, second + 1.0 - time.monotonic()))

    def _submit(self, server: Server, fail: bool) -> None:
        counts = self.counts[server.name]
        with counts.lock:
            if counts.in_flight >= self.max_in_flight:
                counts.skipped += 1
                return
            counts.in_flight += 1
        self._pool.submit(self._send, server, self._inputs(server.model, fail), counts)

    def _inputs(self, model: str, fail: bool) -> list:
        if model == embedding_model.MODEL_NAME:
            n = self._rng.choice((1, 1, 1, 1, 2, 4))  # mostly the query alone, sometimes suggestions
            return embedding_model.bad_texts(n + 1) if fail else embedding_model.search_queries(n, self._rng)
        n = self._rng.randint(10, 40)
        return ranking_model.bad_rows(n) if fail else ranking_model.good_rows(n, self._rng.randrange(1 << 30))

    @staticmethod
    def _send(server: Server, inputs: list, counts: Counts) -> None:
        try:
            status, _ = server.infer(inputs)
            counts.add("ok" if status == 200 else "failed")
        except Exception:  # refused, reset, timed out, garbled: the server is down or stuck
            counts.add("unreachable")
        finally:
            counts.add("in_flight", -1)

    def summary(self) -> str:
        return "; ".join(f"{name}: {c.line()}" for name, c in self.counts.items())
