"""The compiled parser (``_fastparse.pyx``) gives exactly what ``parser.py`` gives.

Generated pages (seeded; a failure names its seed and page): every line shape of the text and
OpenMetrics formats and the malformed ones around them (names, label sets with escapes and
braces, exemplars, timestamps, every spelling of a value, comments, ``# EOF``, indentation,
non-ASCII and control bytes), a few pages in a row per target so that the label cache and the
reset tracker carry over, with and without a wanted set, a sample limit and label checks.
Then hostile pages: real fixtures with random bytes overwritten. Both parsers must agree on
every sample, type, count, the tracker's state after the page, and on any exception.
"""

from __future__ import annotations

import math
import os
import random
import shutil

import pytest
from helpers import FIXTURES
from inference_exporter import parser

needs_compiled = pytest.mark.skipif(
    not parser.COMPILED, reason="the compiled parser is not built (no C compiler at install time)"
)

NAMES = ["req_total", "req", "lat_bucket", "lat_sum", "lat_count", "g", "vllm:x_total", ":tf:c", "a_b"]
BAD_NAMES = ["1bad", "", "bad-name", "b.c", "é"]
VALUES = [
    "1", "0", "12.5", "1e3", "1.5e-3", "-2", "+3", "NaN", "nan", "+Inf", "-Inf", "inf", "Infinity",
    "1_000", "0x10", "abc", "", "1.2.3", "-0", "1e400", ".5", "5.",
]  # fmt: skip
LABEL_VALUES = ["1", "", "a b", "}{", 'say \\"hi\\"', "C:\\\\dir", "a\\nb", "x,y", "=", "#", "{", "é", "\\q"]


def _label_text(rng: random.Random) -> str:
    pairs = []
    for i in range(rng.randint(0, 4)):
        name = rng.choice(["a", "b", "model", "le", "_x", f"l{i}", "1bad"])
        value = rng.choice(LABEL_VALUES) if rng.random() < 0.3 else str(rng.randint(0, 3))
        eq = rng.choice(["=", "=", "=", " = "])
        pairs.append(f'{name}{eq}"{value}"')
    text = rng.choice([",", ",", ", "]).join(pairs)
    if pairs and rng.random() < 0.1:
        text += ","
    if rng.random() < 0.03:
        text = text.replace('"', "", 1)  # an unbalanced quote
    return text


def _sample_line(rng: random.Random, names: list[str]) -> str:
    name = rng.choice(names) if rng.random() < 0.95 else rng.choice(BAD_NAMES)
    value = rng.choice(VALUES) if rng.random() < 0.3 else str(rng.randint(0, 1000))
    if rng.random() < 0.1:
        value += f" {rng.randint(1, 2**41)}"  # a timestamp
    if rng.random() < 0.05:
        value += f' # {{trace_id="{rng.choice(["ab", "}", "a b"])}"}} 1.0 17'  # an exemplar
    shape = rng.random()
    if shape < 0.25:
        line = f"{name} {value}"
    elif shape < 0.9:
        line = f"{name}{{{_label_text(rng)}}} {value}"
    elif shape < 0.95:
        line = f"{name} {{{_label_text(rng)}}} {value}"
    else:
        line = rng.choice([f'{name}{{a="1" {value}', f"{name}", f'{{a="1"}} {value}', f"{name}}} {value}"])
    if rng.random() < 0.05:
        line = " " * rng.randint(1, 3) + line
    if rng.random() < 0.03:
        line += " " * rng.randint(1, 2)
    return line


def _page(rng: random.Random, names: list[str]) -> str:
    lines = []
    for _ in range(rng.randint(0, 60)):
        r = rng.random()
        if r < 0.1:
            base = rng.choice(names).removesuffix("_total").removesuffix("_bucket")
            kind = rng.choice(["counter", "gauge", "histogram", "summary", "untyped", "COUNTER", "x"])
            lines.append(rng.choice([f"# TYPE {base} {kind}", f"# TYPE {base}", f"# HELP {base} h"]))
        elif r < 0.13:
            lines.append(rng.choice(["", "#", "# a comment", "  # indented", "   "]))
        elif r < 0.135:
            lines.append("# EOF")
        else:
            lines.append(_sample_line(rng, names))
    text = "\n".join(lines) + ("\n" if rng.random() < 0.9 else "")
    if rng.random() < 0.05:
        text = text.replace("\n", "\r\n")
    if rng.random() < 0.05:
        text = text.replace(" ", "\t", 1)
    return text


def _outcome(parse, page: bytes, state: dict, **kwargs):
    """What a parse gives, including its exception and the tracker's state after it."""
    resets, cache = state["resets"], state["cache"]
    try:
        exp = parse(page, label_cache=cache, resets=resets, **kwargs)
    except Exception as exc:  # noqa: BLE001 - the exception is part of the outcome
        resets.rollback()
        return ("raised", type(exc).__name__, str(exc))
    tracker = (list(resets._new_keys), [_same(v) for v in resets._new], sorted(resets._pending.items()),
               sorted(resets.dropped.items()))  # fmt: skip
    resets.commit()
    samples = {
        name: [(sorted(labels.items()), _same(v)) for labels, v in found]
        for name, found in exp.samples.items()
    }
    return (samples, exp.types, exp.invalid_lines, exp.sample_count, tracker, sorted(cache.entries))


