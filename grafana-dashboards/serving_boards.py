"""The serving dashboards: fleet overview, model detail, SLO and error budget, anomalies.

Fleet, SLO and anomaly panels read the rule pack's recording rules (`model:...`, cheap over
many models, the same figures the alerts use); model-detail panels read the raw series
with `$__rate_interval`, so they follow every version and react within a scrape or two.
"""

from __future__ import annotations

from collections.abc import Callable

import slo_config
from board import Layout, annotation, dashboard, dashboard_links, variables
from panels import Column, Link, Panel, Query, stat, state_timeline, table, timeseries
from promql import (
    MODEL,
    SCOPE,
    SCOPE_VARS,
    Sel,
    ratio,
)

REQUESTS = "inference_requests_total"
DURATION = "inference_request_duration_seconds"
FAILURE = 'outcome="failure"'
FIRING = 'alertstate="firing"'
PACK_ALERTS = 'alertname=~"Inference.*"'
NOT_INFO = 'severity!="info"'
BURN_ALERTS = 'alertname=~"Inference.*BudgetBurn.*"'
ANOMALY_ALERTS = 'alertname=~"Inference.*(Anomaly|TrafficDrop)"'
# Generative panels follow the hidden `generative` variable (one repeated row per such model).
GENERATIVE = Sel(SCOPE_VARS + ("model", "version"), ('model=~"$generative"',))
READY_STATES = [(0, "not ready", "red"), (1, "ready", "green")]
MODEL_LINK = Link(
    "Open the model dashboard",
    "/d/inference-model?${__url_time_range}&var-datasource=${datasource}"
    "&var-cluster=${__data.fields.cluster}&var-model=${__data.fields.model}",
)
# Recording rules of the rule pack (rules/pack/recording.py, slo.py, anomaly.py).
RPS = "model:inference_requests:rate5m"
ERROR_RATIO = "model:inference_request_errors:ratio_rate5m"
P99 = "model:inference_request_duration_seconds:p99_rate5m"
MEAN_LATENCY = "model:inference_request_duration_seconds:mean_rate5m"
TTFT = "inference_time_to_first_token_seconds"
TTFT_P99 = f"model:{TTFT}:p99_rate5m"
BURN_WINDOWS = ("5m", "30m", "1h", "2h", "6h", "1d", "3d")
VERSION_APPEARED = (
    f"count by (model, version) ({MODEL('inference_model_info')})\n"
    f"unless count by (model, version) ({MODEL('inference_model_info')} offset 5m)"
)


def version_annotation():
    return annotation(
        "Version changes",
        VERSION_APPEARED,
        "{{model}} {{version}}",
        "Version {{version}} of {{model}} appeared (it was not served 5 minutes before).",
        "purple",
    )


# --- fleet -----------------------------------------------------------------------------------


