"""Sidecar benchmark: start-up to the first complete page, and memory over a long run.

    python bench/sidecar.py [--targets 50] [--interval 1] [--minutes 30] [--baseline-src DIR]

1. start    seconds from starting the process to the first /metrics answer that holds every
            target's data (``inference_exporter_target_up`` 1 for each), asked every 5 ms, with
            one target and with ``--targets``; the median of ``--starts`` starts (target: 0.2 s);
            ``python -c pass`` is timed the same way, the floor any Python program starts from.
2. steps    where a start's time goes: the exporter run through a launcher that stamps each step
            (the interpreter up, the imports, the config read, the journal, collectors and
            listener, collections started) and the first complete page after them; medians in ms.
3. memory   RSS of an exporter collecting ``--targets`` fake vLLM targets every ``--interval``
            for ``--minutes``, read every 10 s while a Prometheus-like client scrapes every 15 s:
            RSS at 1, 10 and 30 minutes and the slope over the last two thirds of the run
            (target: under 60 MB, flat).

With ``--baseline-src`` the same runs for an older tree (``git archive`` of a commit, its
``exporter/`` folder) before this one, so both come from the same machine and hour.
"""

from __future__ import annotations

import argparse
import gzip
import http.client
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
from inference_devtools import repo  # noqa: E402

repo.use("bench")  # the sibling modules, also when imported from elsewhere
from fleet import AS_PROMETHEUS, UP_LINE, free_port, inline_config  # noqa: E402
from fleet_targets import FleetTargets  # noqa: E402


def say(message: str) -> None:
    print(message, flush=True)


# A start with its steps stamped, run in the exporter's own process (``python -c``): each stamp is
# the monotonic time (one clock for the whole machine) at which a step ended.
STEPS_LAUNCHER = r"""
import os, sys, time
stamps = [("interpreter", time.monotonic())]
def stamp(step):
    stamps.append((step, time.monotonic()))
    with open(os.environ["SIDECAR_STEPS"], "w") as f:
        f.write("\n".join(f"{s}\t{t!r}" for s, t in stamps))
from inference_exporter import cli, config, exporter, server
stamp("imports")
def after(owner, name, step):
    inner = getattr(owner, name)
    def wrapped(*args, **kwargs):
        result = inner(*args, **kwargs)
        stamp(step)
        return result
    setattr(owner, name, wrapped)
after(config, "load", "config read")
after(server, "make_server", "journal, collectors, listener")
after(exporter.Exporter, "start", "collections started")
sys.exit(cli.main(sys.argv[1:]))
"""


