#!/usr/bin/env python3
"""Evaluation cost of the anomaly rules for a large fleet with a full week of history.

Backfills `--days` of one-minute history for `--models` models into a real Prometheus: the three
signals the bands read (request rate, mean latency, error ratio, under their recording-rule
names), the residuals the margins read (every 10 minutes) and, for the previous rules, their
cleaned history. Then it serves the signals live (a scrape of this process, values continuing the
history), loads one rule file at a time (the committed rules/anomaly.yml, then the rules before
issue 13 as the peer) and reads `prometheus_rule_group_last_duration_seconds` once every group
has evaluated a few times. Not a test: the figures go to docs/alert-quality.md.

    .venv/bin/python bench/anomaly_cost.py [--models 1000] [--days 8]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import yaml
from inference_devtools import prom, repo
from inference_devtools.prom import Prometheus

ROOT = repo.ROOT
repo.use("rules")

from pack.anomaly import SIGNALS  # noqa: E402

PREVIOUS = ROOT / "bench" / "real_data" / "previous_anomaly.yml"
LEVELS = {"requests": 20.0, "latency": 0.05, "errors": 0.001}
STEP = 60


def _labels(i: int) -> str:
    return f'namespace="shop",team="team{i % 7}",model_class="c{i % 3}",model="model-{i:04d}"'


def _shape(t: np.ndarray) -> np.ndarray:
    hour = (t % 86400) / 3600
    return 0.55 + 0.45 * np.sin((hour - 9) / 24 * 2 * np.pi)


def windows(now: int, days: int, full: bool) -> dict[str, list[tuple[int, int]]]:
    """Time ranges to backfill per kind of series. The rules only ever read the hours around the
    same time 1, 2 and 7 days ago and the last minutes of a signal (and of the previous rules'
    cleaned copy), but the whole week of residuals; unless `full`, only those are written."""
    week = [(now - days * 86400, now - 120)]
    if full:
        return {"signal": week, "clean": week, "residual": week}
    around = [(now - d * 86400 - 3 * 3600, now - d * 86400 + 3600) for d in (7, 2, 1)]
    return {
        "signal": around + [(now - 3600, now - 120)],
        "clean": [around[0], around[2]],
        "residual": week,
    }


def backfill(data: Path, models: int, spans: dict[str, list[tuple[int, int]]]) -> None:
    """One OpenMetrics file and one promtool import per day of time, so no text gets huge."""
    rng = np.random.default_rng(5)
    data.mkdir(parents=True, exist_ok=True)
    first = min(a for ranges in spans.values() for a, _ in ranges)
    last = max(b for ranges in spans.values() for _, b in ranges)
    with tempfile.TemporaryDirectory() as tmp:
        for day_start in range(first - first % 86400, last, 86400):
            day_end = day_start + 86400
            path = Path(tmp) / "day.om"
            written = 0
            with path.open("w") as f:
                for name, signal in SIGNALS.items():
                    for kind, family in (
                        ("signal", signal),
                        ("clean", f"{signal}_clean"),
                        ("residual", f"{signal}_residual"),
                    ):
                        step = 600 if kind == "residual" else STEP
                        parts = [
                            np.arange(max(a, day_start) // step * step, min(b, day_end), step)
                            for a, b in spans[kind]
                        ]
                        times = np.concatenate(parts)
                        times = times[(times >= day_start) & (times < day_end)]
                        if not len(times):
                            continue
                        f.write(f"# TYPE {family} gauge\n")
                        base = LEVELS[name] * _shape(times)
                        for i in range(models):
                            noise = rng.normal(0, 0.05, len(times))
                            values = noise * base if kind == "residual" else base * (1 + noise)
                            prefix = f"{family}{{{_labels(i)}}} "
                            f.write(
                                "".join(f"{prefix}{v:.6g} {t}\n" for v, t in zip(values, times, strict=True))
                            )
                            written += len(times)
                f.write("# EOF\n")
            if written:
                subprocess.run(
                    [
                        "promtool",
                        "tsdb",
                        "create-blocks-from",
                        "openmetrics",
                        "--max-block-duration=24h",
                        str(path),
                        str(data),
                    ],
                    check=True,
                    capture_output=True,
                )
                print(f"  {time.strftime('%Y-%m-%d', time.gmtime(day_start))}: {written} samples", flush=True)


def serve(models: int) -> ThreadingHTTPServer:
    """The three signals now, as gauges under their recording-rule names."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server API
            t = np.array([time.time()])
            lines = []
            for name, signal in SIGNALS.items():
                level = LEVELS[name] * _shape(t)[0]
                lines += [f"{signal}{{{_labels(i)}}} {level:.6g}\n" for i in range(models)]
            body = "".join(lines).encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def own_metrics(url: str) -> dict[str, float]:
    return prom.own_metrics(url, "prometheus_rule_group_")