def fleet() -> dict:
    lay = Layout()
    lay.row("Fleet now")
    lay.add(
        stat(
            "Models serving",
            "Models with at least one version seen in the servers' metrics.",
            "none",
            [Query(f"count(count by (model) ({MODEL('inference_model_info')}))")],
        ),
        stat(
            "Requests/s",
            "Requests finished per second over all selected models (5-minute rate).",
            "reqps",
            [Query(f"sum({MODEL(RPS)})")],
        ),
        stat(
            "Error ratio",
            "Share of requests that failed over all selected models (5-minute rate).",
            "percentunit",
            [Query(f"sum({MODEL('model:inference_request_errors:rate5m')}) / (sum({MODEL(RPS)}) > 0)")],
            guarded=True,
            thresholds=[(None, "green"), (0.01, "orange"), (0.05, "red")],
        ),
        stat(
            "Targets up",
            "Share of model-server targets whose last collection by the exporter succeeded.",
            "percentunit",
            [Query(f"avg({SCOPE('inference_exporter_target_up')})")],
            thresholds=[(None, "red"), (0.99, "orange"), (1, "green")],
        ),
        stat(
            "Models not ready",
            "Model versions whose readiness probe fails now.",
            "none",
            [Query(f"count({MODEL('inference_model_ready')} == 0) or vector(0)")],
            thresholds=[(None, "green"), (1, "red")],
        ),
        stat(
            "Firing alerts",
            "Alerts of the inference rule pack firing now (ALERTS is Prometheus' own series of alert "
            "states), without the info ones: InferenceModelAffected only says which models a cause "
            "concerns.",
            "none",
            [Query(f"count({MODEL('ALERTS', FIRING, PACK_ALERTS, NOT_INFO)}) or vector(0)")],
            thresholds=[(None, "green"), (1, "orange")],
        ),
    )
    lay.row("Per model")
    lay.add(
        timeseries(
            "Request rate",
            "Requests finished per second, per model (5-minute rate).",
            "reqps",
            [Query(f"sum by (model) ({MODEL(RPS)})", "{{model}}")],
        ),
        timeseries(
            "Error ratio",
            "Share of requests that failed, per model (5-minute rate); no value while a model has no "
            "traffic.",
            "percentunit",
            [Query(f"max by (model) ({MODEL(ERROR_RATIO)})", "{{model}}")],
            guarded=True,
        ),
        timeseries(
            "Latency p99, or mean where the server reports only sums",
            "p99 request duration per model where the histogram has buckets; servers that report only "
            "totals (Triton, TorchServe, MLServer) have no quantile, so their exact mean is shown instead.",
            "s",
            [
                Query(f"max by (model) ({MODEL(P99)})", "{{model}} p99"),
                Query(
                    f"max by (model) ({MODEL(MEAN_LATENCY)}) unless on (model) max by (model) ({MODEL(P99)})",
                    "{{model}} mean",
                ),
            ],
            guarded=True,
        ),
        state_timeline(
            "Readiness",
            "1 while every version of the model answers its readiness probe.",
            [Query(f"min by (model) ({MODEL('inference_model_ready')})", "{{model}}")],
            READY_STATES,
        ),
    )
    lay.row("Models")
    lay.add(
        table(
            "Models: version, traffic, errors, latency, budget (click a model for its dashboard)",
            "One row per model and version now. Latency is p99 where buckets exist, else the mean.",
            ["cluster", "model", "version"],
            [
                Column(
                    "Versions seen",
                    f"count by (cluster, model, version) ({MODEL('inference_model_info')})",
                    "none",
                ),
                Column("Requests/s", f"sum by (cluster, model) ({MODEL(RPS)})", "reqps"),
                Column("Error ratio", f"max by (cluster, model) ({MODEL(ERROR_RATIO)})", "percentunit", True),
                Column(
                    "Latency (p99 or mean)",
                    f"max by (cluster, model) ({MODEL(P99)}) or "
                    f"max by (cluster, model) ({MODEL(MEAN_LATENCY)})",
                    "s",
                    True,
                ),
                Column("Ready", f"min by (cluster, model) ({MODEL('inference_model_ready')})", "bool"),
                Column(
                    "Availability budget left",
                    f"min by (cluster, model) ({MODEL(_budget_rule('availability'))})",
                    "percentunit",
                ),
            ],
            links={"model": [MODEL_LINK]},
        ),
        timeseries(
            "Error budget left",
            "Share of the SLO period's availability error budget each model has left (1 = untouched, "
            "below 0 = overspent).",
            "percentunit",
            [
                Query(
                    f"min by (model) ({MODEL(_budget_rule('availability'))})",
                    "{{model}}",
                )
            ],
        ),
        table(
            "Firing alerts",
            "Alerts of the inference rule pack firing now, with their severity.",
            ["alertname", "severity", "model"],
            [
                Column(
                    "Firing",
                    f"max by (alertname, severity, model) ({MODEL('ALERTS', FIRING, PACK_ALERTS)})",
                    "none",
                )
            ],
            width=12,
            height=8,
        ),
    )
    return dashboard(
        "inference-fleet",
        "Inference / Fleet overview",
        "Every model the exporter sees: traffic, errors, latency, readiness, SLO budget and alerts.",
        lay,
        variables(),
        [version_annotation()],
        dashboard_links(),
    )


