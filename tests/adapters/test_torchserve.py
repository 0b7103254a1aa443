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
