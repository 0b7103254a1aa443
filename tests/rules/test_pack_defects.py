"""Issue 12's defects of the rule pack, each replayed through the shipped rules with promtool.

Each test names the defect it pins down. The inputs are what the exporter really serves
(counters born at their first event, series that go stale when a target or an exporter
dies, histograms with each server's own bucket layout); `scenarios/promprobe.py` reads back
what the rules record and which alerts they fire.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import yaml
from inference_devtools import repo

ROOT = repo.ROOT
repo.use("deploy/local")

import demo_speed  # noqa: E402
from scenarios.promprobe import RULE_FILES, Case, Probe, cumulative, run, series, values  # noqa: E402

CONFIG = yaml.safe_load((ROOT / "rules" / "config.yml").read_text())
JOB = "inference-exporter"


def pod(ip: str, namespace: str = "shop") -> dict:
    return {"job": JOB, "instance": f"{ip}:9400", "namespace": namespace}


def served(
    ip: str, target: str, *, model="ranker", team="search", cls="ranking", server="bentoml", version="3"
):
    return {
        **pod(ip),
        "team": team,
        "model_class": cls,
        "model": model,
        "target": target,
        "server": server,
        "version": version,
    }


def flat(value, n: int) -> str:
    return values([value] * n)


def requests(labels: dict, ok_per_min: list[float], failed_per_min: list[float] | None = None) -> list[dict]:
    out = [
        series("inference_requests_total", {**labels, "outcome": "success"}, values(cumulative(ok_per_min)))
    ]
    if failed_per_min is not None:
        out.append(
            series(
                "inference_requests_total",
                {**labels, "outcome": "failure", "reason": "http_500"},
                values(cumulative(failed_per_min)),
            )
        )
    return out


def alerts(name: str, state: str = "firing") -> str:
    return f'ALERTS{{alertname="{name}", alertstate="{state}"}}'


def firing_count(name: str, minutes: int) -> Probe:
    """How many evaluations `name` fired in the last `minutes` (per alert series)."""
    return Probe("count", f"count_over_time({alerts(name)}[{minutes}m])", f"{minutes}m")


def probe(case: Case, rule_files=RULE_FILES, evaluation_interval: str = "1m") -> dict[str, list]:
    result = run([case], rule_files, evaluation_interval)
    assert not result.errors, result.errors
    return {p.name: result.get(case.id, p.name) for p in case.probes}


# --- silenced pages ----------------------------------------------------------------------------


def test_defect02_one_replica_down_affects_its_target_not_the_model():
    """A down exporter of one replica must not claim the whole model (its other replica serves)."""
    a, b = served("10.0.0.1", "ranker-0"), served("10.0.0.2", "ranker-1")
    n = 20
    case = Case(
        "replica-down",
        [
            series("up", pod("10.0.0.1"), values([1] * 5 + [0] * (n - 5))),
            series("up", pod("10.0.0.2"), flat(1, n)),
            series("inference_model_info", a, values([1] * 5 + ["stale"])),
            series("inference_model_info", b, flat(1, n)),
        ],
        [Probe("affected", alerts("InferenceModelAffected"), "12m")],
    )
    got = probe(case)["affected"]
    assert [(labels["target"], labels.get("scope")) for labels, _ in got] == [("ranker-0", "target")], got


def test_defect02_every_replica_down_affects_the_whole_model():
    a, b = served("10.0.0.1", "ranker-0"), served("10.0.0.2", "ranker-1")
    n = 20
    case = Case(
        "all-down",
        [
            series("up", pod("10.0.0.1"), values([1] * 5 + [0] * (n - 5))),
            series("inference_exporter_target_up",
                   {**pod("10.0.0.2"), "target": "ranker-1", "server": "bentoml"},
                   values([1] * 5 + [0] * (n - 5))),
            series("up", pod("10.0.0.2"), flat(1, n)),
            series("inference_model_info", a, values([1] * 5 + ["stale"])),
            series("inference_model_info", b, values([1] * 7 + ["stale"])),
        ],
        [Probe("affected", alerts("InferenceModelAffected"), "12m")],
    )  # fmt: skip
    got = probe(case)["affected"]
    assert sorted((labels["target"], labels.get("scope")) for labels, _ in got) == [
        ("ranker-0", "model"),
        ("ranker-1", "model"),
    ], got


def test_defect03_exporter_absent_names_the_namespace_and_team():
    """The Operator routes an AlertmanagerConfig's alerts by `namespace`: the absent page needs it."""
    n = 30
    case = Case(
        "absent",
        [
            series("up", pod("10.0.0.1"), flat(1, n)),
            series("inference_model_info", served("10.0.0.1", "ranker-0"), flat(1, n)),
        ],
        [Probe("absent", alerts("InferenceExporterAbsent"), "60m")],
    )
    got = probe(case)["absent"]
    assert [(labels.get("namespace"), labels.get("team")) for labels, _ in got] == [("shop", "search")], got


