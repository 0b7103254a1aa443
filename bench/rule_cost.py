"""What the rule pack costs a real Prometheus at fleet size, with a week of history.

    python bench/rule_cost.py [--models 1000,5000] [--days 7] [--rounds 5] [--json PATH]
    python bench/rule_cost.py --models 1000 --baseline-rules DIR   # DIR: another tree's rules/

For each fleet size:

1. History. The recording series the pack produces and reads back over long windows are
   written for ``--days`` (one sample a minute, as the 1m groups record them) and imported with
   ``promtool tsdb create-blocks-from openmetrics``, in 18-hour blocks (the largest block
   Prometheus makes with its default retention, so no compaction runs during the measurement):
   the per-model request, error and latency-SLI rates the SLO windows sum over (up to 30 days),
   the anomaly bands' ``_clean`` series they read a day and a week back, and 2.5 hours of the
   mean latency and error ratio. Which series and how far back is read from the rule files
   (``history_needed``), so a changed pack is measured as it is: re-run after merging.
2. Live. The fleet's exporters are served by inference_devtools.dashboard_fleet's fake fleet (the
   schema's series for every model: request counters, latency histograms, model info...),
   scraped every 15 s; the pack is loaded as rules/*.yml has it (1m groups, the 5m budget group).
   ``--fleet healthy`` (the default) keeps every model inside its objectives, history and live
   alike; ``--fleet burning`` is the fleet of the earlier runs, where most models page or
   ticket, and Prometheus expands every active alert's templates at each evaluation.
3. Measurement. After the raw rate windows have filled (10 minutes of scrapes), ``--rounds``
   evaluation rounds are read from Prometheus' own metrics after each round: each group's
   evaluation time and samples appended, the process's resident memory and CPU; the medians are
   reported, with the share of the evaluation interval the pack takes (target: under 10% at
   1,000 models on 2 cores). Groups slower than 10 minutes (the hourly anomaly tails) run every
   5 minutes while Prometheus settles, so their cost is measured and their series exist; the
   rounds then run with every group at its own interval, each counted at its share of a minute.

4. Baseline (``--baseline-rules``). The same Prometheus, history and fleet then load the other
   rule files (a reload) and the rounds are measured again: the peer of the same run, e.g. the
   rules before a change (``git archive REV rules | tar -x -C DIR``).

Prometheus runs on this machine beside the fake fleet (a child process): the load average is
printed with the figures.
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import requests
import yaml
from inference_devtools import dashboard_fleet, repo

ROOT = repo.ROOT
repo.use("bench")

import scenario  # noqa: E402  (bench/)

CLUSTER = "c1"
LONGEST_OBSERVED_S = 600  # a group evaluated less often may not run within a measurement...
OBSERVED_S = 300  # ...so it runs this often here, and is counted at its real interval
BLOCK = 18 * 3600  # promtool block length, and the history's chunk
SCRAPE_S = 15
UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}
RANGE = re.compile(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{[^}]*\})?\[(\w+)(?::\w*)?\](?:\s*offset\s+(\w+))?")
OFFSET = re.compile(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{[^}]*\})?\s+offset\s+(\w+)")
MODEL_LABELS = ("cluster", "namespace", "team", "model_class", "model")


@dataclass(frozen=True)
class History:
    error_ratio: float
    slow_share: float  # of the latency SLI's requests
    mean_latency: float


# healthy: inside every objective, so only the pack's own cost is measured. burning: the fleet of
# the earlier runs (1% errors and 80 ms means live, 0.1% errors in the history): most models
# page or ticket every round, and each active alert's templates are expanded at every
# evaluation.
_HEALTHY, _BURNING = dashboard_fleet.HEALTHY, dashboard_fleet.Health()
FLEETS = {
    "healthy": (_HEALTHY, History(_HEALTHY.error_share, 0.001, _HEALTHY.request_mean)),
    "burning": (_BURNING, History(0.001, 0.01, _BURNING.request_mean)),
}


def say(message: str) -> None:
    print(message, flush=True)


def seconds(duration: str) -> float:
    return sum(float(n) * UNITS[u] for n, u in re.findall(r"(\d+)(ms|[smhdwy])", duration))


def rule_files(folder: Path = ROOT / "rules") -> list[Path]:
    return sorted(p for p in folder.glob("*.yml") if p.name != "config.yml")


def measured_copies(files: list[Path], folder: Path) -> tuple[list[Path], dict[str, float]]:
    """Copies of FILES in which groups slower than LONGEST_OBSERVED_S run every OBSERVED_S, so
    they are evaluated while Prometheus settles (the hourly anomaly tails would not be), and
    each group's real interval, at which its cost per minute is counted."""
    folder.mkdir(parents=True, exist_ok=True)
    copies, real = [], {}
    for f in files:
        doc = yaml.safe_load(f.read_text())
        for g in doc["groups"]:
            real[g["name"]] = seconds(g.get("interval", "1m"))
            if real[g["name"]] > LONGEST_OBSERVED_S:
                g["interval"] = f"{OBSERVED_S}s"
        copies.append(folder / f.name)
        copies[-1].write_text(yaml.safe_dump(doc, sort_keys=False))
    return copies, real


