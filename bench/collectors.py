"""Cost of one collection of each local collector, side by side with a peer in the same run.

    python bench/collectors.py [--rounds 300] [--workers 4] [--json PATH]

Two peers, each measured in the same run as the cases compared with it:

  prometheus_client        its own ``ProcessCollector`` on one process (a sleeping child), rendered
                           as text (``generate_latest``): for our pid-file case on that process
  psutil                   the server's processes as a psutil-based collector reads them:
                           ``children(recursive=True)`` and, in ``oneshot()``, CPU times, memory,
                           threads and open files of each: for our cases on the server

Ours collect into a Builder and render it (``finish``), so every side goes from /proc to something
servable. The process cases:

  pid file, 1 process      the peer's process, found through a pid file
  pid file, server         a server with --workers children, found through a pid file
  pattern                  the same server, found by a command-line pattern, between rescans
  pattern, rescan          the same, rescanning every process's command line each time
  container                every process but the benchmark's own, between rescans (in a pod that
                           shares its process namespace these are the server and its workers; on
                           a shared machine it is every process in sight: the count is printed,
                           and a ratio only where the peer read as many). As root,
                           ``unshare --pid --fork --mount-proc`` before the command gives the
                           benchmark a process namespace of its own, as in a pod.

plus the container (cgroup) collector, and the GPU collector where NVML answers. The cases take
turns round by round, so a burst of load on the machine falls on all of them alike; the figures
are wall-clock per collection (median, p95) and CPU time per collection.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import psutil
from inference_exporter.builder import Builder
from inference_exporter.collectors.container import ContainerCollector  # noqa: E402
from inference_exporter.collectors.gpu import GpuCollector  # noqa: E402
from inference_exporter.collectors.process import ProcessCollector, ProcessMatcher
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client import ProcessCollector as PeerProcessCollector

# Children wait for the end of their stdin, which comes when the benchmark exits however it exits.
SLEEPER = "import sys; print('ready', flush=True); sys.stdin.read()"
# A server that starts N sleeping workers (sharing its stdin); argv[1] is N, argv[2] the marker.
SERVER = (
    "import subprocess, sys\n"
    f"ws = [subprocess.Popen([sys.executable, '-c', {SLEEPER!r}, sys.argv[2]], stdout=subprocess.PIPE)\n"
    "      for _ in range(int(sys.argv[1]))]\n"
    "[w.stdout.readline() for w in ws]\n"
    "print('ready', flush=True)\nsys.stdin.read()"
)


@dataclass
class Case:
    name: str
    run: Callable[[], object]
    pids: Callable[[], int] = lambda: 0
    peer: str = ""  # the name of the case this one is divided by
    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)


def spawn(code: str, *args: str) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-c", code, *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    if proc.stdout.readline().strip() != "ready":
        raise RuntimeError("child did not start")
    return proc


def stop(proc: subprocess.Popen) -> None:
    proc.stdin.close()  # the server's workers read the same pipe: they end with it
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def ours(collector: ProcessCollector | ContainerCollector | GpuCollector) -> Callable[[], object]:
    identity = (("target", "bench"), ("server", "vllm")) if isinstance(collector, ProcessCollector) else ()

    def run() -> object:
        out = Builder(identity)
        collector.collect(out)
        return out.finish()

    return run


def client_peer(pid: int) -> Callable[[], object]:
    registry = CollectorRegistry(auto_describe=False)
    PeerProcessCollector(pid=lambda: pid, registry=registry)
    return lambda: generate_latest(registry)


def psutil_peer(pid: int) -> Callable[[], object]:
    def run() -> object:
        totals = [0.0, 0, 0, 0]
        main = psutil.Process(pid)
        for proc in [main, *main.children(recursive=True)]:
            with proc.oneshot():
                cpu, memory = proc.cpu_times(), proc.memory_info()
                totals[0] += cpu.user + cpu.system
                totals[1] += memory.rss
                totals[2] += proc.num_threads()
                totals[3] += proc.num_fds()
        return totals

    return run


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def measure(cases: list[Case], rounds: int, warmup: int) -> None:
    for _ in range(warmup):
        for case in cases:
            case.run()
    for _ in range(rounds):
        for case in cases:
            w0, c0 = time.perf_counter(), time.process_time()
            case.run()
            case.cpu.append(time.process_time() - c0)
            case.wall.append(time.perf_counter() - w0)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=300)
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--workers", type=int, default=4, help="worker processes of the benchmark server")
    ap.add_argument("--json", type=Path, help="also write the figures here")
    args = ap.parse_args()

    marker = f"bench-model-server-{uuid.uuid4().hex}"
    lone = spawn(SLEEPER)
    server = spawn(SERVER, str(args.workers), marker)
    # The server is the benchmark's child, and an exporter never counts its own descendants: the lone
    # sleeper stands in for the exporter (its ancestors, this script among them, are left out too).
    exporter = lone.pid
    try:
        with tempfile.TemporaryDirectory() as tmp:
            lone_pid_file, server_pid_file = Path(tmp, "lone.pid"), Path(tmp, "server.pid")
            lone_pid_file.write_text(f"{lone.pid}\n")
            server_pid_file.write_text(f"{server.pid}\n")
            process = {
                "pid file, 1 process": ProcessCollector("bench", ProcessMatcher(pid_file=str(lone_pid_file))),
                "pid file, server": ProcessCollector("bench", ProcessMatcher(pid_file=str(server_pid_file))),
                "pattern": ProcessCollector("bench", ProcessMatcher(pattern=re.escape(marker)), exporter),
                "pattern, rescan": ProcessCollector(
                    "bench", ProcessMatcher(pattern=re.escape(marker)), exporter
                ),
                "container": ProcessCollector("bench", ProcessMatcher(all_except_self=True), exporter),
            }
            process["pattern"].rescan_seconds = process["container"].rescan_seconds = 1e9
            process["pattern, rescan"].rescan_seconds = 0
            client, by_psutil = "peer: prometheus_client, 1 process", "peer: psutil, server"
            cases = [
                Case(client, client_peer(lone.pid), lambda: 1),
                Case(by_psutil, psutil_peer(server.pid), lambda: args.workers + 1),
            ]
            for name, collector in process.items():
                cases.append(
                    Case(
                        f"process: {name}",
                        ours(collector),
                        lambda c=collector: len(c.pids()),
                        client if name == "pid file, 1 process" else by_psutil,
                    )
                )
            cases.append(Case("container (cgroup)", ours(ContainerCollector())))
            gpu = GpuCollector(xid_events=False) if _nvml_importable() else None
            if gpu is not None and gpu.available:
                cases.append(Case("gpu (NVML)", ours(gpu)))
            else:
                print("gpu (NVML): skipped, NVML does not answer on this machine")
            measure(cases, args.rounds, args.warmup)
            if gpu is not None:
                gpu.close()
    finally:
        stop(server)
        stop(lone)

    report(cases, args)
    return 0


def _nvml_importable() -> bool:
    try:
        import pynvml  # noqa: F401
    except ImportError:
        return False
    return True


def report(cases: list[Case], args: argparse.Namespace) -> None:
    medians = {case.name: statistics.median(case.wall) for case in cases}
    rows = []
    print(f"{args.rounds} rounds, Python {platform.python_version()}, {os.cpu_count()} CPUs, load {_load()}")
    print(f"{'case':38} {'pids':>5} {'median ms':>10} {'p95 ms':>8} {'CPU ms':>8} {'x peer':>7}")
    for case in cases:
        median, p95 = medians[case.name], percentile(case.wall, 0.95)
        cpu = statistics.median(case.cpu)
        pids = case.pids()
        # A ratio only between cases that read the same number of processes.
        same = case.peer and pids == next(c.pids() for c in cases if c.name == case.peer)
        ratio = median / medians[case.peer] if same else None
        shown = f"{ratio:7.2f}" if ratio is not None else ""
        times = f"{median * 1e3:10.3f} {p95 * 1e3:8.3f} {cpu * 1e3:8.3f}"
        print(f"{case.name:38} {pids or '':>5} {times} {shown:>7}")
        rows.append(
            {
                "case": case.name,
                "pids": pids,
                "median_ms": median * 1e3,
                "p95_ms": p95 * 1e3,
                "cpu_ms": cpu * 1e3,
                "peer": case.peer,
                "ratio_to_peer": ratio,
            }
        )
    if args.json:
        args.json.write_text(
            json.dumps({"rounds": args.rounds, "load": _load(), "cases": rows}, indent=2) + "\n"
        )


def _load() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


if __name__ == "__main__":
    sys.exit(main())