# --- missed pages -------------------------------------------------------------------------------


def test_defect04_error_budget_counts_an_outage_between_hourly_samples():
    """30 minutes of total failure at 10 requests/s in 4 hours: the budget is spent 124 times over."""
    labels = served("10.0.0.1", "ranker-0")
    n = 250
    outage = range(70, 100)
    ok = [0 if t in outage else 600 for t in range(n)]
    failed = [600 if t in outage else 0 for t in range(n)]
    case = Case(
        "budget",
        requests(labels, ok, failed) + [series("inference_model_info", labels, flat(1, n))],
        [Probe("left", "model:inference_availability_error_budget:remaining_ratio30d", "245m")],
    )
    got = probe(case)["left"]
    objective = CONFIG["slo"]["classes"]["ranking"]["availability"]
    raw = 1 - (sum(failed[:240]) / sum(ok[:240] + failed[:240])) / (1 - objective)  # the first 4 hours
    assert len(got) == 1 and math.isclose(got[0][1], raw, rel_tol=0.05), (got, raw)


def _histogram(labels: dict, edges: list[float], latency_s: float, per_min: float, n: int) -> list[dict]:
    count = values(cumulative([per_min] * n))
    out = [
        series("inference_request_duration_seconds_count", labels, count),
        series(
            "inference_request_duration_seconds_sum", labels, values(cumulative([per_min * latency_s] * n))
        ),
        series("inference_request_duration_seconds_bucket", {**labels, "le": "+Inf"}, count),
    ]
    for edge in edges:
        below = per_min if latency_s <= edge else 0
        out.append(
            series(
                "inference_request_duration_seconds_bucket",
                {**labels, "le": repr(float(edge))},
                values(cumulative([below] * n)),
            )
        )
    return out


VLLM_EDGES = [0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0]
TGI_EDGES = [0.0985, 0.1478, 0.2217, 0.3325, 0.4988, 0.7482, 1.1223, 1.6834]


def test_defect05_latency_sli_and_p99_never_mix_bucket_layouts():
    """One model on vLLM and TGI, every request at 0.2 s: nothing is slow, p99 is at most 0.3 s."""
    n = 40
    on_vllm = served("10.0.0.1", "vision-0", model="vision", cls="vision", server="vllm")
    on_tgi = served("10.0.0.2", "vision-1", model="vision", cls="vision", server="tgi")
    case = Case(
        "layouts",
        _histogram(on_vllm, VLLM_EDGES, 0.2, 600, n)
        + _histogram(on_tgi, TGI_EDGES, 0.2, 600, n)
        + requests(on_vllm, [600] * n)
        + requests(on_tgi, [600] * n),
        [
            Probe(
                "slow_ratio",
                "model:inference_latency_sli_slow:rate5m / model:inference_latency_sli_requests:rate5m",
                "30m",
            ),
            Probe("p99", "model:inference_request_duration_seconds:p99_rate5m", "30m"),
        ],
    )
    got = probe(case)
    assert [v for _, v in got["slow_ratio"]] == [0.0], got
    assert len(got["p99"]) == 1 and 0.2 <= got["p99"][0][1] <= 0.3, got


@pytest.mark.parametrize(
    ("server", "edges"),
    [("tgi", TGI_EDGES), ("triton", []), ("kserve", None)],
    ids=["tgi-no-1s-edge", "triton-sums-only", "kserve-no-histogram"],
)
def test_defect06_a_model_without_latency_sli_raises_the_signal(server, edges):
    """Whole server kinds get no latency SLO: that must be visible, never silent."""
    n = 40
    labels = served("10.0.0.1", "vision-0", model="vision", cls="vision", server=server)
    inputs = requests(labels, [600] * n)
    if edges is not None:
        inputs += _histogram(labels, edges, 5.0, 600, n)
    case = Case(
        f"no-sli-{server}",
        inputs,
        [Probe("signal", 'ALERTS{alertname="InferenceLatencySLIMissing"}', "30m")],
    )
    got = probe(case)["signal"]
    assert [(labels["model"], labels["server"]) for labels, _ in got] == [("vision", server)], got


