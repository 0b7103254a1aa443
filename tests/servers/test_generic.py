import pytest
from helpers import DETECTABLE_KINDS, TESTS, check_golden, promtool_check_metrics, read_fixture, sample_value
from inference_exporter import exposition, parser
from inference_exporter.builder import Builder
from inference_exporter.servers import generic
from prometheus_client.parser import text_string_to_metric_families

EXAMPLE = TESTS.parent / "deploy" / "examples" / "generic-mapping.yml"
FIXTURE = "generic/acme-server.prom"
GOOD_ENTRY = "  - {native: acme_inflight, unified: inference_requests_running}\n"


def translate(mapping_path, text: str) -> str:
    adapter = generic.SERVER.translator(str(mapping_path))
    exp = parser.parse(text, wanted=parser.wanted_names(adapter.native), resets=parser.ResetTracker())
    out = Builder((("target", "t1"), ("server", "generic")))
    adapter.translate(exp, out)
    return exposition.render_snapshots([out.finish()]).text.decode()


def test_never_auto_detected():
    text = read_fixture(FIXTURE)
    assert "generic" not in DETECTABLE_KINDS
    assert not generic.SERVER.detect(parser.parse(text))


def test_example_mapping_translation_matches_golden():
    check_golden("generic", translate(EXAMPLE, read_fixture(FIXTURE)))


def test_example_mapping_values():
    out = translate(EXAMPLE, read_fixture(FIXTURE))
    assert sample_value(out, "inference_requests_total", model="ranker", version="3", outcome="success") == 12
    assert sample_value(out, "inference_requests_total", model="ranker", reason="500") == 3
    assert sample_value(out, "inference_requests_total", model="ranker", reason="429") == 1
    # milliseconds: bucket 25 ms -> 0.025 s, sum 1250 ms -> 1.25 s
    assert sample_value(out, "inference_request_duration_seconds_bucket", model="ranker", le="0.025") == 11
    assert sample_value(out, "inference_request_duration_seconds_sum", model="ranker") == 1.25
    # a summary keeps only _sum/_count and a +Inf bucket
    assert (
        sample_value(out, "inference_request_queue_duration_seconds_bucket", model="ranker", le="+Inf") == 17
    )
    assert sample_value(out, "inference_requests_running", model="ranker") == 3  # workers summed
    assert sample_value(out, "inference_kv_cache_usage_ratio", model="ranker") == 0.625  # fullest worker
    assert sample_value(out, "inference_model_info", model="ranker", version="3") == 1
    assert sample_value(out, "inference_model_info", model="ranker", version="2") is None  # value 0


def test_unmatched_series_are_not_counted():
    out = translate(EXAMPLE, read_fixture(FIXTURE))
    native = sum(
        s.value
        for fam in text_string_to_metric_families(read_fixture(FIXTURE))
        for s in fam.samples
        if s.name == "acme_requests_total"
    )
    unified = sum(
        s.value
        for fam in text_string_to_metric_families(out)
        for s in fam.samples
        if s.name == "inference_requests_total"
    )
    assert unified == native == 17


BAD = [
    ("metrics: []\n", "metrics: must be a non-empty list of entries"),
    (
        "metrics:\n" + GOOD_ENTRY + "targets: {}\n",
        "targets: unknown key (the top level takes only 'metrics')",
    ),
    (
        "metrics:\n  - {native: x_total, unified: inference_requests_total, set: {outcome: success},"
        " labelz: {}}\n",
        "metrics[0].labelz: unknown key (use native, unified, unit, labels, set, match, aggregate)",
    ),
    (
        "metrics:\n" + GOOD_ENTRY + "  - {native: x_total, unified: inference_request_total}\n",
        "metrics[1].unified: 'inference_request_total' is not a serving metric of the unified schema",
    ),
    (
        "metrics:\n  - {native: lat_ms, unified: inference_request_duration_seconds, unit: msec}\n",
        "metrics[0].unit: 'msec' is not a unit for inference_request_duration_seconds (use s, ms, us, ns)",
    ),
    (
        "metrics:\n  - {native: x_total, unified: inference_input_tokens_total, unit: ms}\n",
        "metrics[0].unit: inference_input_tokens_total (tokens) takes no unit",
    ),
    (
        "metrics:\n  - {native: x_total, unified: inference_requests_total}\n",
        "metrics[0].set.outcome: required, must be success or failure",
    ),
    (
        "metrics:\n  - {native: x_total, unified: inference_requests_total, set: {outcome: success},"
        " labels: {code: status}}\n",
        "metrics[0].labels.code: 'status' is not a label of inference_requests_total"
        " (use model, version, outcome, reason)",
    ),
    (
        "metrics:\n  - {native: x, unified: inference_requests_running, set: {version: 3}}\n",
        "metrics[0].set.version: must be a string, not int (quote it)",
    ),
    (
        "metrics:\n  - {native: x, unified: inference_requests_running, match: {code: '5(('}}\n",
        "metrics[0].match.code: bad regular expression: missing ), unterminated subpattern at position 2",
    ),
    (
        "metrics:\n  - {native: 'my-metric', unified: inference_requests_running}\n",
        "metrics[0].native: 'my-metric' is not a metric name",
    ),
    (
        "metrics:\n  - {native: x, unified: inference_request_duration_seconds, aggregate: max}\n",
        "metrics[0].aggregate: applies only to gauges, inference_request_duration_seconds is a histogram",
    ),
    ("metrics: [\n", "not valid YAML at line 2: expected the node content, but found '<stream end>'"),
]


@pytest.mark.parametrize("content,problem", BAD, ids=[p.split(":")[0] for _, p in BAD])
def test_bad_mapping_is_one_exact_line(tmp_path, content, problem):
    path = tmp_path / "mapping.yml"
    path.write_text(content)
    with pytest.raises(generic.MappingError) as err:
        generic.load_mapping(str(path))
    assert str(err.value) == f"{path}: {problem}"
    assert "\n" not in str(err.value)


def test_a_file_that_is_not_a_mapping_is_never_quoted(tmp_path):
    """Issue 14: pointed at /etc/shadow, the error quoted its first line."""
    path = tmp_path / "shadow"
    path.write_text("root:$6$saltsalt$secrethashsecrethash:19000:0:99999:7:::\nbin:*:19000:0:99999:7:::\n")
    with pytest.raises(generic.MappingError) as err:
        generic.load_mapping(str(path))
    message = str(err.value).replace(str(path), "")
    assert "secrethash" not in message and "root" not in message
    for kind in ("dir", "dev"):
        target = tmp_path if kind == "dir" else "/dev/zero"
        words = "directory" if kind == "dir" else "not a regular file"
        with pytest.raises(generic.MappingError, match=words):
            generic.load_mapping(str(target))


def test_missing_file(tmp_path):
    path = tmp_path / "absent.yml"
    with pytest.raises(generic.MappingError, match=r"absent\.yml' does not exist$"):
        generic.load_mapping(str(path))


def test_mapping_error_is_a_value_error():
    assert issubclass(generic.MappingError, ValueError)


def test_promtool_accepts_output():
    result = promtool_check_metrics(translate(EXAMPLE, read_fixture(FIXTURE)))
    assert result.returncode == 0 and not result.stdout.strip(), result.stdout + result.stderr
