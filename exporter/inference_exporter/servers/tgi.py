"""Hugging Face Text Generation Inference (TGI), the Rust router's /metrics.

Durations are histograms in seconds; counters carry no ``_total`` suffix and no
model label (the router serves one model; its id is only in ``GET /info``)::

    tgi_request_success 40
    tgi_request_failure{err="validation"} 2
    tgi_request_duration_bucket{le="1.2974633789062497"} 30
    tgi_request_generated_tokens_sum 3570
    tgi_queue_size 3

Every ``tgi_request_failure`` reason (``validation``, ``overloaded``, ``generation``,
``incomplete_generation``, ``dropped``, ...) is a failure with that reason, as TGI
counts it. ``tgi_request_mean_time_per_token_duration`` is each request's mean time
per generated token, the closest TGI has to inter-token latency. TGI has no TTFT
and no KV-cache metric.
Source: huggingface/text-generation-inference docs/source/reference/metrics.md,
router/src/server.rs (bucket layout), router/src/infer/mod.rs and queue.rs.
"""

from __future__ import annotations

from typing import Any

from ..builder import Builder
from ..parser import Exposition
from ._api import ApiError, Call, Loaded, ServerAPI, as_text, flatten
from ._kind import ServerKind
from ._native import detect_any, histograms

SUCCESS = "tgi_request_success"
FAILURE = "tgi_request_failure"
QUEUE_SIZE = "tgi_queue_size"
BATCH_CURRENT = "tgi_batch_current_size"
BATCH_NEXT = "tgi_batch_next_size"
INPUT_TOKENS = "tgi_request_input_length"
OUTPUT_TOKENS = "tgi_request_generated_tokens"

HISTOGRAMS = {
    "tgi_request_duration": "inference_request_duration_seconds",
    "tgi_request_queue_duration": "inference_request_queue_duration_seconds",
    "tgi_request_inference_duration": "inference_request_compute_duration_seconds",
    "tgi_request_mean_time_per_token_duration": "inference_time_per_output_token_seconds",
}

# TGI's batch-size histogram has one bucket per size 1..1024. Cumulative buckets at
# powers of two are an exact, coarser view that costs 12 series instead of 1025.
BATCH_BOUNDS = frozenset(float(2**i) for i in range(11)) | {float("inf")}

NATIVE = (SUCCESS, FAILURE, QUEUE_SIZE, BATCH_CURRENT, BATCH_NEXT, INPUT_TOKENS, OUTPUT_TOKENS, *HISTOGRAMS)


def detect(exp: Exposition) -> bool:
    return detect_any(exp, SUCCESS, "tgi_request_count", QUEUE_SIZE, "tgi_request_duration")


def translate(exp: Exposition, out: Builder) -> None:
    for _, v in exp.get(SUCCESS):
        out.counter("inference_requests_total", v, outcome="success")
    for labels, v in exp.get(FAILURE):
        out.counter("inference_requests_total", v, outcome="failure", reason=labels.get("err", ""))
    for native, unified in HISTOGRAMS.items():
        # Labels such as ``method`` are folded: the router serves a single model.
        for _, buckets, total, count in histograms(exp, native):
            out.histogram(unified, buckets, total, count)
    for _, buckets, total, count in histograms(exp, BATCH_NEXT):
        coarse = [(le, c) for le, c in buckets if le in BATCH_BOUNDS]
        out.histogram("inference_batch_size", coarse, total, count)
    # Token totals are the sums of the per-request token-count histograms.
    for native, unified in (
        (INPUT_TOKENS, "inference_input_tokens_total"),
        (OUTPUT_TOKENS, "inference_output_tokens_total"),
    ):
        for _, v in exp.get(native + "_sum"):
            out.counter(unified, v)
    for native, unified in (
        (BATCH_CURRENT, "inference_requests_running"),
        (QUEUE_SIZE, "inference_requests_waiting"),
    ):
        for _, v in exp.get(native):
            out.gauge(unified, v)


def inventory(call: Call, declared: tuple[str, ...]) -> list[Loaded]:
    info = call("GET", "/info", None)
    if not isinstance(info, dict) or not info.get("model_id"):
        raise ApiError("/info has no model_id")
    return [Loaded(info["model_id"], as_text(info.get("model_sha")))]


def model_config(call: Call, model: str, version: str) -> dict[str, Any]:
    flat = flatten(call("GET", "/info", None))
    flat.setdefault("dtype", flat.get("model_dtype"))
    return flat


# API: router/src/server.rs (``/health``, ``/info`` with ``model_id``, ``model_sha``, ``model_dtype``,
# ``max_*``).
SERVER = ServerKind(
    name="tgi",
    native=NATIVE,
    translate_fn=translate,
    detect=detect,
    detection_order=40,
    api=ServerAPI(live="/health", ready="/health", inventory=inventory, config=model_config),
)
