"""High availability: two clustered Alertmanagers on loopback, a real Prometheus sending to both.
Each notification reaches the Slack stand-in once; with one Alertmanager killed, they still arrive."""

from __future__ import annotations

import time

import pytest
import requests
import yaml
from amstack import Alertmanager, StandIn, config_for_tests, free_port, wait_for
from inference_devtools.prom import Prometheus

pytestmark = pytest.mark.prometheus

PEER_TIMEOUT_S = 3  # amstack's --cluster.peer-timeout: the second member waits this long before sending


# Pages are grouped per alert name and team: each model here has its own team, so its own notification.
TEAMS = {"ranker": "search", "embedder": "recommendation"}


def rule(model: str) -> dict:
    return {
        "alert": "InferenceTargetDown",
        "expr": "vector(1)",
        "labels": {"severity": "critical", "team": TEAMS[model], "cluster": "ha", "model": model},
        "annotations": {"summary": "HA probe", "description": f"{model} probe", "runbook_url": "https://r/x"},
    }


def write_rules(path, models: list[str]) -> None:
    path.write_text(yaml.safe_dump({"groups": [{"name": "ha", "rules": [rule(m) for m in models]}]}))


def count(standin: StandIn, model: str) -> int:
    return standin.titles().count(("FIRING", "InferenceTargetDown", model))


@pytest.fixture
def cluster(tmp_path):
    standin = StandIn(tmp_path)
    config = config_for_tests(tmp_path, standin.url)
    ports = [free_port(), free_port()]
    members = [
        Alertmanager(tmp_path, config, name=f"am{i}", cluster_port=ports[i], peers=[ports[1 - i]])
        for i in (0, 1)
    ]
    rules = tmp_path / "rules.yml"
    write_rules(rules, ["ranker"])
    prometheus_config = {
        "global": {"evaluation_interval": "1s", "scrape_interval": "15s"},
        "rule_files": [str(rules)],
        "alerting": {"alertmanagers": [{"static_configs": [{"targets": [m.url[7:] for m in members]}]}]},
    }
    prometheus = None
    try:
        for m in members:
            wait_for(
                f"{m.name} to see both members", lambda m=m: len(m.status()["cluster"]["peers"]) == 2, 30
            )
        prometheus = Prometheus(
            tmp_path / "prometheus",
            yaml.safe_dump(prometheus_config),
            # A sent alert is valid for 4 resend delays. After the rule reload below, Prometheus
            # reaches its Alertmanagers again only once discovery resyncs (updates throttled to
            # 5 s): with 1 s the alert expired meanwhile (RESOLVED, then a second FIRING).
            ("--rules.alert.resend-delay=3s", "--web.enable-lifecycle"),
        )
        yield members, prometheus, rules, standin
    finally:
        if prometheus:
            prometheus.proc.terminate()
            prometheus.proc.wait(timeout=30)
            prometheus.log.close()
        for m in members:
            m.stop()
        standin.close()
    assert all(m.proc.poll() is not None for m in members)


def test_each_notification_once_and_still_delivered_with_one_member_killed(cluster):
    members, prometheus, rules, standin = cluster

    wait_for("the first notification", lambda: count(standin, "ranker"), 30, members[0].log_tail)
    for m in members:  # both hold the alert: each would notify on its own without the cluster
        wait_for(f"the alert in {m.name}", lambda m=m: m.get("/api/v2/alerts").json(), 10)
    time.sleep(2 * PEER_TIMEOUT_S + 2)  # the second member would have sent its copy by now
    assert count(standin, "ranker") == 1, standin.titles()

    # Kill the member that sends first (the lowest cluster name has position 0).
    first = min(members, key=lambda m: m.status()["cluster"]["name"])
    survivor = next(m for m in members if m is not first)
    first.kill()
    write_rules(rules, ["ranker", "embedder"])
    assert requests.post(f"{prometheus.url}/-/reload", timeout=10).status_code == 200

    wait_for("a notification with one member down", lambda: count(standin, "embedder"), 30, survivor.log_tail)
    time.sleep(2 * PEER_TIMEOUT_S)
    assert count(standin, "embedder") == 1, standin.titles()
    assert count(standin, "ranker") == 1, (
        f"the survivor re-sent what the cluster had sent: {standin.titles()}\n{survivor.log_tail()}"
    )
