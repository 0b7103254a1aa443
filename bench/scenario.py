"""Synthetic serving traffic with daily and weekly cycles, injected faults, and the machinery
to replay the rule pack over it in a real Prometheus.

Used by tests/rules/test_scenario.py (asserts) and bench/alert_quality.py (figures):

1. `generate()` writes eight days of one-minute samples for four targets (a ranking model on
   two replicas, an embedding model, a generative model) as OpenMetrics. Traffic follows an
   e-commerce day (night trough, lunch bump, evening peak), busier weekends, day-to-day
   drift, Poisson noise and one evening campaign peak; latency follows a log-normal that
   slows a little with load. Day 7 (a Monday, one week after day 0) carries the faults.
2. `replay()` backfills that text with `promtool tsdb create-blocks-from openmetrics`,
   evaluates the recording rules the alerts need with range queries in that Prometheus, in
   dependency order (the anomaly bands, which read their own history, in chunks shorter than
   a day), imports each stage's results as blocks and restarts Prometheus so it sees them; then
   it evaluates every alert over the whole range with the backtest (range queries, `for`
   honoured). This is what `promtool tsdb create-blocks-from rules` does, batched into one
   import per stage because promtool writes a block per two hours and per rule.
3. `score()` matches firing episodes with the faults and counts the rest as false alerts.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[1]
from inference_devtools.promql import metric_names  # noqa: E402
from inference_exporter.commands.backtest import Result, backtest, load_alerts, parse_duration  # noqa: E402

START = int(datetime(2026, 3, 2, tzinfo=timezone.utc).timestamp())  # a Monday
DAY = 86400
STEP = 60
DAYS = 8
FAULT_DAY = 7
WARMUP_DAYS = 1  # the first day has no history for the bands and is not scored
JOB = "inference-exporter"
NAMESPACE = "shop"


@dataclass(frozen=True)
class Target:
    name: str
    model: str
    model_class: str
    team: str
    server: str
    ip: str
    peak_rps: float
    median_s: float  # median of the SLO latency (request duration, or TTFT for generative)
    sigma: float
    buckets: tuple[float, ...]
    error_ratio: float
    version: str
    duration_median_s: float = 0.0  # generative: end-to-end duration (the mean-latency signal)


RANK_BUCKETS = (0.025, 0.05, 0.1, 0.25, 0.5, 1.0)
EMBED_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5)
TTFT_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
TARGETS = (
    Target(
        "ranker-0",
        "ranker",
        "ranking",
        "search",
        "bentoml",
        "10.0.1.10",
        60,
        0.035,
        0.35,
        RANK_BUCKETS,
        2e-4,
        "3",
    ),
    Target(
        "ranker-1",
        "ranker",
        "ranking",
        "search",
        "bentoml",
        "10.0.1.11",
        60,
        0.035,
        0.35,
        RANK_BUCKETS,
        2e-4,
        "3",
    ),
    Target(
        "embedder-0",
        "embedder",
        "embedding",
        "recs",
        "rayserve",
        "10.0.1.20",
        25,
        0.12,
        0.4,
        EMBED_BUCKETS,
        2e-4,
        "2",
    ),
    Target(
        "chat-0",
        "chat",
        "generative",
        "assistant",
        "vllm",
        "10.0.1.30",
        6,
        0.3,
        0.45,
        TTFT_BUCKETS,
        1e-3,
        "7",
        duration_median_s=4.0,
    ),
)


@dataclass(frozen=True)
class Fault:
    name: str
    model: str
    start: int  # unix seconds
    end: int
    alerts: tuple[str, ...]  # any of these firing for the model counts as detected
    deadline: int  # seconds after start within which it must fire
    page: bool
    target: str = ""


def at(day: int, hour: float) -> int:
    return START + day * DAY + int(hour * 3600)


FAULTS = (
    Fault(
        "latency step x3", "ranker", at(7, 10), at(7, 11), ("InferenceLatencyBudgetBurnCritical",), 300, True
    ),
    Fault(
        "error burst 5%",
        "embedder",
        at(7, 10),
        at(7, 10.5),
        ("InferenceAvailabilityBudgetBurnCritical",),
        # 50x the budgeted rate: the fast window pages once 0.5% of the 30-day budget is
        # spent (rules/config.yml), about 6 minutes in (5 before issue 12 moved it there).
        420,
        True,
    ),
    Fault("traffic drop", "ranker", at(7, 15), at(7, 15.75), ("InferenceTrafficDrop",), 300, True),
    Fault("bad deploy", "embedder", at(7, 16), at(7, 18), ("InferencePostDeployRegression",), 1200, True),
    Fault(
        "slow latency creep",
        "chat",
        at(7, 0),
        at(8, 0),
        ("InferenceLatencyAnomaly", "InferenceMeanLatencyHigh", "InferenceLatencyBudgetBurnWarning"),
        8 * 3600,
        False,
    ),
    Fault(
        "GPU memory leak",
        "embedder",
        at(7, 0),
        at(8, 0),
        ("InferenceGPUMemoryFillingUp", "InferenceGPUMemoryNearFull"),
        10 * 3600,
        False,
        target="embedder-0",
    ),
    Fault("version skew", "ranker", at(7, 12), at(8, 0), ("InferenceVersionSkew",), 75 * 60, False),
)
CAMPAIGN = (at(4, 19), at(4, 22), 1.4)  # a planned evening campaign on the ranker: not a fault


def daily_shape(hours: np.ndarray) -> np.ndarray:
    """Share of peak traffic by hour of day: night trough, lunch bump, evening peak."""

    def bump(centre: float, width: float) -> np.ndarray:
        d = (hours - centre + 12) % 24 - 12
        return np.exp(-0.5 * (d / width) ** 2)

    return 0.12 + 0.45 * bump(12.5, 2.5) + 0.88 * bump(20.5, 2.8) + 0.25 * bump(16, 4)


def _labels(t: Target, version: str | None = None, **extra: str) -> str:
    labels = {
        "job": JOB,
        "instance": f"{t.ip}:9400",
        "namespace": NAMESPACE,
        "team": t.team,
        "model_class": t.model_class,
        "model": t.model,
        "target": t.name,
        "server": t.server,
        "version": version or t.version,
        **extra,
    }
    return ",".join(f'{k}="{v}"' for k, v in labels.items())


def _instance(t: Target, **extra: str) -> str:
    labels = {"job": JOB, "instance": f"{t.ip}:9400", "namespace": NAMESPACE, **extra}
    return ",".join(f'{k}="{v}"' for k, v in labels.items())


@dataclass
class Scenario:
    start: int
    end: int
    faults: tuple[Fault, ...]
    samples: int = 0
    series: int = 0
    extra: dict = field(default_factory=dict)

    @property
    def scored_from(self) -> int:
        return self.start + WARMUP_DAYS * DAY


class _Writer:
    """Collects series as (family, labels, values) and writes OpenMetrics grouped by family."""

    def __init__(self, times: np.ndarray):
        self.times = times
        self.families: dict[str, list[tuple[str, np.ndarray, np.ndarray]]] = {}

    def add(self, family: str, labels: str, values: np.ndarray, mask: np.ndarray | None = None) -> None:
        keep = np.ones(len(values), bool) if mask is None else mask
        self.families.setdefault(family, []).append((labels, self.times[keep], values[keep]))

    def write(self, path: Path) -> tuple[int, int]:
        samples = series = 0
        with path.open("w") as f:
            for name in sorted(self.families):
                by_series: dict[str, list] = {}
                for labels, ts, vs in self.families[name]:
                    by_series.setdefault(labels, []).append((ts, vs))
                for labels, parts in by_series.items():
                    ts = np.concatenate([p[0] for p in parts])
                    vs = np.concatenate([p[1] for p in parts])
                    order = np.argsort(ts, kind="stable")
                    prefix = f"{name}{{{labels}}} "
                    f.write(
                        "".join(f"{prefix}{v:.10g} {t}\n" for t, v in zip(ts[order], vs[order], strict=True))
                    )
                    samples += len(ts)
                    series += 1
            f.write("# EOF\n")
        return samples, series


def generate(path: Path, seed: int = 7) -> Scenario:
    rng = np.random.default_rng(seed)
    n = DAYS * DAY // STEP
    times = START + STEP * np.arange(n)
    hours = ((times - START) % DAY) / 3600
    day = (times - START) // DAY
    weekday = day % 7  # 0 = Monday
    out = _Writer(times)
    drift = np.exp(rng.normal(0, 0.04, DAYS))[day]  # each day a few percent busier or quieter
    load = daily_shape(hours) * np.where(weekday >= 5, 1.2, 1.0) * drift

    def window(fault_name: str) -> tuple[np.ndarray, Fault]:
        fault = next(f for f in FAULTS if f.name == fault_name)
        return (times >= fault.start) & (times < fault.end), fault

    for t in TARGETS:
        rate = t.peak_rps * load
        if t.model == "ranker":
            c0, c1, factor = CAMPAIGN
            rate = np.where((times >= c0) & (times < c1), rate * factor, rate)
            drop, _ = window("traffic drop")
            rate = np.where(drop, rate * 0.02, rate)
        requests = rng.poisson(rate * STEP).astype(float)
        err = np.full(n, t.error_ratio)
        slow = 1 + 0.15 * load  # busier means a little slower
        if t.model == "ranker":
            step_w, _ = window("latency step x3")
            slow = np.where(step_w, slow * 3, slow)
        if t.model == "embedder":
            burst, _ = window("error burst 5%")
            err = np.where(burst, 0.05, err)
            deploy, fault = window("bad deploy")
            after_deploy = times >= fault.start
            err = np.where(deploy, 0.04, err)
            slow = np.where(deploy, slow * 2, slow)
        if t.model == "chat":
            creep, fault = window("slow latency creep")
            progress = np.clip((times - fault.start) / (fault.end - fault.start), 0, 1)
            slow = np.where(creep, slow * (1 + 2 * progress), slow)
        failures = rng.binomial(requests.astype(int), err).astype(float)
        successes = requests - failures
        versions = np.full(n, t.version, dtype=object)
        if t.name == "ranker-1":
            skew, fault = window("version skew")
            versions[times >= fault.start] = "4"  # one replica updated, the rollout stuck
        if t.model == "embedder":
            versions[after_deploy] = "3"
        for version in dict.fromkeys(versions):
            mask = versions == version
            first = times[mask][0]
            lbl = _labels(t, version)
            # Counters of each version keep their own running totals.
            out.add(
                "inference_requests_total",
                _labels(t, version, outcome="success"),
                np.cumsum(successes * mask),
                mask,
            )
            out.add(
                "inference_requests_total",
                _labels(t, version, outcome="failure", reason="internal"),
                np.cumsum(failures * mask),
                mask,
            )
            out.add("inference_model_info", lbl, np.ones(n), mask)
            out.add(
                "inference_model_version_first_seen_timestamp_seconds", lbl, np.full(n, float(first)), mask
            )
            _latency(out, rng, t, lbl, requests * mask, slow, mask)
        inst = _instance(t)
        out.add("up", inst, np.ones(n))
        out.add("inference_exporter_target_up", _instance(t, target=t.name, server=t.server), np.ones(n))
        gpu = _instance(
            t, gpu="0", uuid=f"GPU-{t.ip.split('.')[-1]}", gpu_name="NVIDIA L4", pci_bus_id="00000000:01:00.0"
        )
        used = 14e9 + 0.3e9 * load + rng.normal(0, 5e7, n)
        if t.name == "embedder-0":
            leak, fault = window("GPU memory leak")
            used = used + np.where(leak, (times - fault.start) / 3600 * 0.9e9, 0)
        out.add("inference_gpu_memory_used_bytes", gpu, np.minimum(used, 24e9))
        out.add("inference_gpu_memory_total_bytes", gpu, np.full(n, 24e9))
        out.add(
            "inference_gpu_utilization_ratio", gpu, np.clip(0.2 + 0.6 * load + rng.normal(0, 0.03, n), 0, 1)
        )
    samples, series = out.write(path)
    return Scenario(START, int(times[-1]), FAULTS, samples, series)


def _latency(out: _Writer, rng, t: Target, lbl: str, requests: np.ndarray, slow: np.ndarray, mask) -> None:
    """Histogram of the SLO latency, end-to-end duration sums and queue time, per minute."""
    from math import erf, sqrt

    n = len(requests)
    median = t.median_s * slow
    edges = np.array(t.buckets)
    # Share of requests under each edge for a log-normal with this minute's median.
    z = (np.log(edges)[None, :] - np.log(median)[:, None]) / t.sigma
    cdf = 0.5 * (1 + np.vectorize(erf)(z / sqrt(2)))
    probs = np.diff(np.concatenate([np.zeros((n, 1)), cdf, np.ones((n, 1))], axis=1), axis=1)
    counts = rng.multinomial(
        requests.astype(np.int64), np.clip(probs, 0, 1) / probs.sum(axis=1, keepdims=True)
    )
    cumulative = np.cumsum(np.cumsum(counts, axis=1), axis=0)
    metric = (
        "inference_time_to_first_token_seconds"
        if t.model_class == "generative"
        else "inference_request_duration_seconds"
    )
    mean = median * np.exp(t.sigma**2 / 2)
    for i, le in enumerate(list(edges) + [float("inf")]):
        out.add(
            f"{metric}_bucket",
            f'{lbl},le="{"+Inf" if le == float("inf") else repr(float(le))}"',
            cumulative[:, i],
            mask,
        )
    out.add(f"{metric}_count", lbl, np.cumsum(requests), mask)
    out.add(f"{metric}_sum", lbl, np.cumsum(requests * mean), mask)
    if t.duration_median_s:  # generative: end-to-end duration (sums only is enough here)
        d_mean = t.duration_median_s * slow * np.exp(0.5**2 / 2)
        out.add("inference_request_duration_seconds_count", lbl, np.cumsum(requests), mask)
        out.add("inference_request_duration_seconds_sum", lbl, np.cumsum(requests * d_mean), mask)
        out.add("inference_request_duration_seconds_bucket", f'{lbl},le="+Inf"', np.cumsum(requests), mask)
        mean = d_mean
    queue_share = 0.08 + 0.1 * np.clip(slow - 1, 0, 1)
    out.add(
        "inference_request_queue_duration_seconds_sum", lbl, np.cumsum(requests * mean * queue_share), mask
    )
    out.add("inference_request_queue_duration_seconds_count", lbl, np.cumsum(requests), mask)


# --- replay in a real Prometheus ------------------------------------------------------------

PROM_CONFIG = "global:\n  scrape_interval: 1m\n  evaluation_interval: 1m\nscrape_configs: []\n"
PROM_ARGS = ("--storage.tsdb.retention.time=100y", "--query.max-samples=200000000", "--query.timeout=5m")


def rule_files() -> list[Path]:
    return sorted(p for p in (ROOT / "rules").glob("*.yml") if p.name != "config.yml")


def _recording_rules(files: list[Path]) -> list[tuple[dict, dict]]:
    """(group without rules, rule) for every recording rule, in file order."""
    out = []
    for f in files:
        for g in yaml.safe_load(f.read_text())["groups"]:
            meta = {k: v for k, v in g.items() if k != "rules"}
            out += [(meta, r) for r in g["rules"] if "record" in r]
    return out


Stage = list[tuple[dict, dict]]


def stages(files: list[Path]) -> tuple[list[Stage], list[Stage], list[Stage]]:
    """Recording rules the alerts need, in backfill order: plain stages by dependency depth, the
    rules that read their own history (anomaly bands) as ordered stages to run per chunk, then
    the plain rules that read those."""
    rules = _recording_rules(files)
    names = {r["record"] for _, r in rules}
    deps = {}
    for _, r in rules:
        deps.setdefault(r["record"], set()).update(set(metric_names(r["expr"])) & names)
    # Only what the alerts read (directly or through other rules) is worth backfilling.
    alerts = [
        r for f in files for g in yaml.safe_load(f.read_text())["groups"] for r in g["rules"] if "alert" in r
    ]
    needed, todo = set(), [n for a in alerts for n in set(metric_names(a["expr"])) & names]
    while todo:
        name = todo.pop()
        if name not in needed:
            needed.add(name)
            todo += deps[name]
    rules = [(meta, r) for meta, r in rules if r["record"] in needed]

    def reaches(start: str, goal: str) -> bool:
        seen, todo = set(), [start]
        while todo:
            for d in deps[todo.pop()]:
                if d == goal:
                    return True
                if d not in seen:
                    seen.add(d)
                    todo.append(d)
        return False

    cyclic = {n for n in names if reaches(n, n)}
    depth: dict[str, int] = {}

    def level(name: str) -> int:
        if name not in depth:
            depth[name] = 1 + max((level(d) for d in deps[name] if d not in cyclic), default=0)
        return depth[name]

    # Rules that read a cyclic one (directly or through others) run after the cyclic stages.
    late: set[str] = set()
    changed = True
    while changed:
        changed = False
        for _, r in rules:
            name = r["record"]
            if name not in cyclic and name not in late and deps[name] & (cyclic | late):
                late.add(name)
                changed = True
    plain: dict[int, list] = {}
    after: dict[int, list] = {}
    for meta, r in rules:
        if r["record"] not in cyclic:
            (after if r["record"] in late else plain).setdefault(level(r["record"]), []).append((meta, r))
    # Cyclic rules: each in its own stage, in file order (expected, margin, clean per signal).
    # `target:inference_model_info:last_known` is one too: it keeps models through an outage by
    # reading its own value a minute ago, which range queries cannot replay, so the backfill
    # records its fresh part only (scenario outages see no remembered models).
    cyc_order: dict[int, list] = {}
    for meta, r in rules:
        if r["record"] in cyclic:
            rank = 0 if r["record"].endswith("_expected") else 1 if r["record"].endswith("_margin") else 2
            cyc_order.setdefault(rank, []).append((meta, r))
    return (
        [plain[k] for k in sorted(plain)],
        [cyc_order[k] for k in sorted(cyc_order)],
        [after[k] for k in sorted(after)],
    )


def _write_stage(path: Path, stage: list[tuple[dict, dict]]) -> None:
    groups: dict[str, dict] = {}
    for meta, r in stage:
        groups.setdefault(meta["name"], {**meta, "rules": []})["rules"].append(r)
    path.write_text(yaml.safe_dump({"groups": list(groups.values())}, sort_keys=False))


class Replay:
    """A Prometheus over the scenario's TSDB, restarted whenever new blocks are added."""

    def __init__(self, workdir: Path):
        from inference_devtools.prom import Prometheus

        self._cls = Prometheus
        self.workdir = workdir
        self.prom = None

    def start(self):
        self.prom = self._cls(self.workdir, PROM_CONFIG, PROM_ARGS)
        return self.prom

    def stop(self):
        if self.prom:
            self.prom.close()
            self.prom = None

    def add_blocks(self, blocks: Path) -> None:
        self.stop()
        for block in blocks.iterdir():
            shutil.move(str(block), self.workdir / "data" / block.name)
        self.start()


