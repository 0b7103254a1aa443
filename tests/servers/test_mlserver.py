from helpers import (
    check_golden,
    sample_value,
    translate_fixture,
)

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
