import pytest
from helpers import (
    check_golden,
    sample_value,
    translate_fixture,
)

KIND = "tgi"
FIXTURE = "tgi/tgi-3.x-router.prom"


def test_translation_matches_golden():
    check_golden(KIND, translate_fixture(KIND, FIXTURE))


def test_requests_by_outcome_with_tgi_reasons():
    out = translate_fixture(KIND, FIXTURE)
    assert sample_value(out, "inference_requests_total", outcome="success") == 40
    assert sample_value(out, "inference_requests_total", outcome="failure", reason="validation") == 2
    assert sample_value(out, "inference_requests_total", outcome="failure", reason="overloaded") == 1


def test_durations_keep_buckets_in_seconds():
    out = translate_fixture(KIND, FIXTURE)
    # 10 x 0.5 s + 20 x 1.2 s + 10 x 3 s
    assert sample_value(out, "inference_request_duration_seconds_sum") == pytest.approx(59)
    assert sample_value(out, "inference_request_duration_seconds_count") == 40
    # TGI's bounds are 0.0001 s times 1.5 n times; n=24 (1.68 s) is the first one above the 1.2 s requests
    bound = 0.0001
    for _ in range(24):
        bound *= 1.5
    assert sample_value(out, "inference_request_duration_seconds_bucket", le=repr(bound)) == 30
    assert sample_value(out, "inference_request_queue_duration_seconds_sum") == pytest.approx(2.3)
    assert sample_value(out, "inference_request_compute_duration_seconds_sum") == pytest.approx(53.5)
    assert sample_value(out, "inference_time_per_output_token_seconds_sum") == pytest.approx(1.0)
    assert sample_value(out, "inference_time_per_output_token_seconds_count") == 40


def test_token_counters_are_histogram_sums():
    out = translate_fixture(KIND, FIXTURE)
    assert sample_value(out, "inference_input_tokens_total") == 20 * 64 + 20 * 200
    assert sample_value(out, "inference_output_tokens_total") == 10 * 20 + 20 * 50 + 10 * 200


def test_batch_size_buckets_reduced_to_powers_of_two():
    out = translate_fixture(KIND, FIXTURE)
    assert sample_value(out, "inference_batch_size_bucket", le="1.0") == 10
    assert sample_value(out, "inference_batch_size_bucket", le="2.0") == 20
    assert sample_value(out, "inference_batch_size_bucket", le="3.0") is None
    assert sample_value(out, "inference_batch_size_bucket", le="4.0") == 25
    assert sample_value(out, "inference_batch_size_sum") == 10 * 1 + 10 * 2 + 5 * 4
    assert sample_value(out, "inference_batch_size_count") == 25
    assert out.count("inference_batch_size_bucket{") == 12  # 1, 2, 4, ... 1024 and +Inf


def test_running_and_waiting_without_model_label():
    out = translate_fixture(KIND, FIXTURE)
    assert sample_value(out, "inference_requests_running") == 3
    assert sample_value(out, "inference_requests_waiting") == 2
    assert 'model="' not in out