def test_defect06_the_generator_refuses_a_threshold_that_is_no_bucket_edge_of_a_listed_server(tmp_path):
    """A class listing a server without its threshold's bucket would have no SLI there, silently:
    vLLM's request buckets start at 0.3 s, so the 0.1 s ranking class cannot list it."""
    config = yaml.safe_load((ROOT / "rules" / "config.yml").read_text())
    config["slo"]["classes"]["ranking"]["latency"]["bucketed_servers"].append("vllm")
    path = tmp_path / "config.yml"
    path.write_text(yaml.safe_dump(config))
    generator = repo.load("rules/generate.py", "rule_pack_generate")
    with pytest.raises(SystemExit) as refused:
        generator.render(path)  # renders in memory: writes nothing
    assert "threshold_seconds=0.1 is not a bucket edge of inference_request_duration_seconds on vllm" in (
        str(refused.value)
    )


EVENT_ALERTS = [
    # (alert, counter, extra labels): each counter is born at its first event.
    ("InferenceGPUXidCritical", "inference_gpu_xid_errors_total", {"xid": "79"}),
    ("InferenceGPUXidError", "inference_gpu_xid_errors_total", {"xid": "61"}),
    ("InferenceGPUUncorrectableECC", "inference_gpu_ecc_volatile_errors_total", {"type": "uncorrected"}),
    ("InferenceOOMKilled", "inference_container_oom_kills_total", {}),
    ("InferenceExporterJournalErrors", "inference_exporter_journal_errors_total", {}),
]
GPU = {"gpu": "0", "uuid": "GPU-1", "name": "NVIDIA L4", "pci_bus_id": "00000000:01:00.0"}


def _event_inputs(counter: str, extra: dict, counter_values: str, n: int) -> list[dict]:
    labels = {**pod("10.0.0.1"), **(GPU if "gpu" in counter else {}), **extra}
    return [
        series("up", pod("10.0.0.1"), flat(1, n)),
        series("inference_exporter_build_info", {**pod("10.0.0.1"), "version": "0.1.0"}, flat(1, n)),
        series(counter, labels, counter_values),
    ]


@pytest.mark.parametrize(("alert", "counter", "extra"), EVENT_ALERTS, ids=[a for a, _, _ in EVENT_ALERTS])
def test_defect07_event_counters_alert_from_their_first_sample(alert, counter, extra):
    n = 30
    case = Case("born", _event_inputs(counter, extra, "_x20 1x9", n), [Probe("fired", alerts(alert), "22m")])
    assert len(probe(case)["fired"]) == 1, alert


@pytest.mark.parametrize(("alert", "counter", "extra"), EVENT_ALERTS, ids=[a for a, _, _ in EVENT_ALERTS])
def test_defect07_old_events_seen_by_a_fresh_prometheus_do_not_alert(alert, counter, extra):
    """The other side of the fix: a counter that is already non-zero when Prometheus first
    scrapes the exporter holds events of the past, not new ones."""
    n = 30
    case = Case("old", _event_inputs(counter, extra, "3x29", n), [firing_count(alert, 29)])
    assert probe(case)["count"] == [], alert


def test_defect08_gpu_collector_disabled_lasts_while_gpus_are_unmonitored():
    """NVML lost after a restart: the ticket must not resolve itself a day later."""
    n = 12 + 26 * 12  # 5-minute samples: 1 hour with NVML, then 26 hours without
    case = Case(
        "nvml-lost",
        [
            series("up", pod("10.0.0.1"), flat(1, n)),
            series("inference_gpu_collector_available", pod("10.0.0.1"), values([1] * 12 + [0] * (n - 12))),
        ],
        [Probe("fired", alerts("InferenceExporterGPUCollectorDisabled"), f"{(n - 1) * 5}m")],
        interval="5m",
    )
    assert len(probe(case, evaluation_interval="5m")["fired"]) == 1


# --- spurious and noisy pages -------------------------------------------------------------------


