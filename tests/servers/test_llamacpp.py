from helpers import DETECTABLE_KINDS, check_golden, read_fixture, sample_value, translate_fixture
from inference_exporter import parser, servers
from prometheus_client.parser import text_string_to_metric_families

FIXTURE = "llamacpp/llama-server-b6000.prom"
OLD_FIXTURE = "llamacpp/llama-server-b3000-kvcache.prom"


def test_detected_as_llamacpp_and_by_no_other_adapter():
    for fixture in (FIXTURE, OLD_FIXTURE):
        text = read_fixture(fixture)
        exp = parser.parse(text)
        assert servers.detect(text, exp) == "llamacpp"
        others = [k for k in DETECTABLE_KINDS if k != "llamacpp"]
        assert [k for k in others if servers.get(k).detect(exp)] == []


def test_translation_matches_golden():
    check_golden("llamacpp", translate_fixture("llamacpp", FIXTURE))


def test_input_tokens_include_the_cached_prefix():
    out = translate_fixture("llamacpp", FIXTURE)
    # 5 evaluated + 4 reused from the cache
    assert sample_value(out, "inference_input_tokens_total") == 9
    assert sample_value(out, "inference_output_tokens_total") == 24
    assert sample_value(out, "inference_requests_running") == 1
    assert sample_value(out, "inference_requests_waiting") == 2


def test_only_what_llamacpp_reports_is_served_and_without_a_model():
    out = translate_fixture("llamacpp", FIXTURE)
    families = {fam.name for fam in text_string_to_metric_families(out)}
    assert families == {
        "inference_input_tokens",
        "inference_output_tokens",
        "inference_requests_running",
        "inference_requests_waiting",
    }
    assert 'model="' not in out


def test_older_build_kv_cache_ratio():
    out = translate_fixture("llamacpp", OLD_FIXTURE)
    assert sample_value(out, "inference_kv_cache_usage_ratio") == 0.375
    assert sample_value(out, "inference_input_tokens_total") == 120


def test_values_agree_with_prometheus_client_oracle():
    text = read_fixture(FIXTURE)
    native = {s.name: s.value for fam in text_string_to_metric_families(text) for s in fam.samples}
    out = translate_fixture("llamacpp", FIXTURE)
    assert sample_value(out, "inference_output_tokens_total") == native["llamacpp:tokens_predicted_total"]
    assert sample_value(out, "inference_requests_waiting") == native["llamacpp:requests_deferred"]
