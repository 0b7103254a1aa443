"""I2 over every generated scenario, not only the few of the routing run: the alerts promtool
saw firing from each fault on, all posted at once to one real Alertmanager with the committed
config (scenarios have their own namespaces, so they cannot meet). Everything it inhibits must
be held back by alerts at least as severe and of the same team.

Posting every alert of a scenario as if all fired together makes more pairs meet than the
timeline did: a stricter check of the inhibition rules, never a looser one.
"""

from __future__ import annotations

import time
from pathlib import Path

from inference_devtools import repo

from .run import Outcome

repo.use("tests/alertmanager")

SEVERITY = {"info": 0, "warning": 1, "critical": 2}


def _post(fired: dict[str, list], am) -> int:
    alerts = []
    for firings in fired.values():
        for x in firings:
            labels = {k: v for k, v in x.labels.items() if v}
            alerts.append({"labels": labels, "annotations": {"summary": x.alertname}})
    for i in range(0, len(alerts), 500):
        am.post_alerts(alerts[i : i + 500])
    return len({tuple(sorted(a["labels"].items())) for a in alerts})


def check(outcome: Outcome, workdir: Path) -> tuple[dict[str, list[str]], int]:
    """(I2 violations per scenario id, how many alerts were inhibited)."""
    from amstack import Alertmanager, StandIn, config_for_tests, wait_for

    problems: dict[str, list[str]] = {sc.id: [] for sc in outcome.scenarios}
    by_namespace = {sc.namespace: sc.id for sc in outcome.scenarios}
    standin = StandIn(workdir)
    am = Alertmanager(workdir, config_for_tests(workdir, standin.url))
    try:
        posted = _post(outcome.fired, am)
        wait_for(
            f"{posted} alerts in Alertmanager",
            lambda: len(am.get("/api/v2/alerts").json()) >= posted,
            30,
            am.log_tail,
        )
        time.sleep(2)  # the inhibitor learns its sources asynchronously
        alerts = am.get("/api/v2/alerts").json()
    finally:
        am.stop()
        standin.close()
    by_fp = {a["fingerprint"]: a["labels"] for a in alerts}
    inhibited = 0
    for a in alerts:
        target = a["labels"]
        sources = [by_fp[fp] for fp in a["status"]["inhibitedBy"] if fp in by_fp]
        inhibited += bool(sources)
        for source in sources:
            where = problems.setdefault(by_namespace.get(target.get("namespace"), "?"), [])
            if SEVERITY.get(source.get("severity"), 0) < SEVERITY.get(target.get("severity"), 0):
                where.append(f"I2 {_who(target)} held back by a less severe {_who(source)}")
            if source.get("team") != target.get("team"):
                where.append(f"I2 {_who(target)} held back by another team's {_who(source)}")
    return problems, inhibited


def _who(labels: dict) -> str:
    keys = ("team", "model", "target", "instance", "severity")
    return labels["alertname"] + "{" + ", ".join(f"{k}={labels[k]}" for k in keys if k in labels) + "}"
