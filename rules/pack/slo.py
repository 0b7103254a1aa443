"""SLO rules: error-ratio windows, latency SLI per model class, error budgets and
multi-window multi-burn-rate alerts (Google SRE workbook; Sloth/Pyrra shape).

Long windows are sums over the 5-minute recorded rates, which is exact for totals and
reads 5m series instead of raw counters (cheap at 3 days). Pages also need a minimum of
traffic in the long window, so a low-traffic model never pages on a single failure.
"""

from __future__ import annotations

from pathlib import Path

from inference_devtools import packconfig

from .common import SLOW_INTERVAL, Pack, Runbook, alert, duration_seconds, group, le_matcher, record

FAILURE = 'outcome="failure"'

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


def window_factor(pack: Pack, window: dict) -> float:
    """A burn window's factor (rules and dashboards derive it alike)."""
    return packconfig.window_factor(pack.cfg, window)


def _latency_parts(pack: Pack, spec: dict, cls: str, window: str, fn: str = "rate") -> tuple[str, str]:
    """(requests, good requests) of a class's latency SLI per model, over `window`.

    Only series whose histogram has the threshold bucket count, in both: a model served by
    two bucket layouts is judged on the layout that can judge it, and its other requests
    raise InferenceLatencySLIMissing instead of counting as slow.
    """
    m, lat = pack.by_model, spec["latency"]
    metric, edge = lat["metric"], le_matcher(lat["threshold_seconds"])
    total = pack.once(
        lambda *ha: (
            f"{fn}({metric}_count{pack.sel(cls, *ha)}[{window}])\n"
            f"    and ignoring (le) {metric}_bucket{pack.sel(cls, edge, *ha)}"
        )
    )
    good = pack.once(lambda *ha: f"{fn}({metric}_bucket{pack.sel(cls, edge, *ha)}[{window}])")
    return f"sum by ({m}) {total}", f"sum by ({m}) {good}"


def sorted_windows(windows: set[str]) -> list[str]:
    return [w for w in LONG_WINDOWS if w in windows]


def ticket_only_windows(pack: Pack) -> set[str]:
    """Windows no page reads: a few minutes' lag costs nothing there (SLOW_INTERVAL)."""
    tiers = pack.cfg["burn_rate_windows"]
    used = {t: {w[k] for w in tiers[t]["windows"] for k in ("long", "short")} for t in tiers}
    return used["ticket"] - used["page"]


RATIOS = {
    "errors": ("model:inference_request_errors", "model:inference_request_errors:rate5m",
               "model:inference_requests:rate5m"),
    "latency": ("model:inference_latency_sli_slow", "model:inference_latency_sli_slow:rate5m",
                "model:inference_latency_sli_requests:rate5m"),
}  # fmt: skip


def window_ratios(windows, sli: str) -> list[dict]:
    name, num, den = RATIOS[sli]
    return [record(f"{name}:ratio_rate{w}", _ratio(num, den, w)) for w in windows]


def recording(pack: Pack) -> list[dict]:
    """The 5m latency SLI rates, and the error and slow ratios of the windows pages read."""
    m = pack.by_model
    slow_windows = ticket_only_windows(pack)
    windows = [w for w in LONG_WINDOWS if w not in slow_windows]
    rules = window_ratios(windows, "errors")
    requests, slow = [], []
    for _name, spec, cls in pack.classes():
        total, good = _latency_parts(pack, spec, cls, "5m")
        requests.append(total)
        slow.append(f"clamp_min(\n  {total}\n  - on ({m})\n  {good},\n  0\n)")
    # One rule per series name: the classes select disjoint models, so `or` just unions them.
    rules.append(record("model:inference_latency_sli_requests:rate5m", "\nor\n".join(requests)))
    rules.append(record("model:inference_latency_sli_slow:rate5m", "\nor\n".join(slow)))
    return rules + window_ratios(windows, "latency") + traffic_floors(pack)


HOURLY = {
    "availability": ("model:inference_request_errors:increase1h", "model:inference_requests:increase1h"),
    "latency": (
        "model:inference_latency_sli_slow:increase1h",
        "model:inference_latency_sli_requests:increase1h",
    ),
}


def hourly(pack: Pack) -> list[dict]:
    """Each model's requests, failures and slow requests in the last hour, from the raw counters.

    The budget reads them at whole hours (`[30d:1h]`), so the hours tile the period: nothing
    between two samples is lost, unlike the 5-minute rates a subquery would sample.
    """
    m = pack.by_model
    errors, requests = HOURLY["availability"]
    total = pack.once(lambda *ha: f"increase(inference_requests_total{pack.sel(*ha)}[1h])")
    failed = pack.once(lambda *ha: f"increase(inference_requests_total{pack.sel(FAILURE, *ha)}[1h])")
    rules = [
        record(requests, f"sum by ({m}) {total}"),
        record(errors, f"sum by ({m}) {failed}\nor\n{requests} * 0"),
    ]
    slow_name, requests_name = HOURLY["latency"]
    sli, slow = [], []
    for _name, spec, cls in pack.classes():
        total, good = _latency_parts(pack, spec, cls, "1h", fn="increase")
        sli.append(total)
        slow.append(f"clamp_min(\n  {total}\n  - on ({m})\n  {good},\n  0\n)")
    rules.append(record(requests_name, "\nor\n".join(sli)))
    rules.append(record(slow_name, "\nor\n".join(slow)))
    return rules


