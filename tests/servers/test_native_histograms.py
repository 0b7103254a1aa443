"""Native histograms read through a target's kept bucket plans give what a plain grouping gives.

``servers/_native.histograms`` groups a page's bucket samples by a plan made from an earlier
page of the same target (``Exposition.plans``) while the page's bucket label sets stay the
same; ``Builder.histogram`` takes a series' buckets whole or adds them in one step when their
bounds allow. Generated targets (seeded; a failure names its seed and page) send a few pages
in a row whose series come and go, change bounds, repeat or interleave lines, lose ``le`` or
carry one that is no number; every page is read at several scales, through both parsers, and
compared with the plain grouping computed here from the samples.
"""

from __future__ import annotations

import math
import random

import pytest
from inference_exporter import parser
from inference_exporter.builder import Builder
from inference_exporter.servers._native import MICROSECONDS, MILLISECONDS, SECONDS, histograms, scaled

PARSERS = [pytest.param(parser.parse_python, id="python")]
if parser.COMPILED:
    PARSERS.append(pytest.param(parser.parse, id="compiled"))

BOUNDS = ["0.005", "0.01", "0.1", "0.5", "1", "2.5", "10", "+Inf", "1e3", "25000"]


def _plain(exp: parser.Exposition, name: str, scale: float) -> list:
    """The grouping without plans: labels without ``le``, (bound, count) in page order."""
    groups: dict[tuple, list] = {}
    for labels, value in exp.get(name + "_bucket"):
        try:
            bound = float(labels["le"])
        except (KeyError, ValueError):
            continue
        if scale != SECONDS and bound != math.inf:
            bound = scaled(bound, scale)
        groups.setdefault(tuple(kv for kv in labels.items() if kv[0] != "le"), []).append((bound, value))
    sums = {tuple(lbl.items()): v for lbl, v in exp.get(name + "_sum")}
    counts = {tuple(lbl.items()): v for lbl, v in exp.get(name + "_count")}
    found = []
    for key, buckets in groups.items():
        count = counts.get(key)
        if count is None:
            inf = [c for b, c in buckets if b == math.inf]
            count = inf[0] if inf else max(c for _, c in buckets)
        found.append((dict(key), buckets, scaled(sums.get(key, 0.0), scale), count))
    return found


def _series(rng: random.Random) -> list[dict]:
    """A target's histogram series: labels and bounds."""
    series = []
    for i in range(rng.randint(0, 5)):
        labels = {"model": rng.choice(["a", "b", "c"]), "engine": str(i % 2)}
        if rng.random() < 0.3:
            labels = {"model": labels["model"]}  # two engines' series may fold into one
        bounds = sorted(rng.sample(BOUNDS, rng.randint(1, len(BOUNDS))), key=float)
        series.append({"labels": labels, "bounds": bounds})
    return series


def _page(rng: random.Random, series: list[dict]) -> str:
    lines = ["# TYPE lat histogram"]
    bucket_lines = []
    for s in series:
        text = ",".join(f'{k}="{v}"' for k, v in sorted(s["labels"].items()))
        sep = "," if text else ""
        run = []
        for b in s["bounds"]:
            le = b if rng.random() > 0.02 else rng.choice(["abc", ""])
            run.append(f'lat_bucket{{{text}{sep}le="{le}"}} {rng.randint(0, 50)}')
        if rng.random() < 0.05:
            run.append(rng.choice(run))  # a repeated line
        if rng.random() < 0.05:
            run.append(f"lat_bucket{{{text}}} 3")  # no le
        bucket_lines.append(run)
        if rng.random() < 0.9:
            lines.append(f"lat_sum{{{text}}} {rng.uniform(0, 100)}")
        if rng.random() < 0.8:
            lines.append(f"lat_count{{{text}}} {rng.randint(0, 60)}")
    if rng.random() < 0.2:  # two series' lines interleaved
        flat = [line for run in bucket_lines for line in run]
        rng.shuffle(flat)
        bucket_lines = [flat]
    for run in bucket_lines:
        lines.extend(run)
    return "\n".join(lines) + "\n"


