"""Inhibitions against a real Alertmanager with the committed config: symptoms of one cause are
folded away, unrelated models never are. Deliveries are read from the Slack stand-in."""

from __future__ import annotations

import time

import pytest
from amstack import Alertmanager, StandIn, alert, config_for_tests, wait_for

pytestmark = pytest.mark.prometheus

# (alert, delivered?): posted together; cluster="test" on all of them.
CASES = [
    # Down model: its latency, burn and canary alerts are symptoms.
    (alert("InferenceTargetDown", "critical", model="ranker", target="ranker-triton", team="search"), True),
    (alert("InferenceMeanLatencyHigh", "warning", model="ranker", team="search"), False),
    (alert("InferenceLatencyBudgetBurnCritical", "critical", model="ranker", slo="latency"), False),
    (alert("InferenceCanaryFailing", "critical", model="ranker", version="3"), False),
    # Different models: nothing in common.
    (alert("InferenceTargetDown", "critical", model="embedder", target="embedder-0"), True),
    (alert("InferenceMeanLatencyHigh", "warning", model="reranker"), True),
    # Same model names in another cluster are other models.
    (alert("InferenceModelNotReady", "warning", model="catalog", version="2"), True),
    (
        dict(
            alert("InferenceErrorRatioAnomaly", "warning", model="catalog"),
            labels={
                "alertname": "InferenceErrorRatioAnomaly",
                "severity": "warning",
                "cluster": "other",
                "model": "catalog",
            },
        ),
        True,
    ),  # fmt: skip
    # Without a model label, "equal" would match empty with empty: must not inhibit.
    (alert("InferenceExporterDown", "critical", instance="10.0.0.7:9090"), True),
    (alert("InferenceLatencyAnomaly", "warning", instance="10.0.0.8:9090"), True),
    # A lost GPU explains the latency of the model it served, not its errors.
    (
        alert("InferenceGPULost", "critical", model="ocr", gpu="0", uuid="GPU-1", instance="10.0.0.9:9090"),
        True,
    ),
    (alert("InferenceLatencyBudgetBurnWarning", "warning", model="ocr", slo="latency"), False),
    (alert("InferenceErrorRatioAnomaly", "warning", model="ocr"), True),
    # Critical hides warning: the same alert name, and the page/ticket pair of one SLO.
    (alert("InferenceTrafficDrop", "critical", model="search-embed"), True),
    (alert("InferenceTrafficDrop", "warning", model="search-embed"), False),
    (
        alert(
            "InferenceAvailabilityBudgetBurnCritical", "critical", model="query-parser", slo="availability"
        ),
        True,
    ),
    (
        alert("InferenceAvailabilityBudgetBurnWarning", "warning", model="query-parser", slo="availability"),
        False,
    ),
    (alert("InferenceLatencyBudgetBurnWarning", "warning", model="query-parser", slo="latency"), True),
    # A critical XID hides the plain XID ticket of the same GPU only.
    (alert("InferenceGPUXidCritical", "critical", uuid="GPU-2", gpu="1", instance="10.0.0.10:9090"), True),
    (alert("InferenceGPUXidError", "warning", uuid="GPU-2", gpu="1", instance="10.0.0.10:9090"), False),
    (alert("InferenceGPUXidError", "warning", uuid="GPU-3", gpu="2", instance="10.0.0.10:9090"), True),
]


def key(a: dict) -> tuple:
    return tuple(sorted(a["labels"].items()))


@pytest.fixture
def alertmanager(tmp_path):
    standin = StandIn(tmp_path)
    am = Alertmanager(tmp_path, config_for_tests(tmp_path, standin.url))
    yield am, standin
    am.stop()
    standin.close()
    assert am.proc.poll() is not None


def test_inhibitions_fold_symptoms_of_one_cause_only(alertmanager):
    am, standin = alertmanager
    am.post_alerts([a for a, _ in CASES])
    expected = sorted((a["labels"]["alertname"], a["labels"].get("model", "")) for a, sent in CASES if sent)

    def delivered():
        got = sorted((name, model) for status, name, model in standin.titles() if status == "FIRING")
        return got if len(got) >= len(expected) else None

    wait_for("the expected notifications", delivered, 30, am.log_tail)
    time.sleep(3)  # longer than group_wait and group_interval: an inhibited one would be here by now
    assert sorted((name, model) for _, name, model in standin.titles()) == expected

    # Alertmanager's own view agrees: every suppressed alert names its inhibitor.
    state = {key(a): a["status"] for a in am.get("/api/v2/alerts").json()}
    for a, sent in CASES:
        inhibited_by = state[key(a)]["inhibitedBy"]
        assert bool(inhibited_by) is not sent, (key(a), state[key(a)])
