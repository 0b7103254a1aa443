"""Scrape benchmark: latency, CPU and memory of the exporter, side by side with peers, in one run.

    python bench/scrape.py [--requests 300] [--json bench/results/scrape.json] [--only latency,cpu]

1. latency  /metrics p50/p99 of our exporter vs. prometheus-node-exporter on this machine,
            our exposition at least as large in bytes (target: our p99 <= 1/4 of theirs).
2. cpu      CPU per native sample of our collection path after the HTTP GET (parse with the
            adapter's wanted set, reset tracking, translate, render the snapshot's lines) vs.
            prometheus_client's text parser on the same expositions (target: <= 1/3).
3. memory   peak RSS of the exporter process collecting 50 targets (target: < 60 MB).
4. hung     cycle time of 180 healthy targets with and without 20 hung ones (target: unchanged).

The fake targets are served by a child process (so their work never counts as ours and never
holds the client's GIL); every process started here is stopped on exit and on Ctrl-C.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import http.client
import io
import json
import math
import multiprocessing
import os
import platform
import pstats
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import expositions  # noqa: E402 - bench/, the script's own folder
import psutil
from inference_exporter import parser  # noqa: E402
from inference_exporter.config import TargetConfig  # noqa: E402
from inference_exporter.exposition import SourceRenderer  # noqa: E402
from inference_exporter.scrape import TargetScraper  # noqa: E402
from prometheus_client.parser import text_string_to_metric_families

RESULTS = Path(__file__).resolve().parent / "results"
SECTIONS = ("latency", "cpu", "memory", "hung")
TEXT_ONLY = {"Accept": "text/plain;version=0.0.4", "Accept-Encoding": "identity"}
# What Prometheus 2.x sends: OpenMetrics preferred, gzip accepted.
AS_PROMETHEUS = {
    "Accept": "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;"
    "q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1",
    "Accept-Encoding": "gzip",
}
KINDS = ("vllm", "triton")  # fake targets alternate between the two
HUNG_PATH = "/hung/metrics"


def say(message: str) -> None:
    print(message, flush=True)


def progress(label: str, done: int, total: int) -> None:
    """One updating line on a terminal, a line per quarter otherwise."""
    if sys.stdout.isatty():
        end = "\n" if done == total else ""
        print(f"\r    {label}: {done}/{total}", end=end, flush=True)
    elif done == total or done % max(1, total // 4) == 0:
        say(f"    {label}: {done}/{total}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100)."""
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def wait_until(predicate: Callable[[], bool], timeout: float, what: str, step: float = 0.1) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(step)
    raise RuntimeError(f"timed out after {timeout:g}s waiting for {what}")


# --- fake targets (child process) ---------------------------------------------------------