def _same(a: list, b: list, where: str) -> None:
    assert repr(a) == repr(b), where  # repr: NaN equals NaN, 0.0 differs from -0.0


@pytest.mark.parametrize("budget", [parser.LabelCache.BUDGET, 0], ids=["cached", "budget-spent"])
@pytest.mark.parametrize("parse", PARSERS)
def test_plans_give_the_plain_grouping(parse, budget, monkeypatch):
    monkeypatch.setattr(parser.LabelCache, "BUDGET", budget)
    for seed in range(300):
        rng = random.Random(seed)
        series = _series(rng)
        cache = parser.LabelCache()
        resets = parser.ResetTracker()
        for page_no in range(6):
            if rng.random() < 0.3:
                series = _series(rng)  # the target's series changed
            elif series and rng.random() < 0.3:
                bounds = rng.choice(series)["bounds"]
                del bounds[: len(bounds) > 1]  # one series lost a bucket
            text = _page(rng, series)
            exp = parse(text.encode(), label_cache=cache, resets=resets)
            resets.commit()
            for scale in rng.sample([SECONDS, MILLISECONDS, MICROSECONDS], 2):
                where = f"seed {seed}, page {page_no}, scale {scale}:\n{text}"
                _same(list(histograms(exp, "lat", scale)), _plain(exp, "lat", scale), where)
            # A plan holds the label sets it was made from: kept only where the cache holds them.
            assert (exp.plans is cache.plans) == (budget > 0), where


@pytest.mark.parametrize("parse", PARSERS)
def test_a_target_past_the_label_budget_keeps_no_plans(parse, monkeypatch):
    """Past the label cache's budget a page's label sets are parsed anew each time (a kept plan
    would hold them: a page's worth per target), and a fleet that spent the budget keeps no plans
    (a few KB a target): none is kept."""
    page = _page(random.Random(1), [{"labels": {"model": "a"}, "bounds": ["0.1", "+Inf"]}]).encode()
    cache = parser.LabelCache()
    exp = parse(page, label_cache=cache)
    list(histograms(exp, "lat"))
    assert cache.plans and exp.plans is cache.plans
    monkeypatch.setattr(parser.LabelCache, "BUDGET", 0)
    exp = parse(page.replace(b'model="a"', b'model="b"'), label_cache=cache)
    list(histograms(exp, "lat"))
    assert not cache.plans and exp.plans is not cache.plans


def _added_plainly(calls: list) -> dict:
    """Builder.histogram's sums, bucket by bucket."""
    found: dict = {}
    for key, buckets, total, count in calls:
        h = found.setdefault(key, [{}, 0.0, 0.0])
        for le, c in buckets:
            h[0][le] = h[0].get(le, 0.0) + c
        h[1] += total
        h[2] += count
    for h in found.values():
        h[0].setdefault(math.inf, h[2])
        h[0] = sorted(h[0].items())
    return found


def test_builder_adds_buckets_as_bucket_by_bucket():
    for seed in range(500):
        rng = random.Random(seed)
        calls = []
        for _ in range(rng.randint(1, 6)):
            bounds = [float(b) for b in rng.sample(BOUNDS, rng.randint(0, 6))]
            if bounds and rng.random() < 0.2:
                bounds.append(rng.choice(bounds))  # a bound twice
            if rng.random() < 0.7:
                bounds.sort()
            buckets = [(b, float(rng.randint(0, 9))) for b in bounds]
            calls.append((rng.choice(["a", "b"]), buckets, rng.uniform(0, 5), float(rng.randint(0, 9))))
        out = Builder()
        for model, buckets, total, count in calls:
            given = iter(buckets) if rng.random() < 0.1 else buckets  # any iterable, not only a list
            out.histogram("inference_request_duration_seconds", given, total, count, model)
        snap = out.finish()
        got = {
            key[0]: [sorted(h.buckets.items()), h.sum, h.count]
            for key, h in snap.histograms.get("inference_request_duration_seconds", {}).items()
        }
        _same(sorted(got.items()), sorted(_added_plainly(calls).items()), f"seed {seed}: {calls}")
