"""Backtest the rule pack's alerts over history on a real Prometheus.

    inference-exporter backtest --prometheus URL --from T1 --to T2 [--rules FILE ...] [--plot DIR]

Every alert expression is evaluated with range queries at `--step` (default: the rule
group's interval), `for` is honoured as Prometheus does (a series must be active at
every step for the whole `for` before it fires), and a report lists per alert how often
and for how long it would have fired. Alerts read the pack's recording rules, so those must
exist in the history: deploy them first, or backfill them with
`promtool tsdb create-blocks-from rules`. With `--plot DIR` and matplotlib installed (the
`plot` extra), one PNG timeline per alert is written.
"""

from __future__ import annotations

import json
import math
import re
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import requests
import yaml

from ..durations import parse_duration
from . import ArgumentParser

MAX_POINTS = 10_000  # Prometheus refuses range queries of more than 11,000 points per series


def parse_time(text: str, now: float | None = None) -> float:
    """Unix seconds, RFC 3339 / ISO 8601, `now` or `now-<duration>`."""
    now = time.time() if now is None else now
    if text == "now":
        return now
    if text.startswith("now-"):
        return now - parse_duration(text[4:])
    try:
        return float(text)
    except ValueError:
        pass
    stamp = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=timezone.utc)
    return stamp.timestamp()


@dataclass
class Alert:
    name: str
    expr: str
    for_s: float
    labels: dict
    interval_s: float


@dataclass
class Episode:
    start: float
    end: float

    @property
    def seconds(self) -> float:
        return self.end - self.start


@dataclass
class Result:
    alert: Alert
    series: dict[str, list[Episode]] = field(default_factory=dict)  # label string -> firing episodes

    @property
    def episodes(self) -> list[Episode]:
        return [e for eps in self.series.values() for e in eps]


def load_alerts(paths: list[Path], default_interval: float = 60.0) -> list[Alert]:
    alerts = []
    for path in paths:
        doc = yaml.safe_load(path.read_text())
        groups = doc.get("groups") or doc.get("spec", {}).get("groups", [])  # rule file or PrometheusRule
        for group in groups:
            interval = parse_duration(group["interval"]) if group.get("interval") else default_interval
            for rule in group["rules"]:
                if "alert" in rule:
                    for_s = parse_duration(rule["for"]) if rule.get("for") else 0.0
                    alerts.append(Alert(rule["alert"], rule["expr"], for_s, rule.get("labels", {}), interval))
    return alerts


def query_range(url: str, expr: str, start: float, end: float, step: float) -> dict[str, list[float]]:
    """Timestamps at which each output series of `expr` has a value, chunked under the point limit."""
    out: dict[str, list[float]] = {}
    chunk = step * MAX_POINTS
    t = start
    while t <= end:
        stop = min(end, t + chunk - step)
        r = requests.post(
            url.rstrip("/") + "/api/v1/query_range",
            data={"query": expr, "start": t, "end": stop, "step": step},
            timeout=300,
        )
        body = r.json()
        if body.get("status") != "success":
            raise RuntimeError(f"query failed: {body.get('error', r.text)[:300]}")
        for item in body["data"]["result"]:
            key = label_string(item["metric"])
            out.setdefault(key, []).extend(float(ts) for ts, _ in item["values"])
        t = stop + step
    return out


def label_string(labels: dict) -> str:
    return "{" + ", ".join(f'{k}="{v}"' for k, v in sorted(labels.items()) if k != "__name__") + "}"


def firing_episodes(times: list[float], step: float, for_s: float) -> list[Episode]:
    """Firing intervals of one series that was active at `times` (evaluations `step` apart).

    Like Prometheus: the alert is pending from the first active evaluation, fires at the
    first evaluation at least `for` later, and resets as soon as an evaluation is inactive.
    """
    episodes = []
    run_start = prev = None
    for t in sorted(times) + [None]:
        if t is not None and prev is not None and t - prev <= step * 1.5:
            prev = t
            continue
        if run_start is not None:
            fire_at = run_start + math.ceil(for_s / step - 1e-9) * step
            if fire_at <= prev + 1e-6:
                episodes.append(Episode(fire_at, prev + step))
        run_start = prev = t
    return episodes


def backtest(
    url: str, alerts: list[Alert], start: float, end: float, step: float | None = None
) -> list[Result]:
    results = []
    for alert in alerts:
        s = step or alert.interval_s
        # Start early by `for` so an alert already pending at `start` fires when it would have.
        active = query_range(url, alert.expr, start - alert.for_s, end, s)
        result = Result(alert)
        for key, times in active.items():
            eps = [e for e in firing_episodes(times, s, alert.for_s) if e.end > start]
            if eps:
                result.series[key] = eps
        results.append(result)
    return results