def _backfill_rules(replay: Replay, stage: list, start: int, end: int, tmp: Path) -> None:
    """Evaluate a stage's recording rules with range queries on the running Prometheus (what
    `promtool tsdb create-blocks-from rules` does, batched into one import) and add the blocks."""
    import requests

    lines: dict[str, dict[float, str]] = {}
    for meta, rule in stage:
        step = int(parse_duration(meta.get("interval", "1m")))
        t = start
        while t <= end:
            stop = min(end, t + step * 10_000)
            r = requests.post(
                replay.prom.url + "/api/v1/query_range",
                data={"query": rule["expr"], "start": t, "end": stop, "step": step},
                timeout=600,
            ).json()
            if r.get("status") != "success":
                raise RuntimeError(f"{rule['record']}: {r.get('error')}")
            for item in r["data"]["result"]:
                labels = {**item["metric"], **rule.get("labels", {})}
                labels.pop("__name__", None)
                text = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
                key = f"{rule['record']}{{{text}}}"
                # A rule's `or` branches may return one label set under two metric names over
                # a range (the name is dropped at some steps only): one series, in time order.
                lines.setdefault(key, {}).update((float(ts), v) for ts, v in item["values"])
            t = stop + step
    if not lines:
        return
    path = tmp / "stage.om"
    with path.open("w") as f:
        for key in sorted(lines):
            f.write("".join(f"{key} {v} {ts:.3f}\n" for ts, v in sorted(lines[key].items())))
        f.write("# EOF\n")
    out = tmp / "blocks"
    shutil.rmtree(out, ignore_errors=True)
    # promtool 2.42 reports "out of order sample" for some inputs with long blocks; two-hour
    # blocks (its default) always import.
    for duration in ("240h", "2h"):
        shutil.rmtree(out, ignore_errors=True)
        cmd = ["promtool", "tsdb", "create-blocks-from", "openmetrics", f"--max-block-duration={duration}"]
        done = subprocess.run([*cmd, str(path), str(out)], capture_output=True, text=True)
        if done.returncode == 0:
            break
    else:
        raise RuntimeError(f"promtool import failed: {done.stderr[-2000:]}")
    replay.add_blocks(out)