def test_defect09_traffic_drop_needs_history():
    """A new model: 40 minutes of traffic, then none. Without a day of history there is no
    expectation to fall short of."""
    labels = served("10.0.0.1", "ranker-0")
    n = 80
    case = Case(
        "new-model",
        requests(labels, [600] * 40 + [0] * 40) + [series("inference_model_info", labels, flat(1, n))],
        [firing_count("InferenceTrafficDrop", 79)],
    )
    assert probe(case)["count"] == []


def test_defect10_gpu_memory_step_after_a_model_load_is_no_leak():
    n = 240
    labels = {**pod("10.0.0.1"), **GPU}
    case = Case(
        "model-load",
        [
            series("inference_gpu_memory_used_bytes", labels, values([20e9] * 60 + [60e9] * (n - 60))),
            series("inference_gpu_memory_total_bytes", labels, flat(80e9, n)),
        ],
        [firing_count("InferenceGPUMemoryFillingUp", 239)],
    )
    assert probe(case)["count"] == []


def test_defect10_a_steady_leak_still_fills_up():
    n = 240
    labels = {**pod("10.0.0.1"), **GPU}
    used = [20e9 + max(0, t - 30) * 0.25e9 for t in range(n)]  # 15 GB/h from minute 30
    case = Case(
        "leak",
        [
            series("inference_gpu_memory_used_bytes", labels, values(used)),
            series("inference_gpu_memory_total_bytes", labels, flat(80e9, n)),
        ],
        [firing_count("InferenceGPUMemoryFillingUp", 239)],
    )
    assert len(probe(case)["count"]) == 1


def _canary(labels: dict, failed_per_min: list[float]) -> list[dict]:
    golden = {**labels, "canary": "golden"}
    ok = [4 - f for f in failed_per_min]
    return [
        series("inference_canary_requests_total", {**golden, "outcome": "success", "reason": ""},
               values(cumulative(ok))),
        series("inference_canary_requests_total", {**golden, "outcome": "failure", "reason": "latency"},
               values(cumulative(failed_per_min))),
    ]  # fmt: skip


def test_defect12_canary_failing_does_not_flap_around_its_threshold():
    """Canary latency swinging around its limit: 3 of 4 runs fail, then 2, then 3 ... The page
    fires once and holds until the canary clearly recovers."""
    labels = served("10.0.0.1", "ranker-0")
    swing = ([3] * 7 + [1] * 7) * 8
    failed = [0] * 10 + [3] * 20 + swing + [0] * 40
    n = len(failed)
    case = Case(
        "canary-swing",
        _canary(labels, failed),
        [
            Probe("count", f"count_over_time({alerts('InferenceCanaryFailing')}[{n - 1}m])", f"{n - 1}m"),
            Probe(
                "first",
                f"min_over_time(timestamp({alerts('InferenceCanaryFailing')})[{n - 1}m:1m])",
                f"{n - 1}m",
            ),
            Probe(
                "last",
                f"max_over_time(timestamp({alerts('InferenceCanaryFailing')})[{n - 1}m:1m])",
                f"{n - 1}m",
            ),
        ],
    )
    got = probe(case)
    assert len(got["count"]) == 1, got
    first, last, count = got["first"][0][1], got["last"][0][1], got["count"][0][1]
    assert count == (last - first) / 60 + 1, f"flapped: fired {count} times between {first} s and {last} s"
    assert last >= (30 + len(swing)) * 60, "resolved while the canary still failed"


def _speed_rules(tmp_path: Path, speed: float) -> tuple[Path, ...]:
    paths = demo_speed.write([str(p) for p in RULE_FILES], tmp_path, speed, min_window_s=4, interval_s=2)
    return tuple(Path(p) for p in paths)


def _deploy_inputs(n: int, mean_before: float, mean_after: float, step_at: int, new_version: bool) -> list:
    """2-second samples: 10 requests/s; latency steps at `step_at` (with a new version or without)."""
    old = served("10.0.0.1", "ranker-0", version="3")
    new = {**old, "version": "4"}
    per = 20  # requests per 2 s
    before, after = range(step_at), range(step_at, n)
    inputs = []
    for labels, active in ((old, before), (new, after)) if new_version else ((old, range(n)),):
        mean = [mean_before if t < step_at else mean_after for t in range(n)]
        mask = [t in active for t in range(n)]
        count = cumulative([per if m else 0 for m in mask])
        total = cumulative([per * mean[t] if mask[t] else 0 for t in range(n)])

        def cut(vals: list, mask: list = mask) -> list:
            return [v if m else None for v, m in zip(vals, mask, strict=True)]

        inputs += [
            series("inference_requests_total", {**labels, "outcome": "success"}, values(cut(count))),
            series("inference_request_duration_seconds_count", labels, values(cut(count))),
            series("inference_request_duration_seconds_sum", labels, values(cut(total))),
            series("inference_model_info", labels, values(cut([1] * n))),
            series("inference_model_version_first_seen_timestamp_seconds", labels,
                   values(cut([(step_at * 2 if labels is new else 0)] * n))),
        ]  # fmt: skip
    return inputs


