"""BentoML 1.2+ services (``bentoml serve``), /metrics on the service port.

An HTTP middleware counts and times every answered request by path and status code;
services with batchable APIs add the adaptive batch size::

    bentoml_service_request_total{endpoint="/classify",http_response_code="200",
        runner_name="Ranker",service_name="ranker",service_version="not available"} 6.0
    bentoml_service_request_duration_seconds_bucket{endpoint="/classify",le="0.005",...} 2.0
    bentoml_service_request_in_progress{endpoint="/classify",service_name="ranker",...} 0.0
    bentoml_service_adaptive_batch_size_bucket{le="2.0",method_name="classify",...} 3.0

(the first sample is wrapped here; the exposition has one line per sample)

Choices:

* ``model`` is ``service_name`` (the bento's name; ``runner_name``, the service
  class, when it is empty). A service's API endpoints are not models but entry
  points to one, and the schema has no endpoint label, so they are summed.
  ``version`` is ``service_version``; ``not available`` (served from source) is
  the placeholder the Builder drops.
* BentoML's own routes (health probes, index page, OpenAPI documents, static
  assets) are not inference requests and are skipped.
* 5xx answers are failures and 4xx answers too, both with reason ``http_<code>``:
  a 4xx means the caller got no result (for example a new version that rejects the
  old input schema), which calling it a success would hide. Rules that want
  server faults only can exclude ``reason=~"http_4.."``. Other codes are successes.
* Durations cover all answered requests, failed ones included. No queue time.
Source: bentoml/BentoML docs/source/build-with-bentoml/observability/metrics.rst,
src/bentoml/_internal/server/http/instruments.py, src/_bentoml_impl/server/app.py.
"""

from __future__ import annotations

from ..builder import Builder
from ..parser import Exposition
from ._api import ServerAPI
from ._kind import ServerKind
from ._native import detect_any, histograms

REQUESTS = "bentoml_service_request_total"
DURATION = "bentoml_service_request_duration_seconds"
IN_PROGRESS = "bentoml_service_request_in_progress"
BATCH_SIZE = "bentoml_service_adaptive_batch_size"

NATIVE = (REQUESTS, DURATION, IN_PROGRESS, BATCH_SIZE)

SERVICE_ROUTES = frozenset(("/", "/livez", "/readyz", "/healthz", "/metrics", "/docs.json", "/schema.json"))
SERVICE_ROUTE_PREFIXES = ("/static_content/", "/assets/")


def detect(exp: Exposition) -> bool:
    return detect_any(exp, REQUESTS, DURATION, IN_PROGRESS)


def _is_inference(labels: dict[str, str]) -> bool:
    endpoint = labels.get("endpoint")
    if endpoint is None:
        return True  # the adaptive batch size is per API method, never a service route
    return endpoint not in SERVICE_ROUTES and not endpoint.startswith(SERVICE_ROUTE_PREFIXES)


def _service_and_version(labels: dict[str, str]) -> tuple[str, str]:
    return labels.get("service_name") or labels.get("runner_name", ""), labels.get("service_version", "")


def translate(exp: Exposition, out: Builder) -> None:
    for labels, v in exp.get(REQUESTS):
        if not _is_inference(labels):
            continue
        code = labels.get("http_response_code", "")
        if code[:1] in ("4", "5"):
            out.counter(
                "inference_requests_total",
                v,
                *_service_and_version(labels),
                outcome="failure",
                reason="http_" + code,
            )
        else:
            out.counter("inference_requests_total", v, *_service_and_version(labels), outcome="success")
    for native, unified in (
        (DURATION, "inference_request_duration_seconds"),
        (BATCH_SIZE, "inference_batch_size"),
    ):
        for labels, buckets, total, count in histograms(exp, native):
            if _is_inference(labels):
                out.histogram(unified, buckets, total, count, *_service_and_version(labels))
    for labels, v in exp.get(IN_PROGRESS):
        if _is_inference(labels):
            out.gauge("inference_requests_running", v, *_service_and_version(labels))


# API: src/bentoml/_internal/server/base_app.py (``/livez``, ``/readyz``); no model API.
SERVER = ServerKind(
    name="bentoml",
    native=NATIVE,
    translate_fn=translate,
    detect=detect,
    detection_order=80,
    api=ServerAPI(live="/livez", ready="/readyz"),
)
