import pytest
from helpers import (
    check_golden,
    read_fixture,
    sample_value,
    translate_fixture,
    translate_text,
)

KIND = "torchserve"
FIXTURE = "torchserve/torchserve-0.12.0-metrics-api.prom"


def test_translation_matches_golden():
    check_golden(KIND, translate_fixture(KIND, FIXTURE))


def test_single_model_owns_the_host_5xx():
    out = translate_fixture(KIND, FIXTURE)
    # 4 requests arrived, 1 answered 503: 3 successes, 1 failure; version "default" is no version
    assert sample_value(out, "inference_requests_total", model="ranker", outcome="success") == 3
    assert (
        sample_value(out, "inference_requests_total", model="ranker", outcome="failure", reason="http_5xx")
        == 1
    )
    assert 'version="' not in out


def test_cumulative_microseconds_become_mean_only_histograms():
    out = translate_fixture(KIND, FIXTURE)
    assert sample_value(out, "inference_request_duration_seconds_sum", model="ranker") == pytest.approx(
        0.0612439
    )
    assert sample_value(out, "inference_request_duration_seconds_count", model="ranker") == 3
    assert sample_value(out, "inference_request_duration_seconds_bucket", model="ranker", le="+Inf") == 3
    assert sample_value(out, "inference_request_queue_duration_seconds_sum", model="ranker") == pytest.approx(
        0.0004127
    )


def test_several_models_leave_5xx_unattributed():
    second = 'ts_inference_requests_total{model_name="scorer",model_version="2.0",hostname="ts-host",} 5.0\n'
    text = read_fixture(FIXTURE).replace(
        "# HELP GPUMemoryUtilization", second + "# HELP GPUMemoryUtilization"
    )
    out = translate_text(KIND, text)[0]
    assert sample_value(out, "inference_requests_total", model="ranker", outcome="success") == 4
    assert (
        sample_value(out, "inference_requests_total", model="scorer", version="2.0", outcome="success") == 5
    )
    failures = [line for line in out.splitlines() if 'outcome="failure"' in line]
    assert failures == [
        'inference_requests_total{target="t1",server="torchserve",outcome="failure",reason="http_5xx"} 1'
    ]


def test_no_5xx_yet_is_a_zero_failure_count():
    text = read_fixture(FIXTURE).replace('Requests5XX{Level="Host",Hostname="ts-host",} 1.0\n', "")
    out = translate_text(KIND, text)[0]
    assert sample_value(out, "inference_requests_total", model="ranker", outcome="failure") == 0
    assert sample_value(out, "inference_requests_total", model="ranker", outcome="success") == 4
