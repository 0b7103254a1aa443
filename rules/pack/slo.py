"""SLO rules: error-ratio windows, latency SLI per model class, error budgets and
multi-window multi-burn-rate alerts (Google SRE workbook; Sloth/Pyrra shape).

Long windows are sums over the 5-minute recorded rates, which is exact for totals and
reads 5m series instead of raw counters (cheap at 3 days). Pages also need a minimum of
traffic in the long window, so a low-traffic model never pages on a single failure.
"""

from __future__ import annotations

from pathlib import Path

from .common import Pack, Runbook, alert, group, le_matcher, record

LONG_WINDOWS = ("30m", "1h", "2h", "6h", "1d", "3d")
ROOT = Path(__file__).resolve().parents[2]


def _ratio(num: str, den: str, window: str) -> str:
    # Both sums read the same 1m-spaced 5m rates, so their ratio is the window's error ratio.
    return f"sum_over_time({num}[{window}])\n/\n(sum_over_time({den}[{window}]) > 0)"


def golden_bucket_edges(server: str, metric: str) -> set[float]:
    """Bucket bounds our adapter emits for `server` (from its verified golden output)."""
    edges = set()
    for line in (ROOT / "tests" / "golden" / f"{server}.prom").read_text().splitlines():
        if line.startswith(metric + "_bucket{"):
            le = line.split('le="', 1)[1].split('"', 1)[0]
            if le != "+Inf":
                edges.add(float(le))
    return edges


def check_latency_thresholds(pack: Pack) -> None:
    """The latency SLI counts requests under the threshold, so it must be a bucket edge."""
    for name, spec, _ in pack.classes():
        lat = spec["latency"]
        for server in lat["bucketed_servers"]:
            edges = golden_bucket_edges(server, lat["metric"])
            if not edges:
                raise SystemExit(
                    f"slo.classes.{name}.latency: {server} reports no {lat['metric']} buckets; "
                    "remove it from bucketed_servers (InferenceMeanLatencyHigh covers it)"
                )
            if not any(abs(e - lat["threshold_seconds"]) < 1e-12 for e in edges):
                raise SystemExit(
                    f"slo.classes.{name}.latency.threshold_seconds={lat['threshold_seconds']} is not a "
                    f"bucket edge of {lat['metric']} on {server} (edges: {sorted(edges)})"
                )


def recording(pack: Pack) -> list[dict]:
    m = pack.by_model
    rules = [
        record(
            f"model:inference_request_errors:ratio_rate{w}",
            _ratio("model:inference_request_errors:rate5m", "model:inference_requests:rate5m", w),
        )
        for w in LONG_WINDOWS
    ]
    requests, slow = [], []
    for _name, spec, cls in pack.classes():
        lat = spec["latency"]
        metric = lat["metric"]
        total = f"sum by ({m}) (rate({metric}_count{pack.sel(cls)}[5m]))"
        good = (
            f"sum by ({m}) (rate({metric}_bucket{pack.sel(cls, le_matcher(lat['threshold_seconds']))}[5m]))"
        )
        # Only models whose histogram has the threshold bucket get a latency SLI.
        requests.append(f"(\n  {total}\n  and on ({m})\n  {good}\n)")
        slow.append(f"clamp_min(\n  {total}\n  - on ({m})\n  {good},\n  0\n)")
    # One rule per series name: the classes select disjoint models, so `or` just unions them.
    rules.append(record("model:inference_latency_sli_requests:rate5m", "\nor\n".join(requests)))
    rules.append(record("model:inference_latency_sli_slow:rate5m", "\nor\n".join(slow)))
    rules += [
        record(
            f"model:inference_latency_sli_slow:ratio_rate{w}",
            _ratio(
                "model:inference_latency_sli_slow:rate5m", "model:inference_latency_sli_requests:rate5m", w
            ),
        )
        for w in LONG_WINDOWS
    ]
    return rules