def _serve_fake_targets(bodies: dict[str, bytes], ports_out) -> None:
    """Child process: serve the canned expositions, plus a listener that never answers."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent stops us; Ctrl-C is its to handle
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # undo the parent's handler inherited by fork

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as model servers do

        def log_message(self, *args):
            pass

        def do_GET(self):  # noqa: N802
            kind = self.path.split("/", 2)[1]
            body = bodies.get(kind)
            if body is None:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    class Server(ThreadingHTTPServer):
        daemon_threads = True
        request_queue_size = 512  # 200 targets connect at once

    server = Server(("127.0.0.1", 0), Handler)
    hung = socket.socket()
    hung.bind(("127.0.0.1", 0))
    hung.listen(512)
    held: list[socket.socket] = []

    def accept_and_ignore() -> None:
        while True:
            conn, _ = hung.accept()
            held.append(conn)
            if len(held) > 1000:  # the exporter gave up on these long ago
                for old in held[:500]:
                    old.close()
                del held[:500]

    threading.Thread(target=accept_and_ignore, daemon=True).start()
    ports_out.send((server.server_address[1], hung.getsockname()[1]))
    server.serve_forever()


class FakeTargets:
    """Serves /vllm/<i>/metrics, /triton/<i>/metrics and a hung port from a child process."""

    def __init__(self) -> None:
        self.bodies = {"vllm": expositions.vllm(), "triton": expositions.triton()}
        ctx = multiprocessing.get_context("fork")
        ours, theirs = ctx.Pipe()
        encoded = {k: v.encode() for k, v in self.bodies.items()}
        self.process = ctx.Process(target=_serve_fake_targets, args=(encoded, theirs), daemon=True)
        self.process.start()
        if not ours.poll(15):
            self.stop()
            raise RuntimeError("fake targets did not start")
        self.port, self.hung_port = ours.recv()

    def url(self, kind: str, index: int) -> str:
        return f"http://127.0.0.1:{self.port}/{kind}/{index}/metrics"

    def hung_url(self) -> str:
        return f"http://127.0.0.1:{self.hung_port}{HUNG_PATH}"

    def stop(self) -> None:
        if self.process.is_alive():
            self.process.terminate()
            self.process.join(5)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(5)


# --- processes under test -----------------------------------------------------------------


@dataclass
class Target:
    name: str
    kind: str
    url: str


def healthy_targets(fakes: FakeTargets, count: int) -> list[Target]:
    return [Target(f"t{i:03d}", KINDS[i % 2], fakes.url(KINDS[i % 2], i)) for i in range(count)]


class Process:
    """A started server process; stopped (TERM, then KILL) by ``stop``."""

    def __init__(self, argv: list[str], log_path: Path, port: int):
        self.port = port
        self.log_path = log_path
        self._log = open(log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.popen = subprocess.Popen(argv, stdout=self._log, stderr=subprocess.STDOUT)
        self.ps = psutil.Process(self.popen.pid)

    def get(self, path: str, timeout: float = 5.0) -> tuple[int, bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            conn.request("GET", path, headers=TEXT_ONLY)
            resp = conn.getresponse()
            return resp.status, resp.read()
        finally:
            conn.close()

    def answers(self, path: str, status: int = 200) -> bool:
        if self.popen.poll() is not None:
            tail = self.log_path.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"{self.log_path.name}: process exited with {self.popen.returncode}:\n{tail}")
        try:
            return self.get(path, timeout=2.0)[0] == status
        except OSError:
            return False

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(10)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(5)
        self._log.close()


def start_exporter(
    workdir: Path, label: str, targets: list[Target], interval: float, timeout: float
) -> Process:
    lines = ["global:", f"  scrape_interval: {interval:g}s", f"  scrape_timeout: {timeout:g}s", "targets:"]
    for t in targets:
        lines += [f"  - name: {t.name}", f"    kind: {t.kind}", f"    metrics_url: {t.url}"]
    config = workdir / f"{label}.yml"
    config.write_text("\n".join(lines) + "\n")
    port = free_port()
    argv = [
        sys.executable,
        "-m",
        "inference_exporter",
        f"--config.file={config}",
        f"--web.listen-address=127.0.0.1:{port}",
        f"--journal.path={workdir / f'{label}-journal'}",  # its own, not ./inference-exporter-journal/
        "--log.level=error",  # hung targets would otherwise log a warning each
    ]
    proc = Process(argv, workdir / f"{label}.log", port)
    try:
        wait_until(lambda: proc.answers("/-/ready"), 60, f"exporter '{label}' to be ready", step=0.2)
    except BaseException:
        proc.stop()
        raise
    return proc


def start_node_exporter(binary: str, workdir: Path) -> Process:
    port = free_port()
    proc = Process([binary, f"--web.listen-address=127.0.0.1:{port}"], workdir / "node_exporter.log", port)
    try:
        wait_until(lambda: proc.answers("/metrics"), 20, "node_exporter to answer")
    except BaseException:
        proc.stop()
        raise
    return proc


# --- 1. latency ---------------------------------------------------------------------------


class Client:
    """One keep-alive connection, as Prometheus keeps one per target; same code for every server."""

    def __init__(self, port: int):
        self.port = port
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)

    def fetch(self, headers: dict[str, str]) -> tuple[float, int]:
        """(seconds until the last byte, body bytes)."""
        for attempt in (1, 2):
            try:
                t0 = time.perf_counter()
                self.conn.request("GET", "/metrics", headers=headers)
                resp = self.conn.getresponse()
                body = resp.read()
                elapsed = time.perf_counter() - t0
                if resp.status != 200:
                    raise RuntimeError(f"port {self.port}: /metrics answered {resp.status}")
                return elapsed, len(body)
            except (http.client.HTTPException, ConnectionError):
                self.conn.close()  # the server closed an idle keep-alive: reconnect once
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def close(self) -> None:
        self.conn.close()


def measure_side_by_side(ports: dict[str, int], headers: dict[str, str], requests: int, label: str) -> dict:
    """Sequential requests, alternating servers (and who goes first) so both see the same machine."""
    clients = {name: Client(port) for name, port in ports.items()}
    names = list(clients)
    times: dict[str, list[float]] = {n: [] for n in names}
    sizes: dict[str, int] = {n: 0 for n in names}
    try:
        for _ in range(20):  # warm-up: connections, caches, gzip of the current rendering
            for n in names:
                clients[n].fetch(headers)
        for i in range(requests):
            order = names if i % 2 == 0 else names[::-1]
            for n in order:
                elapsed, size = clients[n].fetch(headers)
                times[n].append(elapsed)
                sizes[n] = max(sizes[n], size)
            progress(label, i + 1, requests)
    finally:
        for c in clients.values():
            c.close()
    return {
        n: {
            "p50_ms": percentile(times[n], 50) * 1e3,
            "p99_ms": percentile(times[n], 99) * 1e3,
            "max_ms": max(times[n]) * 1e3,
            "bytes": sizes[n],
            "samples_ms": [t * 1e3 for t in times[n]],
        }
        for n in names
    }


def rendered_bytes(kind: str, text: str, name: str) -> int:
    """Bytes of one target's unified sample lines (headers and self-metrics come on top)."""
    collector = canned_collector(kind, text, name)
    result = collector.collect()
    if not result.ok:
        raise RuntimeError(f"{kind}: {result.reason}: {result.message}")
    rendered = SourceRenderer().render(result.snapshots[0])
    if hasattr(rendered, "chunks"):  # an older tree (--baseline runs): the lines as text
        return sum(len(lines) for lines in rendered.chunks.values()) + sum(len(m[2]) for m in rendered.models)
    return len(rendered.text)


