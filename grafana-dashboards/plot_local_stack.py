#!/usr/bin/env python3
"""Run once to make docs/img/*.png: real model servers, real faults, the dashboards' queries.

    .venv/bin/pip install matplotlib
    .venv/bin/python grafana-dashboards/plot_local_stack.py      # about 17 minutes

What it does, in order:

1. Starts the stack of the live dashboard test (tests/dashboards/live_stack.py): Triton and
   BentoML serving the ranking model under traffic, the exporter, Prometheus with the rule
   pack (groups evaluated every 2 s).
2. Measures the model's real mean latency for a few minutes.
3. Anomaly bands need a day and a week of history, which a run of minutes lacks. So it
   stops Prometheus, backfills the rule pack's latency signal (`..._mean_rate5m`) for the same
   hours one day and one week back and a day of its residuals (`..._mean_rate5m_residual`,
   every 10 minutes, ending 23h30m back), with values resampled from step 2's real
   measurements (promtool tsdb create-blocks-from openmetrics), and restarts Prometheus on that
   TSDB. Everything after that is live.
4. Injects two real faults: searches with hundreds of times more candidate products (a client
   bug: the model really needs longer for each request) and an error burst (a third of
   the searches malformed, so the model really fails them).
5. Renders the figures of plot.py over the live part.
"""

from __future__ import annotations

import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import plot
from inference_devtools.live_stack import LiveStack
from inference_devtools.prom import Prometheus

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

SIGNAL = "model:inference_request_duration_seconds:mean_rate5m"
HISTORY_OFFSETS = (86400, 7 * 86400)  # the rule pack reads the same hour a day and a week back
BASE_ERROR_SHARE = 0.0005  # well inside a 99.9 % availability objective
PHASES = (
    ("warm-up", 240),
    ("normal", 180),
    ("large-requests", 180),
    ("recover", 120),
    ("errors", 180),
    ("end", 120),
)


def say(text: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} {text}", flush=True)


def measured(stack: LiveStack, start: float, end: float) -> list[tuple[dict, list[float]]]:
    out = []
    for s in plot.query_range(stack.prometheus.url, SIGNAL, start, end, 15):
        out.append((s["metric"], [float(v) for _, v in s["values"]]))
    assert out, f"no {SIGNAL} measured"
    return out


def backfill(data_dir: Path, series: list[tuple[dict, list[float]]], start: float, end: float) -> None:
    """History the band reads: the signal around START..END one day and one week back, and a day
    of residuals (a measured value minus their mean) every 10 minutes, ending 23h30m before END."""
    rnd = random.Random(11)
    families: dict[str, list[tuple[float, str]]] = {SIGNAL: [], f"{SIGNAL}_residual": []}
    for labels, values in series:
        labels = {k: v for k, v in labels.items() if k != "__name__"}
        text = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
        mean = sum(values) / len(values)
        for offset in HISTORY_OFFSETS:
            t = start - offset - 3600
            while t < end - offset + 3600:
                families[SIGNAL].append((t, f"{SIGNAL}{{{text}}} {rnd.choice(values):.6g} {t:.0f}"))
                t += 30
        t = end - 84600 - 86400
        while t < end - 84600:
            line = f"{SIGNAL}_residual{{{text}}} {rnd.choice(values) - mean:.6g} {t:.0f}"
            families[f"{SIGNAL}_residual"].append((t, line))
            t += 600
    lines = []
    for name, samples in families.items():
        lines += [f"# TYPE {name} gauge"] + [line for _, line in sorted(samples)]
    with tempfile.NamedTemporaryFile("w", suffix=".om", delete=False) as f:
        f.write("\n".join(lines) + "\n# EOF\n")
    subprocess.run(
        ["promtool", "tsdb", "create-blocks-from", "openmetrics", f.name, str(data_dir)], check=True
    )


def main() -> int:
    workdir = Path(tempfile.mkdtemp(prefix="dashboard-plots-"))
    stack = LiveStack(workdir, rps=6.0, error_share=BASE_ERROR_SHARE)
    marks: dict[str, float] = {}
    try:
        say("starting servers, exporter and Prometheus")
        stack.start()
        marks["warm-up"] = time.time()
        time.sleep(PHASES[0][1])
        series = measured(stack, marks["warm-up"] + 60, time.time())
        say(f"measured {SIGNAL}: {[round(sum(v) / len(v), 4) for _, v in series]}")
        prom_dir = stack.prometheus.workdir
        config = (prom_dir / "prometheus.yml").read_text()
        stack.prometheus.close()
        planned_end = time.time() + sum(d for _, d in PHASES[1:]) + 60
        backfill(prom_dir / "data", series, time.time(), planned_end)
        stack.prometheus = Prometheus(prom_dir, config)
        for name, seconds in PHASES[1:]:
            say(name)
            marks[name] = time.time()
            stack.set_rows(*((4000, 8000) if name == "large-requests" else (3, 20)))
            stack.set_error_share(0.3 if name == "errors" else BASE_ERROR_SHARE)
            time.sleep(seconds)
        end = time.time()
        start = marks["normal"]
        out = ROOT / "docs" / "img"
        note = (
            "Data: Triton + BentoML serving the ranking model on 2 CPU cores, scraped by the exporter; "
            "Prometheus evaluating rules/*.yml."
        )
        lat_note = note + " History a day and a week back: backfilled from this run's first minutes."
        shade_slow = [(marks["large-requests"], marks["recover"], "searches with 4000-8000 products")]
        shade_err = [(marks["errors"], marks["end"], "30% malformed searches")]
        burn_note = note + " Windows longer than the run coincide: they all average the same minutes."
        url = stack.prometheus.url
        say(f"wrote {plot.render(plot.FIGURES[0], url, start, end, out, shade=shade_slow, note=lat_note)}")
        say(f"wrote {plot.render(plot.FIGURES[1], url, start, end, out, shade=shade_err, note=burn_note)}")
    finally:
        stack.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
