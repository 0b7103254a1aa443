"""Generated topologies x faults through the shipped rules (promtool), checked against invariants.

SCENARIO_SEED and SCENARIO_CASES (environment) change the draw; a failing case prints its
seed, index and topology, and `python tests/scenarios/run.py --seed S --cases N` replays it.
I2 (no inhibition by a less severe or another team's alert) is checked for every scenario by
posting what fired to a real Alertmanager (`inhibitions.py`); the timed routing invariants
(I1 delivery, I3) run a real Prometheus and Alertmanager in `test_generated_routing.py`. The
larger run is `bench/alert_scenarios.py`.
"""

from __future__ import annotations

import os
import shutil

import pytest

from scenarios import inhibitions
from scenarios.invariants import EXPECTED
from scenarios.run import check_all
from scenarios.topology import FAULTS, generate

pytestmark = pytest.mark.prometheus

SEED = int(os.environ.get("SCENARIO_SEED", "12"))
CASES = int(os.environ.get("SCENARIO_CASES", "210"))
SCENARIOS = generate(SEED, CASES)
FEATURES = (
    "canary_version",
    "two_layouts",
    "ha_pair",
    "shared_name",
    "fresh_prometheus",
    "server_restart",
    "exporter_restart",
    "events_born_at_first_event",
    "mass_outage",
)


@pytest.fixture(scope="module")
def outcome():
    assert shutil.which("promtool"), "promtool missing: run 'make test'"
    return check_all(SCENARIOS, workers=2)


def test_the_draw_covers_every_topology_feature_and_fault():
    assert len(SCENARIOS) >= 200
    kinds = {sc.fault.kind for sc in SCENARIOS}
    assert kinds == set(FAULTS), set(FAULTS) - kinds
    features = {f for sc in SCENARIOS for f in sc.features}
    assert set(FEATURES) <= features, set(FEATURES) - features
    replicas = {m.replicas for sc in SCENARIOS for m in sc.models}
    assert set(range(1, 6)) <= replicas
    assert set(EXPECTED) <= kinds


@pytest.fixture(scope="module")
def held_back(outcome, tmp_path_factory):
    """I2 for every scenario: (violations per scenario id, how many alerts were inhibited)."""
    return inhibitions.check(outcome, tmp_path_factory.mktemp("inhibitions"))


@pytest.mark.parametrize("index", range(len(SCENARIOS)), ids=[sc.id for sc in SCENARIOS])
def test_invariants_hold(outcome, held_back, index):
    sc = SCENARIOS[index]
    problems = outcome.problems[sc.id] + held_back[0][sc.id]
    assert not problems, sc.describe() + "\n" + "\n".join(problems)


def test_i2_judged_something(held_back):
    """Scenarios with a whole model down or a critical beside a ticket make Alertmanager inhibit."""
    violations, inhibited = held_back
    assert inhibited > 0, "no generated alert was ever inhibited"
    assert set(violations) == {sc.id for sc in SCENARIOS}, set(violations) - {sc.id for sc in SCENARIOS}


def test_the_checks_see_the_alerts_they_judge(outcome):
    """A run where nothing fires would pass every invariant: most faults must be seen firing."""
    seen = [sc for sc in SCENARIOS if outcome.fired[sc.id]]
    assert len(seen) > 0.8 * len(SCENARIOS), f"only {len(seen)} of {len(SCENARIOS)} scenarios fired anything"