def history_needed(files: list[Path]) -> dict[str, float]:
    """Recorded ``model:`` series the pack reads further back than ten minutes: name -> seconds."""
    recorded, need = set(), {}
    for f in files:
        for group in yaml.safe_load(f.read_text())["groups"]:
            for rule in group["rules"]:
                if "record" in rule:
                    recorded.add(rule["record"])
                expr = str(rule["expr"])
                for name, window, offset in RANGE.findall(expr):
                    need[name] = max(
                        need.get(name, 0.0), seconds(window) + (seconds(offset) if offset else 0)
                    )
                for name, offset in OFFSET.findall(expr):
                    need[name] = max(need.get(name, 0.0), seconds(offset))
    return {n: s for n, s in need.items() if n in recorded and n.startswith("model:") and s > 600}


def _values(name: str, minutes: np.ndarray, rng, base: float, history: History) -> np.ndarray:
    """A plausible value per minute: a daily shape on the model's own level, a little noise."""
    shape = scenario.daily_shape((minutes % 1440) / 60)
    rate = base * shape * rng.uniform(0.9, 1.1, len(minutes))
    if "error" in name and "ratio" not in name:
        return rate * history.error_ratio
    if "error" in name:
        return np.full(len(minutes), history.error_ratio)
    if "sli_slow" in name:
        return rate * history.slow_share
    if "duration" in name:
        return history.mean_latency * rng.uniform(0.95, 1.05, len(minutes))
    return rate


def write_history(
    work: Path, models: int, end: int, days: float, needed: dict[str, float], history: History
) -> int:
    """Import the needed series' history, BLOCK-aligned chunk by chunk; returns samples written."""
    data = work / "data"
    data.mkdir(parents=True, exist_ok=True)
    start = end - int(days * 86400)
    chunk_start = start - start % BLOCK
    written = 0
    labels = []
    for i in range(models):
        m = dashboard_fleet.Model(CLUSTER, i).labels
        labels.append(",".join(f'{k}="{m[k]}"' for k in MODEL_LABELS))
    while chunk_start < end:
        lo, hi = max(start, chunk_start), min(end, chunk_start + BLOCK)
        times = np.arange(lo - lo % 60 + 60, hi, 60)
        if len(times):
            path = work / "chunk.om"
            with path.open("w") as out:
                for name, back in sorted(needed.items()):
                    keep = times[times >= end - back]
                    if not len(keep):
                        continue
                    minutes = keep // 60
                    stamps = [str(t) for t in keep]
                    for i, lbl in enumerate(labels):
                        rng = np.random.default_rng(i * 7919 + int(lo))
                        vals = _values(name, minutes, rng, 5.0 * (1 + i % 3), history)
                        head = f"{name}{{{lbl}}} "
                        out.write("".join(f"{head}{v:.6g} {t}\n" for v, t in zip(vals, stamps, strict=True)))
                        written += len(keep)
                out.write("# EOF\n")
            blocks = work / "blocks"
            shutil.rmtree(blocks, ignore_errors=True)
            done = subprocess.run(
                ["promtool", "tsdb", "create-blocks-from", "openmetrics",
                 f"--max-block-duration={BLOCK // 3600}h",
                 str(path), str(blocks)],
                capture_output=True, text=True,
            )  # fmt: skip
            if done.returncode != 0:
                raise RuntimeError(f"promtool: {done.stderr[-2000:]}")
            for block in blocks.iterdir():
                shutil.move(str(block), data / block.name)
            path.unlink()
        say(
            f"    history to {time.strftime('%a %H:%M', time.gmtime(hi))} imported "
            f"({written / 1e6:.1f}M samples)"
        )
        chunk_start += BLOCK
    return written


def _serve_fleet(models: int, fleet: str, port_out) -> None:
    server = dashboard_fleet.FleetServer({CLUSTER: models}, FLEETS[fleet][0])
    port_out.send(server.address)
    while True:
        time.sleep(3600)