def backfill_recordings(
    run: Replay,
    files: list[Path],
    start: int,
    end: int,
    step: int = STEP,
    speed: float = 1,
    log=lambda m: None,
) -> None:
    """Record the rules the alerts need over [start, end] into the replay's TSDB, stage by stage.

    `speed`: the rule files are time-compressed by that factor (deploy/local/demo_speed.py),
    so the anomaly bands' look-back (23h30m) and the chunks shorter than it shrink alike.
    """
    plain, cyclic, late = stages(files)
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        for stage in plain:
            _backfill_rules(run, stage, start, end, tmp)
        log("  plain recording rules backfilled")
        chunk = int(22 * 3600 / speed)  # shorter than the 23h30m the bands look back
        t = start
        while t < end:
            stop = min(end, t + chunk - step)
            for stage in cyclic:
                _backfill_rules(run, stage, t, stop, tmp)
            t = stop + step
        for stage in late:
            _backfill_rules(run, stage, start, end, tmp)


def replay(
    workdir: Path,
    scenario_file: Path,
    scenario: Scenario,
    files: list[Path] | None = None,
    alerts_from: int | None = None,
    log=lambda msg: None,
) -> tuple[list[Result], Replay]:
    """Backfill data and recording rules, evaluate the alerts. The caller stops the returned replay."""
    files = files or rule_files()
    began = time.monotonic()
    data = workdir / "data"
    data.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [
            "promtool",
            "tsdb",
            "create-blocks-from",
            "openmetrics",
            "--max-block-duration=240h",
            str(scenario_file),
            str(data),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    log(f"data backfilled ({time.monotonic() - began:.0f}s)")
    run = Replay(workdir)
    run.start()
    try:
        backfill_recordings(run, files, scenario.start, scenario.end, log=log)
        log(f"recording rules and anomaly bands backfilled ({time.monotonic() - began:.0f}s)")
        alerts = load_alerts(files)
        results = backtest(run.prom.url, alerts, alerts_from or scenario.scored_from, scenario.end)
        log(f"alerts evaluated ({time.monotonic() - began:.0f}s)")
    except BaseException:
        run.stop()  # never leave a Prometheus behind
        raise
    return results, run


# --- scoring ----------------------------------------------------------------------------------


@dataclass
class Detection:
    fault: Fault
    alert: str = ""
    seconds: float | None = None  # time from onset to the intended alert; None = missed
    first_page: str = ""
    page_seconds: float | None = None  # time from onset to the first page of any alert for it


def _model_of(key: str) -> str:
    for part in key.strip("{}").split(", "):
        if part.startswith("model="):
            return part.split("=", 1)[1].strip('"')
    return ""


def _target_of(key: str) -> str:
    for t in TARGETS:
        if f'instance="{t.ip}:9400"' in key:
            return t.name
    return ""


def score(results: list[Result], scenario: Scenario) -> dict:
    detections = []
    for fault in scenario.faults:
        best = Detection(fault)
        for r in results:
            if r.alert.name not in fault.alerts:
                continue
            for key, eps in r.series.items():
                owner = _target_of(key) if fault.target else _model_of(key)
                if owner != (fault.target or fault.model):
                    continue
                for e in eps:
                    if fault.start <= e.start <= fault.start + fault.deadline or (
                        e.start < fault.start < e.end
                    ):
                        delay = max(0.0, e.start - fault.start)
                        if best.seconds is None or delay < best.seconds:
                            best = Detection(fault, r.alert.name, delay)
        for r in results:
            if r.alert.labels.get("severity") != "critical":
                continue
            for key, eps in r.series.items():
                if (_target_of(key) if fault.target else _model_of(key)) != (fault.target or fault.model):
                    continue
                for e in eps:
                    if fault.start <= e.start <= fault.end:
                        delay = e.start - fault.start
                        if best.page_seconds is None or delay < best.page_seconds:
                            best.first_page, best.page_seconds = r.alert.name, delay
        detections.append(best)
    # Everything else that fired is a false alert, unless it overlaps a fault window (plus 3h to recover).
    false = {"critical": [], "warning": []}
    for r in results:
        severity = r.alert.labels.get("severity")
        if severity not in false:
            continue
        for key, eps in r.series.items():
            for e in eps:
                explained = any(
                    e.start < f.end + 3 * 3600
                    and e.end > f.start
                    and (
                        _model_of(key) == f.model
                        or _target_of(key) == f.target
                        or _target_of(key).startswith(f.model)
                    )
                    for f in scenario.faults
                )
                if not explained:
                    false[severity].append((r.alert.name, key, e))
    weeks = (scenario.end - scenario.scored_from) / (7 * DAY)
    models = len({t.model for t in TARGETS})
    return {
        "detections": detections,
        "false_pages": false["critical"],
        "false_tickets": false["warning"],
        "weeks": weeks,
        "false_pages_per_week": len(false["critical"]) / weeks,
        "false_tickets_per_model_week": len(false["warning"]) / weeks / models,
    }
