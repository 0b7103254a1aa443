"""Canaries: top-K overlap, cosine, latency, answer checks, exemplars and the rate limit."""

from __future__ import annotations

import math
import random

import pytest
from checks import Checked, target_config
from fake_api import FakeAPI
from inference_exporter.health.canary import cosine, json_path, ranked_ids, top_k_overlap
from prometheus_client.openmetrics.parser import text_string_to_metric_families as om_parse

# Ten candidate products; the model's scores put positions 7, 2, 9 on top.
SCORES = [0.10, 0.20, 0.93, 0.05, 0.30, 0.41, 0.15, 0.97, 0.22, 0.88]
EXPECTED_TOP3 = [7, 2, 9]

RANKING = """\
- name: ranker
  canaries:
    - id: top3
      every: 1h
      kserve_v2:
        inputs: [{name: features, datatype: FP32, shape: [10, 1], data: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]}]
      expect:
        top_k: {path: "outputs[0].data", ids: [7, 2, 9], k: 3, min_overlap: 0.66}
"""


@pytest.fixture
def api():
    a = FakeAPI()
    a.v2_server({"ranker": ["1"], "embedder": ["1"]})
    yield a
    a.close()


def _ranker(api, scores):
    api.routes[("POST", "/v2/models/ranker/infer")] = (200, {"outputs": [{"name": "score", "data": scores}]})


def test_ranking_with_the_expected_top_k_passes(api, tmp_path):
    _ranker(api, SCORES)
    c = Checked(target_config(api.url, "triton", RANKING), tmp_path)
    text, _ = c.run()
    from helpers import sample_value

    assert sample_value(text, "inference_canary_success", canary="top3") == 1
    assert sample_value(text, "inference_canary_quality_score", canary="top3", check="top_k") == 1
    (sent,) = [r for r in api.received if r[1] == "/v2/models/ranker/infer"]
    assert b'"shape": [10, 1]' in sent[2]  # the kserve_v2 helper built the v2 request
    assert c.events("canary_failed") == []
    c.close()


@pytest.mark.parametrize(
    "answer,why",
    [
        ([0.97, 0.93, 0.10, 0.20, 0.88, 0.05, 0.15, 0.30, 0.22, 0.41], "the same scores, shuffled"),
        ([0.9, 0.8, 0.1, 0.7, 0.2, 0.3, 0.1, 0.05, 0.1, 0.0], "wrong items on top"),
    ],
)
def test_ranking_with_shuffled_or_wrong_items_fails_on_overlap(api, tmp_path, answer, why):
    _ranker(api, answer)
    c = Checked(target_config(api.url, "triton", RANKING), tmp_path)
    text, _ = c.run()
    from helpers import sample_value

    overlap = top_k_overlap(ranked_ids(answer), tuple(EXPECTED_TOP3), 3)
    assert overlap < 0.66, why
    assert sample_value(text, "inference_canary_success", canary="top3") == 0
    assert sample_value(text, "inference_canary_quality_score", canary="top3", check="top_k") == overlap
    assert (
        sample_value(
            text, "inference_canary_requests_total", canary="top3", outcome="failure", reason="top_k"
        )
        == 1
    )
    (event,) = c.events("canary_failed")
    assert event["details"]["reason"] == "top_k" and event["model"] == "ranker"
    c.close()


REFERENCE = [0.12, -0.4, 0.33, 0.9, -0.05, 0.27, 0.61, -0.2]
EMBEDDING = f"""\
- name: embedder
  canaries:
    - id: embed
      every: 1h
      openai: {{input: "blue running shoes"}}
      expect:
        embedding: {{path: "data[0].embedding", reference: {REFERENCE}, min_cosine: 0.98}}
"""


