"""The runbooks say how each alert reaches people, as the committed Alertmanager config does it
(issue 12: pages grouped per alert name, team and namespace, the rest of a mass outage counted, @here only
for new pages, quiet hours delay tickets, and which causes hold an alert back)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
RUNBOOKS = ROOT / "docs" / "runbooks"
AM = yaml.safe_load((ROOT / "alertmanager" / "alertmanager.yml").read_text())
ALERTS = {
    r["alert"]: r
    for f in sorted((ROOT / "rules").glob("*.yml"))
    if f.name != "config.yml"
    for g in yaml.safe_load(f.read_text())["groups"]
    for r in g["rules"]
    if "alert" in r
}


def delivery(alert: str) -> str:
    page = (RUNBOOKS / f"{alert}.md").read_text()
    assert "## How it reaches you" in page, f"{alert}: no delivery section"
    return page.split("## How it reaches you", 1)[1].split("\n## ", 1)[0]


def page_group_by() -> set[tuple[str, ...]]:
    def walk(route):
        for child in route.get("routes", []):
            if 'severity="critical"' in child.get("matchers", []):
                yield tuple(child["group_by"])
            yield from walk(child)

    return set(walk(AM["route"]))


@pytest.mark.parametrize("alert", sorted(ALERTS))
def test_every_runbook_says_how_its_alert_is_delivered(alert):
    text = delivery(alert)
    severity = ALERTS[alert]["labels"]["severity"]
    if alert == "InferenceModelAffected":
        assert "routed nowhere" in text
    elif severity == "critical":
        (group_by,) = page_group_by()  # one page grouping for every team
        assert set(group_by) == {"alertname", "cluster", "namespace", "team"}
        assert f"One message per {', '.join(group_by)}, whatever the model" in text
        assert "counts the rest" in text and "`@here` is added only when a page is new" in text
    elif severity == "warning":
        assert "held, not dropped" in text


def test_a_not_ready_ticket_holds_no_page_back_in_any_runbook():
    """Defect 1 as the runbooks tell it: no page lists InferenceModelNotReady as what holds it."""
    for alert, rule in ALERTS.items():
        if rule["labels"]["severity"] == "critical":
            assert "InferenceModelNotReady" not in delivery(alert), alert


def test_model_pages_wait_only_behind_causes_of_the_whole_model():
    """Defect 2 as the runbooks tell it: a down target or exporter holds a model's page back
    only with scope="model", and always within the same team."""
    text = delivery("InferenceTrafficDrop")
    assert 'InferenceModelAffected{cause=~"InferenceTargetDown|InferenceExporterDown", scope="model"}' in text
    held = [line for line in text.splitlines() if line.startswith("- ")]
    assert held and all("team" in line.split("with the same", 1)[1] for line in held), held
