"""Adapters translate one model server's native metrics into the unified schema.

One module per server kind. ``ADAPTERS`` is the explicit dispatch table (as
blackbox_exporter's ``Probers``); its order is the order auto-detection tries,
most specific first, so a server whose exposition also contains another's families
(e.g. MLServer's REST metrics) is still named correctly.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from ..parser import Exposition

# kind -> module name, in detection order.
ADAPTERS: dict[str, str] = {
    "triton": "triton",
    "vllm": "vllm",
    "sglang": "sglang",
    "tgi": "tgi",
    "torchserve": "torchserve",
    "mlserver": "mlserver",
    "kserve": "kserve",
    "bentoml": "bentoml",
    "rayserve": "rayserve",
    "tfserving": "tfserving",
    "llamacpp": "llamacpp",
    "ollama": "ollama",
    "generic": "generic",
}

KINDS = ("auto",) + tuple(ADAPTERS)

# Kinds never chosen by auto-detection: generic needs a mapping file.
NOT_DETECTED = frozenset(("generic",))


def get(kind: str) -> ModuleType:
    try:
        module = ADAPTERS[kind]
    except KeyError:
        raise KeyError(f"unknown server kind {kind!r}") from None
    return importlib.import_module(f"{__name__}.{module}")


def detect(text: str, exp: Exposition) -> str | None:
    """Name the server kind an exposition (or API answer, for Ollama) comes from."""
    for kind in ADAPTERS:
        if kind in NOT_DETECTED:
            continue
        module = get(kind)
        detect_body = getattr(module, "detect_body", None)
        if detect_body is not None and detect_body(text):
            return kind
        if module.detect(exp):
            return kind
    return None
