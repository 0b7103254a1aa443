"""Fleet benchmark: one exporter process (or a set of sharded replicas) collecting thousands of targets.

    python bench/fleet.py central --targets 2000 --interval 15
    python bench/fleet.py central --targets 2000 --exporter-src /path/to/old/exporter   # a baseline
    python bench/fleet.py sharded --targets 10000 --replicas 5 --add 1000

``central`` starts one exporter on N fake vLLM targets (``fleet_targets.py``, each with a model of
its own) and, after the first complete page and one more interval, watches it for a window:
threads and RSS (psutil, once a second), CPU, ``/metrics`` latency as Prometheus asks for it
(OpenMetrics, gzip; every half second, to the last byte), and whether every target was collected
every interval (the fake targets record each scrape: a target misses when two of its scrapes,
or a window edge and its nearest scrape, lie more than 1.5 intervals apart). ``--add K`` then
adds K targets and reports how long the reload takes and when every new target has data.

``sharded`` writes one target file (Prometheus' file_sd format) for the whole fleet and runs the
replicas ``--shard=i/n`` one after another (each would have a machine of its own; this one has two
cores), each measured as above; then checks that every target was collected by exactly one replica,
and times a reload adding K targets on every replica.

``--exporter-src DIR`` runs the exporter from another source tree (``DIR/inference_exporter``), e.g.
an older commit unpacked with ``git archive``, so a before/after pair comes from the same machine;
without file_sd support there, ``central`` writes the targets into the config file itself.
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil
from inference_devtools import repo  # noqa: E402

repo.use("bench")  # the sibling modules, also when imported from elsewhere
from fleet_targets import FleetTargets  # noqa: E402

AS_PROMETHEUS = {
    "Accept": "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;"
    "q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1",
    "Accept-Encoding": "gzip",
}
UP_LINE = re.compile(rb"^inference_exporter_target_up\{[^}]*target=\"([^\"]+)\"[^}]*\} 1$", re.M)


def say(message: str) -> None:
    print(message, flush=True)


def load() -> str:
    return "/".join(f"{x:.2f}" for x in os.getloadavg())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, int(round(q / 100 * len(ordered) + 0.5)) - 1))]


# --- the exporter under test ------------------------------------------------------------------


@dataclass
class Exporter:
    workdir: Path
    label: str
    config: Path
    src: str = ""
    args: tuple[str, ...] = ()
    port: int = field(default_factory=free_port)

    def start(self) -> None:
        env = dict(os.environ)
        if self.src:
            env["PYTHONPATH"] = self.src
        self.log = open(self.workdir / f"{self.label}.log", "wb")  # noqa: SIM115 - closed in stop()
        self.started = time.monotonic()
        root = Path(self.src) if self.src else Path(__file__).resolve().parents[1] / "exporter"
        # POST /-/reload needs the lifecycle API, off by default since the hardening (issue 14).
        lifecycle = "--web.enable-lifecycle" in (root / "inference_exporter" / "cli.py").read_text()
        self.popen = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "inference_exporter",
                f"--config.file={self.config}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                f"--journal.path={self.workdir / (self.label + '-journal')}",
                "--log.level=error",
                "--no-collector.process",
                "--no-collector.container",
                "--no-collector.gpu",
                *(["--web.enable-lifecycle"] if lifecycle else []),
                *self.args,
            ],
            stdout=self.log,
            stderr=subprocess.STDOUT,
            env=env,
        )
        self.ps = psutil.Process(self.popen.pid)

    def request(self, method: str, path: str, headers: dict | None = None, timeout: float = 60) -> tuple:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            t0 = time.perf_counter()
            conn.request(method, path, headers=headers or {})
            resp = conn.getresponse()
            body = resp.read()
            return resp.status, body, time.perf_counter() - t0, resp.getheader("Content-Encoding", "")
        finally:
            conn.close()

    def page(self) -> bytes:
        status, body, _, enc = self.request("GET", "/metrics", AS_PROMETHEUS)
        if status != 200:
            raise RuntimeError(f"{self.label}: /metrics answered {status}")
        return gzip.decompress(body) if enc == "gzip" else body

    def up_targets(self) -> set[str]:
        return {m.decode() for m in UP_LINE.findall(self.page())}

    def wait_complete(self, names: set[str], timeout: float) -> float:
        """Seconds from start until every target in NAMES is up on the page."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.popen.poll() is not None:
                tail = (self.workdir / f"{self.label}.log").read_text(errors="replace")[-3000:]
                raise RuntimeError(f"{self.label} exited:\n{tail}")
            with contextlib.suppress(OSError, RuntimeError, http.client.HTTPException):
                if names <= self.up_targets():
                    return time.monotonic() - self.started
            time.sleep(0.5)
        raise RuntimeError(f"{self.label}: not every target up after {timeout:.0f}s")

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(15)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(5)
        self.log.close()


