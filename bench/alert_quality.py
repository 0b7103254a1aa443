#!/usr/bin/env python3
"""Alert-quality benchmark of the rule pack (not a test; the figures go to docs/alert-quality.md).

1. Replays the scenario of bench/scenario.py (eight days, seven injected faults) through the
   rules in a real Prometheus and prints detection recall, time to detect, and false pages and
   tickets per simulated week; plus the recording-rule series each model gets.
2. Loads the rules into a live Prometheus over 100 simulated models (a day of backfilled
   history ending now) and reads `prometheus_rule_group_last_duration_seconds` per group.

    .venv/bin/python bench/alert_quality.py [--skip-cost] [--models 100]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
import scenario  # noqa: E402  (bench/, the script's own folder)


def quality(work: Path) -> None:
    work.mkdir(parents=True, exist_ok=True)
    data = work / "scenario.om"
    sc = scenario.generate(data)
    print(f"scenario: {sc.series} series, {sc.samples} samples, {scenario.DAYS} days")
    results, run = scenario.replay(work / "prom", data, sc, log=lambda m: print("  " + m, flush=True))
    try:
        score = scenario.score(results, sc)
        import requests

        per_model = requests.get(
            run.prom.url + "/api/v1/query",
            params={"query": 'count by (model) ({__name__=~"model:.+"})', "time": sc.end},
            timeout=30,
        ).json()["data"]["result"]
        series = {r["metric"].get("model", "?"): int(float(r["value"][1])) for r in per_model}
    finally:
        run.stop()
    detected = [d for d in score["detections"] if d.seconds is not None]
    print(f"\nrecall: {len(detected)}/{len(score['detections'])}")
    print(f"{'fault':20} {'kind':6} {'intended alert':40} {'detect':>7} {'deadline':>8}  first page")
    for d in score["detections"]:
        ttd = "missed" if d.seconds is None else f"{d.seconds / 60:.0f} min"
        kind = "page" if d.fault.page else "ticket"
        page = "-" if d.page_seconds is None else f"{d.page_seconds / 60:.0f} min ({d.first_page})"
        print(f"{d.fault.name:20} {kind:6} {d.alert:40} {ttd:>7} {d.fault.deadline / 60:>6.0f} m  {page}")
    pages = [d.page_seconds for d in score["detections"] if d.fault.page and d.page_seconds is not None]
    all_ttd = [d.seconds for d in detected]
    if pages:
        print(
            f"first page of page faults: median {statistics.median(pages) / 60:.1f} min, "
            f"worst {max(pages) / 60:.1f} min"
        )
    if all_ttd:
        print(f"all:   median {statistics.median(all_ttd) / 60:.1f} min, worst {max(all_ttd) / 60:.1f} min")
    print(f"scored span: {score['weeks'] * 7:.1f} days")
    print(f"false pages per week: {score['false_pages_per_week']:.2f}")
    print(f"false tickets per model and week: {score['false_tickets_per_model_week']:.2f}")
    for name, key, e in score["false_pages"] + score["false_tickets"]:
        when = time.strftime("%a %H:%M", time.gmtime(e.start))
        print(f"  false: {name} {key} {when} for {e.seconds / 60:.0f} min")
    print(
        "recording series per model that the alerts need (end of scenario): "
        + ", ".join(f"{m}={n}" for m, n in sorted(series.items()))
    )


def _fleet(path: Path, models: int, now: int, hours: int = 24) -> dict[str, tuple[float, float]]:
    """A day of one-minute history for `models` models ending just before now, written as
    OpenMetrics; returns each series' last value and per-second slope for the live part."""
    rng = np.random.default_rng(3)
    step = 60
    times = np.arange(now - hours * 3600, now - 60, step)
    hour = (times % 86400) / 3600
    shape = scenario.daily_shape(hour)
    last: dict[str, tuple[float, float]] = {}
    with path.open("w") as f:
        families: dict[str, list[str]] = {}
        for i in range(models):
            labels = (
                f'job="inference-exporter",instance="10.1.{i // 200}.{i % 200}:9400",namespace="shop",'
                f'team="team{i % 7}",model_class="{("ranking", "embedding", "generative")[i % 3]}",'
                f'model="model-{i:03d}",target="model-{i:03d}-0",server="bentoml",version="1"'
            )
            reqs = rng.poisson(20 * shape * step).astype(float)
            fails = rng.binomial(reqs.astype(int), 5e-4).astype(float)
            fast = rng.binomial(reqs.astype(int), 0.995).astype(float)
            rows = {
                f'inference_requests_total{{{labels},outcome="success"}}': np.cumsum(reqs - fails),
                f'inference_requests_total{{{labels},outcome="failure",reason="internal"}}': np.cumsum(fails),
                f"inference_request_duration_seconds_count{{{labels}}}": np.cumsum(reqs),
                f"inference_request_duration_seconds_sum{{{labels}}}": np.cumsum(reqs * 0.04),
                f'inference_request_duration_seconds_bucket{{{labels},le="0.1"}}': np.cumsum(fast),
                f'inference_request_duration_seconds_bucket{{{labels},le="0.5"}}': np.cumsum(fast),
                f'inference_request_duration_seconds_bucket{{{labels},le="1.0"}}': np.cumsum(reqs),
                f"inference_time_to_first_token_seconds_count{{{labels}}}": np.cumsum(reqs),
                f'inference_time_to_first_token_seconds_bucket{{{labels},le="1.0"}}': np.cumsum(fast),
                f'inference_request_duration_seconds_bucket{{{labels},le="+Inf"}}': np.cumsum(reqs),
                f"inference_model_info{{{labels}}}": np.ones(len(times)),
            }
            for series, values in rows.items():
                families.setdefault(series.split("{")[0], []).append(
                    "".join(f"{series} {v:.10g} {t}\n" for t, v in zip(times, values, strict=True))
                )
                last[series] = (float(values[-1]), float(values[-1] - values[-61]) / 3600)
        for name in sorted(families):
            f.write("".join(families[name]))
        f.write("# EOF\n")
    return last