def bench_latency(ctx: Context) -> dict:
    say("[latency] /metrics latency: our exporter vs. prometheus-node-exporter, same client, same machine")
    binary = ctx.args.node_exporter
    if not binary or not Path(binary).is_file():
        say(
            f"    skipped: node_exporter binary {binary!r} not found "
            "(apt-get install prometheus-node-exporter, or pass --node-exporter PATH)"
        )
        return {"skipped": "node_exporter not found"}
    node = ctx.own(start_node_exporter(binary, ctx.workdir))
    client = Client(node.port)
    node_bytes = max(client.fetch(TEXT_ONLY)[1] for _ in range(5))
    client.close()
    # Add targets until our unified sample lines alone outweigh node_exporter's whole page.
    needed, total, count = node_bytes * 1.05, 0, 0
    while total < needed and count < 100:
        kind = KINDS[count % 2]
        total += rendered_bytes(kind, ctx.fakes.bodies[kind], f"t{count:03d}")
        count += 1
    interval = ctx.args.latency_interval
    say(
        f"    node_exporter serves {node_bytes} bytes; starting our exporter with {count} fake targets "
        f"(collected every {interval:g}s during the measurement)"
    )
    ours = ctx.own(start_exporter(ctx.workdir, "latency", healthy_targets(ctx.fakes, count), interval, 2))
    ports = {"ours": ours.port, "node_exporter": node.port}
    n = ctx.args.requests
    plain = measure_side_by_side(ports, TEXT_ONLY, n, "text format, no compression")
    asked = measure_side_by_side(ports, AS_PROMETHEUS, n, "as Prometheus asks (OpenMetrics, gzip)")
    ctx.disown(ours)
    ctx.disown(node)
    if plain["ours"]["bytes"] < plain["node_exporter"]["bytes"]:
        say(
            "    WARNING: our exposition came out smaller than node_exporter's: "
            "the comparison is unfair to node_exporter"
        )
    return {
        "targets": count,
        "interval_s": interval,
        "requests": n,
        "text": plain,
        "prometheus": asked,
        "p99_ratio": plain["ours"]["p99_ms"] / plain["node_exporter"]["p99_ms"],
        "p99_ratio_prometheus": asked["ours"]["p99_ms"] / asked["node_exporter"]["p99_ms"],
    }