# --- configs ----------------------------------------------------------------------------------


def names_for(indices: range) -> list[str]:
    return [f"t{i:05d}" for i in indices]


def inline_config(path: Path, fleet: FleetTargets, indices: range, interval: float) -> None:
    lines = ["global:", f"  scrape_interval: {interval:g}s", f"  scrape_timeout: {min(10, interval):g}s"]
    lines.append("targets:")
    for i, name in zip(indices, names_for(indices), strict=True):
        lines += [f"  - name: {name}", "    kind: vllm", f"    metrics_url: {fleet.url(i)}"]
    path.write_text("\n".join(lines) + "\n")


def file_sd_config(path: Path, targets_file: Path, interval: float) -> None:
    path.write_text(
        "global:\n"
        f"  scrape_interval: {interval:g}s\n"
        f"  scrape_timeout: {min(10, interval):g}s\n"
        "target_files:\n"
        f"  - files: [{targets_file}]\n"
        "    refresh_interval: 1h\n"  # reloads are asked for (POST /-/reload) and timed here
        "    kind: vllm\n"
    )


def write_targets(path: Path, fleet: FleetTargets, indices: range) -> None:
    """Prometheus' file_sd format; each target's name is given by the __target_name__ meta label."""
    groups = [
        {
            "targets": [f"127.0.0.1:{fleet.port}"],
            "labels": {"__metrics_path__": f"/t/{i}/metrics", "__target_name__": n},
        }
        for i, n in zip(indices, names_for(indices), strict=True)
    ]
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(groups))
    tmp.replace(path)  # atomically, as a discovery tool writes it


# --- watching one exporter ----------------------------------------------------------------------


def watch(exp: Exporter, fleet: FleetTargets, indices: range, interval: float, window: float) -> dict:
    """Threads, RSS, CPU, /metrics latency and per-target coverage over WINDOW seconds."""
    cpu0 = sum(exp.ps.cpu_times()[:2])
    t0, wall0 = time.monotonic(), time.time()
    latencies: list[float] = []
    sizes: list[int] = []
    rss: list[int] = []
    threads: list[int] = []
    next_sample = t0
    loads = [os.getloadavg()[0]]
    while time.monotonic() - t0 < window:
        now = time.monotonic()
        if now >= next_sample:
            rss.append(exp.ps.memory_info().rss)
            threads.append(exp.ps.num_threads())
            next_sample += 1.0
        status, body, elapsed, _ = exp.request("GET", "/metrics", AS_PROMETHEUS)
        if status != 200:
            raise RuntimeError(f"/metrics answered {status}")
        latencies.append(elapsed)
        sizes.append(len(body))
        done = int(time.monotonic() - t0)
        if done and done % 30 == 0 and len(latencies) % 2 == 0:
            say(f"    {done}s of {window:.0f}s: p99 so far {percentile(latencies, 99) * 1e3:.0f} ms")
        time.sleep(max(0.0, 0.5 - (time.monotonic() - now)))
    wall1 = time.time()
    cpu = sum(exp.ps.cpu_times()[:2]) - cpu0
    loads.append(os.getloadavg()[0])
    scrapes = fleet.scrapes_since(wall0 - 2 * interval)
    worst, missed, collected = 0.0, [], 0
    for i in indices:
        times = [t for t in scrapes.get(i, []) if t <= wall1]
        inside = [t for t in times if t >= wall0]
        collected += len(inside)
        before = [t for t in times if t < wall0]
        edges = ([before[-1]] if before else [wall0]) + inside + [wall1]
        gap = max(b - a for a, b in zip(edges, edges[1:], strict=False))
        if not inside or not before:
            gap = max(gap, interval * 2)  # never scraped around the window start
        worst = max(worst, gap)
        if gap > 1.5 * interval:
            missed.append(i)
    return {
        "window_s": window,
        "threads_max": max(threads),
        "rss_max_mb": max(rss) / 1e6,
        "rss_end_mb": rss[-1] / 1e6,
        "cpu_share": cpu / (time.monotonic() - t0),
        "cpu_ms_per_collection": cpu / max(1, collected) * 1e3,
        "collections": collected,
        "expected_collections": len(indices) * window / interval,
        "targets_missing_an_interval": len(missed),
        "worst_gap_s": worst,
        "metrics_requests": len(latencies),
        "metrics_gzip_p50_ms": percentile(latencies, 50) * 1e3,
        "metrics_gzip_p99_ms": percentile(latencies, 99) * 1e3,
        "metrics_gzip_max_ms": max(latencies) * 1e3,
        "metrics_gzip_bytes": max(sizes),
        "load_average_1m": loads,
    }


