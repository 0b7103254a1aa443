"""A synthetic fleet for measuring what the dashboards' queries cost, in a real Prometheus.

`FleetServer` serves, on one local port, what the exporters of a fleet of N models would
expose (the schema's names and labels; counters grow with time), per cluster: each model on
its own target, server kinds in turn (BentoML and vLLM with buckets, Triton with sums only,
vLLM generative), one model in ten mid-rollout with two versions, 20 targets per exporter.
Prometheus scrapes it with `honor_labels`, so every exporter keeps its own `instance`, and
evaluates the rendered rule pack, so the dashboards' recording rules exist.

`panel_costs()` then runs every panel query as Grafana would (variables substituted) and
records, per panel, the series its selectors touch (`count()` of each selector) and the
samples Prometheus loaded for it (`stats=all`: totalQueryableSamples).

Used by bench/dashboard_cost.py (1,000 models) and tests/dashboards/test_dashboard_cost.py.
"""

from __future__ import annotations

import math
import re
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import requests
import yaml
from inference_exporter.journal import EVENT_TYPES

from .promql import vector_selectors
from .repo import ROOT  # noqa: E402

KINDS = ("bentoml", "triton", "vllm")
CLASSES = ("ranking", "embedding", "generative", "default")
BUCKETS = {
    "bentoml": (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
    "vllm": (0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 40.0, 50.0, 60.0),
    "triton": (),  # sums only: one +Inf bucket
}
TTFT_BUCKETS = (0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0)
TARGETS_PER_EXPORTER = 20
JOB = "inference-exporter"


@dataclass(frozen=True)
class Health:
    """How the fleet's models behave. The default keeps every dashboard panel busy (1% errors and
    80 ms means: most models burn their budgets); ``HEALTHY`` is a fleet inside its objectives."""

    error_share: float = 0.01
    latency_scale: float = 1.0  # times the means below

    @property
    def request_mean(self) -> float:  # a quarter of it queued, a quarter computing (Triton)
        return 0.08 * self.latency_scale

    @property
    def first_token_mean(self) -> float:
        return 0.2 * self.latency_scale


HEALTHY = Health(error_share=0.0002, latency_scale=0.2)


@dataclass(frozen=True)
class Model:
    cluster: str
    index: int

    @property
    def kind(self) -> str:
        return KINDS[self.index % len(KINDS)]

    @property
    def labels(self) -> dict[str, str]:
        i = self.index
        return {
            "job": JOB,
            "instance": f"exporter-{i // TARGETS_PER_EXPORTER:03d}.{self.cluster}:9072",
            "cluster": self.cluster,
            "namespace": f"ns{i % 5}",
            "team": f"team{i % 7}",
            "model_class": "generative" if self.kind == "vllm" else CLASSES[i % 2],
            "target": f"{self.cluster}-t{i:04d}",
            "server": self.kind,
            "model": f"model-{i:04d}",
        }

    @property
    def versions(self) -> tuple[str, ...]:
        return ("1", "2") if self.index % 10 == 0 else ("1",)


def _fmt(name: str, labels: dict[str, str], value: float) -> str:
    inner = ",".join(f'{k}="{v}"' for k, v in labels.items())
    return f"{name}{{{inner}}} {value:.6g}\n"


def _histogram(out: list[str], name: str, labels: dict, count: float, mean: float, edges) -> None:
    for le in edges:
        share = 1 - math.exp(-le / mean)  # exponential latencies: a smooth bucket profile
        out.append(_fmt(f"{name}_bucket", {**labels, "le": f"{le:g}"}, count * share))
    out.append(_fmt(f"{name}_bucket", {**labels, "le": "+Inf"}, count))
    out.append(_fmt(f"{name}_sum", labels, count * mean))
    out.append(_fmt(f"{name}_count", labels, count))


def model_series(m: Model, elapsed: float, health: Health = Health()) -> list[str]:
    out: list[str] = []
    base = m.labels
    target_labels = {k: base[k] for k in ("job", "instance", "cluster", "namespace", "target", "server")}
    out.append(_fmt("inference_exporter_target_up", target_labels, 1))
    out.append(_fmt("inference_process_cpu_seconds_total", {**target_labels, "mode": "user"}, elapsed * 0.4))
    out.append(_fmt("inference_process_resident_memory_bytes", target_labels, 2e9))
    out.append(_fmt("inference_server_ready", {**base, "version": ""}, 1))
    for version in m.versions:
        labels = {**base, "version": version}
        requests_ = 5.0 * elapsed * (1 + m.index % 3)
        out.append(_fmt("inference_model_info", labels, 1))
        out.append(_fmt("inference_model_ready", labels, 1))
        out.append(_fmt("inference_model_version_first_seen_timestamp_seconds", labels, 1.7e9))
        ok, failed = requests_ * (1 - health.error_share), requests_ * health.error_share
        total = "inference_requests_total"
        out.append(_fmt(total, {**labels, "outcome": "success", "reason": ""}, ok))
        out.append(_fmt(total, {**labels, "outcome": "failure", "reason": "error"}, failed))
        mean = health.request_mean
        _histogram(out, "inference_request_duration_seconds", labels, requests_, mean, BUCKETS[m.kind])
        out.append(_fmt("inference_requests_running", labels, 2))
        if m.kind == "triton":
            for part in ("queue", "compute"):
                _histogram(out, f"inference_request_{part}_duration_seconds", labels, requests_, mean / 4, ())
            _histogram(out, "inference_batch_size", labels, requests_ / 4, 4, ())
            out.append(_fmt("inference_requests_waiting", labels, 1))
        if m.kind == "vllm":
            out.append(_fmt("inference_input_tokens_total", labels, requests_ * 200))
            out.append(_fmt("inference_output_tokens_total", labels, requests_ * 50))
            ttft = health.first_token_mean
            _histogram(out, "inference_time_to_first_token_seconds", labels, requests_, ttft, TTFT_BUCKETS)
            out.append(_fmt("inference_kv_cache_usage_ratio", labels, 0.4))
    out.append(_fmt("inference_model_loaded_versions", {**base, "version": ""}, len(m.versions)))
    return out


def exposition(fleet: dict[str, int], elapsed: float, health: Health = Health()) -> str:
    out: list[str] = []
    for cluster, models in fleet.items():
        exporters = set()
        for i in range(models):
            m = Model(cluster, i)
            out += model_series(m, elapsed, health)
            exporters.add(m.labels["instance"])
        for instance in sorted(exporters):
            labels = {"job": JOB, "instance": instance, "cluster": cluster}
            build = {**labels, "version": "0.1.0", "python_version": "3.11"}
            out.append(_fmt("inference_exporter_build_info", build, 1))
            for kind in EVENT_TYPES:  # the exporter pre-creates every type at 0
                out.append(_fmt("inference_events_total", {**labels, "type": kind}, kind == "target_up"))
    return "".join(out)


class FleetServer:
    """Serves the fleet's exposition at http://127.0.0.1:PORT/metrics until close()."""

    def __init__(self, fleet: dict[str, int], health: Health = Health()):
        started = time.monotonic()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - http.server's name
                body = exposition(fleet, 600 + time.monotonic() - started, health).encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.address = f"127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def prometheus_config(workdir: Path, address: str, interval_s: int) -> str:
    """Scrape the fleet every INTERVAL_S and evaluate the rendered rule pack at the same pace."""
    rule_dir = workdir / "rules"
    rule_dir.mkdir(parents=True, exist_ok=True)
    files = []
    for path in sorted((ROOT / "rules").glob("*.yml")):
        doc = yaml.safe_load(path.read_text())
        if not isinstance(doc, dict) or "groups" not in doc:
            continue
        for group in doc["groups"]:
            group["interval"] = f"{interval_s}s"
        (rule_dir / path.name).write_text(yaml.safe_dump(doc, sort_keys=False))
        files.append(str(rule_dir / path.name))
    config = {
        "global": {"scrape_interval": f"{interval_s}s", "evaluation_interval": f"{interval_s}s"},
        "rule_files": files,
        "scrape_configs": [
            {
                "job_name": "fleet",
                "honor_labels": True,
                "scrape_timeout": f"{interval_s}s",
                "static_configs": [{"targets": [address]}],
            }
        ],
    }
    return yaml.safe_dump(config, sort_keys=False)


@dataclass(frozen=True)
class Cost:
    dashboard: str
    panel: str
    series: int  # series the panel's selectors match, all queries together
    samples: int  # samples Prometheus loaded for them (stats=all, instant queries)
    repeated: str = ""  # the variable the panel repeats over: its cost is per repeat


def _selectors(expr: str) -> list[str]:
    return [f"{name}{{{matchers}}}" for name, matchers, _, _ in vector_selectors(expr)]


def substitute(expr: str, values: dict[str, str], rate_interval: str = "1m", time_range: str = "1h") -> str:
    """EXPR as Grafana sends it: VALUES for the named variables, `.*` (All) for the others."""
    text = expr.replace("$__rate_interval", rate_interval).replace("$__range", time_range)
    return re.sub(r"\$\{?(\w+)\}?", lambda m: values.get(m.group(1), ".*"), text)


def query(url: str, expr: str) -> dict:
    r = requests.get(f"{url}/api/v1/query", params={"query": expr, "stats": "all"}, timeout=120)
    body = r.json()
    assert body.get("status") == "success", (expr, body)
    return body["data"]


def panel_costs(url: str, boards: dict[str, dict], values: dict[str, dict[str, str]]) -> list[Cost]:
    """Cost of every panel of BOARDS; VALUES: uid -> the variable values of that dashboard."""
    out = []
    for uid, board in boards.items():
        for p in board["panels"]:
            if p["type"] == "row":
                continue
            series = samples = 0
            for t in p["targets"]:
                expr = substitute(t["expr"], values.get(uid, {}))
                samples += query(url, expr)["stats"]["samples"]["totalQueryableSamples"]
                for sel in _selectors(expr):
                    found = query(url, f"count({sel})")["result"]
                    series += int(float(found[0]["value"][1])) if found else 0
            out.append(Cost(uid, p["title"], series, samples, p.get("repeat", "")))
    return out


LABEL_VALUES = re.compile(r"^label_values\((?P<selector>.*),\s*(?P<label>\w+)\)$", re.S)


def resolve(url: str, board: dict, values: dict[str, str]) -> dict[str, str]:
    """VALUES plus each hidden variable's values as Grafana computes them (label_values of its
    query with the variables before it), joined into a regex alternation."""
    out = dict(values)
    for var in board["templating"]["list"]:
        if var.get("hide") != 2 or var["name"] in out:
            continue
        m = LABEL_VALUES.match(var["query"]["query"])
        found = query(url, substitute(m["selector"], out))["result"]
        labels = sorted({s["metric"][m["label"]] for s in found if s["metric"].get(m["label"])})
        out[var["name"]] = "|".join(labels) or "^$"  # names here carry no regex syntax
    return out


def dashboard_costs(url: str, board: dict, cluster: str, model: str, one_model: bool) -> list[Cost]:
    """Every panel of BOARD in CLUSTER at All, with MODEL where the dashboard shows one model;
    a repeated panel with one value of its variable (its cost is per repeat)."""
    values = resolve(url, board, {"cluster": cluster, **({"model": model} if one_model else {})})
    out = []
    for panel in board["panels"]:
        one = dict(values)
        repeat = panel.get("repeat", "")
        if repeat:
            one[repeat] = one.get(repeat, ".*").split("|")[0] if repeat != "model" else model
        out += panel_costs(url, {board["uid"]: {**board, "panels": [panel]}}, {board["uid"]: one})
    return out


def wait_for_rules(url: str, fleet: dict[str, int], timeout: float) -> None:
    """Until every cluster's models have the recorded rates the dashboards read."""
    deadline = time.monotonic() + timeout
    wanted = {c: n for c, n in fleet.items()}

    def counts(series: str) -> dict[str, int]:
        done = query(url, f"count by (cluster) ({series})")["result"]
        return {r["metric"].get("cluster"): int(float(r["value"][1])) for r in done}

    while True:
        have = counts("model:inference_request_errors:ratio_rate1h")
        # The anomaly bands are evaluated by their own groups: every cluster has its expected
        # values, and the margins in every cluster or in none (they need history), so the two
        # clusters are measured in the same state.
        expected = counts("model:inference_requests:rate5m_expected")
        margins = counts("model:inference_requests:rate5m_margin")
        bands = all(expected.get(c, 0) >= n for c, n in wanted.items()) and (
            all(margins.get(c, 0) >= n for c, n in wanted.items()) or not margins
        )
        if bands and all(have.get(c, 0) >= n for c, n in wanted.items()):
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"recording rules incomplete after {timeout:.0f}s: {have} of {wanted}")
        time.sleep(2)
