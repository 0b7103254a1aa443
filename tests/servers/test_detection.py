"""kind: auto names every server from its own exposition, and no other adapter claims it."""

import pytest
from helpers import DETECTABLE_KINDS, FIXTURES
from inference_exporter import parser, servers

EXPOSITIONS = sorted(p for p in FIXTURES.glob("*/*.prom") if p.parent.name in servers.all_kinds())
DETECTABLE = [p for p in EXPOSITIONS if p.parent.name in DETECTABLE_KINDS]


def test_every_detectable_kind_has_a_fixture():
    kinds = {p.parent.name for p in EXPOSITIONS}
    expected = set(DETECTABLE_KINDS) - {"ollama"}  # Ollama: tested by its API body
    assert expected <= kinds, expected - kinds


@pytest.mark.parametrize("path", DETECTABLE, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_fixture_detected_as_its_own_kind(path):
    text = path.read_text()
    assert servers.detect(text, parser.parse(text)) == path.parent.name


@pytest.mark.parametrize("path", EXPOSITIONS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_no_other_adapter_claims_it(path):
    exp = parser.parse(path.read_text())
    others = [k for k in DETECTABLE_KINDS if k != path.parent.name]
    claimed = [k for k in others if servers.get(k).detect(exp)]
    assert not claimed, claimed


def test_ollama_detected_from_its_root_answer():
    assert servers.detect("Ollama is running", parser.parse("Ollama is running")) == "ollama"


def test_garbage_is_not_detected():
    text = "<html><body>502 Bad Gateway</body></html>\n"
    assert servers.detect(text, parser.parse(text)) is None
