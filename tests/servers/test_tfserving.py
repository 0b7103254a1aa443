import pytest
from helpers import DETECTABLE_KINDS, check_golden, read_fixture, sample_value, translate_fixture
from inference_exporter import parser, servers
from prometheus_client.parser import text_string_to_metric_families

FIXTURE = "tfserving/tfserving-2.x-batching.prom"


def test_detected_as_tfserving_and_by_no_other_adapter():
    text = read_fixture(FIXTURE)
    exp = parser.parse(text)
    assert servers.detect(text, exp) == "tfserving"
    others = [k for k in DETECTABLE_KINDS if k != "tfserving"]
    assert [k for k in others if servers.get(k).detect(exp)] == []


def test_translation_matches_golden():
    check_golden("tfserving", translate_fixture("tfserving", FIXTURE))


def test_status_ok_is_success_other_codes_are_lowercased_reasons():
    out = translate_fixture("tfserving", FIXTURE)
    assert sample_value(out, "inference_requests_total", model="half_plus_two", outcome="success") == 41
    assert (
        sample_value(out, "inference_requests_total", model="half_plus_two", reason="invalid_argument") == 2
    )
    assert sample_value(out, "inference_requests_total", model="resnet", reason="deadline_exceeded") == 1


def _buckets(text, name, model):
    return [
        (float(s.labels["le"]), s.value)
        for fam in text_string_to_metric_families(text)
        for s in fam.samples
        if s.name == name + "_bucket" and s.labels["model"] == model
    ]


def test_microsecond_histograms_become_seconds():
    out = translate_fixture("tfserving", FIXTURE)
    # 40 x 250 us + 3 x 5000 us
    assert sample_value(
        out, "inference_request_duration_seconds_sum", model="half_plus_two"
    ) == pytest.approx(0.025)
    assert sample_value(out, "inference_request_duration_seconds_count", model="half_plus_two") == 43
    # bounds 10 us x 1.8^n; the 8 resnet requests (30000 us each) land in (20.8 ms, 37.5 ms]
    bounds = _buckets(out, "inference_request_duration_seconds", "resnet")
    assert bounds[0] == (pytest.approx(1e-05), 0)
    first_full = next(le for le, count in bounds if count == 8)
    assert first_full == pytest.approx(10 * 1.8**14 * 1e-6, rel=1e-5)
    # runtime latency is the compute time: 7 x 25000 us
    assert sample_value(
        out, "inference_request_compute_duration_seconds_sum", model="resnet"
    ) == pytest.approx(0.175)


def test_batching_queue_time_has_no_model():
    out = translate_fixture("tfserving", FIXTURE)
    # 6 x 150 us, per thread pool only
    assert sample_value(out, "inference_request_queue_duration_seconds_sum", model="") is None
    assert sample_value(out, "inference_request_queue_duration_seconds_sum") == pytest.approx(0.0009)
    assert sample_value(out, "inference_request_queue_duration_seconds_count") == 6


def test_request_counts_agree_with_prometheus_client_oracle():
    text = read_fixture(FIXTURE)
    native = sum(
        s.value
        for fam in text_string_to_metric_families(text)
        for s in fam.samples
        if s.name.startswith(":tensorflow:serving:request_count")
    )
    out = translate_fixture("tfserving", FIXTURE)
    unified = sum(
        s.value
        for fam in text_string_to_metric_families(out)
        for s in fam.samples
        if s.name == "inference_requests_total"
    )
    assert unified == native == 51
