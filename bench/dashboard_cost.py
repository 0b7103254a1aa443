#!/usr/bin/env python3
"""Query cost of every dashboard panel at 1,000 models, in a real Prometheus.

    python bench/dashboard_cost.py                 # 1,000 models; writes the figures for docs
    python bench/dashboard_cost.py --models 200 --no-write

Starts a synthetic fleet (bench/dashboard_fleet.py) and Prometheus with the rule pack, waits
until the recording rules cover every model, then runs each panel's queries and prints the
series and samples each touches against its budget (grafana-dashboards/query_cost.py). The
figures go to grafana-dashboards/query-cost/fleet-1000.json; regenerate docs/dashboards.md
with `python grafana-dashboards/generate.py` afterwards.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from inference_devtools import dashboard_fleet, query_cost
from inference_devtools.prom import Prometheus
from inference_devtools.repo import ROOT


def boards() -> dict[str, dict]:
    return {p.stem: json.loads(p.read_text()) for p in sorted((ROOT / "grafana-dashboards").glob("*.json"))}


def measure(url: str, cluster: str, model: str) -> list[dashboard_fleet.Cost]:
    out = []
    for uid, board in boards().items():
        one_model = uid in query_cost.ONE_MODEL_DASHBOARDS
        out += dashboard_fleet.dashboard_costs(url, board, cluster, model, one_model)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", type=int, default=1000)
    ap.add_argument("--interval", type=int, default=15, help="scrape and rule interval, seconds")
    ap.add_argument("--no-write", action="store_true", help="print only")
    args = ap.parse_args(argv)
    fleet = {"bench": args.models}
    with tempfile.TemporaryDirectory(prefix="dashboard-cost-") as tmp:
        server = dashboard_fleet.FleetServer(fleet)
        config = dashboard_fleet.prometheus_config(Path(tmp), server.address, args.interval)
        prom = Prometheus(Path(tmp) / "prometheus", config)
        try:
            started = time.monotonic()
            print(f">> {args.models} models: waiting for the recording rules to cover them", flush=True)
            dashboard_fleet.wait_for_rules(prom.url, fleet, timeout=30 * args.interval + 600)
            took = time.monotonic() - started
            print(f">> rules ready after {took:.0f} s; measuring every panel", flush=True)
            series = dashboard_fleet.query(prom.url, "count({__name__=~'.+'})")["result"][0]["value"][1]
            costs = measure(prom.url, "bench", "model-0002")
        finally:
            prom.close()
            server.close()
    version = subprocess.run(["prometheus", "--version"], capture_output=True, text=True).stdout.split()[2]
    over = 0
    print(f"{'dashboard':<22} {'panel':<70} {'series':>7} {'samples':>9} {'budget':>7}")
    for c in costs:
        limit = query_cost.budget(c.dashboard, args.models)
        over += c.series > limit
        flag = "  OVER" if c.series > limit else ""
        print(f"{c.dashboard:<22} {c.panel[:70]:<70} {c.series:>7} {c.samples:>9} {limit:>7}{flag}")
    worst = max(costs, key=lambda c: c.series / query_cost.budget(c.dashboard, args.models))
    limit = query_cost.budget(worst.dashboard, args.models)
    print(
        f"\n{len(costs)} panels, {series} series in Prometheus; {over} over budget; closest to it: "
        f"{worst.dashboard} / {worst.panel} ({worst.series} of {limit})"
    )
    if not args.no_write:
        run = {
            "command": f"python bench/dashboard_cost.py{f' --models {args.models}' * (args.models != 1000)}",
            "models": args.models,
            "prometheus": f"Prometheus {version}",
            "fleet": f"{series} series; bentoml, triton and vllm in turn, one model in ten with two "
            f"versions, {dashboard_fleet.TARGETS_PER_EXPORTER} targets per exporter",
            "costs": [c.__dict__ for c in costs],
        }
        query_cost.MEASURED.write_text(json.dumps(run, indent=2) + "\n")
        print(f"wrote {query_cost.MEASURED.relative_to(ROOT)}; now run python grafana-dashboards/generate.py")
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main())