def merge_by_name(results: list[Result]) -> dict[str, list[Result]]:
    merged: dict[str, list[Result]] = {}
    for r in results:
        merged.setdefault(r.alert.name, []).append(r)
    return merged


def fmt_seconds(seconds: float) -> str:
    if seconds >= 3600:
        return f"{seconds / 3600:.1f}h"
    if seconds >= 60:
        return f"{seconds / 60:.0f}m"
    return f"{seconds:.0f}s"


def report(results: list[Result], start: float, end: float) -> str:
    span = end - start
    lines = [
        f"Backtest {datetime.fromtimestamp(start, timezone.utc):%Y-%m-%d %H:%M} .. "
        f"{datetime.fromtimestamp(end, timezone.utc):%Y-%m-%d %H:%M} UTC",
        f"{'alert':44} {'severity':9} {'series':>6} {'fired':>6} {'total':>7} {'longest':>8} {'share':>6}",
    ]
    for name, group in sorted(merge_by_name(results).items()):
        eps = [e for r in group for e in r.episodes]
        series = sum(len(r.series) for r in group)
        severity = group[0].alert.labels.get("severity", "")
        total = sum(e.seconds for e in eps)
        longest = max((e.seconds for e in eps), default=0)
        share = total / span / max(series, 1) if span else 0
        lines.append(
            f"{name:44} {severity:9} {series:>6} {len(eps):>6} {fmt_seconds(total):>7} "
            f"{fmt_seconds(longest):>8} {share:>6.1%}"
        )
    return "\n".join(lines)


def as_json(results: list[Result]) -> list[dict]:
    return [
        {
            "alert": r.alert.name,
            "labels": r.alert.labels,
            "series": {k: [[e.start, e.end] for e in eps] for k, eps in r.series.items()},
        }
        for r in results
    ]


def plot(results: list[Result], start: float, end: float, directory: Path) -> list[Path]:
    """One PNG timeline per alert that fired; nothing (and a note) without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("--plot needs matplotlib: pip install 'inference-exporter[plot]'", file=sys.stderr)
        return []
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, group in sorted(merge_by_name(results).items()):
        rows = [(k, eps) for r in group for k, eps in r.series.items()]
        if not rows:
            continue
        fig, ax = plt.subplots(figsize=(12, 2 + 0.4 * len(rows)))
        for i, (_key, eps) in enumerate(rows):
            ax.broken_barh([((e.start - start) / 3600, e.seconds / 3600) for e in eps], (i - 0.4, 0.8))
        ax.set_yticks(range(len(rows)), [k[:90] for k, _ in rows], fontsize=6)
        ax.set_xlim(0, (end - start) / 3600)
        ax.set_xlabel("hours since start")
        ax.set_title(name)
        fig.tight_layout()
        path = directory / f"{name}.png"
        fig.savefig(path, dpi=100)
        plt.close(fig)
        written.append(path)
    return written


def default_rule_files() -> list[Path]:
    rules = Path.cwd() / "rules"
    return sorted(p for p in rules.glob("*.yml") if p.name != "config.yml")


def main(argv: list[str]) -> int:
    parser = ArgumentParser(prog="inference-exporter backtest", description=__doc__.split("\n\n")[0])
    parser.add_argument("--prometheus", required=True, help="base URL of the Prometheus holding the history")
    parser.add_argument("--from", dest="start", required=True, help="start: unix time, RFC 3339 or now-7d")
    parser.add_argument("--to", dest="end", default="now", help="end (default now)")
    parser.add_argument(
        "--rules",
        type=Path,
        action="append",
        help="rule file or PrometheusRule (repeatable; default rules/*.yml)",
    )
    parser.add_argument("--step", help="evaluation step (default: each group's interval)")
    parser.add_argument("--alert", help="only alerts whose name matches this regular expression")
    parser.add_argument("--plot", type=Path, help="write one PNG timeline per alert into this directory")
    parser.add_argument("--json", action="store_true", help="print the firing episodes as JSON")
    args = parser.parse_args(argv)
    try:
        now = time.time()
        start, end = parse_time(args.start, now), parse_time(args.end, now)
        step = parse_duration(args.step) if args.step else None
    except ValueError as err:
        parser.error(str(err))
    if end <= start:
        parser.error("--to must be after --from")
    files = args.rules or default_rule_files()
    if not files:
        parser.error("no rule files: pass --rules")
    alerts = load_alerts(files)
    if args.alert:
        alerts = [a for a in alerts if re.search(args.alert, a.name)]
    try:
        results = backtest(args.prometheus, alerts, start, end, step)
    except (requests.RequestException, RuntimeError) as err:
        print(f"backtest: {err}", file=sys.stderr)
        return 1
    print(json.dumps(as_json(results), indent=1) if args.json else report(results, start, end))
    if args.plot:
        for path in plot(results, start, end, args.plot):
            print(f"wrote {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
