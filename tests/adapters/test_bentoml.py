import pytest
from helpers import (
    FIXTURES,
    check_golden,
    promtool_check_metrics,
    read_fixture,
    sample_value,
    translate_fixture,
    translate_text,
)
from inference_exporter import adapters, parser
from prometheus_client.parser import text_string_to_metric_families

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


def _key(name: str) -> str:
    # prometheus_client appends _total to counters that lack it; our parser keeps native names.
    return name[: -len("_total")] if name.endswith("_total") else name


def _by_name(pairs) -> dict[str, list]:
    out: dict[str, list] = {}
    for name, labels, value in pairs:
        out.setdefault(_key(name), []).append((tuple(sorted(labels.items())), value))
    return {k: sorted(v) for k, v in out.items()}


def test_parser_agrees_with_prometheus_client():
    text = read_fixture(FIXTURE)
    wanted = parser.wanted_names(adapters.get(KIND).NATIVE)
    ours = _by_name(
        (n, lbl, v) for n, samples in parser.parse(text, wanted=wanted).samples.items() for lbl, v in samples
    )
    oracle = _by_name(
        (s.name, s.labels, s.value)
        for fam in text_string_to_metric_families(text)
        for s in fam.samples
        if s.name in wanted or _key(s.name) in wanted
    )
    assert ours and ours == oracle


def test_detected_as_own_kind_only():
    text = read_fixture(FIXTURE)
    exp = parser.parse(text)
    assert adapters.detect(text, exp) == KIND
    others = [k for k in adapters.ADAPTERS if k != KIND and k not in adapters.NOT_DETECTED]
    assert [k for k in others if adapters.get(k).detect(exp)] == []


def test_other_servers_fixtures_not_detected():
    detect = adapters.get(KIND).detect
    foreign = [p for p in FIXTURES.glob("*/*.prom") if p.parent.name != KIND]
    assert foreign, "expected fixtures of other servers"
    assert [p.name for p in foreign if detect(parser.parse(p.read_text()))] == []


def test_promtool_accepts_output():
    result = promtool_check_metrics(translate_fixture(KIND, FIXTURE))
    assert result.returncode == 0 and not result.stdout.strip(), result.stdout + result.stderr
