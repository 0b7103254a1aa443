from helpers import (
    FIXTURES,
    check_golden,
    promtool_check_metrics,
    read_fixture,
    sample_value,
    translate_fixture,
)
from inference_exporter import adapters, parser
from prometheus_client.parser import text_string_to_metric_families

KIND = "mlserver"
FIXTURE = "mlserver/mlserver-1.7.1-sklearn.prom"


def test_translation_matches_golden():
    check_golden(KIND, translate_fixture(KIND, FIXTURE))


def test_requests_by_outcome_per_version():
    out = translate_fixture(KIND, FIXTURE)
    # version "None" (no version in the URL) is served without a version label
    assert (
        sample_value(out, "inference_requests_total", model="ranker", version="v1.2.3", outcome="success")
        == 2
    )
    unversioned = [
        line
        for line in out.splitlines()
        if line.startswith("inference_requests_total{") and "version=" not in line
    ]
    assert sorted(unversioned) == [
        'inference_requests_total{target="t1",server="mlserver",model="ranker",outcome="failure"} 1',
        'inference_requests_total{target="t1",server="mlserver",model="ranker",outcome="success"} 3',
    ]


def test_duration_summary_becomes_mean_only_histogram():
    out = translate_fixture(KIND, FIXTURE)
    assert (
        sample_value(out, "inference_request_duration_seconds_sum", model="ranker", version="v1.2.3")
        == 0.004906
    )
    assert (
        sample_value(out, "inference_request_duration_seconds_count", model="ranker", version="v1.2.3") == 2
    )
    assert (
        sample_value(
            out, "inference_request_duration_seconds_bucket", model="ranker", version="v1.2.3", le="+Inf"
        )
        == 2
    )
    assert 'inference_request_duration_seconds_count{target="t1",server="mlserver",model="ranker"} 4' in out


def test_http_level_families_are_not_translated():
    out = translate_fixture(KIND, FIXTURE)
    assert "rest_server" not in out and "python_gc" not in out
    assert sample_value(out, "inference_model_info", model="ranker", version="v1.2.3") == 1


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
