"""Scenario: eight days of synthetic traffic with injected faults, replayed through the rule
pack in a real Prometheus (backfilled TSDB). Each fault must fire its alert in time; the
fault-free days must not page. bench/alert_quality.py prints the same run's figures."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from inference_devtools import repo

ROOT = Path(__file__).resolve().parents[2]
repo.use("bench")

pytestmark = pytest.mark.prometheus


@pytest.fixture(scope="module", autouse=True)
def _tools():
    # A missing tool is a broken test machine, not a reason to pass quietly.
    missing = [tool for tool in ("prometheus", "promtool") if not shutil.which(tool)]
    assert not missing, f"{missing} not installed: run make test"


@pytest.fixture(scope="module")
def scored(tmp_path_factory):
    import scenario

    work = tmp_path_factory.mktemp("scenario")
    data = work / "scenario.om"
    sc = scenario.generate(data)
    results, run = scenario.replay(work / "prometheus", data, sc)
    try:
        yield scenario.score(results, sc), sc
    finally:
        run.stop()


def test_every_fault_fires_its_alert_in_time(scored):
    score, _ = scored
    report = {d.fault.name: (d.alert, d.seconds, d.fault.deadline) for d in score["detections"]}
    missed = {name: r for name, r in report.items() if r[1] is None}
    assert not missed, f"missed within deadline: {missed}; all: {report}"


def test_page_faults_page_within_their_deadline(scored):
    """A hard failure pages within 5 minutes; a softer one (a 4% error deploy spends less than
    the fast window's 0.5% of the budget in 5 minutes) within its own deadline."""
    score, _ = scored
    slow = {
        d.fault.name: (d.first_page, d.page_seconds)
        for d in score["detections"]
        if d.fault.page and (d.page_seconds is None or d.page_seconds > d.fault.deadline)
    }
    assert not slow, slow


def test_fault_free_days_do_not_page(scored):
    score, _ = scored
    assert not score["false_pages"], score["false_pages"]


def test_at_most_one_false_ticket_per_model_and_week(scored):
    score, _ = scored
    assert score["false_tickets_per_model_week"] <= 1, score["false_tickets"]