def own_metrics(url: str) -> dict[str, float]:
    from inference_devtools import prom

    prefixes = (
        "prometheus_rule_group_",
        "process_",
        "go_memstats_heap_inuse",
        "prometheus_tsdb_head_series ",
    )
    return prom.own_metrics(url, prefixes, timeout=60)


def group_of(key: str) -> str:
    return re.search(r'rule_group="[^"]*;([^"]+)"', key).group(1)


def measure(
    work: Path,
    models: int,
    days: float,
    rounds: int,
    settle: float = 600,
    baseline: Path | None = None,
    fleet_kind: str = "healthy",
) -> list[dict]:
    """This tree's figures, then the baseline rules' in the same Prometheus (when given)."""
    from inference_devtools.prom import Prometheus

    sets = [("this tree", rule_files())] + ([("baseline", rule_files(baseline))] if baseline else [])
    intervals, warm = {}, {}
    for i, (label, files) in enumerate(sets):
        warm[label], intervals[label] = measured_copies(files, work / f"rules-{i}")
    needed: dict[str, float] = {}
    for _, files in sets:
        for name, span in history_needed(files).items():
            needed[name] = max(needed.get(name, 0.0), span)
    say(f"[{models} models] history of {len(needed)} recorded series per model: "
        + ", ".join(f"{n} ({s / 3600:g} h)" for n, s in sorted(needed.items())))  # fmt: skip
    end = int(time.time()) - 120
    t0 = time.monotonic()
    samples = write_history(work, models, end, days, needed, FLEETS[fleet_kind][1])
    say(
        f"    {samples / 1e6:.1f}M samples of history imported in {time.monotonic() - t0:.0f}s; load {load()}"
    )
    ctx = multiprocessing.get_context("spawn")
    ours, theirs = ctx.Pipe()
    fleet = ctx.Process(target=_serve_fleet, args=(models, fleet_kind, theirs), daemon=True)
    fleet.start()
    address = ours.recv()

    def config(files: list[Path]) -> str:
        return yaml.safe_dump(
            {
                "global": {"scrape_interval": f"{SCRAPE_S}s", "evaluation_interval": "1m"},
                "rule_files": [str(f) for f in files],
                "scrape_configs": [
                    {"job_name": "fleet", "honor_labels": True, "scrape_timeout": "14s",
                     "static_configs": [{"targets": [address]}]}
                ],
            },
            sort_keys=False,
        )  # fmt: skip

    prom = None
    results = []
    try:
        t0 = time.monotonic()
        prom = Prometheus(work, config(warm[sets[0][0]]))
        say(
            f"    Prometheus ready after {time.monotonic() - t0:.0f}s; "
            f"{settle:.0f}s of scrapes for the rate windows"
        )
        time.sleep(settle)

        def reload(files: list[Path], why: str) -> None:
            (work / "prometheus.yml").write_text(config(files))
            prom.proc.send_signal(signal.SIGHUP)
            say(f"    {why}")
            time.sleep(5)

        for i, (label, files) in enumerate(sets):
            # Groups slower than LONGEST_OBSERVED_S run every OBSERVED_S for now: their cost is
            # taken from that, then the rounds run with the real intervals, as in production
            # (where such a group contends with the others once an hour, not every round).
            slow = {g for g, sec in intervals[label].items() if sec > LONGEST_OBSERVED_S}
            if i:  # other files: every group starts again, wait for each one's first evaluation
                reload(warm[label], f"{label}: rules reloaded")
            where = str(warm[label][0].parent)
            slow_own = _evaluated(prom.url, set(intervals[label]), where, LONGEST_OBSERVED_S + 120)
            slow_own = {k: v for k, v in slow_own.items() if group_of(k) in slow}
            if slow:
                # The same paths: Prometheus keeps every group whose file and rules are unchanged
                # (a group under a new path starts again, without its last evaluation's figures).
                for original, copy in zip(files, warm[label], strict=True):
                    shutil.copyfile(original, copy)
                reload(warm[label], f"{label}: slow groups back to their own intervals")
                time.sleep(55)
            per_round = _rounds(prom.url, rounds, intervals[label], where, label)
            for own in per_round:
                own.update(slow_own)
            results.append(
                {
                    "label": label,
                    "fleet": fleet_kind,
                    **summarize(per_round, models, samples, prom.url, intervals[label], where),
                }
            )
        return results
    finally:
        if prom is not None:
            prom.close()
        fleet.terminate()
        fleet.join(10)


def ours(k: str, groups, where: str) -> bool:
    """Whether metric key K is about one of GROUPS in the rule files under WHERE (Prometheus may
    keep the metrics of the groups a reload removed)."""
    return f'rule_group="{where}/' in k and group_of(k) in groups