def reload_adding(exp: Exporter, write, names: set[str], timeout: float) -> dict:
    """Rewrite the targets with WRITE, ask for a reload; time the answer and the first data of all."""
    write()
    t0 = time.monotonic()
    status, body, elapsed, _ = exp.request("POST", "/-/reload", timeout=300)
    if status != 200:
        raise RuntimeError(f"reload answered {status}: {body[:200]!r}")
    deadline = t0 + timeout
    while time.monotonic() < deadline:
        if names <= exp.up_targets():
            return {"reload_s": elapsed, "all_new_targets_up_s": time.monotonic() - t0}
        time.sleep(0.5)
    return {"reload_s": elapsed, "all_new_targets_up_s": None}


def report(title: str, rows: list[tuple[str, str, str]]) -> None:
    say(f"\n{title}")
    width = max(len(r[0]) for r in rows)
    for measure, value, target in rows:
        say(f"  {measure.ljust(width)}  {value:>14}  {target}")


def rows_of(w: dict, interval: float) -> list[tuple[str, str, str]]:
    return [
        ("threads (max)", f"{w['threads_max']}", "target <= 32"),
        ("RSS (max, MB)", f"{w['rss_max_mb']:.1f}", "target <= 250"),
        ("RSS at the end (MB)", f"{w['rss_end_mb']:.1f}", ""),
        ("/metrics gzip p50 (ms)", f"{w['metrics_gzip_p50_ms']:.1f}", ""),
        ("/metrics gzip p99 (ms)", f"{w['metrics_gzip_p99_ms']:.1f}", "target < 250"),
        ("/metrics gzip max (ms)", f"{w['metrics_gzip_max_ms']:.1f}", ""),
        ("/metrics gzip size (bytes)", f"{w['metrics_gzip_bytes']:,}", ""),
        ("targets missing an interval", f"{w['targets_missing_an_interval']}", "target 0"),
        ("worst gap between scrapes (s)", f"{w['worst_gap_s']:.1f}", f"interval {interval:g}"),
        ("collections in the window", f"{w['collections']} / {w['expected_collections']:.0f}", ""),
        ("CPU (share of one core)", f"{w['cpu_share']:.2f}", ""),
        ("CPU per collection (ms)", f"{w['cpu_ms_per_collection']:.2f}", ""),
        ("load average (1m) start/end", "/".join(f"{x:.1f}" for x in w["load_average_1m"]), ""),
    ]


# --- the two modes --------------------------------------------------------------------------------


def supports_file_sd(src: str) -> bool:
    root = Path(src) if src else Path(__file__).resolve().parents[1] / "exporter"
    return "target_files" in (root / "inference_exporter" / "config.py").read_text()


def central(args, fleet: FleetTargets, workdir: Path) -> dict:
    indices = range(args.targets)
    config = workdir / "central.yml"
    file_sd = supports_file_sd(args.exporter_src) and not args.inline
    targets_file = workdir / "targets.json"
    if file_sd:
        write_targets(targets_file, fleet, indices)
        file_sd_config(config, targets_file, args.interval)
    else:
        inline_config(config, fleet, indices, args.interval)
    exp = Exporter(workdir, "central", config, args.exporter_src)
    say(
        f"[central] {args.targets} targets every {args.interval:g}s, one process "
        f"({'target file' if file_sd else 'inline config'}"
        f"{', ' + args.exporter_src if args.exporter_src else ''}); "
        f"load {load()}"
    )
    exp.start()
    try:
        complete = exp.wait_complete(set(names_for(indices)), timeout=max(120, args.targets / 10))
        say(f"    every target on the page after {complete:.1f}s; settling one interval")
        time.sleep(args.interval)
        out = watch(exp, fleet, indices, args.interval, args.window)
        out["first_complete_page_s"] = complete
        out["targets"] = args.targets
        if args.add:
            grown = range(args.targets + args.add)

            def write() -> None:
                if file_sd:
                    write_targets(targets_file, fleet, grown)
                else:
                    inline_config(config, fleet, grown, args.interval)

            out["reload"] = reload_adding(exp, write, set(names_for(grown)), timeout=120)
    finally:
        exp.stop()
    rows = rows_of(out, args.interval)
    rows.insert(0, ("first complete page after start (s)", f"{out['first_complete_page_s']:.1f}", ""))
    if "reload" in out:
        r = out["reload"]
        rows.append((f"reload adding {args.add} targets (s)", f"{r['reload_s']:.2f}", "target < 5"))
        up = r["all_new_targets_up_s"]
        rows.append(("... until all of them have data (s)", "-" if up is None else f"{up:.1f}", ""))
    report(f"central, {args.targets} targets at {args.interval:g}s", rows)
    return out


