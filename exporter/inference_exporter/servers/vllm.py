"""vLLM (OpenAI-compatible server, V1 engine).

Histograms are already in seconds; the label ``engine`` (data-parallel engine index)
is folded away, so one model served by several engines is one unified series::

    vllm:request_success_total{engine="0",finished_reason="stop",model_name="m"} 12
    vllm:e2e_request_latency_seconds_bucket{engine="0",le="0.3",model_name="m"} 3
    vllm:num_requests_running{engine="0",model_name="m"} 2
    vllm:kv_cache_usage_perc{engine="0",model_name="m"} 0.12

Finished reasons ``stop``, ``length`` and ``repetition`` are successes; ``abort`` and
``error`` are failures with that reason. vLLM has no version label.
Source: vllm-project/vllm vllm/v1/metrics/loggers.py, docs/design/metrics.md.
"""

from __future__ import annotations

from ..builder import Builder
from ..parser import Exposition
from ._api import ServerAPI, openai_model_config, openai_models
from ._kind import ServerKind
from ._native import detect_any, histograms

FAILED_REASONS = frozenset(("abort", "error"))

HISTOGRAMS = {
    "vllm:e2e_request_latency_seconds": "inference_request_duration_seconds",
    "vllm:request_queue_time_seconds": "inference_request_queue_duration_seconds",
    "vllm:request_inference_time_seconds": "inference_request_compute_duration_seconds",
    "vllm:time_to_first_token_seconds": "inference_time_to_first_token_seconds",
}
# Newer name first; the deprecated one is read only when the new one is absent.
TPOT = ("vllm:inter_token_latency_seconds", "vllm:time_per_output_token_seconds")
KV_CACHE = ("vllm:kv_cache_usage_perc", "vllm:gpu_cache_usage_perc")

NATIVE = (
    "vllm:request_success_total",
    "vllm:prompt_tokens_total",
    "vllm:generation_tokens_total",
    "vllm:num_requests_running",
    "vllm:num_requests_waiting",
    *HISTOGRAMS,
    *TPOT,
    *KV_CACHE,
)


def detect(exp: Exposition) -> bool:
    return detect_any(
        exp, "vllm:request_success_total", "vllm:num_requests_running", "vllm:e2e_request_latency_seconds"
    )


def translate(exp: Exposition, out: Builder) -> None:
    for labels, v in exp.get("vllm:request_success_total"):
        model = labels.get("model_name", "")
        reason = labels.get("finished_reason", "")
        if reason in FAILED_REASONS:
            out.counter("inference_requests_total", v, model, outcome="failure", reason=reason)
        else:
            out.counter("inference_requests_total", v, model, outcome="success")
    hists = dict(HISTOGRAMS)
    for name in TPOT:
        if exp.has(name + "_count"):
            hists[name] = "inference_time_per_output_token_seconds"
            break
    for native, unified in hists.items():
        for labels, buckets, total, count in histograms(exp, native):
            out.histogram(unified, buckets, total, count, labels.get("model_name", ""))
    for native, unified in (
        ("vllm:prompt_tokens_total", "inference_input_tokens_total"),
        ("vllm:generation_tokens_total", "inference_output_tokens_total"),
    ):
        for labels, v in exp.get(native):
            out.counter(unified, v, labels.get("model_name", ""))
    for native, unified in (
        ("vllm:num_requests_running", "inference_requests_running"),
        ("vllm:num_requests_waiting", "inference_requests_waiting"),
    ):
        for labels, v in exp.get(native):
            out.gauge(unified, v, labels.get("model_name", ""))
    for name in KV_CACHE:
        samples = exp.get(name)
        if samples:
            # The fullest engine is what limits admission: take the max, not a sum.
            fullest: dict[str, float] = {}
            for labels, v in samples:
                model = labels.get("model_name", "")
                fullest[model] = max(v, fullest.get(model, 0.0))
            for model, v in fullest.items():
                out.gauge("inference_kv_cache_usage_ratio", v, model)
            break


# API: vllm/entrypoints/openai/api_server.py (``/health``, ``/v1/models`` with ``max_model_len``, ``root``).
SERVER = ServerKind(
    name="vllm",
    native=NATIVE,
    translate_fn=translate,
    detect=detect,
    detection_order=20,
    api=ServerAPI(live="/health", ready="/health", inventory=openai_models, config=openai_model_config),
)
