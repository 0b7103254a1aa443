"""Our parser against prometheus_client's (the oracle), and the quirks real servers send.

Every test runs twice: on ``parser.py`` and on the compiled parser (``_fastparse.pyx``), which
is given the page as bytes, as a collection gives it."""

import math
import random

import pytest
from helpers import FIXTURES
from inference_exporter import parser
from prometheus_client.parser import text_string_to_metric_families


@pytest.fixture(autouse=True, params=["python", "compiled"])
def implementation(request, monkeypatch):
    if request.param == "python":
        monkeypatch.setattr(parser, "parse", parser.parse_python)
        return
    if not parser.COMPILED:
        pytest.skip("the compiled parser is not built (no C compiler at install time)")
    compiled = parser.parse

    def parse_bytes(text, *args, **kwargs):
        return compiled(text.encode() if isinstance(text, str) else text, *args, **kwargs)

    monkeypatch.setattr(parser, "parse", parse_bytes)


def _oracle(text):
    out = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            out.setdefault(s.name, []).append((dict(s.labels), s.value))
    return out


def _ours(text):
    exp = parser.parse(text)
    return exp, {name: [(dict(lbl), v) for lbl, v in samples] for name, samples in exp.samples.items()}


def _normalize(samples: dict) -> dict:
    # The oracle renames counters that lack _total; compare on a common footing.
    out = {}
    for name, values in samples.items():
        key = name[:-6] if name.endswith("_total") else name
        out.setdefault(key, []).extend(values)
    return {
        k: sorted((tuple(sorted(lbl.items())), "nan" if math.isnan(v) else v) for lbl, v in vals)
        for k, vals in out.items()
    }


def test_every_fixture_parses_like_the_oracle():
    fixtures = sorted(p for p in FIXTURES.rglob("*.prom"))
    assert fixtures, "no fixtures found"
    for path in fixtures:
        text = path.read_text()
        exp, ours = _ours(text)
        assert exp.invalid_lines == 0, path
        assert _normalize(ours) == _normalize(_oracle(text)), path


QUIRKS = """\
# HELP ts_inference_requests_total Total number of inference requests.
# TYPE ts_inference_requests_total counter
ts_inference_requests_total{model_name="r",model_version="default",hostname="vm",} 4.0
# TYPE vllm:num_requests_running gauge
vllm:num_requests_running{model_name="m",engine="0"} 2
# TYPE :tensorflow:serving:request_count counter
:tensorflow:serving:request_count{model_name="tf",status="OK"} 7
escaped{path="C:\\\\dir",quote="say \\"hi\\"",nl="a\\nb"} 1
with_ts{a="1"} 3 1700000000000
braces{a="}{"} 5
spaced {a="1"} 6
nan_value NaN
inf_value +Inf
neg_inf -Inf
sci 1.5e-3
"""


def test_real_quirks():
    exp = parser.parse(QUIRKS)
    assert exp.invalid_lines == 0
    assert exp.get("ts_inference_requests_total") == [
        ({"model_name": "r", "model_version": "default", "hostname": "vm"}, 4.0)
    ]
    assert exp.get("vllm:num_requests_running")[0][1] == 2
    assert exp.get(":tensorflow:serving:request_count")[0][0]["status"] == "OK"
    labels = exp.get("escaped")[0][0]
    assert labels == {"path": "C:\\dir", "quote": 'say "hi"', "nl": "a\nb"}
    assert exp.get("with_ts") == [({"a": "1"}, 3.0)]
    assert exp.get("braces") == [({"a": "}{"}, 5.0)]
    assert exp.get("spaced") == [({"a": "1"}, 6.0)]
    assert math.isnan(exp.get("nan_value")[0][1])
    assert exp.get("inf_value")[0][1] == math.inf and exp.get("neg_inf")[0][1] == -math.inf
    assert exp.get("sci")[0][1] == 0.0015
    assert _normalize(_ours(QUIRKS)[1]) == _normalize(_oracle(QUIRKS))


def test_total_suffix_is_optional_both_ways():
    exp = parser.parse("# TYPE a counter\na 1\n# TYPE b_total counter\nb_total 2\n")
    assert exp.get("a_total") == [({}, 1.0)] and exp.get("b") == [({}, 2.0)]


def test_openmetrics_input_with_exemplars_and_eof():
    text = (
        '# TYPE x counter\nx_total{a="1"} 3 # {trace_id="abc"} 1.0 1700000000\n'
        'x_created{a="1"} 1700000000\n# EOF\nafter_eof 1\n'
    )
    exp = parser.parse(text)
    assert exp.get("x_total") == [({"a": "1"}, 3.0)]
    assert "after_eof" not in exp.samples


def test_malformed_lines_are_skipped_and_counted():
    text = 'good{a="1"} 1\nbad{a="1" 2\nbad2{a=1} 3\nno_value\nbad3 abc\n{a="1"} 4\nalso_good 5\n'
    exp = parser.parse(text)
    assert exp.get("good") == [({"a": "1"}, 1.0)] and exp.get("also_good") == [({}, 5.0)]
    assert exp.invalid_lines == 5