def test_embedding_close_to_the_reference_passes_and_a_perturbed_one_fails(api, tmp_path):
    close = [x * 1.5 + 0.005 for x in REFERENCE]  # scaled, nearly the same direction
    rng = random.Random(4)
    perturbed = [x + rng.gauss(0, 0.5) for x in REFERENCE]
    assert cosine(close, tuple(REFERENCE)) > 0.98 > cosine(perturbed, tuple(REFERENCE))
    for vector, ok in ((close, 1), (perturbed, 0)):
        api.routes[("POST", "/v1/embeddings")] = (200, {"data": [{"embedding": vector}]})
        c = Checked(target_config(api.url, "triton", EMBEDDING), tmp_path / str(ok))
        text, _ = c.run()
        from helpers import sample_value

        assert sample_value(text, "inference_canary_success", canary="embed") == ok
        score = sample_value(text, "inference_canary_quality_score", canary="embed", check="cosine")
        assert math.isclose(score, cosine(vector, tuple(REFERENCE)))
        assert len(c.events("canary_failed")) == 1 - ok
        c.close()


GENERATIVE = """\
- name: ranker
  canaries:
    - id: chat
      every: 1h
      timeout: 2s
      openai: {messages: [{role: user, content: "Capital of France?"}], max_tokens: 8}
      expect:
        max_latency: 150ms
        answer: {path: "choices[0].message.content", regex: "(?i)paris"}
"""


def _chat(api, text):
    api.routes[("POST", "/v1/chat/completions")] = (200, {"choices": [{"message": {"content": text}}]})


def test_slow_answer_fails_on_the_latency_bound_and_exemplar_names_the_run(api, tmp_path):
    _chat(api, "Paris.")
    api.delay["/v1/chat/completions"] = 0.3
    c = Checked(target_config(api.url, "vllm", GENERATIVE), tmp_path)
    text, om = c.run()
    from helpers import sample_value

    assert sample_value(text, "inference_canary_success", canary="chat") == 0
    (failed,) = c.events("canary_failed")
    assert failed["details"]["reason"] == "latency"
    # The exemplar on the duration histogram is the journaled run id, in OpenMetrics only.
    exemplars = [
        s.exemplar
        for fam in om_parse(om)
        if fam.name == "inference_canary_duration_seconds"
        for s in fam.samples
        if s.exemplar is not None
    ]
    assert len(exemplars) == 1
    assert exemplars[0].labels == {"canary_id": failed["details"]["canary_id"]}
    assert exemplars[0].value >= 0.3
    assert " # {" not in text
    c.close()


@pytest.mark.parametrize("answer,ok", [("It is Paris.", 1), ("", 0), ("Lyon", 0)])
def test_generative_answer_must_be_non_empty_and_match(api, tmp_path, answer, ok):
    _chat(api, answer)
    c = Checked(target_config(api.url, "vllm", GENERATIVE), tmp_path)
    from helpers import sample_value

    text, _ = c.run()
    assert sample_value(text, "inference_canary_success", canary="chat") == ok
    assert sample_value(text, "inference_canary_quality_score", canary="chat", check="answer") == ok
    c.close()


def test_canary_runs_at_most_once_per_interval(api, tmp_path):
    _ranker(api, SCORES)
    c = Checked(target_config(api.url, "triton", RANKING), tmp_path)
    for _ in range(3):
        c.run()
    assert len([r for r in api.received if r[1] == "/v2/models/ranker/infer"]) == 1
    c.close()


def test_canary_never_exceeds_its_share_of_traffic(api, tmp_path):
    _ranker(api, SCORES)
    models = RANKING.replace("every: 1h", "every: 1ms\n      max_traffic_ratio: 0.1")
    traffic = {"total": None}
    c = Checked(target_config(api.url, "triton", models), tmp_path, traffic=lambda: traffic["total"])
    c.run()
    sent = lambda: len([r for r in api.received if r[1] == "/v2/models/ranker/infer"])  # noqa: E731
    assert sent() == 0  # no traffic figure: no canary
    traffic["total"] = 0.0
    for step in range(1, 60):
        traffic["total"] = 10.0 * step  # ten user requests between runs
        c.run()
    assert 0 < sent() <= 0.1 * (traffic["total"] + 1)
    c.close()


def test_json_path_forms():
    doc = {"outputs": [{"data": [3, 4]}], "choices": [{"message": {"content": "x"}}]}
    assert json_path(doc, "outputs[0].data") == [3, 4]
    assert json_path(doc, "$.choices[0].message.content") == "x"
    assert json_path(doc, "outputs.0.data.1") == 4
    assert ranked_ids([{"id": "a", "score": 0.1}, {"id": "b", "score": 0.9}]) == ["b", "a"]
