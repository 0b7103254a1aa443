"""Ollama: no metrics endpoint, so this adapter polls the API instead of parsing.

``GET /`` answers ``Ollama is running``; ``GET /api/ps`` lists the models loaded now::

    {"models": [{"name": "llama3.2:1b", "model": "llama3.2:1b", "size": 2019393189,
                 "digest": "baf6a787fdffd633537aa2eb51cfd54cb93ff08e28040095462bb63daf552878",
                 "details": {"family": "llama", "parameter_size": "1.2B",
                             "quantization_level": "Q8_0"},
                 "expires_at": "2025-01-01T00:05:00Z", "size_vram": 2019393189}]}

Each loaded model is served as ``inference_model_info`` with ``model`` = its name (the
tag, e.g. ``:1b``, is part of the name) and ``version`` = the first 12 hex digits of its
digest: the ID ``ollama list`` shows, which changes whenever the weights behind a tag
change. Nothing else in the schema fits honestly: Ollama keeps no request, error,
latency or token counts (per-response timings go only to the caller), and no queue
or running gauges. Model memory (``size``, ``size_vram``) has no unified metric yet.
A model that is unloaded disappears from ``/api/ps`` and so from the series.
Source: ollama/ollama docs/api.md ("List Running Models"), server/routes.go (PsHandler).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..builder import Builder
from ._api import ApiError, Call, Loaded, ServerAPI, as_text, flatten
from ._kind import ServerKind

BANNER = "Ollama is running"
RUNNING_MODELS = "/api/ps"
DIGEST_PREFIX = 12


def detect_body(text: str) -> bool:
    return text.strip() == BANNER


def _loaded_models(answer: Any) -> list[tuple[str, str]]:
    """(name, version) of each model in an ``/api/ps`` answer; ValueError if malformed."""
    if not isinstance(answer, dict) or not isinstance(answer.get("models"), list):
        raise ValueError(f"{RUNNING_MODELS} answer has no 'models' list")
    loaded = []
    for entry in answer["models"]:
        if not isinstance(entry, dict):
            raise ValueError(f"{RUNNING_MODELS} answer has a model entry that is not an object")
        name = entry.get("name") or entry.get("model")
        if not isinstance(name, str) or not name:
            raise ValueError(f"{RUNNING_MODELS} answer has a model without a name")
        digest = entry.get("digest")
        version = digest[:DIGEST_PREFIX] if isinstance(digest, str) else ""
        loaded.append((name, version))
    return loaded


def poll(get_json: Callable[[str], Any], out: Builder) -> None:
    # Validate the whole answer before adding anything, so a bad answer adds nothing.
    for name, version in _loaded_models(get_json(RUNNING_MODELS)):
        out.model(name, version)


def inventory(call: Call, declared: tuple[str, ...]) -> list[Loaded]:
    ps = call("GET", "/api/ps", None)
    models = ps.get("models", []) if isinstance(ps, dict) else []
    # The digest identifies the weights; its first 12 hex digits are what `ollama ps` shows.
    return [
        Loaded(as_text(m.get("name")), as_text(m.get("digest"))[:DIGEST_PREFIX], True)
        for m in models
        if m.get("name")
    ]


def model_config(call: Call, model: str, version: str) -> dict[str, Any]:
    for m in call("GET", "/api/ps", None).get("models", []):
        if m.get("name") == model:
            return flatten(m)
    raise ApiError(f"model {model!r} not in /api/ps")


# API: docs/api.md (``/api/version``, ``/api/ps`` with ``digest``, ``details``).
SERVER = ServerKind(
    name="ollama",
    detect_body=detect_body,
    poll=poll,
    detection_order=120,
    api=ServerAPI(live="/", ready="/api/version", inventory=inventory, config=model_config),
)
