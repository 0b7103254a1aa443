"""The stack at demo speed: the rule pack's durations divided by ``speed``, and
Alertmanager routes that flush in seconds.

The pack is written for production time (rates over 5 minutes, ``for: 15m``, burn rates
over hours, baselines from yesterday). A demo cannot wait that long, so the demo and the
end-to-end test load a time-compressed copy: range selectors, subquery steps, offsets,
``for``/``keep_firing_for`` and group intervals are divided by ``speed`` (30: five minutes
become ten seconds, an hour two minutes, a day 48 minutes). Range windows never shrink
below ``min_window_s`` (a few scrapes, so ``rate()`` keeps enough samples). Thresholds,
expressions and labels stay exactly as generated: the alerts that fire are the pack's own.

Alertmanager waits ``group_wait`` (30 s) before the first message of a group and
``group_interval`` (5 min) before the next, the resolved one included; ``fast_routes``
sets them to seconds on every route so an injected fault and its end show up at once.

    python deploy/local/demo_speed.py --speed 30 --out .demo/rules rules/*.yml
"""

from __future__ import annotations

import argparse
import math
import re
import sys
from pathlib import Path

import yaml
from inference_exporter.durations import DURATION_PATTERN as DURATION
from inference_exporter.durations import parse_duration as seconds

RANGE = re.compile(rf"\[({DURATION})(?::({DURATION})?)?\]")
OFFSET = re.compile(rf"\boffset\s+({DURATION})")


def scaled(duration: str, speed: float, floor_s: float = 1) -> str:
    return f"{math.ceil(max(floor_s, seconds(duration) / speed))}s"


def compress_expr(expr: str, speed: float, min_window_s: float) -> str:
    def range_(m: re.Match) -> str:
        window = scaled(m.group(1), speed, min_window_s)
        if m.group(0).count(":") == 0:
            return f"[{window}]"
        step = scaled(m.group(2), speed) if m.group(2) else ""
        return f"[{window}:{step}]"

    expr = RANGE.sub(range_, expr)
    return OFFSET.sub(lambda m: f"offset {scaled(m.group(1), speed)}", expr)


def relink(annotations: dict, grafana: str) -> dict:
    """ANNOTATIONS with dashboard_url on GRAFANA (the demo's own), or without it when none runs:
    the configured Grafana (urls.grafana) is not the demo's, and a dead link helps nobody."""
    url = annotations.get("dashboard_url")
    if url is None:
        return annotations
    out = {k: v for k, v in annotations.items() if k != "dashboard_url"}
    if grafana and "/d/" in url:
        out["dashboard_url"] = grafana.rstrip("/") + url[url.index("/d/") :]
    return out


def compress(
    groups: dict, speed: float, min_window_s: float, interval_s: float, grafana: str | None = None
) -> dict:
    """GROUPS at SPEED; with GRAFANA not None, dashboard links relinked to it (see relink)."""
    out = {"groups": []}
    for group in groups.get("groups") or []:
        g = {**group, "interval": f"{interval_s:g}s"}
        g["rules"] = []
        for rule in group.get("rules") or []:
            r = {**rule, "expr": compress_expr(str(rule["expr"]), speed, min_window_s)}
            for key in ("for", "keep_firing_for"):
                if key in r:
                    r[key] = scaled(str(r[key]), speed)
            if grafana is not None and "annotations" in r:
                r["annotations"] = relink(r["annotations"], grafana)
            g["rules"].append(r)
        out["groups"].append(g)
    return out


ROUTE_TIMINGS = {"group_wait": "2s", "group_interval": "10s", "repeat_interval": "4h"}


def fast_routes(config_text: str, timings: dict[str, str] = ROUTE_TIMINGS) -> str:
    """An Alertmanager config with ``timings`` on the root route and wherever a route overrides them."""
    config = yaml.safe_load(config_text) or {}

    def retime(route: dict) -> None:
        for key, value in timings.items():
            if key in route:
                route[key] = value
        for child in route.get("routes") or []:
            retime(child)

    root = config.setdefault("route", {})
    root.update(timings)
    retime(root)
    return yaml.safe_dump(config, sort_keys=False)


def write(
    rule_files: list[str],
    out_dir: Path,
    speed: float,
    min_window_s: float,
    interval_s: float,
    grafana: str | None = None,
) -> list[str]:
    """Compressed copies of ``rule_files`` in ``out_dir``; returns their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for source in map(Path, rule_files):
        data = yaml.safe_load(source.read_text()) or {}
        if not isinstance(data, dict) or not data.get("groups"):
            continue  # rules/config.yml and other non-rule files
        target = out_dir / source.name
        header = f"# {source.name} at {speed:g}x speed (deploy/local/demo_speed.py). Do not edit.\n"
        compressed = compress(data, speed, min_window_s, interval_s, grafana)
        body = yaml.safe_dump(compressed, sort_keys=False, width=200)
        target.write_text(header + body)
        written.append(str(target))
    return written


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("rule_files", nargs="+")
    ap.add_argument("--speed", type=float, default=30)
    ap.add_argument("--min-window", type=float, default=10, help="shortest range window, seconds")
    ap.add_argument("--interval", type=float, default=2, help="rule evaluation interval, seconds")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument(
        "--grafana", help="point dashboard_url at this Grafana; an empty value drops the links"
    )
    args = ap.parse_args(argv)
    for path in write(args.rule_files, args.out, args.speed, args.min_window, args.interval, args.grafana):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
