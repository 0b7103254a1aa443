"""llama.cpp ``llama-server --metrics`` (``GET /metrics``).

Plain unlabelled counters and gauges::

    llamacpp:prompt_tokens_total 5
    llamacpp:prompt_tokens_cached_total 4
    llamacpp:tokens_predicted_total 24
    llamacpp:requests_processing 0
    llamacpp:requests_deferred 0

What exists is mapped: input tokens = ``prompt_tokens_total`` (tokens evaluated, cached
prefix excluded) + ``prompt_tokens_cached_total`` (reused from the cache; newer builds
only, so older builds undercount input tokens by the cache hits); output tokens =
``tokens_predicted_total``; running = ``requests_processing`` (busy slots); waiting =
``requests_deferred``; KV usage = ``kv_cache_usage_ratio`` (older builds only).
Missing at the source, so not served: request counts and errors (a failed request
leaves no trace), any latency histogram, time to first token, per-token latency
(only the cumulative ``*_seconds_total`` busy time and rolling tok/s gauges), batch size.
The metrics carry no model name: the exporter asks ``GET /v1/models`` for it (``data[0].id``,
the model file's name or llama-server's ``--alias``), as it asks Ollama's ``/api/ps``, and
labels every series with it; until the API has answered, ``model`` is empty.
Source: ggml-org/llama.cpp tools/server/server-task.cpp (metrics task result),
tools/server/README.md.
"""

from __future__ import annotations

from typing import Any

from ..builder import Builder
from ..parser import Exposition
from ._api import Call, ServerAPI, flatten, openai_models
from ._kind import GetJson, ServerKind
from ._native import detect_any

PROMPT = "llamacpp:prompt_tokens_total"
PROMPT_CACHED = "llamacpp:prompt_tokens_cached_total"
PREDICTED = "llamacpp:tokens_predicted_total"
PROCESSING = "llamacpp:requests_processing"
DEFERRED = "llamacpp:requests_deferred"
KV_USAGE = "llamacpp:kv_cache_usage_ratio"

NATIVE = (PROMPT, PROMPT_CACHED, PREDICTED, PROCESSING, DEFERRED, KV_USAGE)


def detect(exp: Exposition) -> bool:
    return detect_any(exp, PROMPT, PREDICTED, PROCESSING)


def translate(exp: Exposition, out: Builder) -> None:
    for native, unified in (
        (PROMPT, "inference_input_tokens_total"),
        (PROMPT_CACHED, "inference_input_tokens_total"),
        (PREDICTED, "inference_output_tokens_total"),
    ):
        for _, v in exp.get(native):
            out.counter(unified, v)
    for native, unified in (
        (PROCESSING, "inference_requests_running"),
        (DEFERRED, "inference_requests_waiting"),
        (KV_USAGE, "inference_kv_cache_usage_ratio"),
    ):
        for _, v in exp.get(native):
            out.gauge(unified, v)


def model_config(call: Call, model: str, version: str) -> dict[str, Any]:
    flat = flatten(call("GET", "/props", None))
    flat.setdefault("n_ctx", flat.get("default_generation_settings.n_ctx"))
    return flat


def served_model(get_json: GetJson) -> str:
    """The one model llama-server serves, from ``GET /v1/models``."""
    answer = get_json("/v1/models")
    data = answer.get("data") if isinstance(answer, dict) else None
    first = data[0] if isinstance(data, list) and data else None
    if not isinstance(first, dict) or not isinstance(first.get("id"), str) or not first["id"]:
        raise ValueError("/v1/models answer has no data[0].id")
    return first["id"]


# API: tools/server/README.md (``/health`` 503 while loading, ``/v1/models``, ``/props``).
SERVER = ServerKind(
    name="llamacpp",
    native=NATIVE,
    translate_fn=translate,
    detect=detect,
    detection_order=110,
    api=ServerAPI(live="/health", ready="/health", inventory=openai_models, config=model_config),
    model_name=served_model,
)