# --- 2. CPU per sample ----------------------------------------------------------------------


class CannedFetcher:
    """Stands in for HTTPFetcher: the benchmark measures what happens after the GET."""

    def __init__(self, text: str):
        self.body = text.encode()

    def get(self, url: str, timeout: float, accept: str = "") -> tuple[bytes, str]:
        return self.body, "text/plain; version=0.0.4"

    def close(self) -> None:
        pass


def canned_collector(kind: str, text: str, name: str = "bench") -> TargetScraper:
    collector = TargetScraper(TargetConfig(name=name, metrics_url="http://127.0.0.1:9/metrics", kind=kind))
    collector.fetcher.close()
    collector.fetcher = CannedFetcher(text)
    return collector


def reps_for(work: Callable[[], None], seconds: float) -> int:
    """How many calls of ``work`` take about ``seconds`` of CPU."""
    t0 = time.process_time()
    calls = 0
    while calls < 5 or time.process_time() - t0 < 0.1:
        work()
        calls += 1
    return max(5, int(seconds / ((time.process_time() - t0) / calls)))


def cpu_per_call(works: dict[str, Callable[[], None]], seconds: float, rounds: int = 5) -> dict[str, tuple]:
    """{name: (CPU seconds per call, calls)}: the best of ``rounds`` interleaved rounds per side.

    Interleaving puts both sides under the same load from other processes; the best round is the
    one least disturbed by them, as timeit recommends.
    """
    reps = {name: reps_for(work, seconds / rounds) for name, work in works.items()}
    best = dict.fromkeys(works, float("inf"))
    for _ in range(rounds):
        for name, work in works.items():
            t0 = time.process_time()
            for _ in range(reps[name]):
                work()
            best[name] = min(best[name], (time.process_time() - t0) / reps[name])
    return {name: (best[name], reps[name] * rounds) for name in works}


def bench_cpu(ctx: Context) -> dict:
    say("[cpu] CPU per native sample: our collection path vs. prometheus_client's parser (process_time)")
    out = {}
    for kind, text in ctx.fakes.bodies.items():
        samples = expositions.sample_count(text)
        collector = canned_collector(kind, text)
        renderer = SourceRenderer()  # kept across collections, as the exporter keeps one per target

        def ours(collector=collector, kind=kind, renderer=renderer) -> None:
            result = collector.collect()
            if not result.ok:
                raise RuntimeError(f"{kind}: {result.reason}: {result.message}")
            for snapshot in result.snapshots:  # rendering the lines is part of the path, as it always was
                renderer.render(snapshot)

        def reference(text=text, samples=samples) -> None:
            seen = 0
            for family in text_string_to_metric_families(text):
                for _sample in family.samples:
                    seen += 1
            if seen != samples:
                raise RuntimeError(f"prometheus_client read {seen} samples, expected {samples}")

        for _ in range(20):  # warm the label cache and the reset tracker, as a running target has
            ours()
        wanted = collector.collect().native_samples
        say(f"    {kind}: {len(text)} bytes, {samples} samples ({wanted} read by the adapter)")
        measured = cpu_per_call({"ours": ours, "reference": reference}, ctx.args.cpu_seconds)
        (ours_s, ours_n), (ref_s, ref_n) = measured["ours"], measured["reference"]
        out[kind] = {
            "bytes": len(text),
            "samples": samples,
            "wanted_samples": wanted,
            "ours": {
                "us_per_sample": ours_s / samples * 1e6,
                "samples_per_s": samples / ours_s,
                "calls": ours_n,
            },
            "prometheus_client": {
                "us_per_sample": ref_s / samples * 1e6,
                "samples_per_s": samples / ref_s,
                "calls": ref_n,
            },
            "ratio": ours_s / ref_s,
        }
        if ctx.args.profile:
            out[kind]["profile"] = profile_top(ours, 200)
            say(out[kind]["profile"])
    return out


