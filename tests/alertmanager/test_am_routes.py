"""The committed Alertmanager config: valid, secret-free, and routing every alert as documented."""

from __future__ import annotations

import subprocess

import pytest
import yaml
from amstack import CONFIG, binary

# (labels, receiver): every route of the tree, each team, and the fallbacks.
ROUTING_TABLE = [
    ({"severity": "critical", "team": "search"}, "oncall-search"),
    ({"severity": "warning", "team": "search"}, "tickets-search"),
    ({"severity": "info", "team": "search"}, "null"),
    ({"team": "search"}, "tickets-search"),
    ({"severity": "critical", "team": "recommendation"}, "oncall-recommendation"),
    ({"severity": "warning", "team": "recommendation"}, "tickets-recommendation"),
    ({"severity": "info", "team": "recommendation"}, "null"),
    ({"team": "recommendation"}, "tickets-recommendation"),
    # A team without routes of its own, and alerts without any team, use the defaults.
    ({"severity": "critical", "team": "payments"}, "oncall-default"),
    ({"severity": "warning", "team": "payments"}, "tickets-default"),
    ({"severity": "info", "team": "payments"}, "null"),
    ({"severity": "critical"}, "oncall-default"),
    ({"severity": "warning"}, "tickets-default"),
    ({"severity": "info"}, "null"),
    ({}, "tickets-default"),
]


def load() -> dict:
    return yaml.safe_load(CONFIG.read_text())


def test_amtool_check_config_accepts_it():
    result = subprocess.run([binary("amtool"), "check-config", str(CONFIG)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


@pytest.mark.parametrize(("labels", "receiver"), ROUTING_TABLE, ids=lambda v: str(v))
def test_route(labels, receiver):
    pairs = [f"{k}={v}" for k, v in {"alertname": "InferenceTargetDown", "model": "ranker", **labels}.items()]
    result = subprocess.run(
        [
            binary("amtool"),
            "config",
            "routes",
            "test",
            f"--config.file={CONFIG}",
            f"--verify.receivers={receiver}",
            *pairs,
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, f"{labels} -> {result.stdout.strip()} {result.stderr.strip()}"


def routes(node: dict) -> list[dict]:
    return [node, *[r for child in node.get("routes") or [] for r in routes(child)]]


def test_routing_table_reaches_every_receiver_and_every_receiver_is_routed():
    config = load()
    routed = {r["receiver"] for r in routes(config["route"])}
    defined = {r["name"] for r in config["receivers"]}
    assert routed == defined
    assert {receiver for _, receiver in ROUTING_TABLE} == routed


def test_tickets_respect_quiet_hours_and_pages_never_do():
    config = load()
    intervals = {t["name"] for t in config["time_intervals"]}
    for route in routes(config["route"]):
        muted = route.get("mute_time_intervals") or []
        assert set(muted) <= intervals
        if route["receiver"].startswith("tickets-") and route.get("matchers") == ['severity="warning"']:
            assert muted == ["ticket-quiet-hours"], route
        if route["receiver"].startswith("oncall-"):
            assert muted == [], route


def test_pages_and_tickets_are_grouped_per_alert_and_team():
    """Never per model: a mass outage of one team is one page per alert name."""
    config = load()
    assert config["route"]["group_by"] == ["alertname", "cluster", "namespace", "team"]
    for route in routes(config["route"]):
        if route["receiver"].startswith("oncall-"):
            assert route["group_by"] == ["alertname", "cluster", "namespace", "team"], route


def test_secrets_come_from_files_only():
    config = load()
    assert config["global"]["slack_api_url_file"].startswith("/")
    text = CONFIG.read_text()
    assert "hooks.slack.com" not in text
    for receiver in config["receivers"]:
        for slack in receiver.get("slack_configs") or []:
            assert "api_url" not in slack, receiver["name"]
            assert slack["send_resolved"] is True


def test_inhibitions_never_match_on_empty_model_labels():
    """An absent label equals an absent label: each rule must require the label that separates."""
    for rule in load()["inhibit_rules"]:
        separating = [label for label in ("model", "uuid", "target") if label in rule["equal"]]
        assert separating, rule
        for label in separating:
            assert f'{label}=~".+"' in rule["source_matchers"], rule
            assert f'{label}=~".+"' in rule["target_matchers"], rule
