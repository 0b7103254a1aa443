"""The inhibition and grouping principles of rules/README.md, read from alertmanager.yml and
the rendered rule pack (the generated scenarios check the same at run time: I2, I3)."""

from __future__ import annotations

import re

import pytest
import yaml
from amstack import CONFIG, REPO

SEVERITY = {"info": 0, "warning": 1, "critical": 2}


def pack_alerts() -> dict[str, set[str]]:
    """Alert name -> the severities its rules give it."""
    out: dict[str, set[str]] = {}
    for path in sorted((REPO / "rules").glob("*.yml")):
        if path.name == "config.yml":
            continue
        for group in yaml.safe_load(path.read_text())["groups"]:
            for rule in group["rules"]:
                if "alert" in rule:
                    out.setdefault(rule["alert"], set()).add(rule["labels"]["severity"])
    return out


ALERTS = pack_alerts()
RULES = yaml.safe_load(CONFIG.read_text())["inhibit_rules"]


def matched(matchers: list[str]) -> set[str]:
    """The pack's severities of the alerts a side of an inhibit rule can match."""
    names, severities = set(ALERTS), set(SEVERITY)
    for m in matchers:
        label, op, value = re.match(r'(\w+)(=~|=)"(.*)"', m).groups()
        pattern = value if op == "=~" else re.escape(value)
        if label == "alertname":
            names = {n for n in names if re.fullmatch(pattern, n)}
        elif label == "severity":
            severities = {s for s in severities if re.fullmatch(pattern, s)}
    assert names, f"{matchers} matches no alert of the pack"
    return {s for n in names for s in ALERTS[n]} & severities


@pytest.mark.parametrize("rule", RULES, ids=lambda r: ",".join(r["source_matchers"])[:60])
def test_a_source_is_never_less_severe_than_its_targets(rule):
    weakest_source = min(SEVERITY[s] for s in matched(rule["source_matchers"]))
    strongest_target = max(SEVERITY[s] for s in matched(rule["target_matchers"]))
    assert weakest_source >= strongest_target, rule


@pytest.mark.parametrize("rule", RULES, ids=lambda r: ",".join(r["source_matchers"])[:60])
def test_an_inhibition_never_crosses_team_namespace_or_cluster(rule):
    assert {"team", "namespace", "cluster"} <= set(rule["equal"]), rule


MODEL_LEVEL = re.compile(r"Inference(Latency|Availability)BudgetBurn|MeanLatency|Anomaly|TrafficDrop|Canary")


@pytest.mark.parametrize("rule", RULES, ids=lambda r: ",".join(r["source_matchers"])[:60])
def test_a_cause_hides_model_symptoms_only_when_it_explains_the_whole_model(rule):
    """InferenceModelAffected holds back model-level alerts only with scope="model"."""
    if 'alertname="InferenceModelAffected"' not in rule["source_matchers"]:
        return
    targets = [m for m in rule["target_matchers"] if m.startswith("alertname")]
    if any(MODEL_LEVEL.search(m) for m in targets):
        assert 'scope="model"' in rule["source_matchers"], rule
    else:
        assert "target" in rule["equal"], rule  # a target-level symptom: the same target


def test_a_not_ready_ticket_holds_nothing_back():
    assert not [r for r in RULES if any("InferenceModelNotReady" in m for m in r["source_matchers"])]


def test_the_inhibition_source_alert_has_its_causes_severity_and_is_routed_nowhere():
    causes = {"InferenceTargetDown", "InferenceExporterDown", "InferenceGPULost", "InferenceGPUXidCritical"}
    assert ALERTS["InferenceModelAffected"] == {s for c in causes for s in ALERTS[c]}
    route = yaml.safe_load(CONFIG.read_text())["route"]
    first = route["routes"][0]
    assert first == {"receiver": "null", "matchers": ['alertname="InferenceModelAffected"']}