def profile_top(work: Callable[[], None], calls: int, top: int = 15) -> str:
    prof = cProfile.Profile()
    prof.enable()
    for _ in range(calls):
        work()
    prof.disable()
    buf = io.StringIO()
    pstats.Stats(prof, stream=buf).sort_stats("tottime").print_stats(top)
    return buf.getvalue()


# --- 3. memory ------------------------------------------------------------------------------


def bench_memory(ctx: Context) -> dict:
    count, interval, duration = 50, 1.0, ctx.args.memory_seconds
    say(f"[memory] peak RSS of the exporter collecting {count} targets every {interval:g}s for {duration:g}s")
    proc = ctx.own(start_exporter(ctx.workdir, "memory", healthy_targets(ctx.fakes, count), interval, 1))
    rss: list[tuple[float, int]] = []
    latencies: list[float] = []
    client = Client(proc.port)
    t0 = time.monotonic()
    next_scrape = t0
    steps = int(duration / 0.1)
    try:
        for i in range(steps):
            rss.append((time.monotonic() - t0, proc.ps.memory_info().rss))
            if time.monotonic() >= next_scrape:  # a Prometheus scraping meanwhile, once a second
                latencies.append(client.fetch(TEXT_ONLY)[0])
                next_scrape += 1.0
            progress("samples", i + 1, steps)
            time.sleep(0.1)
        size = client.fetch(TEXT_ONLY)[1]
        status, body = proc.get("/metrics")
    finally:
        client.close()
    collections = sum(v for _, v in parser.parse(body.decode()).get("inference_exporter_collections_total"))
    ctx.disown(proc)
    peak = max(r for _, r in rss)
    return {
        "baseline_rss_bytes": baseline_rss(ctx),
        "targets": count,
        "interval_s": interval,
        "seconds": duration,
        "collections": collections,
        "peak_rss_bytes": peak,
        "final_rss_bytes": rss[-1][1],
        "exposition_bytes": size,
        "scrape_p50_ms": percentile(latencies, 50) * 1e3,
        "scrape_max_ms": max(latencies) * 1e3,
        "rss_series": [(round(t, 2), r) for t, r in rss],
    }


def baseline_rss(ctx: Context) -> int:
    """Peak RSS with a single target: what the interpreter and imports cost before any per-target state."""
    proc = ctx.own(start_exporter(ctx.workdir, "memory-one", healthy_targets(ctx.fakes, 1), 1.0, 1))
    peak = 0
    for _ in range(30):
        peak = max(peak, proc.ps.memory_info().rss)
        time.sleep(0.1)
    ctx.disown(proc)
    return peak


# --- 4. hung targets --------------------------------------------------------------------------

SELF_METRICS = frozenset(
    (
        "inference_exporter_last_success_timestamp_seconds",
        "inference_exporter_collections_total",
        "inference_exporter_collection_duration_seconds",
        "inference_exporter_collection_errors_total",
    )
)


