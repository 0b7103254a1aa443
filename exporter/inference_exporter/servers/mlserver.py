"""Seldon MLServer (metrics server on :8082).

Per-model counters and a duration summary in seconds, labelled ``model`` and
``version`` (``"None"`` when the request URL named no version)::

    model_infer_request_success_total{model="ranker",version="None"} 3.0
    model_infer_request_failure_total{model="ranker",version="None"} 1.0
    model_infer_request_duration_count{model="ranker",version="None"} 4.0
    model_infer_request_duration_sum{model="ranker",version="None"} 0.0104

The duration is a summary without quantiles, so the unified histogram carries the
mean only (``_sum``/``_count``); it times failed requests as well. MLServer gives no
failure reason. Not translated: ``rest_server_*`` and ``grpc_server_*`` (HTTP/gRPC
level, no model label; REST also counts health checks) and ``batch_request_queue``
/ ``parallel_request_queue`` (queue sizes sampled per batch, not a waiting gauge).
Source: SeldonIO/MLServer docs-gb/user-guide/metrics.md, mlserver/handlers/dataplane.py.
"""

from __future__ import annotations

from ..builder import Builder
from ..parser import Exposition
from ._api import KSERVE_V2, ServerAPI, v2_metadata
from ._kind import ServerKind
from ._native import detect_any, model_and_version, summaries

SUCCESS = "model_infer_request_success_total"
FAILURE = "model_infer_request_failure_total"
DURATION = "model_infer_request_duration"

NATIVE = (SUCCESS, FAILURE, DURATION)


def detect(exp: Exposition) -> bool:
    return detect_any(exp, SUCCESS, FAILURE, DURATION)


def translate(exp: Exposition, out: Builder) -> None:
    for labels, v in exp.get(SUCCESS):
        out.counter("inference_requests_total", v, *model_and_version(labels), outcome="success")
    for labels, v in exp.get(FAILURE):
        out.counter("inference_requests_total", v, *model_and_version(labels), outcome="failure")
    for labels, total, count in summaries(exp, DURATION):
        out.histogram("inference_request_duration_seconds", (), total, count, *model_and_version(labels))


# API: KServe v2 (see ``_api``): mlserver/rest/endpoints.py, repository index with ``state``
# READY/UNAVAILABLE.
SERVER = ServerKind(
    name="mlserver",
    native=NATIVE,
    translate_fn=translate,
    detect=detect,
    detection_order=60,
    api=ServerAPI(**KSERVE_V2, config=v2_metadata),
    api_on_other_port=True,
)