def budget(pack: Pack) -> list[dict]:
    """Share of the period's error budget left (1 = untouched, < 0 = overspent), over the whole
    hours of the period (it trails the present by up to an hour; the burn rates watch that)."""
    days = pack.cfg["slo"]["period_days"]
    rules = []
    for sli, (num, den) in HOURLY.items():
        parts = []
        for _name, spec, cls in pack.classes():
            objective = spec["availability"] if sli == "availability" else spec["latency"]["objective"]
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
    """Template listing the versions a model runs now, for descriptions of model-level alerts.

    The lookup is scoped by every model label: two teams may serve models of the same name.
    """
    labels = pack.model_labels
    matchers = ", ".join(f"{name}=%q" for name in labels)
    query = f'count by (version) (inference_model_info{{{matchers}, version!=""}})'
    args = " ".join(f"$labels.{name}" for name in labels)
    return (
        f"{{{{ range $i, $s := printf `{query}` {args}"
        ' | query | sortByLabel "version" }}{{ if $i }}, {{ end }}{{ $s.Labels.version }}'
        "{{ else }}not reported{{ end }}"
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
    # The 5m latency ratio is not recorded (it would only serve the burn alerts): computed here.
    if window == "5m" and "latency" in series:
        return (
            f"(model:inference_latency_sli_slow:rate5m{{{cls}}}\n"
            f"   / (model:inference_latency_sli_requests:rate5m{{{cls}}} > 0))"
        )
    return series.format(window) + "{" + cls + "}"


def floor_window(window: dict, tier: str) -> str | None:
    """The window whose requests must reach a minimum before this burn window may alert: its
    own long window when it sets `min_requests`, otherwise an hour for pages, none for tickets."""
    if "min_requests" in window:
        return window["long"]
    return "1h" if tier == "page" else None


def floor_series(traffic: str, window: str) -> str:
    return traffic.replace(":rate5m", f":rate{window}")


def traffic_floors(pack: Pack) -> list[dict]:
    """The mean 5m request rate over each floor window, recorded once for every class, tier and
    SLI (before, each of the burn rules averaged up to an hour of rates for itself)."""
    windows = {
        floor_window(w, tier) for tier, cfg in pack.cfg["burn_rate_windows"].items() for w in cfg["windows"]
    } - {None}
    return [
        record(floor_series(traffic, w), f"avg_over_time({traffic}[{w}])")
        for _, _, traffic in RATIOS.values()
        for w in sorted_windows(windows)
    ]


def _burn_alerts(pack: Pack, sli: str, tier: str, cls_name: str, spec: dict, cls: str) -> list[dict]:
    """One alert per model, SLI and tier: the tier's windows are OR-ed into one rule, so the
    alert keeps one identity while the window that carries it changes."""
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
    clauses, factors = [], []
    for w in tier_cfg["windows"]:
        factor = window_factor(pack, w)
        factors.append(factor)
        limit = f"{factor * budget:.6g}"
        long_, short = (_window(series, w[k], cls) for k in ("long", "short"))
        clause = f"{long_} > {limit}\nand\n{short} > {limit}"
        guard = ""
        floor = floor_window(w, tier)
        if floor:  # requests in the window
            minimum = w.get("min_requests", pack.cfg["min_requests_per_hour"])
            guard = f"{floor_series(traffic, floor)}{{{cls}}} * {duration_seconds(floor)} >= {minimum}"
        clauses.append(f"(\n{clause}\nand on ({m})\n{guard}\n)" if guard else f"(\n{clause}\n)")
    long_windows = ", ".join(w["long"] for w in tier_cfg["windows"])
    return [
        alert(
            pack,
            name,
            "\nor\n".join(clauses),
            severity=tier_cfg["severity"],
            summary=f"Model is burning its {sli} error budget too fast.",
            description=(
                f"{{{{ $labels.model }}}} (versions {versions(pack)}, class {cls_name}, objective "
                f"{objective:g}): {{{{ $value | humanizePercentage }}}} of {what} over the burning window "
                f"({long_windows}), at least {min(factors):g}x the budgeted rate."
            ),
            dashboard="inference-slo",
            runbook=AVAILABILITY_RUNBOOK if sli == "availability" else LATENCY_RUNBOOK,
            labels={"slo": sli, "slo_class": cls_name},
        )
    ]


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
                for_=pack.for_duration("mean_latency"),
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


SERVERS = ("bentoml", "kserve", "llamacpp", "mlserver", "ollama", "rayserve", "sglang", "tfserving", "tgi",
           "torchserve", "triton", "vllm")  # fmt: skip


def coverage(pack: Pack) -> dict[str, dict[str, str]]:
    """Per class and server kind: "SLI" when its histogram has the class's threshold bucket,
    otherwise what is left (for the runbook of InferenceLatencySLIMissing)."""
    table: dict[str, dict[str, str]] = {}
    for name, spec, _ in pack.classes():
        lat = spec["latency"]
        row = {}
        for server in SERVERS:
            path = ROOT / "tests" / "golden" / f"{server}.prom"
            edges = golden_bucket_edges(server, lat["metric"]) if path.exists() else set()
            text = path.read_text() if path.exists() else ""
            if any(abs(e - lat["threshold_seconds"]) < 1e-12 for e in edges):
                row[server] = "SLI"
            elif edges:
                row[server] = "other bucket edges"
            elif f"{lat['metric']}_count" in text:
                row[server] = "sums only"
            else:
                row[server] = "no histogram"
        table[name] = row
    return table


def sli_missing_alerts(pack: Pack) -> list[dict]:
    """A ticket per model and server kind whose requests have no latency SLI."""
    m = pack.by_model
    out = []
    for cls_name, spec, cls in pack.classes():
        lat = spec["latency"]
        edge = le_matcher(lat["threshold_seconds"])
        expr = (
            f"group by ({m}, server) (inference_requests_total{pack.sel(cls)})\n"
            f"unless on ({m}, server)\n"
            f"group by ({m}, server) ({lat['metric']}_bucket{pack.sel(cls, edge)})\n"
            f"and on ({m})\n"
            f"model:inference_requests:rate5m{{{cls}}} > 0"
        )
        out.append(
            alert(
                pack,
                "InferenceLatencySLIMissing",
                expr,
                for_=pack.for_duration("latency_sli_missing"),
                severity="warning",
                summary="A model's requests have no latency SLI: no latency page can fire for them.",
                description=(
                    f"{{{{ $labels.model }}}} on {{{{ $labels.server }}}} (class {cls_name}): "
                    f"{lat['metric']} has no bucket at {lat['threshold_seconds']:g}s there, so these "
                    f"requests are outside the latency SLO and its pages. Only InferenceMeanLatencyHigh "
                    f"(mean above {spec['mean_latency_seconds']:g}s) and the latency anomaly band watch them."
                ),
                dashboard="inference-slo",
                runbook=Runbook(
                    meaning="The class's latency SLI counts requests under a histogram bucket edge (the "
                    "threshold). This server kind reports no bucket at that edge (sums only, no histogram, "
                    "or "
                    "other edges), so the model's requests there cannot be judged: no "
                    "InferenceLatencyBudgetBurn alert will ever fire for them. What each server kind gets "
                    "per class, from the adapters' golden output (`SLI`: latency burn-rate alerts; anything "
                    "else: this ticket, InferenceMeanLatencyHigh and the latency anomaly band):\n\n"
                    + coverage_table(pack),
                    check="The server kind in `server`; whether the server can expose a latency histogram "
                    "with an edge at the class threshold (docs/metrics.md says what each adapter "
                    "translates).",
                    fix="Expose a histogram with an edge at the threshold (then list the server under the "
                    "class's `latency.bucketed_servers` in rules/config.yml), or accept mean-latency "
                    "coverage "
                    "for this model and silence the ticket.",
                    rollback="Not a rollback case.",
                ),
                labels={"slo_class": cls_name},
            )
        )
    return out


def coverage_table(pack: Pack) -> str:
    table = coverage(pack)
    classes = list(table)
    threshold = {c: pack.cfg["slo"]["classes"][c]["latency"]["threshold_seconds"] for c in classes}
    lines = [
        "| server | " + " | ".join(f"{c} ({threshold[c]:g} s)" for c in classes) + " |",
        "|---" * (len(classes) + 1) + "|",
    ]
    for server in SERVERS:
        lines.append(f"| {server} | " + " | ".join(table[c][server] for c in classes) + " |")
    return "\n".join(lines)


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
        group(
            "inference.slo.recording.tickets",
            [r for sli in RATIOS for r in window_ratios(sorted_windows(ticket_only_windows(pack)), sli)],
            interval=SLOW_INTERVAL,
        ),
        group("inference.slo.hourly", hourly(pack), interval="5m"),
        group("inference.slo.budget", budget(pack), interval="5m"),
        group("inference.slo.alerts", alerts),
        # A ticket with `for: 1d` over the raw counters: every few minutes is plenty.
        group("inference.slo.coverage", sli_missing_alerts(pack), interval=SLOW_INTERVAL),
    ]
