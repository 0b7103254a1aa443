"""The inhibitions end to end: a real Prometheus evaluates the shipped rule pack (at 60x
speed, as the demo runs it) and sends to a real Alertmanager with the committed config.

Three exporter pods are stood in for by loopback endpoints speaking the unified schema
(no GPU can fail here, and a dead model server is the case under test):

- pod A: ``ranker`` is slow and its GPU is lost;
- pod B: ``reranker`` is just as slow, with healthy GPUs;
- pod C: the exporter answers, but its target ``catalog-0`` is down: collections fail, the
  canary fails, and the model's series go stale as the exporter's would.

Slack must get the GPU page, the target-down page and the reranker's latency ticket, and
nothing for the ranker's latency or the catalog's canary: Alertmanager holds the ranker's
latency back, naming an InferenceModelAffected alert as its inhibitor, and the catalog's
failing canary is not even raised (its rule leaves out a model down everywhere, so it cannot
page once the outage ends either: issue 12).
"""

from __future__ import annotations

import time

import pytest
import yaml
from amstack import REPO, Alertmanager, StandIn, config_for_tests, wait_for
from fake_targets import FakeTarget
from inference_devtools import repo
from inference_devtools.prom import Prometheus

repo.use("deploy/local")
import demo_speed  # noqa: E402

pytestmark = pytest.mark.prometheus

SPEED = 60  # `for: 15m` becomes 15 s, rate(...[5m]) 5 s
RULE_FILES = sorted(str(p) for p in (REPO / "rules").glob("*.yml") if p.name != "config.yml")
TARGET_DOWN_AFTER_S = 3
STALE_AFTER_S = 2  # the exporter drops a dead target's series this long after its last success


def labels(**kv: str) -> str:
    return "{" + ",".join(f'{k}="{v}"' for k, v in kv.items()) + "}"


class Pod:
    """One exporter pod's /metrics: one target serving one ranking model of team search."""

    def __init__(self, model: str, *, gpu_lost: bool = False, target_down: bool = False):
        self.model, self.gpu_lost, self.target_down = model, gpu_lost, target_down
        self.started: float | None = None  # the pod's clock starts at Prometheus' first scrape
        self.endpoint = FakeTarget(self.body)

    def body(self) -> str:
        if self.started is None:
            self.started = time.monotonic()
        t = time.monotonic() - self.started
        target = f"{self.model}-0"
        ident = dict(target=target, server="triton", model=self.model, version="3")
        static = dict(team="search", model_class="ranking")
        down = self.target_down and t > TARGET_DOWN_AFTER_S
        lines = [f"inference_exporter_target_up{labels(target=target, server='triton')} {0 if down else 1}"]
        if not (down and t > TARGET_DOWN_AFTER_S + STALE_AFTER_S):
            served = min(t, TARGET_DOWN_AFTER_S) if self.target_down else t
            requests = 20 * served  # 20 requests/s, 0.2 s each: over the ranking class's 0.08 s
            lines += [
                f"inference_model_info{labels(**ident, **static)} 1",
                f"inference_requests_total{labels(**ident, **static, outcome='success')} {requests:.1f}",
                f"inference_request_duration_seconds_sum{labels(**ident, **static)} {0.2 * requests:.1f}",
                f"inference_request_duration_seconds_count{labels(**ident, **static)} {requests:.1f}",
            ]
        if self.target_down:
            # Health probes keep running: the canary fails from the moment the server is gone.
            canary = dict(**ident, **static, canary="golden")
            failed = max(0.0, t - TARGET_DOWN_AFTER_S)
            lines += [
                f"inference_canary_requests_total{labels(**canary, outcome='success', reason='')} 3",
                f"inference_canary_requests_total{labels(**canary, outcome='failure', reason='connection')} "
                f"{failed:.1f}",
            ]
        gpu = dict(gpu="0", uuid=f"GPU-{self.model}", name="NVIDIA H100", pci_bus_id="00000000:01:00.0")
        lost = 1 if self.gpu_lost else 0
        lines += [
            f"inference_gpu_state{labels(**gpu, state='ok')} {1 - lost}",
            f"inference_gpu_state{labels(**gpu, state='lost')} {lost}",
        ]
        return "\n".join(lines) + "\n"


