import json

import pytest
from helpers import DETECTABLE_KINDS, FIXTURES, read_fixture, sample_value
from inference_exporter import exposition, parser, servers
from inference_exporter.builder import Builder

ollama = servers.get("ollama")


def fake_api(answers: dict[str, str]):
    """get_json serving fixture files by API path, as the core's HTTP getter would."""

    def get_json(path: str):
        if path not in answers:
            raise ConnectionError(f"unexpected request {path}")
        return json.loads((FIXTURES / "ollama" / answers[path]).read_text())

    return get_json


def poll_text(get_json) -> str:
    out = Builder((("target", "t1"), ("server", "ollama")))
    ollama.poll(get_json, out)
    return exposition.render_snapshots([out.finish()]).text.decode()


def test_banner_detected_as_ollama_and_by_no_other_adapter():
    text = read_fixture("ollama/root.txt")
    exp = parser.parse(text)
    assert servers.detect(text, exp) == "ollama"
    assert servers.detect("Ollama is running\n", parser.parse("")) == "ollama"
    others = [k for k in DETECTABLE_KINDS if k != "ollama"]
    assert [k for k in others if servers.get(k).detect(exp)] == []
    assert not ollama.detect_body("llamacpp:requests_processing 0\n")


def test_polling_contract():
    assert ollama.poll is not None and ollama.native == ()


def test_loaded_models_with_digest_prefix_as_version():
    out = poll_text(fake_api({"/api/ps": "ps.json"}))
    assert sample_value(out, "inference_model_info", model="llama3.2:1b", version="baf6a787fdff") == 1
    assert (
        sample_value(out, "inference_model_info", model="nomic-embed-text:latest", version="0a109f422b47")
        == 1
    )
    # no request, latency or token series: Ollama keeps none
    assert "inference_requests_total" not in out


def test_nothing_loaded_serves_nothing():
    assert poll_text(fake_api({"/api/ps": "ps-idle.json"})) == ""


def test_failing_api_propagates_and_adds_nothing():
    out = Builder((("target", "t1"), ("server", "ollama")))
    with pytest.raises(ConnectionError):
        ollama.poll(fake_api({}), out)
    assert out.finish().series == 0


@pytest.mark.parametrize(
    "answer",
    [
        [],
        {"models": None},
        {"models": [{"name": "a:1"}, {"digest": "abc"}]},
        {"models": [{"name": "a:1"}, "x"]},
    ],
)
def test_malformed_answer_is_rejected_before_anything_is_added(answer):
    out = Builder((("target", "t1"), ("server", "ollama")))
    with pytest.raises(ValueError):
        ollama.poll(lambda path: answer, out)
    assert out.finish().series == 0