def _evaluated(url: str, groups: set[str], where: str, timeout: float) -> dict:
    """Prometheus' own metrics of GROUPS once each has finished an evaluation (the iterations
    counter moves when one starts: a long group's first evaluation may still be running)."""
    deadline = time.monotonic() + timeout
    while True:
        own = {k: v for k, v in own_metrics(url).items() if ours(k, groups, where)}
        done = {
            group_of(k)
            for k, v in own.items()
            if k.startswith("prometheus_rule_group_last_evaluation_timestamp_seconds") and v > 0
        }
        if done >= groups or time.monotonic() > deadline:
            missing = groups - done
            if missing:
                say(f"    not evaluated within {timeout:.0f}s: {', '.join(sorted(missing))}")
            return own
        time.sleep(5)


def _rounds(url: str, rounds: int, groups: dict[str, float], where: str, label: str) -> list[dict]:
    """Prometheus' own metrics after each of ROUNDS evaluation rounds, of GROUPS' series only (a
    reload may leave the metrics of groups it removed)."""
    per_round: list[dict] = []
    last_iter = None
    deadline = time.monotonic() + rounds * 60 + 600
    while len(per_round) < rounds and time.monotonic() < deadline:
        own = own_metrics(url)
        iters = {
            group_of(k): v
            for k, v in own.items()
            if k.startswith("prometheus_rule_group_iterations_total") and ours(k, groups, where)
        }
        key = iters.get("inference.recording.model")
        if last_iter is not None and key is not None and key > last_iter:
            time.sleep(20)  # the round's other groups finish within seconds of the first
            own = {
                k: v for k, v in own_metrics(url).items() if "rule_group=" not in k or ours(k, groups, where)
            }
            per_round.append(own)
            took = round_seconds(own, groups) * 1e3
            say(f"    {label} round {len(per_round)}/{rounds}: {took:.0f} ms; load {load()}")
        last_iter = key if key is not None else last_iter
        time.sleep(5)
    return per_round


def round_seconds(own: dict, intervals: dict[str, float]) -> float:
    """Evaluation time of one round, each group at its share of a minute (the 5m group at a
    fifth), at the interval its rule file gives it."""
    total = 0.0
    for key, value in own.items():
        if key.startswith("prometheus_rule_group_last_duration_seconds"):
            interval = intervals.get(group_of(key)) or own.get(
                key.replace("last_duration_seconds", "interval_seconds"), 60.0
            )
            total += value * 60.0 / interval
    return total


def instant(url: str, expr: str) -> list[dict]:
    return requests.get(url + "/api/v1/query", params={"query": expr}, timeout=30).json()["data"]["result"]


def costliest_rules(url: str, intervals: dict[str, float], where: str, top: int = 12) -> list[dict]:
    """The rules of the files under WHERE that cost most per minute, from each rule's last
    evaluation (`/api/v1/rules`): where to look next."""
    found = requests.get(url + "/api/v1/rules", timeout=60).json()["data"]["groups"]
    rules = []
    for g in found:
        if not g["file"].startswith(where + "/") or g["name"] not in intervals:
            continue
        seen: dict[str, int] = {}
        for rule in g["rules"]:
            seen[rule["name"]] = seen.get(rule["name"], 0) + 1
            rules.append(
                {
                    "group": g["name"],
                    "rule": rule["name"] + (f" #{seen[rule['name']]}" if seen[rule["name"]] > 1 else ""),
                    "ms_per_minute": rule["evaluationTime"] * 1e3 * 60 / intervals[g["name"]],
                }
            )
    return sorted(rules, key=lambda r: -r["ms_per_minute"])[:top]