def measure(
    work: Path, data: Path, rules: Path, port: int, rounds: int
) -> dict[str, tuple[float, float, float]]:
    """{group: (median duration s, samples, interval)} over `rounds` evaluations of each 1m group
    (one of a slower group: the residuals are recorded every 10 minutes)."""
    shutil.copytree(data, work / "data")
    groups = {g["name"]: g.get("interval", "1m") for g in yaml.safe_load(rules.read_text())["groups"]}
    config = (
        "global:\n  scrape_interval: 15s\n  evaluation_interval: 1m\n"
        f"rule_files:\n  - {rules}\n"
        "scrape_configs:\n  - job_name: fleet\n    honor_labels: true\n    static_configs:\n"
        f"      - targets: ['127.0.0.1:{port}']\n"
    )
    prom = Prometheus(work, config, ("--storage.tsdb.retention.time=100y", "--query.max-samples=500000000"))
    seen: dict[str, list[float]] = {g: [] for g in groups}
    samples: dict[str, float] = {}
    last_iter: dict[str, float] = {}
    try:
        deadline = time.monotonic() + 20 * 60
        wanted = {g: rounds if iv == "1m" else 1 for g, iv in groups.items()}
        while time.monotonic() < deadline and any(len(seen[g]) < n for g, n in wanted.items()):
            own = own_metrics(prom.url)
            for key, value in own.items():
                if not key.startswith("prometheus_rule_group_iterations_total{"):
                    continue
                group = key.split(";")[-1].rstrip('"}')
                if group in seen and value > last_iter.get(group, 0):
                    last_iter[group] = value
                    dur = own[key.replace("iterations_total", "last_duration_seconds")]
                    samples[group] = own[key.replace("iterations_total", "last_evaluation_samples")]
                    seen[group].append(dur)
            time.sleep(5)
    finally:
        prom.close()
    return {
        g: (float(np.median(v)) if v else float("nan"), samples.get(g, 0), groups[g]) for g, v in seen.items()
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", type=int, default=1000)
    parser.add_argument("--days", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3, help="evaluations of each group to wait for")
    parser.add_argument(
        "--full-history",
        action="store_true",
        help="backfill every minute of the week, not only the hours the rules read",
    )
    args = parser.parse_args(argv)
    now = int(time.time()) // 60 * 60
    began = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="anomaly_cost_") as tmp:
        work = Path(tmp)
        print(f"backfilling {args.days} days of history for {args.models} models...", flush=True)
        backfill(work / "data", args.models, windows(now, args.days, args.full_history))
        server = serve(args.models)
        try:
            results = {}
            for name, rules in (("committed", ROOT / "rules" / "anomaly.yml"), ("previous", PREVIOUS)):
                print(f"{name} rules: waiting for {args.rounds} evaluations of every group...", flush=True)
                results[name] = measure(
                    work / name, work / "data", rules, server.server_address[1], args.rounds
                )
        finally:
            server.shutdown()
    for name, groups in results.items():
        total = sum(d * 60 / _seconds(iv) for d, _, iv in groups.values())
        print(f"\n{name} rules, {args.models} models, {args.days} days of history:")
        for group, (dur, n, iv) in groups.items():
            print(f"  {group:30} every {iv:>4}: {dur * 1000:8.1f} ms, {n:7.0f} samples")
        print(f"  {'per minute (all groups)':30}           {total * 1000:8.1f} ms")
    print(f"\n{time.monotonic() - began:.0f} s")
    return 0


def _seconds(text: str) -> float:
    return float(text[:-1]) * {"s": 1, "m": 60, "h": 3600}[text[-1]]


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
