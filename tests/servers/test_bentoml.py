import pytest
from helpers import (
    check_golden,
    read_fixture,
    sample_value,
    translate_fixture,
    translate_text,
)

KIND = "bentoml"
FIXTURE = "bentoml/bentoml-1.4.40-service.prom"


def test_translation_matches_golden():
    check_golden(KIND, translate_fixture(KIND, FIXTURE))


def test_status_codes_become_outcomes_for_api_endpoints_only():
    out = translate_fixture(KIND, FIXTURE)
    # /classify: 6 x 200, 1 x 400, 1 x 500; the 25 health and docs requests are not inference
    assert sample_value(out, "inference_requests_total", model="ranker", outcome="success") == 6
    assert (
        sample_value(out, "inference_requests_total", model="ranker", outcome="failure", reason="http_400")
        == 1
    )
    assert (
        sample_value(out, "inference_requests_total", model="ranker", outcome="failure", reason="http_500")
        == 1
    )
    assert 'version="' not in out  # "not available" is no version


def test_duration_folds_status_codes_of_the_api():
    out = translate_fixture(KIND, FIXTURE)
    assert sample_value(out, "inference_request_duration_seconds_count", model="ranker") == 8
    # 6 x 20 ms + 3 ms + 8 ms
    assert sample_value(out, "inference_request_duration_seconds_sum", model="ranker") == pytest.approx(0.131)
    assert sample_value(out, "inference_request_duration_seconds_bucket", model="ranker", le="0.005") == 1
    assert sample_value(out, "inference_request_duration_seconds_bucket", model="ranker", le="0.01") == 2


def test_in_progress_and_adaptive_batch_size():
    out = translate_fixture(KIND, FIXTURE)
    assert sample_value(out, "inference_requests_running", model="ranker") == 1
    assert sample_value(out, "inference_batch_size_bucket", model="ranker", le="2.0") == 3
    assert sample_value(out, "inference_batch_size_sum", model="ranker") == 1 + 2 + 2 + 3
    assert sample_value(out, "inference_batch_size_count", model="ranker") == 4


def test_runner_name_is_the_model_when_service_name_is_empty():
    text = read_fixture(FIXTURE).replace('service_name="ranker"', 'service_name=""')
    out = translate_text(KIND, text)[0]
    assert sample_value(out, "inference_requests_total", model="Ranker", outcome="success") == 6