def summarize(
    per_round: list[dict], models: int, history: int, url: str, intervals: dict[str, float], where: str
) -> dict:
    groups = sorted(
        {group_of(k) for k in per_round[0] if k.startswith("prometheus_rule_group_last_duration")}
    )
    out = {"models": models, "history_samples": history, "rounds": len(per_round), "groups": {}}
    for group in groups:

        def pick(prefix: str, group: str = group) -> list[float]:
            return [
                v
                for own in per_round
                for k, v in own.items()
                if k.startswith(prefix) and group_of(k) == group
            ]

        out["groups"][group] = {
            "interval_s": intervals.get(group) or pick("prometheus_rule_group_interval_seconds")[0],
            "seconds_median": statistics.median(pick("prometheus_rule_group_last_duration_seconds")),
            "seconds_max": max(pick("prometheus_rule_group_last_duration_seconds")),
            "samples": statistics.median(pick("prometheus_rule_group_last_evaluation_samples")),
        }
    totals = [round_seconds(own, intervals) for own in per_round]
    out["round_seconds_median"] = statistics.median(totals)
    out["round_seconds_max"] = max(totals)
    out["share_of_interval"] = out["round_seconds_median"] / 60
    out["samples_per_round"] = sum(g["samples"] for g in out["groups"].values())
    out["rss_mb"] = max(own.get("process_resident_memory_bytes", 0) for own in per_round) / 1e6
    out["heap_inuse_mb"] = max(own.get("go_memstats_heap_inuse_bytes", 0) for own in per_round) / 1e6
    out["head_series"] = per_round[-1].get("prometheus_tsdb_head_series", 0)
    cpu = [own.get("process_cpu_seconds_total", 0) for own in per_round]
    out["cpu_share"] = (cpu[-1] - cpu[0]) / (60 * max(1, len(cpu) - 1))
    out["costliest_rules"] = costliest_rules(url, intervals, where)
    failures = instant(url, "sum(prometheus_rule_evaluation_failures_total)")
    out["evaluation_failures"] = float(failures[0]["value"][1]) if failures else 0.0
    active = instant(url, "count by (alertstate) (ALERTS)")
    out["active_alerts"] = {r["metric"]["alertstate"]: float(r["value"][1]) for r in active}
    return out


def report(r: dict) -> None:
    say(
        f"\n{r['label']}: {r['models']} models ({r['fleet']} fleet), "
        f"{r['history_samples'] / 1e6:.0f}M samples of history, {r['rounds']} rounds"
    )
    say(f"  (medians; load {load()})")
    say(f"  {'group':32} {'interval':>8} {'ms/round':>9} {'max ms':>8} {'samples':>9}")
    for group, g in r["groups"].items():
        ms, most = g["seconds_median"] * 1e3, g["seconds_max"] * 1e3
        say(f"  {group:32} {g['interval_s']:>7.0f}s {ms:9.1f} {most:8.1f} {g['samples']:9.0f}")
    per_minute, most = r["round_seconds_median"] * 1e3, r["round_seconds_max"] * 1e3
    say(
        f"  per minute, the 5m group at a fifth: {per_minute:.0f} ms (max {most:.0f}), "
        f"{r['share_of_interval'] * 100:.1f}% of the 1m interval (target < 10% at 1,000 models); "
        f"{per_minute / r['models'] * 1e3:.0f} us per model"
    )
    say("  costliest rules (last evaluation, ms per minute):")
    for rule in r.get("costliest_rules", []):
        say(f"    {rule['ms_per_minute']:7.0f}  {rule['group']}: {rule['rule']}")
    appended = r["samples_per_round"]
    say(f"  samples appended per round {appended:.0f} ({appended / r['models']:.1f} per model)")
    say(
        f"  Prometheus RSS {r['rss_mb']:.0f} MB, Go heap {r['heap_inuse_mb']:.0f} MB, "
        f"head series {r['head_series']:.0f}, CPU {r['cpu_share']:.2f} of a core; "
        f"failed evaluations {r['evaluation_failures']:.0f}"
    )
    active = r.get("active_alerts", {})
    firing, pending = active.get("firing", 0), active.get("pending", 0)
    say(f"  alerts active at the end: {firing:.0f} firing, {pending:.0f} pending")


def load() -> str:
    return "/".join(f"{x:.1f}" for x in os.getloadavg())


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", default="1000,5000")
    p.add_argument("--days", type=float, default=7)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--settle", type=float, default=600, help="seconds of live scrapes before measuring")
    p.add_argument("--json", metavar="PATH")
    p.add_argument("--workdir", help="keep the TSDB here (default: a temporary folder, removed)")
    p.add_argument("--baseline-rules", type=Path, help="another pack's rules/ folder, measured after")
    p.add_argument(
        "--fleet",
        choices=sorted(FLEETS),
        default="healthy",
        help="healthy: inside every objective; burning: most models alerting (the earlier runs' fleet)",
    )
    args = p.parse_args(argv)
    if args.baseline_rules and not rule_files(args.baseline_rules):
        p.error(f"--baseline-rules: no rule files in {args.baseline_rules}")
    results = []
    for models in (int(m) for m in args.models.split(",")):
        with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
            found = measure(
                Path(tmp), models, args.days, args.rounds, args.settle, args.baseline_rules, args.fleet
            )
        for r in found:
            report(r)
        if len(found) == 2:
            ours, base = (r["round_seconds_median"] for r in found)
            say(f"  this tree / baseline, per minute: {ours:.2f} s / {base:.2f} s = {ours / base:.2f}")
        results += found
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    return 0 if all(math.isfinite(r["round_seconds_median"]) for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
