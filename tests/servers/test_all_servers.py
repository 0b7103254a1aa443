"""Checks every adapter fixture must pass: parsed like the oracle, translated cleanly.

Per-adapter test files hold what is particular to each server (mappings, units,
quirks, golden output); detection across all fixtures is in test_detection.py.
"""

import pytest
from helpers import FIXTURES, promtool_check_metrics, translate_text
from inference_exporter import parser, servers
from prometheus_client.parser import text_string_to_metric_families

# generic has no fixed native families: its mapping file decides (see test_generic.py).
EXPOSITIONS = sorted(
    p for p in FIXTURES.glob("*/*.prom") if p.parent.name in set(servers.all_kinds()) - {"generic"}
)
IDS = [f"{p.parent.name}/{p.name}" for p in EXPOSITIONS]


def _key(name: str) -> str:
    # prometheus_client appends _total to counters that lack it; our parser keeps native names.
    return name[: -len("_total")] if name.endswith("_total") else name


def _by_name(triples) -> dict[str, list]:
    out: dict[str, list] = {}
    for name, labels, value in triples:
        out.setdefault(_key(name), []).append((tuple(sorted(labels.items())), value))
    return {k: sorted(v) for k, v in out.items()}


@pytest.mark.parametrize("path", EXPOSITIONS, ids=IDS)
def test_parser_keeps_what_prometheus_client_reads(path):
    text = path.read_text()
    wanted = parser.wanted_names(servers.get(path.parent.name).native)
    exp = parser.parse(text, wanted=wanted)
    ours = _by_name((n, lbl, v) for n, samples in exp.samples.items() for lbl, v in samples)
    oracle = _by_name(
        (s.name, s.labels, s.value)
        for fam in text_string_to_metric_families(text)
        for s in fam.samples
        if s.name in wanted or _key(s.name) in wanted
    )
    assert ours and ours == oracle
    assert exp.invalid_lines == 0


@pytest.mark.parametrize("path", EXPOSITIONS, ids=IDS)
def test_promtool_accepts_translation(path):
    out, _ = translate_text(path.parent.name, path.read_text())
    assert "inference_" in out
    result = promtool_check_metrics(out)
    assert result.returncode == 0 and not result.stdout.strip(), result.stdout + result.stderr