def test_defect13_post_deploy_regression_at_demo_speed_needs_a_deploy(tmp_path):
    """At 30x a latency step ten minutes in, with no deploy: 'deployed within 2h' must scale too."""
    n = 600  # 20 minutes of 2-second samples = 10 production hours
    case = Case(
        "no-deploy",
        _deploy_inputs(n, 0.05, 0.2, step_at=300, new_version=False),
        [Probe("count", f"count_over_time({alerts('InferencePostDeployRegression')}[1190s])", "1190s")],
        interval="2s",
    )
    assert probe(case, _speed_rules(tmp_path, 30), "2s")["count"] == []


def test_defect13_post_deploy_regression_at_demo_speed_still_pages_a_bad_deploy(tmp_path):
    n = 600
    case = Case(
        "bad-deploy",
        _deploy_inputs(n, 0.05, 0.2, step_at=300, new_version=True),
        [Probe("fired", alerts("InferencePostDeployRegression"), "660s")],
        interval="2s",
    )
    got = probe(case, _speed_rules(tmp_path, 30), "2s")["fired"]
    assert [labels["version"] for labels, _ in got] == ["4"], got


def test_defect14_fast_burn_window_pages_only_after_its_minimum_budget_consumption():
    """2% errors just above the traffic floor of the fast window (300 requests in 5 minutes)."""
    labels = served("10.0.0.1", "ranker-0")
    clean, fault = 400, 30
    n = clean + fault + 10
    failed = [0.0] * clean + [1.24] * fault + [0.0] * 10
    ok = [62 - f for f in failed]
    case = Case(
        "fast-window",
        requests(labels, ok, failed) + [series("inference_model_info", labels, flat(1, n))],
        [Probe("first", f"min_over_time(timestamp({alerts('InferenceAvailabilityBudgetBurnCritical')})"
                        f"[{n - 1}m:1m])", f"{n - 1}m")],
    )  # fmt: skip
    got = probe(case)["first"]
    fast = [w for w in CONFIG["burn_rate_windows"]["page"]["windows"] if "budget_consumed" in w]
    minimum = fast[0]["budget_consumed"] if fast else 0
    budget = (1 - CONFIG["slo"]["classes"]["ranking"]["availability"]) * 62 * 60 * 24 * 30
    for _, first in got:
        spent = sum(failed[: int(first // 60)]) / budget
        assert spent >= max(minimum, 0.005), f"paged after {spent:.2%} of the 30-day budget"


def test_defect15_event_tickets_outlast_the_longest_quiet_hours():
    """Tickets are muted at night and on weekends; a short event ticket must still be firing
    when the quiet hours end, or Alertmanager drops it."""
    n = 62 * 12  # 5-minute samples: 62 hours
    case = Case(
        "oom-friday-night",
        _event_inputs("inference_container_oom_kills_total", {}, values([0] * 6 + [1] * (n - 6)), n),
        [Probe("fired", alerts("InferenceOOMKilled"), f"{60 * 60 + 30}m")],
        interval="5m",
    )
    assert len(probe(case, evaluation_interval="5m")["fired"]) == 1


def test_defect18_an_ha_exporter_pair_counts_requests_once():
    """Two exporters (replicas a and b) collect the same server: 10 requests/s, recorded once."""
    n = 30
    inputs = []
    for ip, replica in (("10.0.0.1", "a"), ("10.0.0.2", "b")):
        labels = {
            **served(ip, "ranker-0"),
            CONFIG["labels"].get("exporter_replica", "exporter_replica"): replica,
        }
        inputs += requests(labels, [600] * n) + [series("inference_model_info", labels, flat(1, n))]
    case = Case("ha-pair", inputs, [Probe("rate", "model:inference_requests:rate5m", "20m")])
    got = probe(case)["rate"]
    assert [round(v, 6) for _, v in got] == [10.0], got