def budget(pack: Pack) -> list[dict]:
    """Share of the period's error budget left (1 = untouched, < 0 = overspent).

    The period total samples the 5m rates hourly (a subquery) to keep evaluation cheap.
    """
    days = pack.cfg["slo"]["period_days"]
    rules = []
    for sli in ("availability", "latency"):
        parts = []
        for _name, spec, cls in pack.classes():
            if sli == "availability":
                num, den = "model:inference_request_errors:rate5m", "model:inference_requests:rate5m"
                objective = spec["availability"]
            else:
                num, den = (
                    "model:inference_latency_sli_slow:rate5m",
                    "model:inference_latency_sli_requests:rate5m",
                )
                objective = spec["latency"]["objective"]
            spent = (
                f"sum_over_time({num}{{{cls}}}[{days}d:1h])\n  /\n"
                f"  (sum_over_time({den}{{{cls}}}[{days}d:1h]) > 0)"
            )
            parts.append(f"1 - (\n  {spent}\n) / {1 - objective:.6g}")
        rules.append(
            record(f"model:inference_{sli}_error_budget:remaining_ratio{days}d", "\nor\n".join(parts))
        )
    return rules


def model_versions(pack: Pack) -> str:
    """`<model> (versions a, b)` for descriptions of model-level alerts."""
    return "{{ $labels.model }} (versions " + versions(pack) + ")"


def versions(pack: Pack) -> str:
    """Template listing the versions a model runs now, for descriptions of model-level alerts."""
    cl, ns = pack.label("cluster"), pack.label("namespace")
    query = f"count by (version) (inference_model_info{{{cl}=%q, {ns}=%q, model=%q}})"
    return (
        f'{{{{ range $i, $s := printf "{query}" $labels.{cl} $labels.{ns} $labels.model'
        ' | query | sortByLabel "version" }}{{ if $i }}, {{ end }}{{ $s.Labels.version }}{{ end }}'
    )


AVAILABILITY_RUNBOOK = Runbook(
    meaning="The model fails so many requests that, at this rate, it will spend its error budget for the "
    "SLO period long before the period ends. The page tier (fast burn) means users are failing now; the "
    "ticket tier means a slow, steady leak.",
    check="Open the SLO dashboard for the model: which windows burn, since when, which `reason` dominates "
    '(`sum by (reason) (rate(inference_requests_total{outcome="failure"}[5m]))`), whether one target or '
    "one version carries the failures, and whether a deploy, a config change or an upstream outage "
    "coincides.",
    fix="Remove failing replicas from the load balancer, scale out if failures are timeouts or overload, fix "
    "the upstream or input that triggers the failures.",
    rollback="Roll back when the failures start with a new model version or config (see "
    "InferencePostDeployRegression and the version panel) and the previous version served cleanly.",
)

LATENCY_RUNBOOK = Runbook(
    meaning="Too many requests are slower than the class's latency threshold (the SLI counts requests "
    "above a histogram bucket edge), so the latency error budget burns faster than allowed.",
    check="Look at p50/p99 and the queue share of latency on the model dashboard: queueing points to "
    "capacity (scale out), compute time to the model or hardware (GPU throttling, noisy neighbours), a "
    "step at a deploy to the new version.",
    fix="Scale out or shed load when queueing dominates; check GPU clocks and memory; reduce batch delay "
    "or batch size if batching adds latency.",
    rollback="Roll back when the latency step starts with a version or config change.",
)


def _window(series: str, window: str, cls: str) -> str:
    # The 5m latency ratio is not recorded (it would only serve this alert): computed here.
    if window == "5m" and "latency" in series:
        return (
            f"(model:inference_latency_sli_slow:rate5m{{{cls}}}\n"
            f"   / (model:inference_latency_sli_requests:rate5m{{{cls}}} > 0))"
        )
    return series.format(window) + "{" + cls + "}"