def spawn(src: str, config: Path, port: int, workdir: Path, steps: Path | None = None) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": src} if src else dict(os.environ)
    # As installed from the wheel, which pip byte-compiles: bytecode cached (outside the tree)
    # by the first start, even where the environment says not to write it.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(workdir / "pycache" / (Path(src).name if src else "tree"))
    run = ["-m", "inference_exporter"]
    if steps is not None:
        env["SIDECAR_STEPS"] = str(steps)
        run = ["-c", STEPS_LAUNCHER]
    return subprocess.Popen(
        [sys.executable, *run, f"--config.file={config}",
         f"--web.listen-address=127.0.0.1:{port}", f"--journal.path={workdir / 'journal'}",
         "--log.level=error"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
    )  # fmt: skip


def page(port: int, timeout: float = 5.0) -> bytes:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", "/metrics", headers=AS_PROMETHEUS)
        resp = conn.getresponse()
        body = resp.read()
        return gzip.decompress(body) if resp.getheader("Content-Encoding") == "gzip" else body
    finally:
        conn.close()


def first_complete(
    src: str, fleet: FleetTargets, targets: int, workdir: Path, steps: dict[str, list[float]] | None = None
) -> float:
    """Seconds to the first complete page; with STEPS, each step's seconds appended to it."""
    config = workdir / f"start-{targets}.yml"
    inline_config(config, fleet, range(targets), 1.0)
    names = {f"t{i:05d}" for i in range(targets)}
    port = free_port()
    stamps = workdir / "steps.tsv"
    stamps.unlink(missing_ok=True)
    t0 = time.monotonic()
    proc = spawn(src, config, port, workdir, stamps if steps is not None else None)
    try:
        while time.monotonic() - t0 < 30:
            try:
                if names <= {m.decode() for m in UP_LINE.findall(page(port))}:
                    done = time.monotonic()
                    if steps is not None:
                        before = t0
                        for line in stamps.read_text().splitlines():
                            step, at = line.split("\t")
                            steps.setdefault(step, []).append(float(at) - before)
                            before = float(at)
                        steps.setdefault("first complete page", []).append(done - before)
                    return done - t0
            except OSError:
                pass
            time.sleep(0.005)
        raise RuntimeError("no complete page within 30 s")
    finally:
        proc.terminate()
        proc.wait(10)


def python_floor() -> float:
    t0 = time.monotonic()
    subprocess.run([sys.executable, "-c", "pass"], check=True)
    return time.monotonic() - t0


def memory(src: str, fleet: FleetTargets, args, workdir: Path) -> dict:
    config = workdir / "memory.yml"
    inline_config(config, fleet, range(args.targets), args.interval)
    port = free_port()
    proc = spawn(src, config, port, workdir)
    ps = psutil.Process(proc.pid)
    series: list[tuple[float, float]] = []
    t0 = time.monotonic()
    next_scrape = t0 + 5
    try:
        while time.monotonic() - t0 < args.minutes * 60:
            if time.monotonic() >= next_scrape:
                page(port)
                next_scrape += 15
            minute = (time.monotonic() - t0) / 60
            series.append((minute, ps.memory_info().rss / 1e6))
            if len(series) % 30 == 0:
                say(f"    {minute:5.1f} min: RSS {series[-1][1]:.1f} MB")
            time.sleep(10)
    finally:
        proc.terminate()
        proc.wait(10)

    def at(minute: float) -> float | None:
        """RSS at MINUTE (the nearest sample within half a minute)."""
        near = min(series, key=lambda s: abs(s[0] - minute))
        return near[1] if abs(near[0] - minute) <= 0.5 else None

    tail = [(m, r) for m, r in series if m >= args.minutes / 3]
    slope = (
        statistics.linear_regression([m for m, _ in tail], [r for _, r in tail]).slope if len(tail) > 2 else 0
    )
    return {
        "rss_1min_mb": at(1),
        "rss_10min_mb": at(10),
        "rss_30min_mb": at(30),
        "rss_max_mb": max(r for _, r in series),
        "rss_end_mb": series[-1][1],
        "slope_mb_per_min": slope,
        "series": series,
    }


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--targets", type=int, default=50)
    p.add_argument("--interval", type=float, default=1.0)
    p.add_argument("--minutes", type=float, default=30.0)
    p.add_argument("--starts", type=int, default=7)
    p.add_argument("--only", default="start,steps,memory")
    p.add_argument("--baseline-src", default="")
    p.add_argument("--json", metavar="PATH")
    args = p.parse_args(argv)
    trees = ([("baseline", args.baseline_src)] if args.baseline_src else []) + [("this tree", "")]
    fleet = FleetTargets()
    out: dict = {"load_average_start": os.getloadavg()}
    workdir = Path(tempfile.mkdtemp(prefix="inference-exporter-sidecar-"))
    try:
        if "start" in args.only:
            floor = statistics.median(python_floor() for _ in range(args.starts))
            load = os.getloadavg()[0]
            say(f"[start] `python -c pass`: {floor:.3f} s (median of {args.starts}); load {load:.2f}")
            out["python_floor_s"] = floor
            for label, src in trees:
                for targets in (1, args.targets):
                    first_complete(src, fleet, targets, workdir)  # compiles the bytecode, not timed
                    times = [first_complete(src, fleet, targets, workdir) for _ in range(args.starts)]
                    med = statistics.median(times)
                    out[f"start {label} {targets}"] = times
                    spread = f"{min(times):.3f}-{max(times):.3f}"
                    say(
                        f"  {label:10} {targets:3d} target(s): first complete page after {med:.3f} s "
                        f"(median; {spread}); load {os.getloadavg()[0]:.2f}"
                    )
        if "steps" in args.only:
            for label, src in trees:
                for targets in (1, args.targets):
                    steps: dict[str, list[float]] = {}
                    first_complete(src, fleet, targets, workdir)  # compiles the bytecode, not timed
                    total = statistics.median(
                        first_complete(src, fleet, targets, workdir, steps) for _ in range(args.starts)
                    )
                    out[f"steps {label} {targets}"] = steps
                    parts = " · ".join(
                        f"{step} {statistics.median(t) * 1e3:.0f}" for step, t in steps.items()
                    )
                    say(f"[steps] {label}, {targets} target(s), ms (medians of {args.starts}): {parts}")
                    say(f"        total {total * 1e3:.0f} ms; load {os.getloadavg()[0]:.2f}")
        if "memory" in args.only:
            for label, src in trees:
                every = f"every {args.interval:g} s for {args.minutes:g} min"
                say(f"[memory] {label}: {args.targets} targets {every}")
                m = memory(src, fleet, args, workdir)
                out[f"memory {label}"] = m
                fmt = lambda v: "-" if v is None else f"{v:.1f}"  # noqa: E731
                say(
                    f"  {label}: RSS {fmt(m['rss_1min_mb'])} MB at 1 min, {fmt(m['rss_10min_mb'])} at 10, "
                    f"{fmt(m['rss_30min_mb'])} at 30, max {m['rss_max_mb']:.1f}; "
                    f"slope {m['slope_mb_per_min']:+.3f} MB/min over the last two thirds; "
                    f"load {os.getloadavg()[0]:.2f}"
                )
    finally:
        fleet.stop()
    out["load_average_end"] = os.getloadavg()
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
