"""Counter accounting (counters.ResetTracker), as properties over generated expositions: whatever
a target sends (resets, duplicate series, NaN, infinities, negative values), the value served
for a native counter is finite and never goes down, and a clean series is served as sent."""

from __future__ import annotations

import math
import os
import random

import pytest
from inference_exporter import parser

SEED = int(os.environ.get("COUNTERS_SEED", "14"))
HOSTILE = (math.nan, math.inf, -math.inf, -42.0)


def _exposition(values: dict[str, list[float]]) -> str:
    lines = ["# TYPE c counter"]
    for series, samples in values.items():
        lines += [f'c_total{{s="{series}"}} {v}' for v in samples]
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("case", range(40))
def test_served_counters_are_finite_and_monotonic_whatever_the_target_sends(case):
    rng = random.Random(SEED * 1000 + case)
    tracker = parser.ResetTracker()
    raw = {s: 0.0 for s in "abc"}
    served: dict[str, float] = {}
    for _ in range(30):
        values: dict[str, list[float]] = {}
        for series in raw:
            if rng.random() < 0.1:
                raw[series] = rng.uniform(0, 5)  # a restart of the target
            else:
                raw[series] += rng.uniform(0, 10)
            samples = [raw[series]]
            if rng.random() < 0.2:
                samples.append(rng.uniform(0, 1000))  # a duplicate series with another value
            if rng.random() < 0.2:
                samples = [rng.choice(HOSTILE)]
            values[series] = samples
        exp = parser.parse(_exposition(values), resets=tracker)
        tracker.commit()
        seen = {labels["s"]: v for labels, v in exp.get("c_total")}
        assert len(seen) == len(exp.get("c_total")), f"seed {SEED}, case {case}: a duplicate was served"
        for series, value in seen.items():
            assert math.isfinite(value) and value >= 0, f"seed {SEED}, case {case}: {series}={value}"
            assert value >= served.get(series, 0.0), f"seed {SEED}, case {case}: {series} went down"
            served[series] = value


def test_a_clean_series_is_served_as_sent_and_resets_add_up():
    tracker = parser.ResetTracker()
    got = []
    for value in (5, 9, 2, 4):  # a restart after 9
        exp = parser.parse(_exposition({"a": [value]}), resets=tracker)
        tracker.commit()
        got.append(exp.get("c_total")[0][1])
    assert got == [5, 9, 11, 13]


def test_drops_are_counted_by_reason():
    tracker = parser.ResetTracker()
    parser.parse(_exposition({"a": [1, 2], "b": [math.inf], "c": [-1], "d": [math.nan]}), resets=tracker)
    assert tracker.dropped == {"duplicate": 1, "non_finite": 2, "negative": 1}
