"""A fleet of fake vLLM targets on one port, served by a child process (so its CPU is never ours).

Target ``i`` answers ``/t/<i>/metrics`` with the vLLM page of ``bench/expositions.py`` for a
model of its own (``model-<i>``), so no two targets send the same series, and its counters grow
from one scrape to the next (eight traffic levels in turn: every eighth scrape looks like a
restart, which the exporter's reset tracking absorbs). The server is asyncio with keep-alive,
about 50 µs per answer, and records when each target was scraped, for the "every target
collected every interval" check (``scrapes_since``).

    fleet = FleetTargets()
    fleet.url(17)              # http://127.0.0.1:PORT/t/17/metrics
    fleet.scrapes_since(t0)    # {17: [unix times of its scrapes since t0], ...}
    fleet.stop()
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import signal
import time

from inference_devtools import repo  # noqa: E402

repo.use("bench")  # the sibling modules, also when imported from elsewhere
import expositions  # noqa: E402 - the sibling module

MODEL = "@MODEL@"
LEVELS = 8  # traffic levels served one after another, the last one from then on


def _templates(engines: int) -> list[list[bytes]]:
    """Each traffic level's page, split around the model name."""
    out = []
    for level in range(LEVELS):
        page = expositions.vllm(models=(MODEL,), engines=engines, traffic=1.0 + level / 100)
        out.append(page.encode().split(MODEL.encode()))
    return out


def _serve(ports_out, engines: int) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent stops us
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    templates = _templates(engines)
    served: dict[int, int] = {}
    times: dict[int, list[float]] = {}

    def page(target: int) -> bytes:
        n = served.get(target, 0)
        served[target] = n + 1
        seen = times.setdefault(target, [])
        seen.append(time.time())
        if len(seen) > 256:  # a long run stays small: keep the recent scrapes only
            del seen[:128]
        return f"model-{target:05d}".encode().join(templates[min(n, LEVELS - 1)])

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                path = head.split(b" ", 2)[1].decode()
                parts = path.split("/")
                if path.startswith("/stats"):
                    since = float(path.partition("since=")[2] or 0)
                    body = json.dumps({t: [x for x in ts if x >= since] for t, ts in times.items()}).encode()
                    ctype = b"application/json"
                elif len(parts) == 4 and parts[1] == "t" and parts[2].isdigit():
                    body = page(int(parts[2]))
                    ctype = b"text/plain; version=0.0.4; charset=utf-8"
                else:
                    writer.write(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
                    continue
                writer.write(
                    b"HTTP/1.1 200 OK\r\nContent-Type: "
                    + ctype
                    + b"\r\nContent-Length: "
                    + str(len(body)).encode()
                    + b"\r\n\r\n"
                    + body
                )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            pass
        finally:
            writer.close()

    async def main() -> None:
        server = await asyncio.start_server(handle, "127.0.0.1", 0, backlog=4096)
        ports_out.send(server.sockets[0].getsockname()[1])
        async with server:
            await server.serve_forever()

    asyncio.run(main())


class FleetTargets:
    def __init__(self, engines: int = 2) -> None:
        ctx = multiprocessing.get_context("spawn")  # a clean child: none of the parent's threads
        ours, theirs = ctx.Pipe()
        self.process = ctx.Process(target=_serve, args=(theirs, engines), daemon=True)
        self.process.start()
        if not ours.poll(60):
            self.stop()
            raise RuntimeError("the fake fleet did not start")
        self.port = ours.recv()
        self.pid = self.process.pid

    def url(self, index: int) -> str:
        return f"http://127.0.0.1:{self.port}/t/{index}/metrics"

    def scrapes_since(self, since: float) -> dict[int, list[float]]:
        import urllib.request

        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/stats?since={since}", timeout=30) as r:
            return {int(k): v for k, v in json.load(r).items()}

    def stop(self) -> None:
        if self.process.is_alive():
            self.process.terminate()
            self.process.join(5)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(5)


def page_size(engines: int = 2) -> int:
    return len(f"model-{0:05d}".encode().join(_templates(engines)[0]))