def _burn_alerts(pack: Pack, sli: str, tier: str, cls_name: str, spec: dict, cls: str) -> list[dict]:
    m = pack.by_model
    tier_cfg = pack.cfg["burn_rate_windows"][tier]
    if sli == "availability":
        objective = spec["availability"]
        series = "model:inference_request_errors:ratio_rate{}"
        traffic = "model:inference_requests:rate5m"
        what = "requests failed"
    else:
        objective = spec["latency"]["objective"]
        series = "model:inference_latency_sli_slow:ratio_rate{}"
        traffic = "model:inference_latency_sli_requests:rate5m"
        what = f"requests were slower than {spec['latency']['threshold_seconds']:g}s"
    budget = 1 - objective
    name = f"Inference{'Availability' if sli == 'availability' else 'Latency'}BudgetBurn" + (
        "Critical" if tier == "page" else "Warning"
    )
    # Windows with their own `for` (the fast page) become rules of their own; the others are
    # OR-ed into one rule, as in the SRE workbook.
    combined = [w for w in tier_cfg["windows"] if "for" not in w]
    separate = [[w] for w in tier_cfg["windows"] if "for" in w]
    rules = []
    for windows in ([combined] if combined else []) + separate:
        clauses = []
        for w in windows:
            limit = f"{w['factor'] * budget:.6g}"
            clauses.append(
                f"(\n  {_window(series, w['long'], cls)} > {limit}\n"
                f"  and\n  {_window(series, w['short'], cls)} > {limit}\n)"
            )
        expr = "\nor\n".join(clauses)
        if tier == "page":
            guard = f"avg_over_time({traffic}{{{cls}}}[1h]) * 3600 >= {pack.cfg['min_requests_per_hour']}"
            for w in windows:
                if "min_requests" in w:
                    guard = f"{traffic}{{{cls}}} * 300 >= {w['min_requests']}"
            expr = f"(\n{expr}\n)\nand on ({m})\n({guard})"
        long_windows = " or ".join(w["long"] for w in windows)
        rules.append(
            alert(
                pack,
                name,
                expr,
                for_=windows[0].get("for"),
                severity=tier_cfg["severity"],
                summary=f"Model is burning its {sli} error budget too fast.",
                description=(
                    f"{{{{ $labels.model }}}} (versions {versions(pack)}, class {cls_name}, objective "
                    f"{objective:g}): "
                    f"{{{{ $value | humanizePercentage }}}} of {what} over the last {long_windows}, "
                    f"at least {min(w['factor'] for w in windows):g}x the budgeted rate."
                ),
                dashboard="inference-slo",
                runbook=AVAILABILITY_RUNBOOK if sli == "availability" else LATENCY_RUNBOOK,
                labels={"slo": sli, "slo_class": cls_name, "window": ",".join(w["long"] for w in windows)},
            )
        )
    return rules


def mean_latency_alerts(pack: Pack) -> list[dict]:
    out = []
    for cls_name, spec, cls in pack.classes():
        limit = spec["mean_latency_seconds"]
        expr = (
            f"model:inference_request_duration_seconds:mean_rate5m{{{cls}}} > {limit:g}\n"
            f"and on ({pack.by_model})\n"
            f"model:inference_requests:rate5m{{{cls}}} * 3600 >= {pack.cfg['min_requests_per_hour']}"
        )
        out.append(
            alert(
                pack,
                "InferenceMeanLatencyHigh",
                expr,
                for_=pack.forr("mean_latency"),
                severity="warning",
                summary="Model's mean latency is above its class limit.",
                description=(
                    f"{{{{ $labels.model }}}} (versions {versions(pack)}, class {cls_name}): mean request "
                    f"duration "
                    f"{{{{ $value | humanizeDuration }}}} over 5m, limit {limit:g}s."
                ),
                dashboard="inference-model",
                runbook=Runbook(
                    meaning="The exact mean request duration (`_sum/_count`) is above the class limit. This "
                    "is the "
                    "latency alert for servers that report only sums (Triton, TorchServe, MLServer), where "
                    "the "
                    "bucket-based latency SLO cannot count slow requests.",
                    check="Compare queue and compute time on the model dashboard, look for a deploy or a "
                    "traffic "
                    "step, and check GPU throttling and memory on the resources dashboard.",
                    fix="Scale out when queueing dominates; otherwise find what made inference slower "
                    "(input size, "
                    "batch settings, hardware).",
                    rollback="Roll back when the step coincides with a version or config change.",
                ),
                labels={"slo_class": cls_name},
            )
        )
    return out


def groups(pack: Pack) -> list[dict]:
    check_latency_thresholds(pack)
    alerts = []
    for sli in ("availability", "latency"):
        for tier in ("page", "ticket"):
            for cls_name, spec, cls in pack.classes():
                alerts += _burn_alerts(pack, sli, tier, cls_name, spec, cls)
    alerts += mean_latency_alerts(pack)
    return [
        group("inference.slo.recording", recording(pack)),
        group("inference.slo.budget", budget(pack), interval="5m"),
        group("inference.slo.alerts", alerts),
    ]
