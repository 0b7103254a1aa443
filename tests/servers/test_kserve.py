import pytest
from helpers import (
    check_golden,
    read_fixture,
    sample_value,
    translate_fixture,
    translate_text,
)
from inference_exporter import exposition, parser, servers

KIND = "kserve"
FIXTURE = "kserve/kserve-0.21.0-custom-model.prom"


def test_translation_matches_golden():
    check_golden(KIND, translate_fixture(KIND, FIXTURE))


def test_outcomes_from_stage_counts():
    out = translate_fixture(KIND, FIXTURE)
    # 6 requests reached postprocess; 9 predictions - 6 = 3 failures
    assert sample_value(out, "inference_requests_total", model="ranker", outcome="success") == 6
    assert sample_value(out, "inference_requests_total", model="ranker", outcome="failure") == 3


def test_predict_histogram_is_the_compute_duration():
    out = translate_fixture(KIND, FIXTURE)
    assert (
        sample_value(out, "inference_request_compute_duration_seconds_bucket", model="ranker", le="0.005")
        == 3
    )
    assert (
        sample_value(out, "inference_request_compute_duration_seconds_bucket", model="ranker", le="0.025")
        == 9
    )
    # 6 x 12 ms + 3 x 4 ms
    assert sample_value(
        out, "inference_request_compute_duration_seconds_sum", model="ranker"
    ) == pytest.approx(0.084)
    assert sample_value(out, "inference_request_compute_duration_seconds_count", model="ranker") == 9
    assert "inference_request_duration_seconds" not in out


def test_explain_requests_count_as_attempts_and_compute():
    explain = (
        'request_explain_seconds_bucket{model_name="ranker",le="0.5"} 2.0\n'
        'request_explain_seconds_bucket{model_name="ranker",le="+Inf"} 2.0\n'
        'request_explain_seconds_count{model_name="ranker"} 2.0\n'
        'request_explain_seconds_sum{model_name="ranker"} 0.6\n'
    )
    text = read_fixture(FIXTURE) + explain
    out = translate_text(KIND, text)[0]
    # 9 predictions + 2 explanations, 6 postprocessed: 5 failures
    assert sample_value(out, "inference_requests_total", model="ranker", outcome="failure") == 5
    assert sample_value(out, "inference_request_compute_duration_seconds_count", model="ranker") == 11
    assert (
        sample_value(out, "inference_request_compute_duration_seconds_bucket", model="ranker", le="0.5") == 11
    )


def test_derived_failure_counter_never_dips_while_a_request_is_in_flight():
    """KServe failures = predict - postprocess: an in-flight request must not show as a counter reset."""
    from inference_exporter.builder import Builder

    module = servers.get("kserve")
    floor: dict = {}
    resets = parser.ResetTracker()
    served = []
    base = (
        'request_predict_seconds_count{model_name="m"} %d\n'
        'request_postprocess_seconds_count{model_name="m"} %d\n'
    )
    # 1 failure so far; then a request is between predict and postprocess; then it completes
    for predict, post in ((5, 4), (6, 4), (6, 5)):
        text = "# TYPE request_predict_seconds histogram\n# TYPE request_postprocess_seconds histogram\n"
        text += base % (predict, post)
        exp = parser.parse(text, wanted=parser.wanted_names(module.native), resets=resets)
        resets.commit()
        b = Builder((("target", "t"), ("server", "kserve")))
        module.translate(exp, b)
        b.hold_counters(floor)
        rendered = exposition.render_snapshots([b.finish()]).text.decode()
        served.append(sample_value(rendered, "inference_requests_total", outcome="failure"))
    assert served == [1, 2, 2]  # held at 2, never back to 1