def _serve(last: dict[str, tuple[float, float]], since: float):
    """Continues the history live: every scrape sees counters grown at their last hour's pace."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server API
            elapsed = time.time() - since
            body = "".join(f"{k} {v + slope * elapsed:.10g}\n" for k, (v, slope) in last.items()).encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def cost(work: Path, models: int) -> None:
    import subprocess

    from inference_devtools.prom import Prometheus

    now = int(time.time())
    work.mkdir(parents=True, exist_ok=True)
    data = work / "fleet.om"
    last = _fleet(data, models, now)
    (work / "data").mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [
            "promtool",
            "tsdb",
            "create-blocks-from",
            "openmetrics",
            "--max-block-duration=48h",
            str(data),
            str(work / "data"),
        ],
        check=True,
        capture_output=True,
    )
    server = _serve(last, now - 120)
    files = scenario.rule_files()
    config = (
        "global:\n  scrape_interval: 15s\n  evaluation_interval: 1m\nrule_files:\n"
        + "".join(f"  - {f}\n" for f in files)
        + "scrape_configs:\n  - job_name: fleet\n    honor_labels: true\n    static_configs:\n"
        + f"      - targets: ['127.0.0.1:{server.server_address[1]}']\n"
    )
    prom = Prometheus(work, config, scenario.PROM_ARGS)
    try:
        print(f"\nrule evaluation cost, {models} models (1 day of history), waiting for 3 evaluations...")
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            own = _own_metrics(prom.url)
            rounds = [v for k, v in own.items() if k.startswith("prometheus_rule_group_iterations_total{")]
            # Three rounds of the 1m groups; the 5m budget group has had at least one.
            if rounds and min(rounds) >= 1 and max(rounds) >= 3:
                break
            time.sleep(10)
        total = 0.0
        for key, seconds in sorted(own.items()):
            if key.startswith("prometheus_rule_group_last_duration_seconds{"):
                group = key.split(";")[-1].rstrip('"}')
                samples = own.get(key.replace("last_duration_seconds", "last_evaluation_samples"), 0)
                total += seconds
                print(f"  {group:32} {seconds * 1000:8.1f} ms  {samples:8.0f} samples")
        print(f"  {'all groups':32} {total * 1000:8.1f} ms per evaluation round (every 1m)")
        per_model = prom.query('count by (model) ({__name__=~"model:.+"})')
        counts = [int(float(r["value"][1])) for r in per_model]
        if counts:
            print(
                f"  recording series per model now: median {statistics.median(counts):.0f}, max "
                f"{max(counts)} "
                "(the bands' margins need a day of their own history before they appear)"
            )
    finally:
        prom.close()
        server.shutdown()


def _own_metrics(url: str) -> dict[str, float]:
    from inference_devtools.prom import own_metrics

    return own_metrics(url, "prometheus_rule_group_")


def series_budget() -> None:
    """Each `model:` rule keeps exactly the model labels, so it adds at most one series per model."""
    import yaml

    names = {
        r["record"]
        for f in scenario.rule_files()
        for g in yaml.safe_load(f.read_text())["groups"]
        for r in g["rules"]
        if "record" in r
    }
    per_model = sorted(n for n in names if n.startswith("model:"))
    print(
        f"\nrecording rules: {len(per_model)} model-level names -> at most {len(per_model)} series "
        "per model; "
        f"{len(names) - len(per_model)} per exporter pod or target "
        f"({', '.join(sorted(set(names) - set(per_model)))})"
    )


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--skip-cost", action="store_true")
    parser.add_argument("--skip-quality", action="store_true")
    parser.add_argument("--models", type=int, default=100)
    args = parser.parse_args(argv)
    series_budget()
    with tempfile.TemporaryDirectory() as tmp:
        if not args.skip_quality:
            quality(Path(tmp) / "quality")
        if not args.skip_cost:
            cost(Path(tmp) / "cost", args.models)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
