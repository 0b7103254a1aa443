"""NVIDIA Triton Inference Server (also what nvidia-pytriton runs).

Triton reports latency as cumulative microsecond counters, so the unified duration
histograms carry only ``_sum``/``_count`` (mean latency) and a ``+Inf`` bucket::

    nv_inference_request_success{model="ranker",version="1"} 6
    nv_inference_request_failure{model="ranker",reason="BACKEND",version="1"} 1
    nv_inference_request_duration_us{model="ranker",version="1"} 17860
    nv_inference_count{model="ranker",version="1"} 6
    nv_inference_exec_count{model="ranker",version="1"} 4

Caveat, seen on tritonserver 2.51: a failed request adds to ``nv_inference_exec_count``
but not to ``nv_inference_count``, so the mean batch size (inferences / executions)
reads low while requests fail; Triton gives no way to separate the two.

Source: triton-inference-server/server docs/user_guide/metrics.md; core src/metrics.cc.
"""

from __future__ import annotations

from typing import Any

from ..builder import Builder
from ..parser import Exposition
from ._api import KSERVE_V2, Call, ServerAPI, flatten
from ._kind import ServerKind
from ._native import MICROSECONDS, detect_any, model_and_version, scaled

SUCCESS = "nv_inference_request_success"
FAILURE = "nv_inference_request_failure"
DURATION = "nv_inference_request_duration_us"
QUEUE = "nv_inference_queue_duration_us"
COMPUTE = (
    "nv_inference_compute_input_duration_us",
    "nv_inference_compute_infer_duration_us",
    "nv_inference_compute_output_duration_us",
)
INFERENCES = "nv_inference_count"
EXECUTIONS = "nv_inference_exec_count"
PENDING = "nv_inference_pending_request_count"

NATIVE = (SUCCESS, FAILURE, DURATION, QUEUE, *COMPUTE, INFERENCES, EXECUTIONS, PENDING)


def detect(exp: Exposition) -> bool:
    return detect_any(exp, SUCCESS, INFERENCES, "nv_inference_exec_count")


def translate(exp: Exposition, out: Builder) -> None:
    # Triton counts latency only for successful requests: the success count is the
    # denominator of every duration.
    successes: dict[tuple[str, str], float] = {}
    for labels, v in exp.get(SUCCESS):
        mv = model_and_version(labels)
        successes[mv] = successes.get(mv, 0.0) + v
        out.counter("inference_requests_total", v, *mv, outcome="success")
    for labels, v in exp.get(FAILURE):
        out.counter(
            "inference_requests_total",
            v,
            *model_and_version(labels),
            outcome="failure",
            reason=labels.get("reason", "").lower(),
        )
    for native, unified in (
        (DURATION, "inference_request_duration_seconds"),
        (QUEUE, "inference_request_queue_duration_seconds"),
    ):
        for labels, v in exp.get(native):
            mv = model_and_version(labels)
            out.histogram(unified, (), scaled(v, MICROSECONDS), successes.get(mv, 0.0), *mv)
    compute: dict[tuple[str, str], float] = {}
    for native in COMPUTE:
        for labels, v in exp.get(native):
            mv = model_and_version(labels)
            compute[mv] = compute.get(mv, 0.0) + v
    for mv, total in compute.items():
        out.histogram(
            "inference_request_compute_duration_seconds",
            (),
            scaled(total, MICROSECONDS),
            successes.get(mv, 0.0),
            *mv,
        )
    executions = {model_and_version(lbl): v for lbl, v in exp.get(EXECUTIONS)}
    for labels, v in exp.get(INFERENCES):
        mv = model_and_version(labels)
        if mv in executions:
            out.histogram("inference_batch_size", (), v, executions[mv], *mv)
    for labels, v in exp.get(PENDING):
        out.gauge("inference_requests_waiting", v, *model_and_version(labels))


def model_config(call: Call, model: str, version: str) -> dict[str, Any]:
    path = f"/v2/models/{model}/versions/{version}/config" if version else f"/v2/models/{model}/config"
    cfg = call("GET", path, None)
    flat = flatten(cfg)
    groups = cfg.get("instance_group") or [] if isinstance(cfg, dict) else []
    flat["instance_count"] = sum(int(g.get("count", 1)) for g in groups if isinstance(g, dict)) or None
    return flat


# API: KServe v2 (see ``_api``) and docs/protocol/extension_model_configuration.md
# (``GET /v2/models/{m}/config``).
SERVER = ServerKind(
    name="triton",
    native=NATIVE,
    translate_fn=translate,
    detect=detect,
    detection_order=10,
    api=ServerAPI(**KSERVE_V2, config=model_config),
    api_on_other_port=True,
)
