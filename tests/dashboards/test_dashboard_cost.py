"""Query cost of every panel, in a real Prometheus over a synthetic fleet with the rule pack
(bench/dashboard_fleet.py): two clusters of 10 and 40 models in one Prometheus, measured one
cluster at a time. Every panel stays within its budget at both sizes
(grafana-dashboards/query_cost.py), and the model dashboard's panels cost the same whatever the
fleet size. bench/dashboard_cost.py runs the same measurement at 1,000 models for the table in
docs/dashboards.md; its committed figures must cover exactly today's panels, within budget.
"""

from __future__ import annotations

import json

import pytest
from board_walk import DASHBOARD_DIR, ROOT, load, panels_of
from inference_devtools import dashboard_fleet, query_cost
from inference_devtools.prom import Prometheus

BOARDS = load()
FLEET = {"small": 10, "large": 40}
MODEL = "model-0002"  # a generative model (vLLM) with one version in both clusters


@pytest.fixture(scope="module")
def costs(tmp_path_factory) -> dict[str, list[dashboard_fleet.Cost]]:
    workdir = tmp_path_factory.mktemp("dashboard-cost")
    server = dashboard_fleet.FleetServer(FLEET)
    prom = Prometheus(workdir / "prometheus", dashboard_fleet.prometheus_config(workdir, server.address, 2))
    try:
        dashboard_fleet.wait_for_rules(prom.url, FLEET, timeout=180)
        return {
            cluster: [
                c
                for uid, board in BOARDS.items()
                for c in dashboard_fleet.dashboard_costs(
                    prom.url, board, cluster, MODEL, uid in query_cost.ONE_MODEL_DASHBOARDS
                )
            ]
            for cluster in FLEET
        }
    finally:
        prom.close()
        server.close()


pytestmark = pytest.mark.prometheus


@pytest.mark.parametrize("cluster", sorted(FLEET))
def test_every_panel_stays_within_its_budget(costs, cluster):
    models = FLEET[cluster]
    over = [
        f"{c.dashboard} / {c.panel}: {c.series} series, budget {query_cost.budget(c.dashboard, models)}"
        for c in costs[cluster]
        if c.series > query_cost.budget(c.dashboard, models)
    ]
    assert not over, "\n".join(over)


def test_the_measurement_sees_the_fleet(costs):
    # A cost check that touched nothing would pass any budget: the busiest panels must grow
    # with the fleet, and the model dashboard must read its model's series.
    small = {(c.dashboard, c.panel): c.series for c in costs["small"]}
    large = {(c.dashboard, c.panel): c.series for c in costs["large"]}
    assert large[("inference-fleet", "Request rate")] == FLEET["large"]
    assert small[("inference-fleet", "Request rate")] == FLEET["small"]
    assert small[("inference-model", "Requests/s by version and outcome")] > 0


def test_model_dashboard_cost_does_not_grow_with_the_fleet(costs):
    def per_panel(cluster: str) -> dict[str, int]:
        return {c.panel: c.series for c in costs[cluster] if c.dashboard in query_cost.ONE_MODEL_DASHBOARDS}

    assert per_panel("small") == per_panel("large")


def test_committed_1000_model_figures_cover_todays_panels_within_budget():
    run = json.loads(query_cost.MEASURED.read_text())
    measured = {(c["dashboard"], c["panel"]) for c in run["costs"]}
    current = {(uid, p["title"]) for uid, board in BOARDS.items() for p in panels_of(board)}
    assert measured == current, (
        f"stale {query_cost.MEASURED.relative_to(ROOT)}: rerun python bench/dashboard_cost.py\n"
        f"missing: {sorted(current - measured)}\ngone: {sorted(measured - current)}"
    )
    over = [c for c in run["costs"] if c["series"] > query_cost.budget(c["dashboard"], run["models"])]
    assert run["models"] == 1000 and not over, over
    assert (DASHBOARD_DIR.parent / "docs" / "dashboards.md").read_text().count(" | ") > len(measured)
