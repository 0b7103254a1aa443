"""The query-cost budget of the dashboards, and its table in docs/dashboards.md.

Cost is the number of series a panel's queries touch (the series their selectors match,
all queries of the panel together), measured in a real Prometheus over a synthetic fleet
(bench/dashboard_cost.py; tests/dashboards/test_dashboard_cost.py on a small fleet). The
budget holds for any fleet size:

* a panel of the model dashboard, which shows exactly one model, touches at most
  MODEL_PANEL_BUDGET series, however many models the fleet has;
* any other panel touches at most PER_MODEL series per model in the fleet plus FIXED
  (8,050 at 1,000 models): it reads the rule pack's one-series-per-model recordings, or a
  few raw series per target; repeated panels count once per repeat.
"""

from __future__ import annotations

import json
from pathlib import Path

from .repo import ROOT

MEASURED = ROOT / "grafana-dashboards" / "query-cost" / "fleet-1000.json"
MODEL_PANEL_BUDGET = 200
PER_MODEL = 8
FIXED = 50
ONE_MODEL_DASHBOARDS = frozenset({"inference-model"})


def budget(dashboard: str, models: int) -> int:
    if dashboard in ONE_MODEL_DASHBOARDS:
        return MODEL_PANEL_BUDGET
    return PER_MODEL * models + FIXED


def table(path: Path = MEASURED) -> str:
    """The measured per-panel cost as a Markdown section (empty when nothing was measured)."""
    if not path.exists():
        return ""
    run = json.loads(path.read_text())
    models = run["models"]
    lines = [
        f"\n## Query cost at {models:,} models\n\n",
        "Series each panel's queries touch (the series their selectors match) and samples "
        "Prometheus loaded for them (query stats, instant query), measured with "
        f"`{run['command']}`: a real Prometheus ({run['prometheus']}) scraping a synthetic fleet "
        f"of {models:,} models ({run['fleet']}) with the rule pack loaded. Variables at All, except "
        "the model dashboard's `model` (one model) and a repeated panel's variable (one value: "
        "the cost is per repeat). Budget: "
        f"{MODEL_PANEL_BUDGET} series for a model-dashboard panel, {PER_MODEL} per model + {FIXED} "
        f"({budget('', models):,}) for any other panel (`devtools/inference_devtools/query_cost.py`). "
        "0 means the fleet has no such series (no GPU, canary or alert).\n\n",
        "| Dashboard | Panel | Series | Samples | Budget |\n|---|---|---:|---:|---:|\n",
    ]
    for c in run["costs"]:
        title = c["panel"].replace("|", "\\|") + (f" (per {c['repeated']})" if c["repeated"] else "")
        over = " **over**" if c["series"] > budget(c["dashboard"], models) else ""
        lines.append(
            f"| {c['dashboard']} | {title} | {c['series']:,}{over} | {c['samples']:,} | "
            f"{budget(c['dashboard'], models):,} |\n"
        )
    return "".join(lines)
