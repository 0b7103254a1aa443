from helpers import check_golden, read_fixture, sample_value, translate_fixture
from inference_exporter import parser, servers

FIXTURE = "vllm/vllm-v1-two-engines.prom"
MODEL = "Qwen/Qwen2.5-1.5B-Instruct"


def test_detected_as_vllm():
    text = read_fixture(FIXTURE)
    assert servers.detect(text, parser.parse(text)) == "vllm"


def test_translation_matches_golden():
    check_golden("vllm", translate_fixture("vllm", FIXTURE))


def test_engines_folded_and_finished_reasons_mapped():
    out = translate_fixture("vllm", FIXTURE)
    # stop + length over both engines
    assert sample_value(out, "inference_requests_total", model=MODEL, outcome="success") == 8 + 2 + 5
    assert sample_value(out, "inference_requests_total", model=MODEL, outcome="failure", reason="abort") == 1
    assert sample_value(out, "inference_requests_total", model=MODEL, outcome="failure", reason="error") == 1
    assert sample_value(out, "inference_request_duration_seconds_count", model=MODEL) == 15
    # 10 requests on engine 0 at 0.4 + 0.25 i, 5 on engine 1: buckets keep vLLM's bounds
    assert sample_value(out, "inference_request_duration_seconds_bucket", model=MODEL, le="0.5") == 2
    assert sample_value(out, "inference_time_to_first_token_seconds_count", model=MODEL) == 15
    assert sample_value(out, "inference_time_per_output_token_seconds_count", model=MODEL) == 60
    assert sample_value(out, "inference_input_tokens_total", model=MODEL) == 120 * 15 + 14
    assert sample_value(out, "inference_output_tokens_total", model=MODEL) == 64 * 15
    assert sample_value(out, "inference_requests_running", model=MODEL) == 3
    assert sample_value(out, "inference_requests_waiting", model=MODEL) == 3
    # the fullest engine, not a sum of ratios
    assert sample_value(out, "inference_kv_cache_usage_ratio", model=MODEL) == 0.4


def test_deprecated_names_still_read():
    text = read_fixture(FIXTURE).replace("vllm:kv_cache_usage_perc", "vllm:gpu_cache_usage_perc")
    text = text.replace("vllm:inter_token_latency_seconds", "vllm:time_per_output_token_seconds")
    exp = parser.parse(text, wanted=parser.wanted_names(servers.get("vllm").native))
    from inference_exporter.builder import Builder

    b = Builder((("target", "t"), ("server", "vllm")))
    servers.get("vllm").translate(exp, b)
    snapshot = b.finish()
    assert "inference_kv_cache_usage_ratio" in snapshot.values
    assert "inference_time_per_output_token_seconds" in snapshot.histograms
