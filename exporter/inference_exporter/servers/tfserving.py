"""TensorFlow Serving (``--monitoring_config_file`` with ``prometheus_config``; REST port,
``/monitoring/prometheus/metrics``).

Names are TensorFlow metric paths with ``/`` turned into ``:``, so they start with a
colon; latency samplers are microsecond histograms; counters carry no ``_total``::

    :tensorflow:serving:request_count{model_name="half_plus_two",status="OK"} 41
    :tensorflow:serving:request_count{model_name="half_plus_two",status="INVALID_ARGUMENT"} 2
    :tensorflow:serving:request_latency_bucket{model_name="hp2",API="predict",entrypoint="REST",le="18"} 3
    :tensorflow:serving:runtime_latency_sum{model_name="half_plus_two",API="Predict",runtime="TF1"} 5120

``status`` is the gRPC code name of the request's result: ``OK`` is a success, any
other code a failure with ``reason`` = the code in lower case. ``request_latency`` is the
whole request, ``runtime_latency`` the time inside the TensorFlow runtime (compute);
``API``, ``entrypoint`` and ``runtime`` are folded away. Queue time exists only with
batching and only per batching thread pool (``thread_pool_name``), not per model: it
is served without a model label. No version label exists in the metrics; batch sizes
are not reported per execution, so ``inference_batch_size`` is not served.
Source: tensorflow/serving tensorflow_serving/servables/tensorflow/util.cc,
batching/batching_session.cc, util/prometheus_exporter.cc.
"""

from __future__ import annotations

from ..builder import Builder
from ..parser import Exposition
from ._api import ApiError, Call, Loaded, ServerAPI, as_text
from ._kind import ServerKind
from ._native import MICROSECONDS, detect_any, histograms

REQUEST_COUNT = ":tensorflow:serving:request_count"
REQUEST_LATENCY = ":tensorflow:serving:request_latency"
RUNTIME_LATENCY = ":tensorflow:serving:runtime_latency"
QUEUING_LATENCY = ":tensorflow:serving:batching_session:queuing_latency"

NATIVE = (REQUEST_COUNT, REQUEST_LATENCY, RUNTIME_LATENCY, QUEUING_LATENCY)


def detect(exp: Exposition) -> bool:
    return detect_any(exp, REQUEST_COUNT, REQUEST_LATENCY, RUNTIME_LATENCY)


def translate(exp: Exposition, out: Builder) -> None:
    for labels, v in exp.get(REQUEST_COUNT):
        model = labels.get("model_name", "")
        status = labels.get("status", "")
        if status == "OK":
            out.counter("inference_requests_total", v, model, outcome="success")
        else:
            out.counter("inference_requests_total", v, model, outcome="failure", reason=status.lower())
    for native, unified in (
        (REQUEST_LATENCY, "inference_request_duration_seconds"),
        (RUNTIME_LATENCY, "inference_request_compute_duration_seconds"),
    ):
        for labels, buckets, total, count in histograms(exp, native, MICROSECONDS):
            out.histogram(unified, buckets, total, count, labels.get("model_name", ""))
    for _, buckets, total, count in histograms(exp, QUEUING_LATENCY, MICROSECONDS):
        out.histogram("inference_request_queue_duration_seconds", buckets, total, count)


def inventory(call: Call, declared: tuple[str, ...]) -> list[Loaded]:
    out = []
    for m in declared:
        try:
            status = call("GET", f"/v1/models/{m}", None)
        except ApiError as exc:
            if exc.status == 404:
                continue
            raise
        for v in status.get("model_version_status", []) if isinstance(status, dict) else []:
            state = as_text(v.get("state")).upper()
            if state in ("AVAILABLE", "LOADING", "UNLOADING"):
                out.append(Loaded(m, as_text(v.get("version")), state == "AVAILABLE"))
    return out


# API: tensorflow_serving/g3doc/api_rest.md (``/v1/models/{m}``: ``model_version_status[].state``
# AVAILABLE); no server health endpoint.
SERVER = ServerKind(
    name="tfserving",
    native=NATIVE,
    translate_fn=translate,
    detect=detect,
    detection_order=100,
    api=ServerAPI(inventory=inventory),
)
