"""CPU per collection of the same page: the exporter against Prometheus scraping it itself.

    python bench/vs_prometheus.py [--targets 100] [--interval 1] [--seconds 60] [--baseline-src DIR]

The fake vLLM targets of bench/fleet_targets.py (a model each, 750 samples a page) are collected,
one process at a time and each alone on the machine's two cores, by:

* Prometheus 2.42 (the Debian binary), scraping every target every ``--interval`` and storing
  every sample, nothing else configured;
* the exporter, collecting the same targets at the same interval (no local collectors), and
  with ``--baseline-src`` an older tree of it as well.

Each runs a warm-up of 20 s, then its process CPU (user + system) over ``--seconds`` is divided
by the collections it made, counted on the targets' side (they record every scrape); the sides
alternate ``--rounds`` times and the best run of each is compared. Target: the exporter's CPU per
collection at most Prometheus' (before this work, 2.1 to 3.0 times).

``--breakdown`` adds where the exporter's CPU goes: the same collections made in this process,
one thread, no scheduler (first cycling over 4 targets, then over all of them, whose caches
no longer fit the CPU's), and the share of each step of the path under cProfile.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
import yaml
from inference_devtools import repo  # noqa: E402

repo.use("bench")  # the sibling modules, also when imported from elsewhere
from fleet import free_port, inline_config  # noqa: E402
from fleet_targets import FleetTargets  # noqa: E402


def say(message: str) -> None:
    print(message, flush=True)


def run(label: str, argv: list[str], env: dict, fleet: FleetTargets, args, workdir: Path) -> dict:
    log = open(workdir / f"{label}.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env)
    ps = psutil.Process(proc.pid)
    try:
        time.sleep(20)  # warm-up: imports or WAL set-up, first collections, caches
        if proc.poll() is not None:
            raise RuntimeError(f"{label} exited: {(workdir / f'{label}.log').read_text()[-2000:]}")
        t0, wall0 = sum(ps.cpu_times()[:2]), time.time()
        loads = [os.getloadavg()[0]]
        time.sleep(args.seconds)
        cpu, wall1 = sum(ps.cpu_times()[:2]) - t0, time.time()
        loads.append(os.getloadavg()[0])
        rss = ps.memory_info().rss
    finally:
        proc.terminate()
        proc.wait(15)
        log.close()
    scrapes = fleet.scrapes_since(wall0)
    collections = sum(1 for times in scrapes.values() for t in times if t <= wall1)
    out = {
        "cpu_s": cpu,
        "collections": collections,
        "expected": args.targets * args.seconds / args.interval,
        "ms_per_collection": cpu / max(1, collections) * 1e3,
        "rss_mb": rss / 1e6,
        "load_average": loads,
    }
    say(
        f"  {label:24} {out['ms_per_collection']:6.2f} ms CPU per collection "
        f"({collections} of {out['expected']:.0f} collections, {cpu:.1f} s CPU, RSS {out['rss_mb']:.0f} MB; "
        f"load {loads[0]:.1f}/{loads[1]:.1f})"
    )
    return out


STEPS = {  # each step of a collection, by the (file, function) that does it
    "GET (plainhttp)": ("plainhttp.py", "get"),
    "parse": ("vs_prometheus.py", "_parse"),  # the compiled parser, seen through a wrapper
    "translate to the schema": ("_kind.py", "translate"),
    "render and compress": ("exposition.py", "render"),
    "  of which compress": ("deflate.py", "lines"),
}


def breakdown(fleet: FleetTargets, targets: int, workdir: Path) -> dict:
    """CPU per collection of the exporter's own path, in this process and one thread."""
    import cProfile
    import pstats

    from inference_exporter import config as exporter_config
    from inference_exporter import parser as exporter_parser
    from inference_exporter.sources import target_source

    path = workdir / "breakdown.yml"
    inline_config(path, fleet, range(targets), 1.0)
    sources = [target_source(t) for t in exporter_config.load(str(path)).targets]
    for source in sources:
        source.collect()  # caches warm, as in a running exporter
    out = {"parser": "compiled" if exporter_parser.COMPILED else "parser.py"}
    say(f"  the exporter's parser: {out['parser']}")
    for label, cycle in (("4 targets", 4), (f"{targets} targets", targets)):
        n = 10 * max(cycle, 40)
        t0 = time.process_time()
        for i in range(n):
            sources[i % cycle].collect()
        out[label] = (time.process_time() - t0) / n * 1e3
        say(f"  one thread, cycling over {label:12} {out[label]:6.2f} ms CPU per collection")
    parse = exporter_parser.parse

    def _parse(*args, **kwargs):  # cProfile sees no compiled function: a Python frame around it
        return parse(*args, **kwargs)

    exporter_parser.parse = _parse
    profile = cProfile.Profile()
    profile.enable()
    for i in range(10 * targets):
        sources[i % targets].collect()
    profile.disable()
    exporter_parser.parse = parse
    stats = pstats.Stats(profile).stats
    whole = sum(tt for (_, _, _), (_, _, tt, _, _) in stats.items())
    cumulative: dict[tuple[str, str], float] = {}
    for (f, _, fn), (_, _, _, ct, _) in stats.items():
        cumulative[Path(f).name, fn] = cumulative.get((Path(f).name, fn), 0.0) + ct
    out["shares"] = {step: cumulative.get(where, 0.0) / whole for step, where in STEPS.items()}
    for step, share in out["shares"].items():
        say(f"    {step:26} {share * 100:5.1f}% of the path (cProfile)")
    for source in sources:
        source.close()
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--targets", type=int, default=100)
    p.add_argument("--interval", type=float, default=1.0)
    p.add_argument("--seconds", type=float, default=60.0)
    p.add_argument("--baseline-src", default="")
    p.add_argument("--rounds", type=int, default=2, help="runs of each side, alternating")
    p.add_argument("--json", metavar="PATH")
    p.add_argument("--breakdown", action="store_true", help="also where the exporter's CPU goes")
    args = p.parse_args(argv)
    fleet = FleetTargets()
    workdir = Path(tempfile.mkdtemp(prefix="inference-exporter-vs-prometheus-"))
    results: dict = {"targets": args.targets, "interval_s": args.interval}
    try:
        # One job per target (each has its own path on the fake server), as Prometheus has one per pod.
        address = [{"targets": [f"127.0.0.1:{fleet.port}"]}]
        prom_config = {
            "global": {"scrape_interval": f"{args.interval:g}s", "scrape_timeout": f"{args.interval:g}s"},
            "scrape_configs": [
                {"job_name": f"t{i}", "metrics_path": f"/t/{i}/metrics", "static_configs": address}
                for i in range(args.targets)
            ],
        }
        (workdir / "prometheus.yml").write_text(yaml.safe_dump(prom_config))
        config = workdir / "exporter.yml"
        inline_config(config, fleet, range(args.targets), args.interval)
        sides = {
            "prometheus": (
                [shutil.which("prometheus"), f"--config.file={workdir / 'prometheus.yml'}",
                 f"--storage.tsdb.path={workdir / 'tsdb'}", f"--web.listen-address=127.0.0.1:{free_port()}"],
                dict(os.environ),
            ),
            "exporter (this tree)": (
                [sys.executable, "-m", "inference_exporter", f"--config.file={config}",
                 f"--web.listen-address=127.0.0.1:{free_port()}", f"--journal.path={workdir / 'journal'}",
                 "--log.level=error", "--no-collector.process", "--no-collector.container",
                 "--no-collector.gpu"],
                dict(os.environ),
            ),
        }  # fmt: skip
        if args.baseline_src:
            argv_ = list(sides["exporter (this tree)"][0])
            sides["exporter (baseline)"] = (argv_, {**os.environ, "PYTHONPATH": args.baseline_src})
        say(
            f"{args.targets} vLLM-sized targets every {args.interval:g}s, {args.seconds:g}s per run, "
            f"each side alone; load {os.getloadavg()[0]:.2f}"
        )
        if args.breakdown:
            results["breakdown"] = breakdown(fleet, args.targets, workdir)
        for _ in range(args.rounds):
            for label, (cmd, env) in sides.items():
                results.setdefault(label, []).append(run(label, cmd, env, fleet, args, workdir))
    finally:
        fleet.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    runs = {label: r for label, r in results.items() if isinstance(r, list)}
    best = {label: min(r["ms_per_collection"] for r in found) for label, found in runs.items()}
    say("\nbest run of each side (the least disturbed by other work):")
    for label, ms in best.items():
        say(f"  {label:24} {ms:6.2f} ms per collection, {ms / best['prometheus']:.2f}x Prometheus")
    say("target: the exporter at most 1.0x Prometheus")
    results["best_ms"] = best
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
