#!/usr/bin/env python3
"""Screening model of the anomaly rules on the NAB development split (numpy, about a minute a variant).

The rules' arithmetic re-implemented on the harness's own grid: the NAB records held on a
one-minute grid for at most 15 minutes, Prometheus' 5-minute lookback for instant values, range
windows that include both ends, Prometheus' quantile interpolation, residuals recorded every
10 minutes, `for` replayed and everything scored by the shared harness's own functions. Checked
against the real-Prometheus harness (bench/anomaly_real.py): it gives the same recall, false
positives and NAB score for the previous and the committed rules. The harness needs 10-20
minutes a variant on this machine, so the variants in docs/alert-quality.md were screened here
first; the committed rules and the main variants are then measured by bench/anomaly_real.py.

    .venv/bin/python bench/anomaly_screen.py [--feed latency|requests] [--only NAME] [--write-docs]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
DOC = ROOT / "docs" / "alert-quality.md"
BEGIN, END = "<!-- screening:begin -->", "<!-- screening:end -->"
LOOKBACK = 5  # minutes
CHUNK = 23 * 60  # rules read each other at least 23h30m back: evaluate a chunk at a time
DAY = 1440
HISTORY_END = DAY - 30  # residual history ends 23h30m back
warnings.filterwarnings("ignore", category=RuntimeWarning)


def load_harness(path: Path):
    spec = importlib.util.spec_from_file_location("nab_promql", path / "nab_promql.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class Args:  # the harness's scoring settings (its defaults)
    probation_pct, probation_cap, grace = 0.15, 750, 3600.0


# --- the grid ---------------------------------------------------------------------------------


def load(h, nab_dir: Path, feed: str) -> list:
    src = h.NabSource(str(nab_dir))
    roles = h.MetricMap(str(SHARED / "tools" / "nab" / "baselines" / "metric_map.yml"))
    out = []
    for s in h.load_series(src, h.select_keys(src, ["default"], [])):
        s.shift = 0
        s.role = roles.resolve(s.key)[4]
        scale = 1.0
        if feed == "requests" and s.category == "realTweets":
            scale = 1 / 300
        elif feed == "requests" and s.key.endswith("nyc_taxi.csv"):
            scale = 1 / 1800
        ts, vs = h.resample_hold(s.times, [v * scale for v in s.values], 60, 900)
        s.t0 = ts[0]
        s.x = np.full((ts[-1] - ts[0]) // 60 + 1, np.nan)
        s.x[(np.array(ts) - ts[0]) // 60] = vs
        out.append(s)
    return out


def inst(a: np.ndarray, lookback: int = LOOKBACK) -> np.ndarray:
    """Instant-vector view: the last sample at most `lookback` minutes old."""
    i = np.arange(len(a))
    last = np.maximum.accumulate(np.where(np.isnan(a), -(10**9), i))
    return np.where(i - last <= lookback, a[np.clip(last, 0, None)], np.nan)


def _quantiles(win: np.ndarray, qs) -> np.ndarray:
    cnt = (~np.isnan(win)).sum(axis=1)
    srt = np.sort(np.where(np.isnan(win), np.inf, win), axis=1)
    rows, out = np.arange(len(win)), []
    for q in qs:
        if q == "count":
            out.append(np.where(cnt > 0, cnt, np.nan).astype(float))
            continue
        rank = q * (cnt - 1)
        lo = np.clip(np.floor(rank).astype(int), 0, None)
        hi = np.minimum(lo + 1, np.maximum(cnt - 1, 0))
        w = rank - np.floor(rank)
        out.append(np.where(cnt > 0, srt[rows, lo] * (1 - w) + srt[rows, hi] * w, np.nan))
    return np.array(out)


def window(a: np.ndarray, qs, w: int, off: int, lo: int, hi: int, step: int = 1, t0: int = 0) -> np.ndarray:
    """For t in [lo, hi): quantiles of `a[w] offset off` (minutes; both ends included). With
    step > 1, `a` holds samples only on absolute multiples of `step` minutes (a slower group)."""
    if step == 1:
        idx = np.arange(lo - off - w, hi - off)
        seg = np.where((idx >= 0) & (idx < len(a)), a[np.clip(idx, 0, len(a) - 1)], np.nan)
        return _quantiles(np.lib.stride_tricks.sliding_window_view(seg, w + 1)[: hi - lo], qs)
    phase = (-(t0 // 60)) % step
    ds = a[phase::step]
    t = np.arange(lo, hi)
    k_hi = np.floor((t - off - phase) / step).astype(int)
    k_lo = np.ceil((t - off - w - phase) / step).astype(int)
    width = w // step + 1
    uniq, inv = np.unique(np.stack([k_hi, k_lo], axis=1), axis=0, return_inverse=True)
    idx = uniq[:, 0][:, None] - width + 1 + np.arange(width)[None, :]
    win = np.where((idx >= 0) & (idx < len(ds)), ds[np.clip(idx, 0, max(len(ds) - 1, 0))], np.nan)
    win = np.where(idx < uniq[:, 1][:, None], np.nan, win)
    return _quantiles(win, qs)[:, inv.reshape(-1)]


# --- the rules --------------------------------------------------------------------------------

COMMITTED = dict(
    est=((1,), (7, 2)),
    recent=30,
    young=True,
    pair="median",
    spread="tail",
    tail=0.99,
    k=1.5,
    iqr_k=4.0,
    W=7 * DAY,
    step=10,
    min_hist=360,
    clip=None,
    asym=False,
    rel=0.1,
    counting=0.0,
    first_week=0.3,
    hold="signal",
    N=15,
    p=0.5,
    F=5,
    sides="both",
    guard="offset",
    fresh=1,
    sdays=(1, 2, 3, 4, 5, 6, 7),
    swin=120,
    stat="max",
    scomb="median",
)


def committed(s, **kw) -> tuple[np.ndarray, int]:
    """Residual band (rules/pack/anomaly.py) with options for the variants that were tried."""
    o = {**COMMITTED, **kw}
    x, n = s.x, len(s.x)
    xf = inst(x, o["fresh"])
    E, M, ML, R = (np.full(n, np.nan) for _ in range(4))
    for lo in range(0, n, CHUNK):
        hi = min(n, lo + CHUNK)
        day = {
            d: window(x, (0.5,), 60, d * DAY - 30, lo, hi)[0] for d in {d for alt in o["est"] for d in alt}
        }
        rows = []
        for alt in o["est"]:
            v = day[alt[0]]
            for d in alt[1:]:
                v = np.where(np.isnan(v), day[d], v)
            rows.append(v)
        hist = np.vstack(rows)
        have = (~np.isnan(hist)).sum(axis=0)
        recent = window(x, (0.5,), o["recent"], 0, lo, hi)[0]
        e = np.nanmedian(np.vstack([hist, recent[None]]), axis=0)
        if o["pair"] == "alone":  # one history estimate: use it without the recent level
            e = np.where(have == 1, np.nanmax(hist, axis=0), e)
        e = np.where(have == 0, recent if o["young"] else np.nan, e)
        step = o["step"]
        if o["spread"] == "days":  # the same hours of each past day, combined across days
            per = []
            for d in o["sdays"]:
                q = (0.0, 1.0) if o["stat"] == "max" else (1 - o["stat"], o["stat"])
                g = window(R, q, o["swin"], d * DAY - 30, lo, hi)
                per.append(np.fmax(g[1], -g[0]))
            comb = {"median": np.nanmedian, "max": np.nanmax}[o["scomb"]](np.vstack(per), axis=0)
            up = down = o["k"] * comb
            ok = ~np.isnan(comb)
        else:
            g = window(
                R, (1 - o["tail"], o["tail"], 0.25, 0.75, "count"), o["W"], HISTORY_END, lo, hi, step, s.t0
            )
            ok = g[4] * step >= o["min_hist"]
            if o["spread"] == "iqr":
                up = down = o["iqr_k"] * (g[3] - g[2]) / 1.35
            elif o["asym"]:
                up, down = o["k"] * np.clip(g[1], 0, None), o["k"] * np.clip(-g[0], 0, None)
            else:
                up = down = o["k"] * np.fmax(g[1], -g[0])
        floor = o["rel"] * np.abs(e)
        if o["first_week"]:
            floor = np.where(
                np.isnan(day.get(7, window(x, (0.5,), 60, 7 * DAY - 30, lo, hi)[0])),
                np.fmax(floor, o["first_week"] * np.abs(e)),
                floor,
            )
        if o["counting"]:
            floor = np.fmax(floor, o["counting"] * np.sqrt(np.clip(e, 0, None) / 300))
        bad = ~ok | np.isnan(e)
        E[lo:hi] = e
        M[lo:hi] = np.where(bad, np.nan, np.fmax(up, floor))
        ML[lo:hi] = np.where(bad, np.nan, np.fmax(down, floor))
        r = xf[lo:hi] - inst(E)[lo:hi]
        if o["clip"]:  # winsorised where a band exists
            up_i, down_i = inst(M)[lo:hi], inst(ML)[lo:hi]
            r = np.where(np.isnan(up_i), r, np.clip(r, -o["clip"] * down_i, o["clip"] * up_i))
        R[lo:hi] = r
        if step > 1:  # recorded by a slower group: samples on its ticks only
            ticks = (s.t0 // 60 + np.arange(lo, hi)) % step == 0
            R[lo:hi] = np.where(ticks, R[lo:hi], np.nan) if o["hold"] != "residual" else R[lo:hi]
    return _alert(s, o, E, inst(M), inst(ML), R), o["F"]


def _alert(s, o, E, M, ML, R) -> np.ndarray:
    x, n, p, w = s.x, len(s.x), o["p"], o["N"]
    act = np.zeros(n, bool)
    xi = inst(x)
    for lo in range(0, n, CHUNK):
        hi = min(n, lo + CHUNK)
        if o["hold"] == "residual":  # the residual itself, recorded every minute
            q = window(R, (1 - p, p, "count"), w, 0, lo, hi)
        elif o["hold"] == "signal":  # the signal's quantile against E's median over the same minutes
            q = window(x, (1 - p, p, "count"), w, 0, lo, hi)
            q[:2] -= window(E, (0.5,), w, 0, lo, hi)[0]
        else:  # "band": the signal's quantile against the band of this minute (lags fast seasonal edges)
            q = window(x, (1 - p, p, "count"), w, 0, lo, hi)
            q[:2] -= inst(E)[lo:hi]
        if o["guard"] == "count":
            enough = q[2] >= w / 2
        elif o["guard"] == "offset":
            back = np.arange(lo, hi) - w // 2
            enough = (back >= 0) & ~np.isnan(xi[np.clip(back, 0, None)]) & ~np.isnan(xi[lo:hi])
        else:
            enough = np.ones(hi - lo, bool)
        a = (q[0] > M[lo:hi]) & enough
        if o["sides"] == "both":
            a |= (q[1] < -ML[lo:hi]) & enough
        act[lo:hi] = a
    return act


def previous(s, ratio: float, absolute: float, two_sided: bool) -> tuple[np.ndarray, int]:
    """The rules before issue 13 (bench/real_data/previous_anomaly.yml)."""
    x, n = s.x, len(s.x)
    xi = inst(x)
    E, M, C = (np.full(n, np.nan) for _ in range(3))
    for lo in range(0, n, CHUNK):
        hi = min(n, lo + CHUNK)
        d = window(C, (0.5, 0.25, 0.75), 60, DAY - 30, lo, hi)
        wk = window(C, (0.5, 0.25, 0.75), 60, 7 * DAY - 30, lo, hi)
        recent = window(x, (0.5,), 30, 0, lo, hi)[0]
        e = np.nanmedian(np.vstack([d[0], np.where(np.isnan(wk[0]), d[0], wk[0]), recent]), axis=0)
        spread = np.fmax((d[2] - d[1]) / 1.35, (wk[2] - wk[1]) / 1.35)
        m = np.maximum(np.where(3 * spread >= ratio * e, 3 * spread, ratio * e), absolute)
        E[lo:hi], M[lo:hi] = e, np.where(np.isnan(spread) | np.isnan(e), np.nan, m)
        up, down = inst(E)[lo:hi] + inst(M)[lo:hi], inst(E)[lo:hi] - inst(M)[lo:hi]
        C[lo:hi] = np.where(np.isnan(up), xi[lo:hi], np.clip(xi[lo:hi], down, up))
    act = xi > inst(E) + inst(M)
    if two_sided:
        act |= xi < inst(E) - inst(M)
    return act, 30


# --- variants ---------------------------------------------------------------------------------

# (name, what changes against the committed rules, options). In the order they were tried: the
# first attempts, then one change at a time around the committed rules.
VARIANTS = [
    ("previous", "the rules before issue 13", None),
    (
        "first try",
        "IQR x 4 of 1 day of 1-minute residuals, hold on the signal against this minute's band, "
        "expected from 1d, 2d, 1w",
        dict(
            spread="iqr",
            W=DAY,
            step=1,
            hold="band",
            est=((1,), (2,), (7,)),
            guard=None,
            fresh=LOOKBACK,
            first_week=0.0,
            clip=1.0,
        ),
    ),
    (
        "+ residual hold",
        "... the hold on the 1-minute residual instead",
        dict(
            spread="iqr", W=DAY, step=1, hold="residual", est=((1,), (2,), (7,)), guard=None, first_week=0.0
        ),
    ),
    (
        "+ tail x 1.5",
        "... 1.5 x the 99th-percentile residual instead of IQR x 4",
        dict(W=DAY, step=1, hold="residual", est=((1,), (2,), (7,)), guard=None, first_week=0.0),
    ),
    (
        "+ week of residuals",
        "... over 7 days of residuals sampled every 10 minutes",
        dict(hold="residual", est=((1,), (2,), (7,)), guard=None, first_week=0.0),
    ),
    (
        "+ expected 1d, 1w",
        "... expected from 1d and 1w (2d until a week exists), the committed set",
        dict(hold="residual", guard=None, first_week=0.0),
    ),
    ("committed", "rules/config.yml", {}),
    ("no first-week floor", "without the 30 % floor before a week of history", dict(first_week=0.0)),
    (
        "presence by count",
        "hold needs 8 samples in 15 min instead of the signal 7 min ago",
        dict(guard="count"),
    ),
    ("residual hold", "hold on the 1-minute residual (needs a 4th series per signal)", dict(hold="residual")),
    (
        "one estimate alone",
        "with one day of history, yesterday alone instead of its mean with the recent level",
        dict(pair="alone"),
    ),
    ("no young state", "no expected value (so no residuals) before a day of history", dict(young=False)),
    ("expected 1d, 2d, 1w", "median of four: 1d, 2d, 1w and the recent level", dict(est=((1,), (2,), (7,)))),
    ("recent 60m", "recent level over 60 minutes", dict(recent=60)),
    ("clip 2", "residuals winsorised at 2 x the band", dict(clip=2.0)),
    ("asymmetric", "upper and lower band from their own tails", dict(asym=True)),
    ("k1.25", "spread_factor 1.25", dict(k=1.25)),
    ("k1.75", "spread_factor 1.75", dict(k=1.75)),
    ("k2", "spread_factor 2", dict(k=2.0)),
    ("tail 0.995", "tail_quantile 0.995", dict(tail=0.995)),
    ("tail 0.975 k1.75", "tail_quantile 0.975, spread_factor 1.75", dict(tail=0.975, k=1.75)),
    ("tail 0.95 k2.5", "tail_quantile 0.95, spread_factor 2.5", dict(tail=0.95, k=2.5)),
    ("history 3d", "residual_history 3d", dict(W=3 * DAY)),
    ("history 14d", "residual_history 14d", dict(W=14 * DAY)),
    (
        "same hours",
        "1.5 x median over 7 days of the largest residual in the same 2 hours",
        dict(spread="days"),
    ),
    ("floor 5 %", "relative_floor 0.05", dict(rel=0.05)),
    ("floor 20 %", "relative_floor 0.2", dict(rel=0.2)),
    ("hold 10m", "hold_window 10m", dict(N=10)),
    ("hold 30m", "hold_window 30m", dict(N=30)),
    ("hold 15m for 0", "no `for` after the 15-minute hold", dict(F=0)),
    ("hold share 0.3", "hold_share 0.3, no `for`", dict(p=0.3, F=0)),
    ("one-sided", "upper side only", dict(sides="upper")),
]


def score(h, series: list, rule) -> dict:
    rows = []
    for s in series:
        act, hold = rule(s)
        ts = [int(s.t0 + 60 * i) for i in np.nonzero(act)[0]]
        episodes = h.merge_intervals(h.firing_episodes(ts, 60, hold * 60, 0), 60)
        rows.append(h.score_series(s, episodes, Args, 60))
    out = {"all": h.summarise(rows)}
    for role in sorted({r["role"] for r in rows}):
        out[role] = h.summarise([r for r in rows if r["role"] == role])
    return {
        k: {
            "recall": v["recall"],
            "detected": v["detected"],
            "windows": v["windows"],
            "fp_per_week": v["fp_episodes_per_week"],
            "nab": v["nab_score_onsets"]["standard"],
        }
        for k, v in out.items()
    }


def rule_for(name: str, options, feed: str):
    if options is None:
        ratio, absolute, two = (0.5, 0.01, False) if feed == "latency" else (0.3, 0.5, True)
        return lambda s: previous(s, ratio, absolute, two)
    extra = {"counting": 3.0} if feed == "requests" else {}
    return lambda s: committed(s, **{**extra, **options})


def render_docs(results: dict) -> list[str]:
    out = [
        "### Screened variants",
        "",
        "Every variant tried, in the order tried, with `bench/anomaly_screen.py` (the screening model "
        "above; latency feed, all 34 series). The first rows are the way to the committed design, "
        "the rest change one thing against it.",
        "",
        "| variant | what changes | recall | FP ep/week | NAB "
        "| NAB by data: artificial, machine, ratio, traffic |",
        "|---|---|---|---|---|---|",
    ]
    for name, why, _ in VARIANTS:
        r = results.get(name)
        if not r:
            continue
        a = r["all"]
        roles = ", ".join(f"{r[k]['nab']:.0f}" for k in ("artificial", "machine", "ratio", "traffic"))
        out.append(
            f"| `{name}` | {why} | {a['recall']:.2f} ({a['detected']}/{a['windows']}) "
            f"| {a['fp_per_week']:.2f} | {a['nab']:.1f} | {roles} |"
        )
    return out


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nab-dir", type=Path, default=SHARED / "data" / "nab-dev")
    parser.add_argument("--harness", type=Path, default=SHARED / "tools" / "nab")
    parser.add_argument("--feed", choices=("latency", "requests"), default="latency")
    parser.add_argument("--only", action="append", default=[], help="variant name (repeatable)")
    parser.add_argument("--json", type=Path, default=None, help="results file, reused across runs")
    parser.add_argument("--write-docs", action="store_true")
    args = parser.parse_args(argv)
    h = load_harness(args.harness)
    series = load(h, args.nab_dir, args.feed)
    results = json.loads(args.json.read_text()) if args.json and args.json.exists() else {}
    for name, _, options in VARIANTS:
        if (args.only and name not in args.only) or name in results:
            continue
        began = time.time()
        results[name] = score(h, series, rule_for(name, options, args.feed))
        a = results[name]["all"]
        print(
            f"{name:22} recall {a['recall']:.2f} ({a['detected']}/{a['windows']})"
            f"  FP/week {a['fp_per_week']:.2f}  NAB {a['nab']:6.1f}   [{time.time() - began:.0f} s]",
            flush=True,
        )
        if args.json:
            args.json.write_text(json.dumps(results, indent=1))
    if args.write_docs:
        text = DOC.read_text()
        section = "\n".join(render_docs(results))
        head, rest = text.split(BEGIN, 1)
        text = f"{head}{BEGIN}\n{section}\n{END}{rest.split(END, 1)[1]}"
        DOC.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
