"""KServe Python model server (``kserve.ModelServer``), /metrics on the HTTP port.

Four per-stage histograms in seconds (prometheus_client default buckets), labelled
``model_name``, and nothing else of its own::

    request_preprocess_seconds_count{model_name="ranker"} 9.0
    request_predict_seconds_bucket{le="0.005",model_name="ranker"} 8.0
    request_predict_seconds_count{model_name="ranker"} 9.0
    request_postprocess_seconds_count{model_name="ranker"} 6.0

KServe has no success or failure counter. Each request is timed stage by stage:
preprocess, then predict (or explain), then postprocess, and a stage that raises is
still observed but stops the request. So, per model (a heuristic):

* successes = ``request_postprocess_seconds_count``,
* failures = predict count + explain count - postprocess count (no reason given).

Caveats: a failure inside preprocess is not seen (predict never ran), and a request
between the end of predict and the end of postprocess briefly counts as a failure.

Predict and explain time disjoint requests, so their histograms are added into the
compute duration. Pre/postprocess time the same requests as predict; their
distributions cannot be added to it, so KServe serves no end-to-end duration. No
queue, batch, running or waiting metric exists.
Source: kserve/kserve python/kserve/kserve/metrics.py, python/kserve/kserve/model.py.
"""

from __future__ import annotations

from ..builder import Builder
from ..parser import Exposition
from ._api import KSERVE_V2, ServerAPI, v2_metadata
from ._kind import ServerKind
from ._native import detect_any, histograms

PREDICT = "request_predict_seconds"
EXPLAIN = "request_explain_seconds"
POSTPROCESS = "request_postprocess_seconds"

NATIVE = (PREDICT, EXPLAIN, POSTPROCESS)


def detect(exp: Exposition) -> bool:
    return detect_any(exp, PREDICT, "request_preprocess_seconds", POSTPROCESS)


def _counts(exp: Exposition, name: str) -> dict[str, float]:
    totals: dict[str, float] = {}
    for labels, v in exp.get(name + "_count"):
        model = labels.get("model_name", "")
        totals[model] = totals.get(model, 0.0) + v
    return totals


def translate(exp: Exposition, out: Builder) -> None:
    attempts = _counts(exp, PREDICT)
    for model, v in _counts(exp, EXPLAIN).items():
        attempts[model] = attempts.get(model, 0.0) + v
    successes = _counts(exp, POSTPROCESS)
    for model in dict.fromkeys([*attempts, *successes]):
        done = successes.get(model, 0.0)
        out.counter("inference_requests_total", done, model, outcome="success")
        out.counter(
            "inference_requests_total", max(0.0, attempts.get(model, 0.0) - done), model, outcome="failure"
        )
    for native in (PREDICT, EXPLAIN):
        for labels, buckets, total, count in histograms(exp, native):
            out.histogram(
                "inference_request_compute_duration_seconds",
                buckets,
                total,
                count,
                labels.get("model_name", ""),
            )


# API: kserve/protocol/rest/v1_endpoints.py and v2_endpoints.py (``/v1/models``, ``/v2/models/{m}/ready``;
# ``/v2/repository/index`` is 404, so the inventory asks each model).
SERVER = ServerKind(
    name="kserve",
    native=NATIVE,
    translate_fn=translate,
    detect=detect,
    detection_order=70,
    api=ServerAPI(**KSERVE_V2, config=v2_metadata),
)