@pytest.fixture
def stack(tmp_path):
    pods = {
        "A": Pod("ranker", gpu_lost=True),
        "B": Pod("reranker"),
        "C": Pod("catalog", target_down=True),
    }
    standin = StandIn(tmp_path)
    am = Alertmanager(tmp_path, config_for_tests(tmp_path, standin.url))
    rules = demo_speed.write(RULE_FILES, tmp_path / "rules", SPEED, min_window_s=4, interval_s=1)
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": rules,
        "alerting": {"alertmanagers": [{"static_configs": [{"targets": [am.url.removeprefix("http://")]}]}]},
        "scrape_configs": [
            {
                "job_name": "inference-exporter",
                "static_configs": [{"targets": [f"127.0.0.1:{p.endpoint.port}" for p in pods.values()]}],
            }
        ],
    }
    prometheus = Prometheus(
        tmp_path / "prometheus", yaml.safe_dump(config), ("--rules.alert.resend-delay=1s",)
    )
    try:
        yield prometheus, am, standin, pods
    finally:
        prometheus.close()
        am.stop()
        standin.close()
        for p in pods.values():
            p.endpoint.close()
    assert prometheus.proc.poll() is not None and am.proc.poll() is not None


def test_causes_page_and_their_models_symptoms_wait_behind_them(stack):
    prometheus, am, standin, pods = stack
    sent = {("InferenceGPULost", ""), ("InferenceTargetDown", ""), ("InferenceMeanLatencyHigh", "reranker")}

    def firing_titles() -> set:
        got = {(name, model) for status, name, model in standin.titles() if status == "FIRING"}
        return got if sent <= got else None

    wait_for("the two pages and the reranker's ticket", firing_titles, 90, lambda: prometheus.log_tail())

    symptoms = {("InferenceMeanLatencyHigh", "ranker")}
    canary = ("InferenceCanaryFailing", "catalog")

    def held_back() -> dict | None:
        """{(alertname, model): labels of its inhibitors} once both symptoms are inhibited."""
        alerts = am.get("/api/v2/alerts").json()
        labels_of = {a["fingerprint"]: a["labels"] for a in alerts}
        held = {
            (a["labels"]["alertname"], a["labels"].get("model", "")): [
                labels_of.get(fp, {}) for fp in a["status"]["inhibitedBy"]
            ]
            for a in alerts
            if a["status"]["inhibitedBy"]
        }
        return held if symptoms <= set(held) else None

    held = wait_for(
        "the ranker's latency alert, inhibited",
        held_back,
        60,
        lambda: str(am.get("/api/v2/alerts").json()),
    )
    causes = {
        model: {(i.get("alertname"), i.get("cause")) for i in held[(name, model)]} for name, model in symptoms
    }
    assert ("InferenceModelAffected", "InferenceGPULost") in causes["ranker"], causes
    # The catalog's canary fails, and yet no canary alert exists, in Prometheus or Alertmanager.
    failing = 'sum(rate(inference_canary_requests_total{model="catalog", outcome="failure"}[1m])) > 0'
    assert prometheus.query(failing), "the catalog's canary should be failing"
    assert not prometheus.query('ALERTS{alertname="InferenceCanaryFailing", model="catalog"}')
    assert canary not in {
        (a["labels"]["alertname"], a["labels"].get("model", "")) for a in am.get("/api/v2/alerts").json()
    }

    # The catalog's series went stale long ago: the page still names the model and its team.
    time.sleep(4)  # two group intervals: an inhibited alert would have been sent by now
    titles = standin.titles()
    assert [t for t in titles if (t[1], t[2]) in symptoms | {canary}] == [], titles
    pages = [
        (entry["payload"]["channel"], att["text"])
        for entry in standin.messages()
        for att in entry["payload"].get("attachments") or []
        if "_InferenceTargetDown_" in att.get("text", "")
    ]
    assert len(pages) == 1 and pages[0][0] == "#search-oncall", pages
    assert "It serves catalog (version 3)." in pages[0][1], pages
