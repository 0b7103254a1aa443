from helpers import (
    check_golden,
    read_fixture,
    sample_value,
    translate_fixture,
)
from inference_exporter import exposition, parser, servers

FIXTURE = "triton/pytriton-0.7.0-tritonserver-2.51.prom"


def test_detected_as_triton():
    text = read_fixture(FIXTURE)
    assert servers.detect(text, parser.parse(text)) == "triton"


def test_translation_matches_golden():
    check_golden("triton", translate_fixture("triton", FIXTURE))


def test_counts_and_mean_latency_in_seconds():
    out = translate_fixture("triton", FIXTURE)
    assert sample_value(out, "inference_requests_total", model="ranker", outcome="success") == 6
    assert (
        sample_value(out, "inference_requests_total", model="ranker", outcome="failure", reason="backend")
        == 1
    )
    assert sample_value(out, "inference_request_duration_seconds_sum", model="ranker") == 0.01786
    assert sample_value(out, "inference_request_duration_seconds_count", model="ranker") == 6
    # compute = input + infer + output
    assert (
        abs(sample_value(out, "inference_request_compute_duration_seconds_sum", model="ranker") - 0.01512)
        < 1e-12
    )
    # mean batch size = inferences / executions
    assert sample_value(out, "inference_batch_size_sum", model="ranker") == 6
    assert sample_value(out, "inference_batch_size_count", model="ranker") == 4
    assert sample_value(out, "inference_model_info", model="ranker", version="1") == 1


def test_counter_reset_on_restart_keeps_unified_counter_monotonic():
    text = read_fixture(FIXTURE)
    resets = parser.ResetTracker()
    from inference_exporter.builder import Builder

    module = servers.get("triton")
    values = []
    for t in (text, text.replace("} 6\n", "} 2\n")):  # server restarted: success 6 -> 2
        exp = parser.parse(t, wanted=parser.wanted_names(module.native), resets=resets)
        resets.commit()
        b = Builder((("target", "t"), ("server", "triton")))
        module.translate(exp, b)
        rendered = exposition.render_snapshots([b.finish()]).text.decode()
        values.append(sample_value(rendered, "inference_requests_total", outcome="success"))
    assert values == [6, 8]
