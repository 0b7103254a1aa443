"""TorchServe (metrics API on :8082, ``metrics_mode=prometheus``).

Latencies are cumulative microsecond counters without ``_total``, and label sets end
with a trailing comma::

    ts_inference_requests_total{model_name="ranker",model_version="default",hostname="vm",} 4.0
    ts_inference_latency_microseconds{model_name="ranker",model_version="default",hostname="vm",} 61243.9
    ts_queue_latency_microseconds{model_name="ranker",model_version="default",hostname="vm",} 412.7
    Requests5XX{Level="Host",Hostname="vm",} 1.0

How requests are split by outcome, and why:

* ``ts_inference_requests_total`` counts every inference request when it arrives,
  whatever its outcome. TorchServe's only failure count is the host-wide
  ``Requests5XX`` (handler errors answer 503), which has no model label.
* When the exposition holds one model series (the usual sidecar), its 5xx are
  that model's failures (``reason="http_5xx"``) and successes are the requests
  minus them. Caveats: a 5xx from the management API is counted too, and a
  failing request still in flight is counted as a success until it fails.
* With several models the 5xx cannot be attributed: failures are served with an
  empty ``model`` and each model's success count still includes its failures.
* 4xx answers (unknown model, bad URL) are not counted in the requests total and
  are not served.

Latency and queue counters are only added for answered (non-error) requests, so
their ``_count`` is the success count; version ``default`` means "no version in
the URL". No batch-size, running or waiting metric exists (``QueueTime`` and
friends are last-value gauges, not cumulative).
Source: pytorch/serve docs/metrics.md, docs/metrics_api.md, frontend job/RestJob.java,
http/InferenceRequestHandler.java, util/NettyUtils.java.
"""

from __future__ import annotations

from typing import Any

from ..builder import Builder
from ..parser import Exposition
from ._api import Call, Loaded, ServerAPI, as_text, flatten
from ._kind import ServerKind
from ._native import MICROSECONDS, detect_any, scaled

REQUESTS = "ts_inference_requests_total"
LATENCY = "ts_inference_latency_microseconds"
QUEUE = "ts_queue_latency_microseconds"
HTTP_5XX = "Requests5XX"

NATIVE = (REQUESTS, LATENCY, QUEUE, HTTP_5XX)

NO_MODEL = ("", "")


def detect(exp: Exposition) -> bool:
    return detect_any(exp, REQUESTS, LATENCY, QUEUE)


def _by_model(exp: Exposition, name: str) -> dict[tuple[str, str], float]:
    """Sum a per-model counter over hostnames."""
    totals: dict[tuple[str, str], float] = {}
    for labels, v in exp.get(name):
        mv = labels.get("model_name", ""), labels.get("model_version", "")
        totals[mv] = totals.get(mv, 0.0) + v
    return totals


def translate(exp: Exposition, out: Builder) -> None:
    successes = _by_model(exp, REQUESTS)
    if HTTP_5XX in exp.types or exp.has(HTTP_5XX):
        failures = sum(v for _, v in exp.get(HTTP_5XX))
        owner = next(iter(successes)) if len(successes) == 1 else NO_MODEL
        if owner in successes:
            successes[owner] = max(0.0, successes[owner] - failures)
        out.counter("inference_requests_total", failures, *owner, outcome="failure", reason="http_5xx")
    for mv, v in successes.items():
        out.counter("inference_requests_total", v, *mv, outcome="success")
    for native, unified in (
        (LATENCY, "inference_request_duration_seconds"),
        (QUEUE, "inference_request_queue_duration_seconds"),
    ):
        for mv, total in _by_model(exp, native).items():
            out.histogram(unified, (), scaled(total, MICROSECONDS), successes.get(mv, 0.0), *mv)


def inventory(call: Call, declared: tuple[str, ...]) -> list[Loaded]:
    listing = call("GET", "/models", None)
    names = [as_text(m.get("modelName")) for m in (listing or {}).get("models", []) if isinstance(m, dict)]
    out = []
    for name in names:
        for desc in call("GET", f"/models/{name}", None) or []:
            workers = desc.get("workers") or []
            ready = any(as_text(w.get("status")).upper() == "READY" for w in workers)
            out.append(Loaded(name, as_text(desc.get("modelVersion")), ready))
    return out


def model_config(call: Call, model: str, version: str) -> dict[str, Any]:
    path = f"/models/{model}/{version}" if version else f"/models/{model}"
    described = call("GET", path, None)
    desc = described[0] if isinstance(described, list) and described else {}
    flat = flatten(desc)
    flat["max_batch_size"] = desc.get("batchSize")
    flat["instance_count"] = len(desc.get("workers") or [])
    return flat


# API: docs/inference_api.md (``/ping``), docs/management_api.md (``GET /models``, ``GET /models/{m}``:
# ``modelVersion``, ``batchSize``, ``workers[].status``).
SERVER = ServerKind(
    name="torchserve",
    native=NATIVE,
    translate_fn=translate,
    detect=detect,
    detection_order=50,
    api=ServerAPI(live="/ping", ready="/ping", inventory=inventory, config=model_config, management=True),
    api_on_other_port=True,
)