def observe_cycles(proc: Process, healthy: set[str], window: float, label: str) -> dict:
    """Poll the self-metrics; the spacing of each healthy target's successes is its cycle time.

    A poll delayed by a busy machine can miss a success; the spacing is then divided by the
    number of collections the counter shows in between, so a late poll is not a slow cycle.
    """
    state: dict[str, tuple[float, float]] = {}  # target -> (last success, collections) at the last change
    gaps: list[float] = []
    durations: list[float] = []
    missed = 0
    errors: dict[str, dict[str, float]] = {}
    polls = int(window)  # once a second: timestamps are exact, polling only must not miss a cycle
    t_first = time.monotonic()
    for i in range(polls):
        _, body = proc.get("/metrics", timeout=10)
        now = time.monotonic()
        exp = parser.parse(body.decode(), wanted=SELF_METRICS)
        counts = {lbl["target"]: v for lbl, v in exp.get("inference_exporter_collections_total")}
        for labels, success in exp.get("inference_exporter_last_success_timestamp_seconds"):
            name = labels["target"]
            if name not in healthy:
                continue
            previous = state.get(name)
            if previous is None or previous[0] != success:
                if previous is not None:
                    between = max(1.0, counts[name] - previous[1])
                    missed += between > 1
                    gaps.append((success - previous[0]) / between)
                state[name] = (success, counts[name])
        durations += [
            v
            for lbl, v in exp.get("inference_exporter_collection_duration_seconds")
            if lbl["target"] in healthy
        ]
        errors = {"healthy": {}, "hung": {}}  # since start, by reason
        for lbl, v in exp.get("inference_exporter_collection_errors_total"):
            if v:
                side = errors["healthy" if lbl["target"] in healthy else "hung"]
                side[lbl["reason"]] = side.get(lbl["reason"], 0) + v
        progress(label, i + 1, polls)
        time.sleep(max(0.0, 1.0 - (time.monotonic() - now)))
    return {
        "window_s": time.monotonic() - t_first,
        "gap_mean_s": sum(gaps) / len(gaps) if gaps else None,
        "gap_p50_s": percentile(gaps, 50) if gaps else None,
        "gap_p99_s": percentile(gaps, 99) if gaps else None,
        "gap_max_s": max(gaps) if gaps else None,
        "gaps": len(gaps),
        "gaps_spanning_missed_polls": missed,
        "collection_duration_p50_s": percentile(durations, 50) if durations else None,
        "collection_duration_max_s": max(durations) if durations else None,
        "errors": errors,
    }


def bench_hung(ctx: Context) -> dict:
    total, hung, interval, timeout = 200, 20, ctx.args.hung_interval, 2.0
    healthy = healthy_targets(ctx.fakes, total - hung)
    names = {t.name for t in healthy}
    hung_targets = [Target(f"hung{i:02d}", "vllm", ctx.fakes.hung_url()) for i in range(hung)]
    say(
        f"[hung] cycle time of {len(healthy)} healthy targets (interval {interval:g}s), without and with "
        f"{hung} targets that accept and never answer (timeout {timeout:g}s)"
    )
    out = {"healthy": len(healthy), "hung": hung, "interval_s": interval, "timeout_s": timeout}
    for label, targets in (("without", healthy), ("with", healthy + hung_targets)):
        proc = ctx.own(start_exporter(ctx.workdir, f"hung-{label}", targets, interval, timeout))
        cpu0 = sum(proc.ps.cpu_times()[:2])
        out[label] = observe_cycles(proc, names, ctx.args.hung_seconds, f"{label} hung targets")
        out[label]["exporter_cpu_share"] = (sum(proc.ps.cpu_times()[:2]) - cpu0) / out[label]["window_s"]
        ctx.disown(proc)
    return out


# --- run, summary, outputs --------------------------------------------------------------------


@dataclass
class Context:
    args: argparse.Namespace
    workdir: Path
    fakes: FakeTargets
    processes: list[Process] = field(default_factory=list)

    def own(self, proc: Process) -> Process:
        self.processes.append(proc)
        return proc

    def disown(self, proc: Process) -> None:
        """Stop a process now that its section is done."""
        proc.stop()
        self.processes.remove(proc)

    def stop_all(self) -> None:
        for proc in self.processes[::-1]:
            with contextlib.suppress(Exception):
                proc.stop()
        self.processes.clear()


def machine() -> dict:
    model = ""
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as fh:
        for line in fh:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {
        "nproc": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "cpu_model": model or platform.processor(),
        "memory_bytes": psutil.virtual_memory().total,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_average_1m": os.getloadavg()[0],
    }


def node_exporter_version(binary: str) -> str:
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        out = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=10)
        return (out.stdout or out.stderr).splitlines()[0]
    return ""


def verdict(ok: bool | None) -> str:
    return "n/a" if ok is None else ("met" if ok else "MISSED")


