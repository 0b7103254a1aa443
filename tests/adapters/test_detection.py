"""kind: auto names every server from its own exposition, and no other adapter claims it."""

import pytest
from helpers import FIXTURES
from inference_exporter import adapters, parser

EXPOSITIONS = sorted(p for p in FIXTURES.glob("*/*.prom") if p.parent.name in adapters.ADAPTERS)
DETECTABLE = [p for p in EXPOSITIONS if p.parent.name not in adapters.NOT_DETECTED]


def test_every_detectable_kind_has_a_fixture():
    kinds = {p.parent.name for p in EXPOSITIONS}
    expected = set(adapters.ADAPTERS) - adapters.NOT_DETECTED - {"ollama"}  # Ollama: tested by its API body
    assert expected <= kinds, expected - kinds


@pytest.mark.parametrize("path", DETECTABLE, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_fixture_detected_as_its_own_kind(path):
    text = path.read_text()
    assert adapters.detect(text, parser.parse(text)) == path.parent.name


@pytest.mark.parametrize("path", EXPOSITIONS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_no_other_adapter_claims_it(path):
    exp = parser.parse(path.read_text())
    others = [k for k in adapters.ADAPTERS if k != path.parent.name and k not in adapters.NOT_DETECTED]
    claimed = [k for k in others if adapters.get(k).detect(exp)]
    assert not claimed, claimed


def test_ollama_detected_from_its_root_answer():
    assert adapters.detect("Ollama is running", parser.parse("Ollama is running")) == "ollama"


def test_garbage_is_not_detected():
    text = "<html><body>502 Bad Gateway</body></html>\n"
    assert adapters.detect(text, parser.parse(text)) is None
