"""Acceptance: real model servers on the CPU, scraped by the real exporter CLI.

Each server (Triton via PyTriton, MLServer, BentoML, KServe) serves the locally
trained ranking model. We send a known number of good and bad requests (see
``launch.py`` for what fails and how each server counts it) and check the
exporter's unified series against what was sent and against the server's own
native /metrics read directly.
"""

from __future__ import annotations

import time

import pytest
from conftest import http_get
from inference_exporter.parser import parse

pytestmark = pytest.mark.integration

SENT_OK = 7
SENT_FAILED = 3


def unified_total(text: str, name: str, **labels: str) -> float:
    """Sum of the exporter's samples NAME whose labels include LABELS (0 when none)."""
    return sum(v for lbl, v in parse(text).get(name) if all(lbl.get(k) == x for k, x in labels.items()))


def native_total(text: str, name: str, skip=lambda labels: False) -> float:
    return sum(v for lbl, v in parse(text).get(name) if not skip(lbl))


def _bentoml_health(labels: dict[str, str]) -> bool:
    # BentoML counts its own probes (/readyz, /livez, ...) in the same families as the API.
    return labels.get("endpoint", "") in ("/readyz", "/livez", "/healthz", "/metrics")


def latency_pair(server: str, text: str) -> tuple[str, float, float]:
    """(unified histogram, native sum in seconds, native count) for the server's own latency metric."""
    if server == "triton":
        # Cumulative microseconds; Triton's documented mean divides by the success count.
        return (
            "inference_request_duration_seconds",
            native_total(text, "nv_inference_request_duration_us") * 1e-6,
            native_total(text, "nv_inference_request_success"),
        )
    if server == "mlserver":
        return (
            "inference_request_duration_seconds",
            native_total(text, "model_infer_request_duration_sum"),
            native_total(text, "model_infer_request_duration_count"),
        )
    if server == "bentoml":
        return (
            "inference_request_duration_seconds",
            native_total(text, "bentoml_service_request_duration_seconds_sum", _bentoml_health),
            native_total(text, "bentoml_service_request_duration_seconds_count", _bentoml_health),
        )
    # KServe times stages separately and has no end-to-end figure: predict is the compute time.
    return (
        "inference_request_compute_duration_seconds",
        native_total(text, "request_predict_seconds_sum"),
        native_total(text, "request_predict_seconds_count"),
    )


@pytest.fixture(scope="module")
def traffic(server, exporter):
    """Send the requests once, wait for a collection that began after them; return both expositions."""
    target = exporter.target
    server.send(ok=SENT_OK, failed=SENT_FAILED)
    # Counted after the last answer: the second collection from now starts after it either way
    # (whether the counter moves when a collection starts or when it ends).
    before = unified_total(exporter.metrics(), "inference_exporter_collections_total", target=target)
    deadline = time.monotonic() + 30
    while (
        unified_total(exporter.metrics(), "inference_exporter_collections_total", target=target) < before + 2
    ):
        if time.monotonic() > deadline:
            pytest.fail(
                f"exporter made no new collection of {target} in 30 s:\n{exporter.log_tail()}", pytrace=False
            )
        time.sleep(0.2)
    status, native = http_get(server.metrics_url)
    assert status == 200
    return exporter.metrics(), native


def test_target_is_up(traffic, exporter, server):
    unified, _ = traffic
    up = unified_total(unified, "inference_exporter_target_up", target=exporter.target)
    assert up == 1, f"{server.server} target down; exporter log:\n{exporter.log_tail()}"


def test_successes_equal_what_was_sent(traffic, exporter, server):
    unified, native = traffic
    got = unified_total(unified, "inference_requests_total", target=exporter.target, outcome="success")
    assert got == SENT_OK, f"{server.server}: unified successes {got}, sent {SENT_OK}; native:\n{native}"


def test_failures_equal_what_was_sent(traffic, exporter, server):
    # KServe has no failure counter: the adapter's documented heuristic is
    # failures = request_predict_seconds_count - request_postprocess_seconds_count,
    # which is exact here because every bad request fails inside predict.
    unified, native = traffic
    got = unified_total(unified, "inference_requests_total", target=exporter.target, outcome="failure")
    assert got == SENT_FAILED, (
        f"{server.server}: unified failures {got}, sent {SENT_FAILED}; native:\n{native}"
    )


def test_model_info_names_the_model(traffic, exporter):
    unified, _ = traffic
    assert (
        unified_total(unified, "inference_model_info", target=exporter.target, model="ranker", team="search")
        == 1
    )


def test_latency_agrees_with_native_metrics(traffic, exporter, server):
    unified, native = traffic
    name, native_sum, native_count = latency_pair(server.server, native)
    assert native_count > 0, f"{server.server}: the native latency metric saw no request:\n{native}"
    got_sum = unified_total(unified, f"{name}_sum", target=exporter.target)
    got_count = unified_total(unified, f"{name}_count", target=exporter.target)
    assert got_count == native_count, f"{name}_count {got_count}, native {native_count}"
    assert got_sum == pytest.approx(native_sum, rel=1e-9, abs=1e-12), f"{name}_sum vs native"


def test_exporter_serves_text_format(exporter):
    status, text = http_get(f"{exporter.url}/metrics")
    assert status == 200 and "# TYPE inference_requests_total counter" in text
