"""Every PromQL expression of every dashboard, executed against a real Prometheus that scrapes
the real exporter collecting real model servers under traffic, with the rule pack loaded.

Each expression must parse and evaluate. Every panel must return at least one series,
except the ones listed in EXPECTED_EMPTY, each with its reason. Where the reason is that
the exporter does not emit a feature here (no GPU, no generative model, no canary), the
test also reads the exporter's own /metrics and fails if those series are in fact there:
an "expected empty" panel over data that exists is a broken panel, not an absent feature.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import pytest
import requests
from board_walk import expressions, load, panels_of, variable_selector
from inference_devtools.live_stack import CLUSTER, LiveStack, substitute

pytestmark = [pytest.mark.integration, pytest.mark.prometheus]

BOARDS = load()
GPU_SERIES = ("inference_gpu_utilization_ratio", "inference_gpu_memory_used_bytes")
GENERATIVE_SERIES = ("inference_output_tokens_total", "inference_time_to_first_token_seconds_count")


@dataclass(frozen=True)
class Empty:
    reason: str
    # Series whose absence from the exporter's /metrics explains the empty panel. Empty
    # tuple: the panel depends on time or on alerts, and may or may not have data.
    absent: tuple[str, ...] = ()


NO_GPU = Empty("no NVIDIA GPU (NVML) on this machine: the GPU collector emits nothing", GPU_SERIES)
NOT_GENERATIVE = Empty(
    "Triton and BentoML serve a ranking model: no tokens, TTFT or KV cache", GENERATIVE_SERIES
)
NO_CANARY = Empty("no canary is configured for this stack's targets", ("inference_canary_success",))
NO_ALERT = Empty("shows alerts only while one is pending or firing; none has to be in a healthy stack")
BUDGET = Empty(
    "the 30-day budget samples the 5-minute rates hourly (subquery [30d:1h]): empty until the stack has "
    "run across an hour boundary"
)

EXPECTED_EMPTY: dict[tuple[str, str], Empty] = {
    ("inference-fleet", "Error budget left"): BUDGET,
    ("inference-fleet", "Firing alerts"): NO_ALERT,
    ("inference-model", "Time to first token"): NOT_GENERATIVE,
    ("inference-model", "Time per output token"): NOT_GENERATIVE,
    ("inference-model", "Tokens/s"): NOT_GENERATIVE,
    ("inference-model", "KV cache in use"): NOT_GENERATIVE,
    ("inference-model", "Canary success"): NO_CANARY,
    ("inference-model", "Canary quality score"): NO_CANARY,
    ("inference-model", "Canary duration (exemplars: the run ids)"): NO_CANARY,
    ("inference-slo", "Availability budget left (lowest model)"): BUDGET,
    ("inference-slo", "Availability budget left"): BUDGET,
    ("inference-slo", "Latency budget left (lowest model)"): BUDGET,
    ("inference-slo", "Latency budget left"): BUDGET,
    ("inference-slo", "Burn-rate alert state"): NO_ALERT,
    ("inference-anomalies", "Anomaly alert state"): NO_ALERT,
    ("inference-resources", "CPU throttling"): Empty(
        "the container has no CPU quota here, so no CFS enforcement period elapses (the counter stays 0)",
        ("inference_container_cpu_quota_cores",),
    ),
    **{
        ("inference-resources", title): NO_GPU
        for title in (
            "GPU utilisation",
            "GPU memory",
            "GPU memory per target",
            "GPU temperature",
            "GPU power vs limit",
            "SM clock",
            "Clock throttle reasons",
            "GPU state",
            "XID errors",
            "ECC errors",
            "Row remapping",
        )
    },
}
# Variables whose label is legitimately absent here: (dashboard uid or "*", variable) -> reason.
EMPTY_VARIABLES = {
    ("*", "namespace"): "no Kubernetes: nothing adds a namespace label",
    ("*", "generative"): NOT_GENERATIVE.reason,
    ("*", "version"): "PyTriton and BentoML report no model version",
}
# Until data has had time to arrive, a panel may be empty; this is how long we wait for all.
SETTLE_SECONDS = 240  # rate1h-based panels need several rule evaluations; CI machines are slow


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    s = LiveStack(tmp_path_factory.mktemp("dashboards-live")).start()
    try:
        yield s
    finally:
        s.stop()
        left = [pid for h in s.handles for pid in h.alive_pids()]
        assert not left, f"model-server processes left: {left}"


def panel_results(stack: LiveStack) -> dict[tuple[str, str], int]:
    """(uid, panel title) -> series returned by all its queries together."""
    out: dict[tuple[str, str], int] = {}
    for uid, board in BOARDS.items():
        for p in panels_of(board):
            n = sum(len(stack.prometheus.query(substitute(t["expr"]))) for t in p["targets"])
            out[(uid, p["title"])] = out.get((uid, p["title"]), 0) + n
    return out


@pytest.fixture(scope="module")
def settled(stack):
    """Panel results once every panel that should have data has it (or the wait is over)."""
    deadline = time.monotonic() + SETTLE_SECONDS
    reloaded = False
    while True:
        results = panel_results(stack)
        if not reloaded:
            # Once Prometheus holds the counter at 0: an event before the first scrape would give a
            # series born at 1, which increase() cannot see.
            stack.prometheus.wait_for('inference_events_total{type="config_reload"} == 0', bool, 60)
            stack.reload_exporter()
            reloaded = True
        missing = [k for k, n in results.items() if n == 0 and k not in EXPECTED_EMPTY]
        if not missing or time.monotonic() > deadline:
            return results
        time.sleep(5)


def test_the_rule_pack_is_loaded_and_healthy(stack):
    groups = requests.get(f"{stack.prometheus.url}/api/v1/rules", timeout=10).json()["data"]["groups"]
    assert groups, "Prometheus loaded no rule group"
    bad = [
        (g["name"], r.get("name"), r.get("lastError"))
        for g in groups
        for r in g["rules"]
        if r["health"] == "err"
    ]
    assert not bad, bad


@pytest.mark.parametrize("e", expressions(BOARDS), ids=str)
def test_expression_parses_and_evaluates(stack, e):
    # Prometheus answers 400 with the parse error for invalid PromQL; query() asserts success.
    stack.prometheus.query(substitute(e.expr))


def test_every_panel_that_should_have_data_has_data(settled, stack):
    empty = sorted(k for k, n in settled.items() if n == 0 and k not in EXPECTED_EMPTY)
    assert not empty, f"panels without data: {empty}\nexporter log:\n{stack.exporter_log()}"


def test_expected_empty_panels_exist_and_are_empty_for_their_reason(settled, stack):
    exposition = stack.exporter_metrics()
    for key, why in EXPECTED_EMPTY.items():
        assert key in settled, f"{key} is listed as expected-empty but no such panel exists"
        present = [s for s in why.absent if f"\n{s}{{" in exposition or f"\n{s} " in exposition]
        if settled[key] == 0 and why.absent:
            assert not present, f"{key} is empty although the exporter serves {present}: a broken panel"


def test_template_variables_find_their_values(stack):
    for uid, board in BOARDS.items():
        for var in board["templating"]["list"]:
            if var["type"] != "query":
                continue
            selector, label = variable_selector(var)
            series = stack.prometheus.query(substitute(selector))
            if ("*", var["name"]) in EMPTY_VARIABLES or (uid, var["name"]) in EMPTY_VARIABLES:
                continue
            values = {s["metric"].get(label) for s in series} - {None}
            assert values, f"{uid}: variable {var['name']} finds no {label} in {selector}"
            if var["name"] == "cluster":
                assert values == {CLUSTER}
