"""Inhibitions against a real Alertmanager with the committed config: symptoms of one cause are
folded away, unrelated models never are. Deliveries are read from the Slack stand-in.

The causes and the InferenceModelAffected alerts are posted with the labels the rule pack
gives them: those label sets are the expectations of its promtool tests
(tests/rules/unit_cases.py), which prove the rules produce exactly them.
"""

from __future__ import annotations

import time

import pytest
from amstack import Alertmanager, StandIn, alert, config_for_tests, wait_for
from inference_devtools import repo

repo.use("tests/rules")
import unit_cases as rules  # noqa: E402

pytestmark = pytest.mark.prometheus

SENT, SILENT = "sent", "silent"  # delivered; routed nowhere (InferenceModelAffected)


def inhibited(by: str) -> str:
    return f"inhibited by {by}"


def from_rules(expected: dict, **changes: str) -> dict:
    """An alert with the labels a promtool case expects of the rule pack (plus `changes`)."""
    labels = {**expected["exp_labels"], **changes}
    name = expected.get("alertname") or labels.pop("alertname")
    return alert(name, labels.pop("severity"), **labels)


def affected(model: dict, cause: str) -> dict:
    return from_rules({"alertname": "InferenceModelAffected", **rules.affected(model, cause)})


def cause(name: str, labels: dict, severity: str = "critical") -> dict:
    return alert(name, severity, **labels)


def not_ready(target: str) -> dict:
    return alert(
        "InferenceModelNotReady",
        "warning",
        model="ranker",
        model_class="ranking",
        namespace="shop",
        team="search",
        version="3",
        target=target,
    )


TARGET = {k: rules.MODEL[k] for k in ("job", "instance", "namespace", "target", "server")}
EXPORTER = {k: rules.ELSEWHERE[k] for k in ("job", "instance", "namespace")}
OWNER = rules.OWNER
GPU_POD = {"job": "inference-exporter", "instance": "10.0.0.10:9400", "namespace": "vision"}
OCR = {**rules.MODEL, **GPU_POD, "target": "ocr-0", "model": "ocr", "model_class": "default"}

SEARCH = {"namespace": "shop", "team": "search"}

# (alert, what Alertmanager must do with it): all posted together; cluster="test" on all.
CASES = [
    # One target down: the exporter still answers, so only that target's model is affected;
    # it is the model's only target, so the whole model is (scope="model").
    (cause("InferenceTargetDown", {**TARGET, **OWNER}), SENT),
    (affected(rules.MODEL, "InferenceTargetDown"), SILENT),
    (alert("InferenceMeanLatencyHigh", "warning", model="ranker", **SEARCH),
     inhibited("InferenceModelAffected")),
    (alert("InferenceLatencyBudgetBurnCritical", "critical", model="ranker", slo="latency", **SEARCH),
     inhibited("InferenceModelAffected")),
    (alert("InferenceCanaryFailing", "critical", model="ranker", version="3", **SEARCH),
     inhibited("InferenceModelAffected")),
    # The exporter's tickets about that target are symptoms too (its readiness: READINESS).
    (cause("InferenceExporterCollectionFailing", {**TARGET, **OWNER}, "warning"),
     inhibited("InferenceTargetDown")),
    (cause("InferenceExporterTargetStale", {**TARGET, **OWNER}, "warning"), inhibited("InferenceTargetDown")),
    # The model and the tickets of the exporter's other target are not affected.
    (alert("InferenceMeanLatencyHigh", "warning", model="embedder", **SEARCH), SENT),
    (cause("InferenceExporterCollectionFailing", {**TARGET, **OWNER, "target": "embedder-0"}, "warning"),
     SENT),
    # The exporter down: every model it served is affected.
    (cause("InferenceExporterDown", {**EXPORTER, **OWNER}), SENT),
    (affected(rules.ELSEWHERE, "InferenceExporterDown"), SILENT),
    (alert("InferenceErrorRatioAnomaly", "warning", model="reranker", **SEARCH),
     inhibited("InferenceModelAffected")),
    # A model that is not ready is a ticket: it hides nothing, least of all a page.
    (alert("InferenceModelNotReady", "warning", model="catalog", version="2", **SEARCH), SENT),
    (alert("InferenceCanaryFailing", "critical", model="catalog", version="2", **SEARCH), SENT),
    # Without a model label, "equal" would match empty with empty: must not inhibit.
    (cause("InferenceExporterDown", {"job": "inference-exporter", "instance": "10.0.0.7:9090",
                                     "namespace": "ads"}), SENT),
    (alert("InferenceLatencyAnomaly", "warning", instance="10.0.0.8:9090", namespace="ads"), SENT),
    # A lost GPU explains the latency of the models on it, not their errors.
    (cause("InferenceGPULost", {**GPU_POD, **OWNER, "gpu": "0", "uuid": "GPU-1"}), SENT),
    (affected(OCR, "InferenceGPULost"), SILENT),
    (alert("InferenceLatencyBudgetBurnWarning", "warning", model="ocr", namespace="vision", team="search",
           slo="latency"), inhibited("InferenceModelAffected")),
    (alert("InferenceErrorRatioAnomaly", "warning", model="ocr", namespace="vision", team="search"), SENT),
    # A critical XID hides the plain XID ticket of the same GPU only, and the latency of its models.
    (cause("InferenceGPUXidCritical", {**GPU_POD, **OWNER, "uuid": "GPU-2", "gpu": "1", "xid": "79"}), SENT),
    (affected({**OCR, "target": "ocr-1", "model": "ocr-v2"}, "InferenceGPUXidCritical"), SILENT),
    (alert("InferenceMeanLatencyHigh", "warning", model="ocr-v2", namespace="vision", team="search"),
     inhibited("InferenceModelAffected")),
    (cause("InferenceGPUXidError", {**GPU_POD, **OWNER, "uuid": "GPU-2", "gpu": "1", "xid": "31"}, "warning"),
     inhibited("InferenceGPUXidCritical")),
    (cause("InferenceGPUXidError", {**GPU_POD, **OWNER, "uuid": "GPU-3", "gpu": "2", "xid": "31"}, "warning"),
     SENT),
    # Critical hides warning: the same alert name, and the page/ticket pair of one SLO.
    (alert("InferenceTrafficDrop", "critical", model="search-embed"), SENT),
    (alert("InferenceTrafficDrop", "warning", model="search-embed"), inhibited("InferenceTrafficDrop")),
    (alert("InferenceRequestRateAnomaly", "warning", model="search-embed"),
     inhibited("InferenceTrafficDrop")),
    (alert("InferenceAvailabilityBudgetBurnCritical", "critical", model="query-parser", slo="availability"),
     SENT),
    (alert("InferenceAvailabilityBudgetBurnWarning", "warning", model="query-parser", slo="availability"),
     inhibited("InferenceAvailabilityBudgetBurnCritical")),
    (alert("InferenceLatencyBudgetBurnWarning", "warning", model="query-parser", slo="latency"), SENT),
]  # fmt: skip