def _budget_rule(sli: str) -> str:
    return f"model:inference_{sli}_error_budget:remaining_ratio{slo_config.load().period_days}d"


# --- SLO -------------------------------------------------------------------------------------


def _burn(series: Callable[[str], str], objective: str) -> str:
    """Error ratio over each class's budget: 1 means spending exactly the budget over the period."""
    parts = []
    for c in slo_config.load().classes:
        budget = 1 - getattr(c, objective)
        parts.append(f"({series(c.matcher)} / {budget:.6g})")
    return " or ".join(parts)


def _latency_ratio(window: str) -> Callable[[str], str]:
    """Slow-request ratio over WINDOW; the pack records 5m as its two rates, longer windows as ratios."""
    if window == "5m":
        return lambda cls: ratio(
            MODEL("model:inference_latency_sli_slow:rate5m", cls),
            MODEL("model:inference_latency_sli_requests:rate5m", cls),
        )
    return lambda cls: MODEL(f"model:inference_latency_sli_slow:ratio_rate{window}", cls)


def _burn_panel(title: str, what: str, series: Callable, objective: str) -> Panel:
    cfg = slo_config.load()
    steps = [(None, "green")] + [
        (f, "orange" if f < max(cfg.factors) else "red") for f in sorted(cfg.factors)
    ]
    queries = [Query(_burn(series(w), objective), f"{{{{model}}}} {w}") for w in BURN_WINDOWS]
    return timeseries(
        title,
        f"{what} divided by the class's error budget (1 - objective), per window. 1 spends the budget "
        f"exactly over the {cfg.period_days}-day period; the alerts fire at "
        f"{', '.join(f'{f:g}' for f in cfg.factors)} (long and short window both above).",
        "short",
        queries,
        guarded=True,
        thresholds=steps,
    )


def slo() -> dict:
    cfg = slo_config.load()
    period = cfg.period_days
    lay = Layout()
    lay.row("Error budget")
    for sli in ("availability", "latency"):
        rule = _budget_rule(sli)
        lay.add(
            stat(
                f"{sli.title()} budget left (lowest model)",
                f"Share of the {period}-day {sli} error budget the worst selected model has left.",
                "percentunit",
                [Query(f"min({MODEL(rule)})")],
                width=6,
                thresholds=[(None, "red"), (0.25, "orange"), (0.5, "green")],
            ),
            timeseries(
                f"{sli.title()} budget left",
                f"Share of the {period}-day {sli} error budget left per model (below 0 = overspent).",
                "percentunit",
                [Query(f"min by (model) ({MODEL(rule)})", "{{model}}")],
                width=6,
            ),
        )
    lay.row("Burn rates")
    lay.add(
        _burn_panel(
            "Availability burn rate per window",
            "Failed-request ratio",
            lambda w: lambda cls: MODEL(f"model:inference_request_errors:ratio_rate{w}", cls),
            "availability",
        ),
        _burn_panel(
            "Latency burn rate per window",
            "Share of requests slower than the class's latency threshold (models with that bucket edge)",
            _latency_ratio,
            "latency_objective",
        ),
    )
    lay.row("Alerts")
    lay.add(
        state_timeline(
            "Burn-rate alert state",
            "Pending and firing burn-rate alerts per model (ALERTS is Prometheus' own series).",
            [
                Query(
                    f"max by (alertname, model) ({MODEL('ALERTS', BURN_ALERTS, FIRING)}) * 2"
                    f" or max by (alertname, model) ({MODEL('ALERTS', BURN_ALERTS)})",
                    "{{model}} {{alertname}}",
                )
            ],
            [(1, "pending", "orange"), (2, "firing", "red")],
        ),
        timeseries(
            "Requests/s counted by the SLOs",
            "Traffic behind the ratios: all requests (availability) and requests with a latency SLI.",
            "reqps",
            [
                Query(f"sum by (model) ({MODEL(RPS)})", "{{model}} all"),
                Query(
                    f"sum by (model) ({MODEL('model:inference_latency_sli_requests:rate5m')})",
                    "{{model}} latency SLI",
                ),
            ],
        ),
    )
    lay.row("Objectives (rules/config.yml)")
    lay.add(
        table(
            "Error ratio now vs objective",
            "Each model's failed-request ratio and slow-request ratio over 1 hour, next to its class.",
            ["model", "model_class"],
            [
                Column(
                    "Errors (1h)",
                    f"max by (model, model_class) ({MODEL('model:inference_request_errors:ratio_rate1h')})",
                    "percentunit",
                    True,
                ),
                Column(
                    "Slow (1h)",
                    f"max by (model, model_class) ({MODEL('model:inference_latency_sli_slow:ratio_rate1h')})",
                    "percentunit",
                    True,
                ),
            ],
        ),
    )
    return dashboard(
        "inference-slo",
        "Inference / SLO and error budget",
        "Availability and latency SLOs per model class: burn rates per window, budget left, alert state. "
        "Objectives: "
        + "; ".join(
            f"{c.name} {c.availability:g} available, {c.latency_objective:g} under {c.latency_threshold:g}s"
            for c in cfg.classes
        )
        + ".",
        lay,
        variables(),
        [version_annotation()],
        dashboard_links(),
    )