def sharded(args, fleet: FleetTargets, workdir: Path) -> dict:
    indices = range(args.targets)
    targets_file = workdir / "targets.json"
    write_targets(targets_file, fleet, indices)
    config = workdir / "sharded.yml"
    file_sd_config(config, targets_file, args.interval)
    say(f"[sharded] {args.targets} targets, {args.replicas} replicas run one after another; load {load()}")
    from inference_exporter.sharding import shard_of

    owners: dict[str, list[int]] = {}
    out: dict = {"targets": args.targets, "replicas": []}
    grown = range(args.targets + args.add)
    for shard in range(args.replicas):
        mine = [i for i in indices if shard_of(f"t{i:05d}", args.replicas) == shard]
        exp = Exporter(
            workdir, f"replica-{shard}", config, args.exporter_src, (f"--shard={shard}/{args.replicas}",)
        )
        say(f"  replica {shard}/{args.replicas}: {len(mine)} targets; load {load()}")
        exp.start()
        try:
            complete = exp.wait_complete(set(names_for(mine)), timeout=max(120, len(mine) / 10))
            time.sleep(args.interval)
            w = watch(exp, fleet, mine, args.interval, args.window)
            w["first_complete_page_s"] = complete
            w["targets"] = len(mine)
            for name in exp.up_targets():
                owners.setdefault(name, []).append(shard)
            if args.add:
                added = [i for i in grown if shard_of(f"t{i:05d}", args.replicas) == shard]
                w["reload"] = reload_adding(
                    exp, lambda: write_targets(targets_file, fleet, grown), set(names_for(added)), timeout=120
                )
                w["reload"]["added"] = len(added) - len(mine)
                write_targets(targets_file, fleet, indices)  # the next replica starts from the fleet again
        finally:
            exp.stop()
        rows = rows_of(w, args.interval)
        rows.insert(0, ("targets of this replica", f"{len(mine)}", ""))
        if "reload" in w:
            rows.append(
                (
                    f"reload adding {w['reload']['added']} of {args.add} (s)",
                    f"{w['reload']['reload_s']:.2f}",
                    "target < 5",
                )
            )
        report(f"replica {shard}/{args.replicas}", rows)
        out["replicas"].append(w)
    doubles = {n: s for n, s in owners.items() if len(s) > 1}
    missing = set(names_for(indices)) - set(owners)
    out["collected_by_two"] = len(doubles)
    out["collected_by_none"] = len(missing)
    say(
        f"\nevery target by exactly one replica: {not doubles and not missing} "
        f"({len(doubles)} by two or more, {len(missing)} by none)"
    )
    if args.add:
        exp = Exporter(workdir, "reload-one", config, args.exporter_src, ("--shard=0/1",))
        write_targets(targets_file, fleet, range(args.add))
        exp.start()
        try:
            exp.wait_complete(set(names_for(range(args.add))), timeout=120)
            r = reload_adding(
                exp,
                lambda: write_targets(targets_file, fleet, range(2 * args.add)),
                set(names_for(range(2 * args.add))),
                timeout=120,
            )
        finally:
            exp.stop()
        say(
            f"one process, {args.add} -> {2 * args.add} targets: reload {r['reload_s']:.2f}s, all up after "
            f"{r['all_new_targets_up_s']}s (target < 5 s for the reload)"
        )
        out["reload_one_process"] = r
    return out


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("mode", choices=("central", "sharded"))
    p.add_argument("--targets", type=int, default=2000)
    p.add_argument("--replicas", type=int, default=5)
    p.add_argument("--interval", type=float, default=15.0)
    p.add_argument("--window", type=float, default=120.0, help="seconds watched per exporter")
    p.add_argument("--add", type=int, default=0, help="targets added by a reload after the window")
    p.add_argument("--inline", action="store_true", help="targets in the config file, not a target file")
    p.add_argument("--exporter-src", default="", help="run the exporter from DIR/inference_exporter")
    p.add_argument("--json", metavar="PATH")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    say(f"machine: {os.cpu_count()} CPUs, load average {load()}")
    fleet = FleetTargets()
    workdir = Path(tempfile.mkdtemp(prefix="inference-exporter-fleet-"))
    try:
        out = (central if args.mode == "central" else sharded)(args, fleet, workdir)
    except KeyboardInterrupt:
        say("interrupted")
        return 130
    finally:
        fleet.stop()
    out["command"] = " ".join(["python", "bench/fleet.py", *(argv or sys.argv[1:])])
    out["load_average_end"] = load()
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(out, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