def summary_rows(results: dict) -> list[tuple[str, ...]]:
    rows: list[tuple[str, ...]] = []

    def add(measure: str, ours: str, peer: str = "", ratio: str = "", target: str = "", ok=None) -> None:
        rows.append((measure, ours, peer, ratio, target, "" if ok is None and not target else verdict(ok)))

    lat = results.get("latency", {})
    if "text" in lat:
        o, n = lat["text"]["ours"], lat["text"]["node_exporter"]
        add(
            "/metrics size (bytes)", str(o["bytes"]), str(n["bytes"]), "", ">= peer", o["bytes"] >= n["bytes"]
        )
        for mode, label in (("text", "text"), ("prometheus", "OM+gzip")):
            o, n = lat[mode]["ours"], lat[mode]["node_exporter"]
            for q in ("p50", "p99"):
                ratio = o[q + "_ms"] / n[q + "_ms"]
                measured = (
                    f"/metrics {q}, {label} (ms)",
                    f"{o[q + '_ms']:.2f}",
                    f"{n[q + '_ms']:.2f}",
                    fmt(ratio),
                )
                if mode == "text" and q == "p99":
                    add(*measured, "<= 0.25", ratio <= 0.25)
                else:
                    add(*measured)
    for kind, c in results.get("cpu", {}).items():
        o, r = c["ours"], c["prometheus_client"]
        us = f"CPU {kind} (µs/sample)"
        add(
            us,
            f"{o['us_per_sample']:.2f}",
            f"{r['us_per_sample']:.2f}",
            fmt(c["ratio"]),
            "<= 0.333",
            c["ratio"] <= 1 / 3,
        )
        add(f"CPU {kind} (samples/s)", f"{o['samples_per_s']:,.0f}", f"{r['samples_per_s']:,.0f}")
    mem = results.get("memory", {})
    if mem:
        peak = mem["peak_rss_bytes"]
        add(f"peak RSS, {mem['targets']} targets (MB)", f"{peak / 1e6:.1f}", "", "", "< 60", peak < 60e6)
        add("peak RSS, 1 target (MB)", f"{mem['baseline_rss_bytes'] / 1e6:.1f}")
    hung = results.get("hung", {})
    if hung:
        w, h = hung["without"], hung["with"]
        for key, label in (
            ("gap_mean_s", "mean cycle"),
            ("gap_p99_s", "p99 cycle"),
            ("gap_max_s", "max cycle"),
        ):
            a, b = w[key], h[key]
            ok = None if a is None or b is None or key == "gap_max_s" else b <= a * 1.1
            add(
                f"healthy targets' {label} (s)",
                fmt(b),
                fmt(a),
                fmt(b / a if a and b else None),
                "" if ok is None else "<= +10%",
                ok,
            )
    return rows


def fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def print_table(rows: list[tuple[str, ...]]) -> None:
    header = ("measure", "ours", "peer/baseline", "ratio", "target", "verdict")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    say("")
    say("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
    say("  ".join("-" * w for w in widths))
    for r in rows:
        say("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)))
    say("")
    say(
        "peer/baseline: node_exporter (latency), prometheus_client's parser (CPU), "
        "the run without hung targets (hung)"
    )


def plot(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(11, 8))
    lat = results.get("latency", {})
    if "text" in lat:
        ax = axes[0][0]
        for name in ("ours", "node_exporter"):
            ax.plot(sorted(lat["text"][name]["samples_ms"]), label=name)
        ax.set(title="/metrics latency, sorted (text, identity)", ylabel="ms", xlabel="request")
        ax.legend()
    cpu = results.get("cpu", {})
    if cpu:
        ax = axes[0][1]
        kinds = list(cpu)
        xs = range(len(kinds))
        ax.bar([x - 0.2 for x in xs], [cpu[k]["ours"]["us_per_sample"] for k in kinds], 0.4, label="ours")
        ax.bar(
            [x + 0.2 for x in xs],
            [cpu[k]["prometheus_client"]["us_per_sample"] for k in kinds],
            0.4,
            label="prometheus_client",
        )
        ax.set_xticks(list(xs), kinds)
        ax.set(title="CPU per native sample", ylabel="µs")
        ax.legend()
    mem = results.get("memory", {})
    if mem:
        ax = axes[1][0]
        ax.plot([t for t, _ in mem["rss_series"]], [r / 1e6 for _, r in mem["rss_series"]])
        ax.axhline(60, color="red", linestyle="--", label="target")
        ax.set_ylim(bottom=0)
        ax.set(title=f"exporter RSS, {mem['targets']} targets", xlabel="s", ylabel="MB")
        ax.legend()
    hung = results.get("hung", {})
    if hung:
        ax = axes[1][1]
        labels = ["without hung", "with hung"]
        ax.bar(labels, [hung[k]["gap_mean_s"] or 0 for k in ("without", "with")])
        ax.axhline(hung["interval_s"], color="grey", linestyle="--", label="interval")
        ax.set(title="healthy targets' cycle time", ylabel="s")
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--only", default=",".join(SECTIONS), help="comma-separated sections (default: all)")
    p.add_argument("--requests", type=int, default=300, help="measured /metrics requests per server")
    p.add_argument("--latency-interval", type=float, default=5.0, help="target interval during latency runs")
    p.add_argument("--cpu-seconds", type=float, default=2.0, help="CPU seconds per side and exposition")
    p.add_argument("--memory-seconds", type=float, default=10.0, help="how long RSS is sampled")
    p.add_argument("--hung-interval", type=float, default=3.0, help="scrape interval in the hung test")
    p.add_argument("--hung-seconds", type=float, default=15.0, help="observation window per hung run")
    p.add_argument("--node-exporter", default=shutil.which("prometheus-node-exporter") or "")
    p.add_argument("--json", metavar="PATH", help="also write the results as JSON ('-' for stdout)")
    p.add_argument(
        "--plot", metavar="PATH", default=str(RESULTS / "scrape.png"), help="PNG (needs matplotlib)"
    )
    p.add_argument("--profile", action="store_true", help="cProfile our collection path in the cpu section")
    args = p.parse_args(argv)
    args.sections = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = set(args.sections) - set(SECTIONS)
    if unknown:
        p.error(f"unknown section(s) {', '.join(sorted(unknown))}; choose from {', '.join(SECTIONS)}")
    return args


def _raise_interrupt(_signum, _frame) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _raise_interrupt)  # stop what we started on TERM too
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even when started with SIGINT ignored
    info = machine()
    say(
        f"machine: {info['nproc']} CPUs ({info['cpu_model']}), {info['memory_bytes'] / 2**30:.1f} GiB, "
        f"Python {info['python']}, load average {info['load_average_1m']:.2f} (other work skews the figures)"
    )
    results: dict = {
        "machine": info,
        "command": " ".join(["python", "bench/scrape.py", *(argv or sys.argv[1:])]),
    }
    if args.node_exporter:
        results["node_exporter"] = node_exporter_version(args.node_exporter)
    started = time.monotonic()
    workdir = Path(tempfile.mkdtemp(prefix="inference-exporter-bench-"))
    ctx = None
    try:
        say("starting the fake targets (vLLM- and Triton-sized expositions) in a child process")
        ctx = Context(args, workdir, FakeTargets())
        for section in args.sections:
            t0 = time.monotonic()
            results[section] = {
                "latency": bench_latency,
                "cpu": bench_cpu,
                "memory": bench_memory,
                "hung": bench_hung,
            }[section](ctx)
            say(f"    done in {time.monotonic() - t0:.1f}s")
    except KeyboardInterrupt:
        say("\ninterrupted: stopping everything this benchmark started")
        return 130
    finally:
        if ctx is not None:
            ctx.stop_all()
            ctx.fakes.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    results["duration_s"] = time.monotonic() - started
    results["machine"]["load_average_1m_at_end"] = os.getloadavg()[0]
    print_table(summary_rows(results))
    say(f"finished in {results['duration_s']:.0f}s")
    write_outputs(args, results)
    return 0


def write_outputs(args: argparse.Namespace, results: dict) -> None:
    if args.json:
        text = json.dumps(results, indent=2)
        if args.json == "-":
            print(text)
        else:
            Path(args.json).parent.mkdir(parents=True, exist_ok=True)
            Path(args.json).write_text(text + "\n")
            say(f"results written to {args.json}")
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        say("no plot: matplotlib is not installed (pip install matplotlib, then rerun for a PNG)")
        return
    path = Path(args.plot)
    path.parent.mkdir(parents=True, exist_ok=True)
    plot(results, path)
    say(f"plot written to {path}")


if __name__ == "__main__":
    sys.exit(main())
