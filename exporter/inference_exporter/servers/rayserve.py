"""Ray Serve (the per-node Ray metrics agent, ``--metrics-export-port``).

Latency histograms are in milliseconds; every series carries Ray's process labels
(``Component``, ``NodeAddress``, ``SessionName``, ``Version``, ``WorkerId``,
``otel_scope_*``) and Serve's (``application``, ``deployment``, ``replica``, ``route``)::

    ray_serve_deployment_request_counter_total{SessionName="s",WorkerId="w1",application="app",
        deployment="Ranker",replica="Ranker#ab12",route="/rank"} 9
    ray_serve_deployment_error_counter_total{...,deployment="Ranker",exception_type="ValueError"} 1
    ray_serve_deployment_processing_latency_ms_bucket{...,deployment="Ranker",le="100.0"} 8
    ray_serve_deployment_queued_queries{...,application="app",deployment="Ranker",handle="h1"} 2
    ray_serve_replica_processing_queries{...,deployment="Ranker",replica="Ranker#ab12"} 1

``model`` is the deployment: the unit that serves a model. A deployment name is unique
only within its application, so when one name occurs in several applications those
series are named ``application/deployment`` instead of being summed together. Ray Serve
has no model version (``@serve.deployment(version=...)`` was removed). Every other label
is folded away: replicas, routes, handles and workers are summed.

Requests: the replica increments the request counter only for calls that returned and
the error counter for calls that raised (including cancellations), so the request
counter is served as ``outcome="success"`` unchanged and errors as
``outcome="failure"`` with ``reason`` = the exception class name (empty before Ray added
``exception_type``). Ray before 2.10 exported counters as gauges without ``_total``;
since then it exports both, and the ``_total`` form is read when present.
The processing-latency histogram times the replica's user call for every request,
failed ones included. Waiting = router queue (``ray_serve_deployment_queued_queries``,
one series per handle), running = ``ray_serve_replica_processing_queries``.
The agent serves its node only: scrape every node that runs replicas.
Source: ray-project/ray python/ray/serve/_private/replica.py (``ReplicaMetricsManager``,
``record_request_metrics``), python/ray/serve/_private/router.py,
doc/source/serve/monitoring.md.
"""

from __future__ import annotations

from ..builder import Builder
from ..parser import Exposition
from ._api import Call, Loaded, ServerAPI, as_text
from ._kind import ServerKind
from ._native import MILLISECONDS, detect_any, histograms

REQUESTS = "ray_serve_deployment_request_counter_total"
ERRORS = "ray_serve_deployment_error_counter_total"
LATENCY = "ray_serve_deployment_processing_latency_ms"
QUEUED = "ray_serve_deployment_queued_queries"
PROCESSING = "ray_serve_replica_processing_queries"

NATIVE = (REQUESTS, ERRORS, LATENCY, QUEUED, PROCESSING)


def detect(exp: Exposition) -> bool:
    return detect_any(exp, REQUESTS, QUEUED, PROCESSING, LATENCY)


def _model_names(exp: Exposition) -> dict[tuple[str, str], str]:
    """(application, deployment) -> model label, qualified only where names collide."""
    apps: dict[str, set[str]] = {}
    for name in (REQUESTS, ERRORS, LATENCY + "_count", QUEUED, PROCESSING):
        for labels, _ in exp.get(name):
            apps.setdefault(labels.get("deployment", ""), set()).add(labels.get("application", ""))
    names = {}
    for deployment, applications in apps.items():
        for app in applications:
            shared = len(applications) > 1 and app
            names[(app, deployment)] = f"{app}/{deployment}" if shared else deployment
    return names


def translate(exp: Exposition, out: Builder) -> None:
    names = _model_names(exp)

    def model(labels: dict[str, str]) -> str:
        key = (labels.get("application", ""), labels.get("deployment", ""))
        return names.get(key, key[1])

    for labels, v in exp.get(REQUESTS):
        out.counter("inference_requests_total", v, model(labels), outcome="success")
    for labels, v in exp.get(ERRORS):
        out.counter(
            "inference_requests_total",
            v,
            model(labels),
            outcome="failure",
            reason=labels.get("exception_type", ""),
        )
    for labels, buckets, total, count in histograms(exp, LATENCY, MILLISECONDS):
        out.histogram("inference_request_duration_seconds", buckets, total, count, model(labels))
    for native, unified in (
        (QUEUED, "inference_requests_waiting"),
        (PROCESSING, "inference_requests_running"),
    ):
        for labels, v in exp.get(native):
            out.gauge(unified, v, model(labels))


def inventory(call: Call, declared: tuple[str, ...]) -> list[Loaded]:
    routes = call("GET", "/-/routes", None)
    return [Loaded(as_text(app)) for app in sorted(set((routes or {}).values()))]


# API: doc/source/serve/monitoring.md (the proxy's ``/-/healthz`` and ``/-/routes``).
SERVER = ServerKind(
    name="rayserve",
    native=NATIVE,
    translate_fn=translate,
    detect=detect,
    detection_order=90,
    api=ServerAPI(live="/-/healthz", ready="/-/healthz", inventory=inventory),
    api_on_other_port=True,
)
