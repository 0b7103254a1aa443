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
sys.path.insert(0, str(ROOT / "bench"))

import scenario  # noqa: E402


def quality(work: Path) -> None:
    data = work / "scenario.om"
    sc = scenario.generate(data)
    print(f"scenario: {sc.series} series, {sc.samples} samples, {scenario.DAYS} days")
    results, run = scenario.replay(work / "prom", data, sc, log=lambda m: print("  " + m, flush=True))
    try:
        score = scenario.score(results, sc)
        per_model = run.prom.query('count by (model) ({__name__=~"model:.+"})')
        series = {r["metric"].get("model", "?"): int(float(r["value"][1])) for r in per_model}
    finally:
        run.stop()
    detected = [d for d in score["detections"] if d.seconds is not None]
    print(f"\nrecall: {len(detected)}/{len(score['detections'])}")
    print(f"{'fault':22} {'kind':6} {'alert':42} {'time to detect':>15} {'deadline':>9}")
    for d in score["detections"]:
        ttd = "missed" if d.seconds is None else f"{d.seconds / 60:.0f} min"
        kind = "page" if d.fault.page else "ticket"
        print(f"{d.fault.name:22} {kind:6} {d.alert:42} {ttd:>15} {d.fault.deadline / 60:>7.0f} m")
    pages = [d.seconds for d in detected if d.fault.page]
    all_ttd = [d.seconds for d in detected]
    if pages:
        print(f"pages: median {statistics.median(pages) / 60:.1f} min, worst {max(pages) / 60:.1f} min")
    if all_ttd:
        print(f"all:   median {statistics.median(all_ttd) / 60:.1f} min, worst {max(all_ttd) / 60:.1f} min")
    print(f"scored span: {score['weeks'] * 7:.1f} days")
    print(f"false pages per week: {score['false_pages_per_week']:.2f}")
    print(f"false tickets per model and week: {score['false_tickets_per_model_week']:.2f}")
    for name, key, e in score["false_pages"] + score["false_tickets"]:
        when = time.strftime("%a %H:%M", time.gmtime(e.start))
        print(f"  false: {name} {key} {when} for {e.seconds / 60:.0f} min")
    print(
        "recording-rule series per model (steady state, end of scenario): "
        + ", ".join(f"{m}={n}" for m, n in sorted(series.items()))
    )


def _fleet(path: Path, models: int, now: int, hours: int = 24) -> None:
    """One day of one-minute history for `models` ranking models, ending a few minutes after now."""
    rng = np.random.default_rng(3)
    step = 60
    times = np.arange(now - hours * 3600, now + 6 * 60, step)
    hour = (times % 86400) / 3600
    shape = scenario.daily_shape(hour)
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
        for name in sorted(families):
            f.write("".join(families[name]))
        f.write("# EOF\n")


def cost(work: Path, models: int) -> None:
    import subprocess

    from prom import Prometheus

    now = int(time.time())
    data = work / "fleet.om"
    _fleet(data, models, now)
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
    files = scenario.rule_files()
    config = (
        "global:\n  scrape_interval: 1m\n  evaluation_interval: 1m\nrule_files:\n"
        + "".join(f"  - {f}\n" for f in files)
        + "scrape_configs: []\n"
    )
    prom = Prometheus(work, config, scenario.PROM_ARGS)
    try:
        print(f"\nrule evaluation cost, {models} models (1 day of history), waiting for 3 evaluations...")
        time.sleep(200)
        rows = prom.query("prometheus_rule_group_last_duration_seconds")
        total = 0.0
        for r in sorted(rows, key=lambda r: r["metric"]["rule_group"]):
            seconds = float(r["value"][1])
            total += seconds
            group = r["metric"]["rule_group"].split(";")[-1]
            print(f"  {group:32} {seconds * 1000:8.1f} ms")
        print(f"  {'all groups':32} {total * 1000:8.1f} ms per evaluation round (interval 1m)")
        per_model = prom.query('count by (model) ({__name__=~"model:.+"})')
        counts = [int(float(r["value"][1])) for r in per_model]
        if counts:
            print(
                f"  recording series per model now: median {statistics.median(counts):.0f}, "
                f"max {max(counts)} "
                "(bands need a day of their own history before all appear)"
            )
    finally:
        prom.close()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--skip-cost", action="store_true")
    parser.add_argument("--skip-quality", action="store_true")
    parser.add_argument("--models", type=int, default=100)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        if not args.skip_quality:
            quality(Path(tmp) / "quality")
        if not args.skip_cost:
            cost(Path(tmp) / "cost", args.models)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
