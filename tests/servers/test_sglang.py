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

FIXTURE = "sglang/sglang-0.5-dp2.prom"
MODEL = "qwen2.5-7b-instruct"


def test_detected_as_sglang_and_by_no_other_adapter():
    text = read_fixture(FIXTURE)
    exp = parser.parse(text)
    assert servers.detect(text, exp) == "sglang"
    others = [k for k in DETECTABLE_KINDS if k != "sglang"]
    assert [k for k in others if servers.get(k).detect(exp)] == []


def test_translation_matches_golden():
    check_golden("sglang", translate_fixture("sglang", FIXTURE))


def test_finished_requests_are_successes_and_aborts_failures():
    out = translate_fixture("sglang", FIXTURE)
    assert sample_value(out, "inference_requests_total", model=MODEL, outcome="success") == 12
    assert sample_value(out, "inference_requests_total", model=MODEL, outcome="failure", reason="abort") == 2


def test_histograms_and_tokens():
    out = translate_fixture("sglang", FIXTURE)
    # 4 x 0.3 + 4 x 0.7 + 3 x 1.5 + 5.0 seconds
    assert sample_value(out, "inference_request_duration_seconds_sum", model=MODEL) == pytest.approx(13.5)
    assert sample_value(out, "inference_request_duration_seconds_bucket", model=MODEL, le="1.0") == 8
    assert sample_value(out, "inference_time_to_first_token_seconds_count", model=MODEL) == 12
    # two updates of 30 tokens over 0.6 s each: count is tokens, mean 0.02 s per token
    assert sample_value(out, "inference_time_per_output_token_seconds_count", model=MODEL) == 60
    assert sample_value(out, "inference_time_per_output_token_seconds_sum", model=MODEL) == pytest.approx(1.2)
    assert sample_value(out, "inference_input_tokens_total", model=MODEL) == 4800
    assert sample_value(out, "inference_output_tokens_total", model=MODEL) == 1536


def test_scheduler_ranks_of_one_group_are_read_once():
    out = translate_fixture("sglang", FIXTURE)
    # dp_rank 0 reports 4 running from tp_rank 0 and 1 (the same requests), dp_rank 1 reports 3
    assert sample_value(out, "inference_requests_running", model=MODEL) == 7
    assert sample_value(out, "inference_requests_waiting", model=MODEL) == 3
    # queue time: dp0 (0.05 + 0.05 + 0.3) + dp1 1.5, the tp_rank 1 copy skipped
    assert sample_value(out, "inference_request_queue_duration_seconds_count", model=MODEL) == 4
    assert sample_value(out, "inference_request_queue_duration_seconds_sum", model=MODEL) == pytest.approx(
        1.9
    )
    assert sample_value(out, "inference_kv_cache_usage_ratio", model=MODEL) == 0.41


def test_counts_agree_with_prometheus_client_oracle():
    text = read_fixture(FIXTURE)
    native = {
        s.name: s.value
        for fam in text_string_to_metric_families(text)
        for s in fam.samples
        if s.name in ("sglang:num_requests_total", "sglang:num_aborted_requests_total")
    }
    out = translate_fixture("sglang", FIXTURE)
    assert (
        sample_value(out, "inference_requests_total", outcome="success")
        == native["sglang:num_requests_total"]
    )
    assert (
        sample_value(out, "inference_requests_total", outcome="failure")
        == native["sglang:num_aborted_requests_total"]
    )


def test_older_builds_time_per_output_token_is_read_when_inter_token_is_absent():
    text = read_fixture(FIXTURE).replace(
        "sglang:inter_token_latency_seconds", "sglang:time_per_output_token_seconds"
    )
    out = translate_text("sglang", text)[0]
    assert sample_value(out, "inference_time_per_output_token_seconds_count", model=MODEL) == 60