# A down target hides its model's readiness there, not on the model's other targets (a
# not-ready model is itself a cause, so these are posted on their own).
READINESS = [
    (affected(rules.MODEL, "InferenceTargetDown"), SILENT),
    (not_ready("ranker-0"), inhibited("InferenceModelAffected")),
    (not_ready("ranker-1"), SENT),
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


def test_affected_labels_come_from_the_rule_pack():
    # The posted InferenceModelAffected alerts carry what the rules give them: model, cause, scope.
    posted = [a["labels"] for a, _ in CASES if a["labels"]["alertname"] == "InferenceModelAffected"]
    assert posted and all(p["model"] and p["cause"] and p["severity"] == "critical" for p in posted)
    assert {p["scope"] for p in posted} == {"model"}
    assert {p["cause"] for p in posted} == {
        "InferenceTargetDown", "InferenceExporterDown", "InferenceGPULost", "InferenceGPUXidCritical"
    }  # fmt: skip


@pytest.mark.parametrize("cases", [CASES, READINESS], ids=["one-cause-per-model", "readiness-per-target"])
def test_inhibitions_fold_symptoms_of_one_cause_only(alertmanager, cases):
    am, standin = alertmanager
    am.post_alerts([a for a, _ in cases])
    expected = sorted(
        (a["labels"]["alertname"], a["labels"].get("model", "")) for a, what in cases if what == SENT
    )

    def delivered():
        got = sorted((name, model) for status, name, model in standin.titles() if status == "FIRING")
        return got if len(got) >= len(expected) else None

    wait_for("the expected notifications", delivered, 30, am.log_tail)
    time.sleep(3)  # longer than group_wait and group_interval: an inhibited one would be here by now
    assert sorted((name, model) for _, name, model in standin.titles()) == expected

    # Alertmanager's own view agrees, and every suppressed alert names the right inhibitor.
    alerts = am.get("/api/v2/alerts").json()
    name_of = {a["fingerprint"]: a["labels"]["alertname"] for a in alerts}
    state = {key(a): a["status"] for a in alerts}
    for a, what in cases:
        inhibitors = sorted(name_of.get(fp, fp) for fp in state[key(a)]["inhibitedBy"])
        if what.startswith("inhibited by "):
            assert what.removeprefix("inhibited by ") in inhibitors, (key(a), inhibitors)
        else:
            assert inhibitors == [], (key(a), inhibitors)
