"""Generated topologies x faults through the shipped rules (promtool), checked against invariants.

SCENARIO_SEED and SCENARIO_CASES (environment) change the draw; a failing case prints its
seed, index and topology, and `python tests/scenarios/run.py --seed S --cases N` replays it.
The routing invariants (I2, I3) run against a real Prometheus and Alertmanager in
`test_generated_routing.py`; the larger run is `bench/alert_scenarios.py`.
"""

from __future__ import annotations

import os
import shutil

import pytest

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


@pytest.mark.parametrize("index", range(len(SCENARIOS)), ids=[sc.id for sc in SCENARIOS])
def test_invariants_hold(outcome, index):
    sc = SCENARIOS[index]
    problems = outcome.problems[sc.id]
    assert not problems, sc.describe() + "\n" + "\n".join(problems)


def test_the_checks_see_the_alerts_they_judge(outcome):
    """A run where nothing fires would pass every invariant: most faults must be seen firing."""
    seen = [sc for sc in SCENARIOS if outcome.fired[sc.id]]
    assert len(seen) > 0.8 * len(SCENARIOS), f"only {len(seen)} of {len(SCENARIOS)} scenarios fired anything"