# --- anomalies -------------------------------------------------------------------------------

BAND_COLOUR = {"mode": "fixed", "fixedColor": "blue"}
SIGNALS = (
    ("Request rate", RPS, "reqps"),
    ("Mean latency", MEAN_LATENCY, "s"),
    ("Error ratio", ERROR_RATIO, "percentunit"),
)


def _band_panels(repeat: bool) -> list:
    out = []
    for title, signal, unit in SIGNALS:
        expected, margin = f"{signal}_expected", f"{signal}_margin"
        panel = timeseries(
            f"{title} and its anomaly band" + (" ($model)" if repeat else ""),
            f"The observed {title.lower()}, the expected value (median of the same hour yesterday, last week "
            "and the last half hour) and the band the anomaly alerts use. The band needs a day of history.",
            unit,
            [
                Query(f"max by (model) ({MODEL(signal)})", "observed"),
                Query(f"max by (model) ({MODEL(expected)})", "expected"),
                Query(f"max by (model) ({MODEL(expected)} + {MODEL(margin)})", "upper"),
                Query(f"max by (model) (clamp_min({MODEL(expected)} - {MODEL(margin)}, 0))", "lower"),
            ],
            width=8,
            guarded=True,
            overrides={
                "upper": {"custom.fillBelowTo": "lower", "custom.lineWidth": 0, "color": BAND_COLOUR},
                "lower": {"custom.lineWidth": 0, "color": BAND_COLOUR},
                "expected": {"custom.lineStyle": {"fill": "dash", "dash": [10, 10]}},
            },
        )
        if repeat:
            # One panel per model: the band's fill needs fixed series names.
            panel.builder.repeat("model").repeat_direction("h").max_per_row(3)
        out.append(panel)
    return out


def anomalies() -> dict:
    lay = Layout()
    lay.row("Anomaly alerts")
    lay.add(
        state_timeline(
            "Anomaly alert state",
            "Pending and firing anomaly and traffic-drop alerts of every model in scope (pick "
            "models above to see their bands).",
            [
                Query(
                    f"max by (alertname, model) ({SCOPE('ALERTS', ANOMALY_ALERTS, FIRING)}) * 2"
                    f" or max by (alertname, model) ({SCOPE('ALERTS', ANOMALY_ALERTS)})",
                    "{{model}} {{alertname}}",
                )
            ],
            [(1, "pending", "orange"), (2, "firing", "red")],
            width=24,
            height=6,
        ),
    )
    for title, _, _ in SIGNALS:
        lay.row(title)
        lay.add(*[p for p in _band_panels(repeat=True) if p.title.startswith(title)])
    return dashboard(
        "inference-anomalies",
        "Inference / Anomalies",
        "Seasonal anomaly bands of the rule pack (request rate, mean latency, error ratio) around the live "
        "series, one panel per picked model, and the anomaly alerts of every model.",
        lay,
        variables(picked_models=True),
        [version_annotation()],
        dashboard_links(),
    )
