"""SGLang (``--enable-metrics``, ``GET /metrics`` on the API port).

Histograms are in seconds; every series carries ``model_name`` plus rank labels::

    sglang:num_requests_total{engine_type="unified",model_name="qwen"} 42
    sglang:num_aborted_requests_total{engine_type="unified",model_name="qwen"} 3
    sglang:e2e_request_latency_seconds_bucket{engine_type="unified",le="0.4",model_name="qwen"} 17
    sglang:num_running_reqs{engine_type="unified",model_name="qwen",moe_ep_rank="0",pp_rank="0",tp_rank="0"} 4
    sglang:token_usage{engine_type="unified",model_name="qwen",moe_ep_rank="0",pp_rank="0",tp_rank="0"} 0.28

Requests: ``num_requests_total`` counts every request the tokenizer manager saw finish,
whatever the finish reason, so it includes requests aborted while running; an abort in
the waiting queue never reaches it. ``num_aborted_requests_total`` counts abort calls
(one per ``abort_all``). The two do not nest, so "finished minus aborted" can go down
(an abort is counted before the request finishes, a queued abort never finishes) and
a counter must never go down. Finished requests are therefore served as
``outcome="success"`` and aborts as ``outcome="failure",reason="abort"``: the sum over
outcomes may count an abort of a running request twice.

Scheduler gauges (running, queued, KV usage, queue time) come from each scheduler
process with ``tp_rank``/``pp_rank``/``moe_ep_rank`` (and ``dp_rank``) labels. Ranks of one
data-parallel group describe the same requests, so one rank per group is read (the
lowest) and groups are summed; KV usage takes the fullest group, as it limits admission.
The inter-token histogram's count is tokens and its sum the time between them, so its
mean is the per-token latency. SGLang has no version label.
Source: sgl-project/sglang python/sglang/srt/metrics/collector.py (now
srt/observability/metrics_collector.py), srt/managers/tokenizer_manager.py
(``collect_metrics``, ``abort_request``), docs/references/production_metrics.md.
"""

from __future__ import annotations

from typing import Any

from ..builder import Builder
from ..parser import Exposition
from ._api import ApiError, Call, Loaded, ServerAPI, as_text, flatten
from ._kind import ServerKind
from ._native import detect_any, histograms

FINISHED = "sglang:num_requests_total"
ABORTED = "sglang:num_aborted_requests_total"
# Tokenizer-side histograms: one series per tokenizer label set, summed.
HISTOGRAMS = {
    "sglang:e2e_request_latency_seconds": "inference_request_duration_seconds",
    "sglang:time_to_first_token_seconds": "inference_time_to_first_token_seconds",
}
# Newer name first; the older one is read only when the newer is absent.
TPOT = ("sglang:inter_token_latency_seconds", "sglang:time_per_output_token_seconds")
QUEUE_TIME = "sglang:queue_time_seconds"
TOKENS = {
    "sglang:prompt_tokens_total": "inference_input_tokens_total",
    "sglang:generation_tokens_total": "inference_output_tokens_total",
}
GAUGES = {
    "sglang:num_running_reqs": "inference_requests_running",
    "sglang:num_queue_reqs": "inference_requests_waiting",
}
KV_USAGE = "sglang:token_usage"

# Labels that name one scheduler process within a data-parallel group.
RANK_LABELS = ("tp_rank", "pp_rank", "moe_ep_rank")

NATIVE = (FINISHED, ABORTED, *HISTOGRAMS, *TPOT, QUEUE_TIME, *TOKENS, *GAUGES, KV_USAGE)


def detect(exp: Exposition) -> bool:
    return detect_any(exp, FINISHED, "sglang:num_running_reqs", "sglang:e2e_request_latency_seconds")


def _rank(labels: dict[str, str]) -> tuple:
    ranks = []
    for name in RANK_LABELS:
        value = labels.get(name, "0")
        ranks.append(int(value) if value.isdigit() else value)
    return tuple(ranks)


def _lowest_rank_per_group(series: list[tuple[dict[str, str], Any]]) -> list[tuple[dict[str, str], Any]]:
    """Keep, per label set without rank labels, the series of the lowest rank."""
    chosen: dict[tuple, tuple[tuple, dict[str, str], Any]] = {}
    for labels, value in series:
        group = tuple(sorted((k, v) for k, v in labels.items() if k not in RANK_LABELS))
        rank = _rank(labels)
        if group not in chosen or rank < chosen[group][0]:
            chosen[group] = (rank, labels, value)
    return [(labels, value) for _, labels, value in chosen.values()]


def translate(exp: Exposition, out: Builder) -> None:
    for labels, v in exp.get(FINISHED):
        out.counter("inference_requests_total", v, labels.get("model_name", ""), outcome="success")
    for labels, v in exp.get(ABORTED):
        out.counter(
            "inference_requests_total", v, labels.get("model_name", ""), outcome="failure", reason="abort"
        )
    hists = dict(HISTOGRAMS)
    for name in TPOT:
        if exp.has(name + "_count"):
            hists[name] = "inference_time_per_output_token_seconds"
            break
    for native, unified in hists.items():
        for labels, buckets, total, count in histograms(exp, native):
            out.histogram(unified, buckets, total, count, labels.get("model_name", ""))
    queue = [(lbl, (b, s, c)) for lbl, b, s, c in histograms(exp, QUEUE_TIME)]
    for labels, (buckets, total, count) in _lowest_rank_per_group(queue):
        out.histogram(
            "inference_request_queue_duration_seconds", buckets, total, count, labels.get("model_name", "")
        )
    for native, unified in TOKENS.items():
        for labels, v in exp.get(native):
            out.counter(unified, v, labels.get("model_name", ""))
    for native, unified in GAUGES.items():
        for labels, v in _lowest_rank_per_group(exp.get(native)):
            out.gauge(unified, v, labels.get("model_name", ""))
    fullest: dict[str, float] = {}
    for labels, v in exp.get(KV_USAGE):
        model = labels.get("model_name", "")
        fullest[model] = max(v, fullest.get(model, 0.0))
    for model, v in fullest.items():
        out.gauge("inference_kv_cache_usage_ratio", v, model)


def inventory(call: Call, declared: tuple[str, ...]) -> list[Loaded]:
    info = call("GET", "/get_model_info", None)
    path = as_text(info.get("model_path")) if isinstance(info, dict) else ""
    if not path:
        raise ApiError("/get_model_info has no model_path")
    return [Loaded(path)]


def model_config(call: Call, model: str, version: str) -> dict[str, Any]:
    return flatten(call("GET", "/get_model_info", None))


# API: python/sglang/srt/entrypoints/http_server.py (``/health``, ``/get_model_info``).
SERVER = ServerKind(
    name="sglang",
    native=NATIVE,
    translate_fn=translate,
    detect=detect,
    detection_order=30,
    api=ServerAPI(live="/health", ready="/health", inventory=inventory, config=model_config),
)
