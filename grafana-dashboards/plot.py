#!/usr/bin/env python3
"""Render PNG plots of dashboard panels from a Prometheus, for people who look rather than read.

Each figure runs the PromQL of one panel of the committed dashboard JSON (all variables at
All, ``$__rate_interval`` as given) as a range query and draws it with matplotlib. The
figures say so in their footer: they are plots of the same queries, not Grafana screenshots.

    python grafana-dashboards/plot.py --prometheus http://127.0.0.1:9090 \\
        --start 2026-11-29T20:00:00Z --end 2026-11-29T20:30:00Z --out docs/img

matplotlib is not a dependency of the exporter: ``pip install matplotlib`` first.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import textwrap
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import requests
import slo_config

HERE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Figure:
    file: str
    uid: str
    panel: str
    title: str
    ylabel: str
    band: bool = False  # fill between the series named "upper" and "lower"
    log: bool = False
    hlines: tuple[float, ...] = ()


FIGURES = (
    Figure(
        "anomaly-band-latency.png",
        "inference-anomalies",
        "Mean latency and its anomaly band ($model)",
        "Mean latency of the ranking model and its seasonal anomaly band",
        "seconds",
        band=True,
    ),
    Figure(
        "burn-rate-fault.png",
        "inference-slo",
        "Availability burn rate per window",
        "Availability burn rate per window during an injected error burst",
        "burn rate (x error budget)",
        log=True,
        hlines=slo_config.load().factors,  # where the burn-rate alerts fire
    ),
)


def panel(uid: str, title: str) -> dict:
    board = json.loads((HERE / f"{uid}.json").read_text())
    for p in board["panels"]:
        if p.get("title") == title:
            return p
    raise KeyError(f"{uid} has no panel {title!r}")


def substitute(expr: str, rate_interval: str) -> str:
    text = expr.replace("$__rate_interval", rate_interval)
    return re.sub(r"\$\{?(\w+)\}?", ".*", text)


def query_range(url: str, expr: str, start: float, end: float, step: float) -> list[dict]:
    r = requests.get(
        f"{url}/api/v1/query_range",
        params={"query": expr, "start": start, "end": end, "step": step},
        timeout=60,
    )
    body = r.json()
    if body.get("status") != "success":
        raise RuntimeError(f"{expr}: {body}")
    return body["data"]["result"]


def legend(fmt: str, labels: dict) -> str:
    return re.sub(r"\{\{\s*(\w+)\s*\}\}", lambda m: labels.get(m.group(1), ""), fmt).strip()


def render(
    fig: Figure,
    url: str,
    start: float,
    end: float,
    out: Path,
    rate_interval: str = "1m",
    shade: list[tuple[float, float, str]] = (),
    note: str = "",
) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt

    p = panel(fig.uid, fig.panel)
    step = max(5.0, (end - start) / 400)
    series: dict[str, tuple[list, list]] = {}
    for t in p["targets"]:
        for s in query_range(url, substitute(t["expr"], rate_interval), start, end, step):
            name = legend(t["legendFormat"], s["metric"]) or t["refId"]
            xs = [datetime.fromtimestamp(float(ts), timezone.utc) for ts, _ in s["values"]]
            ys = [float(v) for _, v in s["values"]]
            series[name] = (xs, ys)
    plt.figure(figsize=(10, 4.6), dpi=110)
    ax = plt.gca()
    if fig.band and "upper" in series and "lower" in series:
        (xu, yu), (xl, yl) = series.pop("upper"), series.pop("lower")
        lower = dict(zip(xl, yl, strict=True))
        xs = [x for x in xu if x in lower]
        ax.fill_between(
            xs,
            [lower[x] for x in xs],
            [y for x, y in zip(xu, yu, strict=True) if x in lower],
            color="tab:blue",
            alpha=0.18,
            label="anomaly band",
            step="post",
        )
    for name, (xs, ys) in sorted(series.items()):
        style = "--" if name == "expected" else "-"
        ax.plot(xs, ys, style, lw=1.4, label=name)
    for i, y in enumerate(fig.hlines):
        ax.axhline(y, color="grey", lw=0.8, ls=":", label=None if i else "burn-rate alert factors")
    for a, b, text in shade:
        ax.axvspan(
            datetime.fromtimestamp(a, timezone.utc),
            datetime.fromtimestamp(b, timezone.utc),
            color="tab:red",
            alpha=0.08,
        )
        ax.text(
            datetime.fromtimestamp(a, timezone.utc),
            1.0,
            " " + text,
            transform=ax.get_xaxis_transform(),
            va="top",
            fontsize=8,
            color="tab:red",
        )
    if fig.log:
        ax.set_yscale("symlog", linthresh=0.1)
        ax.set_ylim(bottom=0)
    ax.set_title(fig.title, fontsize=11)
    ax.set_ylabel(fig.ylabel)
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M", tz=timezone.utc))
    ax.set_xlabel("time (UTC)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=4, loc="upper left", bbox_to_anchor=(0, -0.18))
    footer = f'Plot of the PromQL of dashboard {fig.uid}, panel "{fig.panel}" (not a Grafana screenshot).'
    text = "\n".join([footer, *textwrap.wrap(note, 160)])
    plt.figtext(0.01, 0.005, text, fontsize=7, color="dimgrey")
    plt.tight_layout(rect=(0, 0.08, 1, 1))
    out.mkdir(parents=True, exist_ok=True)
    path = out / fig.file
    plt.savefig(path)
    plt.close()
    return path


def _time(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--prometheus", required=True, help="base URL of the Prometheus to query")
    parser.add_argument("--start", required=True, help="ISO time, e.g. 2026-11-29T20:00:00Z")
    parser.add_argument("--end", required=True)
    parser.add_argument("--out", type=Path, default=HERE.parent / "docs" / "img")
    parser.add_argument("--rate-interval", default="1m", help="what $__rate_interval stands for")
    args = parser.parse_args(argv)
    for fig in FIGURES:
        print(render(fig, args.prometheus, _time(args.start), _time(args.end), args.out, args.rate_interval))
    return 0


if __name__ == "__main__":
    sys.exit(main())
