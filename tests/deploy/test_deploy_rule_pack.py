"""The PrometheusRule and the dashboard ConfigMaps in deploy/ carry exactly the rule pack and
the dashboards of the repository, never an older copy."""

import json

import pytest
import yaml
from manifests import RENDERED, ROOT, find, render


def _rule_pack() -> dict[str, dict]:
    """Rule groups by name from rules/*.yml (files with a top-level `groups:` list)."""
    groups: dict[str, dict] = {}
    for path in sorted(ROOT.glob("rules/*.yml")) + sorted(ROOT.glob("rules/*.yaml")):
        doc = yaml.safe_load(path.read_text())
        if not isinstance(doc, dict) or "groups" not in doc:
            continue  # e.g. the pack's own config file
        for group in doc["groups"]:
            assert group["name"] not in groups, f"rule group {group['name']} defined twice"
            groups[group["name"]] = group
    return groups


def test_base_prometheusrule_has_exactly_the_rule_pack():
    pack = _rule_pack()
    assert pack, "no rule group in rules/*.yml"
    rules = find(render("base"), "PrometheusRule")
    assert rules, "base/kustomization.yaml must list prometheusrule.yaml (the rendered rule pack)"
    deployed: dict[str, dict] = {}
    for rule in rules:
        for group in rule["spec"]["groups"]:
            assert group["name"] not in deployed, f"rule group {group['name']} deployed twice"
            deployed[group["name"]] = group
    assert sorted(deployed) == sorted(pack), "rule groups differ between deploy/ and rules/"
    for name, group in pack.items():
        assert deployed[name] == group, f"rule group {name} differs from rules/: regenerate the rule pack"


@pytest.mark.parametrize("directory", [d for d in RENDERED if d.startswith("overlays/")])
def test_overlays_deploy_the_base_rules_unchanged(directory):
    base = [r["spec"] for r in find(render("base"), "PrometheusRule")]
    assert [r["spec"] for r in find(render(directory), "PrometheusRule")] == base


def test_production_ships_every_dashboard_for_the_grafana_sidecar():
    sources = {p.name: json.loads(p.read_text()) for p in sorted(ROOT.glob("grafana-dashboards/*.json"))}
    configmaps = [
        c
        for c in find(render("overlays/production"), "ConfigMap")
        if c["metadata"].get("labels", {}).get("grafana_dashboard") == "1"
    ]
    shipped = [json.loads(text) for c in configmaps for text in c["data"].values()]
    assert sorted(map(json.dumps, shipped)) == sorted(map(json.dumps, sources.values()))
    for c in configmaps:
        assert len(c["data"]) == 1, "one dashboard per ConfigMap"
