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


def test_the_model_name_comes_from_the_api(tmp_path):
    """llama-server's metrics name no model: the scraper asks /v1/models and labels every series."""
    from fake_targets import FakeTarget
    from inference_exporter.config import loads
    from inference_exporter.exposition import render_snapshots
    from inference_exporter.scrape import TargetScraper

    metrics = read_fixture(FIXTURE)
    models = '{"object": "list", "data": [{"id": "tiny-llama-q8.gguf", "object": "model"}]}'
    answers = {"/metrics": metrics, "/v1/models": models}
    target = FakeTarget(lambda path: answers[path])
    try:
        config = loads(f"targets:\n  - {{name: chat, kind: llamacpp, metrics_url: '{target.url}'}}\n")
        scraper = TargetScraper(config.targets[0])
        result = scraper.collect()
        assert result.ok, result.message
        out = render_snapshots(result.snapshots).text.decode()
        assert sample_value(out, "inference_output_tokens_total", model="tiny-llama-q8.gguf") == 24
        assert sample_value(out, "inference_model_info", model="tiny-llama-q8.gguf") == 1
        assert 'model=""' not in out and "inference_requests_running{" in out
        # Known now: asked again only after the refresh interval, not at every collection.
        asked = target.paths.count("/v1/models")
        scraper.collect()
        assert target.paths.count("/v1/models") == asked == 1
        # Unknown until the API answers: the series are served without a model, never dropped.
        answers["/v1/models"] = "not json"
        fresh = TargetScraper(config.targets[0])
        out = render_snapshots(fresh.collect().snapshots).text.decode()
        assert sample_value(out, "inference_output_tokens_total") == 24 and 'model="' not in out
        scraper.close()
        fresh.close()
    finally:
        target.close()