def test_wanted_set_skips_other_families_before_parsing_labels():
    text = 'keep{a="1"} 1\nskip{broken 2\nkeep_bucket{le="1"} 3\n'
    exp = parser.parse(text, wanted=parser.wanted_names(["keep"]))
    assert set(exp.samples) == {"keep", "keep_bucket"}
    assert exp.invalid_lines == 0  # the broken line was never looked at


def test_reset_tracker_keeps_each_native_series_monotonic():
    resets = parser.ResetTracker()
    seq = [
        '# TYPE c counter\nc{w="1"} 60\nc{w="2"} 40\n# TYPE g gauge\ng 5\n',
        '# TYPE c counter\nc{w="1"} 70\nc{w="2"} 3\n# TYPE g gauge\ng 1\n',  # worker 2 restarted
        '# TYPE c counter\nc{w="1"} 80\nc{w="2"} 10\n# TYPE g gauge\ng 2\n',
    ]
    totals, gauges = [], []
    for text in seq:
        exp = parser.parse(text, resets=resets)
        resets.commit()
        totals.append(sum(v for _, v in exp.get("c")))
        gauges.append(exp.get("g")[0][1])
    assert totals == [100, 113, 130]  # 70 + (40 + 3), then 80 + (40 + 10)
    assert gauges == [5, 1, 2]  # gauges are never adjusted


def test_random_garbage_never_raises():
    rng = random.Random(1)
    base = (FIXTURES / "triton" / "pytriton-0.7.0-tritonserver-2.51.prom").read_text()
    for _ in range(300):
        chars = list(base)
        for _ in range(rng.randint(1, 40)):
            chars[rng.randrange(len(chars))] = rng.choice('{}",=\\# \n\x00ab1.')
        exp = parser.parse("".join(chars))
        assert exp.sample_count + exp.invalid_lines > 0


class _ReferenceTracker:
    """The reset semantics, written plainly: per series the last value and the offset so far;
    a collection that is rolled back leaves no trace; a series that goes away is forgotten."""

    def __init__(self):
        self.state = {}

    def collect(self, samples):
        seen, out = {}, []
        for series, value in samples:
            last, offset = self.state.get(series, (value, 0.0))
            if value < last:
                offset += last
            seen[series] = (value, offset)
            out.append(value + offset)
        return seen, out


def test_reset_tracking_matches_the_plain_semantics_for_generated_histories():
    """Generated histories (seeded): series come and go, change order, reset, collections get
    rolled back; the parser's tracker gives exactly what the plain version gives."""
    seed = 1616
    rng = random.Random(seed)
    for case in range(60):
        resets = parser.ResetTracker()
        reference = _ReferenceTracker()
        names = [f'c{{w="{i}"}}' for i in range(rng.randint(1, 40))]
        values = {n: rng.randint(0, 100) for n in names}
        for step in range(25):
            if rng.random() < 0.2:
                rng.shuffle(names)
            live = [n for n in names if rng.random() < 0.9]
            for n in live:
                values[n] = rng.randint(0, 20) if rng.random() < 0.05 else values[n] + rng.randint(0, 50)
            text = "# TYPE c counter\n" + "".join(f"{n} {values[n]}\n" for n in live)
            exp = parser.parse(text, resets=resets)
            seen, expected = reference.collect([(n, values[n]) for n in live])
            got = [v for _, v in exp.get("c")]
            assert got == expected, f"case {case} step {step} (seed {seed})"
            if rng.random() < 0.15:
                resets.rollback()
            else:
                resets.commit()
                reference.state = seen


def test_label_cache_follows_the_series_without_thrashing(monkeypatch):
    """More series than the old fixed limit (20,000): the second parse reads every label set from
    the cache; series that went away leave the cache."""
    text = "".join(f'x{{a="{i}",b="same"}} {i}\n' for i in range(30_000))
    cache = parser.LabelCache()
    parser.parse(text, label_cache=cache)
    calls = []
    real = parser.parse_labels
    monkeypatch.setattr(parser, "parse_labels", lambda t: calls.append(t) or real(t))
    exp = parser.parse(text, label_cache=cache)
    assert exp.sample_count == 30_000 and calls == []
    parser.parse("".join(f'x{{a="{i}",b="same"}} {i}\n' for i in range(100)), label_cache=cache)
    assert len(cache.entries) == 100


def test_an_invalid_name_between_two_samples_of_a_series_keeps_the_duplicate_found():
    """Found by comparing the two parsers: a line with an invalid name used to leave its hash
    behind as the next line's, so a repeated series passed for a new one."""
    resets = parser.ResetTracker()
    exp = parser.parse('# TYPE c counter\nc_total 1\n{x="0"} 2\nc_total 3\n', resets=resets)
    assert exp.get("c_total") == [({}, 1.0)] and resets.dropped == {"duplicate": 1}
    assert exp.invalid_lines == 1
