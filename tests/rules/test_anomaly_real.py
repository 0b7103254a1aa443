"""Regression guard on labelled real data: the latency and request-rate anomaly alerts on a few
short series of the NAB development split (bench/anomaly_real.py --subset quick: artificial daily
cycles with jumps and a flat stretch, one without anomalies, an autoscaling group's CPU), scored
by the shared harness in a real Prometheus. They must beat every baseline of the same run by a
clear margin, find most windows and raise few false positives. The full figures are in
docs/alert-quality.md ("Real data")."""

from __future__ import annotations

import json

import pytest
from inference_devtools import repo

repo.use("bench")
pytestmark = pytest.mark.prometheus

import anomaly_real  # noqa: E402

# Acceptance floors of the guard (the goals for held-out data, on this small subset).
MIN_RECALL, MAX_FP_PER_WEEK, MIN_LEAD_OVER_BASELINES = 0.6, 1.5, 10.0


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    # The shared data and harness sit beside the project for every developer and CI run.
    for path in (anomaly_real.SHARED / "data" / "nab-dev", anomaly_real.SHARED / "tools" / "nab"):
        assert path.is_dir(), f"{path} missing"
    out = tmp_path_factory.mktemp("real") / "summary.json"
    args = ["--subset", "quick", "--alerts", "latency,requests", "--variants", "final", "--json", str(out)]
    assert anomaly_real.main(args) == 0
    return json.loads(out.read_text())


@pytest.mark.parametrize("alert", ["latency", "requests"])
def test_beats_every_baseline_with_few_false_positives(quick, alert):
    baselines = [r for r in quick["latency"]["rows"] if r["name"].startswith("baseline")]
    assert len(baselines) == 5, baselines
    [final] = [r for r in quick[alert]["rows"] if r["name"] == "final"]
    best = max(baselines, key=lambda r: r["nab"])
    assert final["nab"] >= best["nab"] + MIN_LEAD_OVER_BASELINES, (final, best)
    assert final["recall"] >= MIN_RECALL, final
    assert final["fp_per_week"] <= MAX_FP_PER_WEEK, final
