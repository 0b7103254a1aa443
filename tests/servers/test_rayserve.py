import pytest
from helpers import (
    DETECTABLE_KINDS,
    check_golden,
    read_fixture,
    sample_value,
    translate_fixture,
    translate_text,
)
from inference_exporter import parser, servers
from prometheus_client.parser import text_string_to_metric_families

FIXTURE = "rayserve/ray-2.60-two-apps.prom"
RANKER = "ranker_app/Ranker"  # "Ranker" exists in two applications


def test_detected_as_rayserve_and_by_no_other_adapter():
    text = read_fixture(FIXTURE)
    exp = parser.parse(text)
    assert servers.detect(text, exp) == "rayserve"
    others = [k for k in DETECTABLE_KINDS if k != "rayserve"]
    assert [k for k in others if servers.get(k).detect(exp)] == []


def test_translation_matches_golden():
    check_golden("rayserve", translate_fixture("rayserve", FIXTURE))


def test_model_is_the_deployment_qualified_only_where_names_collide():
    out = translate_fixture("rayserve", FIXTURE)
    models = {
        s.labels["model"]
        for fam in text_string_to_metric_families(out)
        for s in fam.samples
        if fam.name == "inference_requests"
    }
    assert models == {"ranker_app/Ranker", "embed_app/Ranker", "Ingress", "Embedder"}


def test_successes_errors_by_exception_type_and_replicas_summed():
    out = translate_fixture("rayserve", FIXTURE)
    # replicas 9 + 6; the compatibility gauge without _total is not counted again
    assert sample_value(out, "inference_requests_total", model=RANKER, outcome="success") == 15
    assert sample_value(out, "inference_requests_total", model=RANKER, reason="ValueError") == 2
    assert sample_value(out, "inference_requests_total", model=RANKER, reason="CancelledError") == 1
    assert sample_value(out, "inference_requests_total", model="embed_app/Ranker", outcome="success") == 4


def test_latency_milliseconds_become_seconds():
    out = translate_fixture("rayserve", FIXTURE)
    # replica 1: 4 x 8 + 4 x 40 + 2 x 150 ms; replica 2: 6 x 40 + 2 x 250 ms
    assert sample_value(out, "inference_request_duration_seconds_sum", model=RANKER) == pytest.approx(1.232)
    assert sample_value(out, "inference_request_duration_seconds_count", model=RANKER) == 18
    assert sample_value(out, "inference_request_duration_seconds_bucket", model=RANKER, le="0.01") == 4
    assert sample_value(out, "inference_request_duration_seconds_bucket", model=RANKER, le="0.2") == 16


def test_queue_and_running_gauges_summed_over_handles_and_replicas():
    out = translate_fixture("rayserve", FIXTURE)
    assert sample_value(out, "inference_requests_waiting", model=RANKER) == 3
    assert sample_value(out, "inference_requests_waiting", model="Ingress") == 2
    assert sample_value(out, "inference_requests_running", model=RANKER) == 3


def test_pre_2_10_counters_exported_as_gauges_are_read():
    text = read_fixture(FIXTURE)
    old = "\n".join(line for line in text.splitlines() if "request_counter_total" not in line)
    out = translate_text("rayserve", old)[0]
    assert sample_value(out, "inference_requests_total", model=RANKER, outcome="success") == 15


def test_successes_agree_with_prometheus_client_oracle():
    text = read_fixture(FIXTURE)
    native = sum(
        s.value
        for fam in text_string_to_metric_families(text)
        for s in fam.samples
        if s.name == "ray_serve_deployment_request_counter_total"
    )
    out = translate_fixture("rayserve", FIXTURE)
    unified = sum(
        s.value
        for fam in text_string_to_metric_families(out)
        for s in fam.samples
        if s.name == "inference_requests_total" and s.labels["outcome"] == "success"
    )
    assert unified == native