def _same(value: float):
    return "nan" if math.isnan(value) else value


def _check_labels(labels: dict) -> None:
    if len(labels) > 3:
        raise parser.SampleLimitExceeded(3)  # stands in for a label limit: any exception must agree


def _agree(pages: list[bytes], where: str, **kwargs) -> None:
    python = {"resets": parser.ResetTracker(), "cache": parser.LabelCache()}
    compiled = {"resets": parser.ResetTracker(), "cache": parser.LabelCache()}
    for i, page in enumerate(pages):
        expected = _outcome(parser.parse_python, page, python, **kwargs)
        got = _outcome(parser.parse, page, compiled, **kwargs)
        assert got == expected, f"{where}, page {i}: {page[:300]!r}"


@needs_compiled
def test_generated_pages_parse_alike():
    for seed in range(400):
        rng = random.Random(seed)
        names = rng.sample(NAMES, rng.randint(1, len(NAMES)))
        kwargs = {}
        if rng.random() < 0.4:
            kwargs["wanted"] = parser.wanted_names(rng.sample(NAMES, 3))
        if rng.random() < 0.1:
            kwargs["sample_limit"] = rng.randint(1, 30)
        if rng.random() < 0.1:
            kwargs["check_labels"] = _check_labels
        pages = [_page(rng, names).encode() for _ in range(rng.randint(1, 5))]
        _agree(pages, f"seed {seed}", **kwargs)


@needs_compiled
def test_steady_collections_with_resets_parse_alike():
    """The same series page after page, values growing, some reset, reordered, duplicated: the
    compiled parser's inlined steady path and the tracker agree with the reference."""
    for seed in range(60):
        rng = random.Random(seed)
        series = [f'c_total{{w="{i}",m="x"}}' for i in range(rng.randint(1, 50))] + ["c_total"]
        values = dict.fromkeys(series, 0.0)
        pages = []
        for _ in range(12):
            if rng.random() < 0.2:
                rng.shuffle(series)
            for s in series:
                values[s] = rng.choice([0.0, 1.0]) if rng.random() < 0.05 else values[s] + rng.randint(0, 9)
            lines = [f"{s} {values[s]:g}" for s in series if rng.random() < 0.95]
            if rng.random() < 0.2:
                lines.append(rng.choice(lines or ["c_total 1"]))  # a duplicate series
            if rng.random() < 0.1:
                lines.append(f"{series[0]} {rng.choice(['NaN', '-1', '+Inf'])}")
            pages.append(("# TYPE c counter\n" + "\n".join(lines) + "\n").encode())
        _agree(pages, f"seed {seed}")


@needs_compiled
def test_hostile_pages_parse_alike():
    """Real pages with random bytes overwritten (braces, quotes, escapes, NUL, UTF-8, newlines)."""
    fixtures = sorted(FIXTURES.rglob("*.prom"))
    assert fixtures
    for seed in range(200):
        rng = random.Random(seed)
        base = bytearray(rng.choice(fixtures).read_bytes())
        for _ in range(rng.randint(1, 30)):
            base[rng.randrange(len(base))] = rng.choice(b'{}",=\\# \n\x00ab1.e+-_\t\x7f\xc3')
        _agree([bytes(base), bytes(base)], f"seed {seed}")


@needs_compiled
def test_plain_ascii_pages_take_the_compiled_path(monkeypatch):
    """Only pages with other bytes go to parser.py: a page of printable ASCII never does."""
    from inference_exporter import _fastparse

    calls = []
    real = parser.parse_python
    monkeypatch.setattr(parser, "parse_python", lambda *a, **k: calls.append(a[0]) or real(*a, **k))
    parser.parse(b'# TYPE a counter\na_total{x="1"} 1\n')
    assert calls == []
    for other in (b"a\t1\n", b"a 1\r\n", 'a{x="é"} 1\n'.encode(), "a 1\n"):
        parser.parse(other)
    assert len(calls) == 4
    assert _fastparse.plain(b"~ !\n") and not _fastparse.plain(b"\x7f")


def test_the_compiled_parser_is_built_where_a_compiler_is():
    """pip install compiles it when a C compiler is at hand (setup.py): an install that silently
    lost it would cost the exporter several times its CPU per collection."""
    if not (shutil.which("cc") or shutil.which("gcc")):
        pytest.skip("no C compiler here: the exporter runs on parser.py alone")
    if os.environ.get("INFERENCE_EXPORTER_PARSER") == "python":
        pytest.skip("INFERENCE_EXPORTER_PARSER=python asks for the reference parser")
    assert parser.COMPILED and parser.parse is not parser.parse_python
