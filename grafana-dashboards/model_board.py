"""The model-detail dashboard: one model (single-select, no All) in depth.

RED panels read the raw series with `$__rate_interval` (they follow every version and react
within a scrape or two); p99, mean and TTFT p99 come from the rule pack's recording rules,
the figures the alerts use. Latency buckets appear once per server kind. The journal table,
the journal annotation and the canary links lead from a panel to the exporter's events.
"""

from __future__ import annotations

from board import Layout, annotation, dashboard, dashboard_links, presence_variable, variables
from panels import Column, Link, Panel, Query, heatmap, state_timeline, table, timeseries
from promql import MODEL, MODEL_ONLY, SCOPE, agg, mean, p99_or_mean, quantile, rate, share, sum_rate
from serving_boards import (
    DURATION,
    FAILURE,
    GENERATIVE,
    MEAN_LATENCY,
    P99,
    READY_STATES,
    REQUESTS,
    TTFT,
    TTFT_P99,
    _band_panels,
    version_annotation,
)

# The exporter serves its journal at /events; `instance` is the address Prometheus scrapes it
# at, so the link opens where that address is reachable (the local stack; elsewhere a port-forward).
JOURNAL = "http://${__data.fields.instance}/events?model=${model}&since=${__from:date:seconds}"
JOURNAL_OF_TYPE = JOURNAL + "&type=${__data.fields.type}"
CANARY_JOURNAL = (
    "http://${__field.labels.instance}/events?model=${__field.labels.model}&type=canary_failed,canary_run"
    "&since=${__from:date:seconds}"
)
# Server-level series carry no model label: hidden variables list the selected model's targets
# and the exporters serving them, so those panels read a handful of series, not the fleet's.
EVENTS = "inference_events_total"
MODEL_TARGETS = SCOPE.where('target=~"$target"')
MODEL_EXPORTERS = SCOPE.where('instance=~"$exporter"')
ONE_SERVER = MODEL.where('server=~"$server"')  # the heatmap repeated per server kind
QUIET_EVENTS = 'type!="canary_run"'  # one per canary run: the journal has them, the marks would drown


def _latency_heatmap() -> Panel:
    """One heatmap per server kind: servers bucket differently, and a sum over le of two layouts
    interleaves edges that do not belong together."""
    panel = heatmap(
        "Latency distribution ($server)",
        "Requests per second in each latency bucket of one server kind. Servers that report only "
        "totals have a single +Inf bucket, so the heatmap shows one band for them: use the mean.",
        "s",
        Query(f"sum by (le) ({rate(ONE_SERVER, f'{DURATION}_bucket')})"),
    )
    panel.builder.repeat("server").repeat_direction("h").max_per_row(2)
    return panel


def journal_annotation():
    return annotation(
        "Journal events",
        f"sum by (instance, type) (increase({MODEL_EXPORTERS(EVENTS, QUIET_EVENTS)}[1m])) > 0",
        "{{type}}",
        "Journal event {{type}} on the exporter at {{instance}}: the event list is at "
        "http://{{instance}}/events (the model dashboard's journal table links it).",
        "orange",
    )


def _journal_panels() -> list[Panel]:
    return [
        table(
            "Journal events in the time range (click a type for the events of this model)",
            "Events the exporters serving this model wrote to their journal over the dashboard's time "
            "range, by type (canary runs included). The link opens the exporter's /events, filtered to "
            "the model and the time range.",
            ["instance", "type"],
            [
                Column(
                    "Events",
                    f"sum by (instance, type) (increase({MODEL_EXPORTERS(EVENTS)}[$__range])) > 0",
                    "none",
                )
            ],
            links={"type": [Link("Journal: events of ${model}", JOURNAL_OF_TYPE, True)]},
            width=12,
            height=8,
        ),
        timeseries(
            "Canary duration (exemplars: the run ids)",
            "Slowest canary request per canary over the rate window; each point carries the run's "
            "canary_id as an exemplar (Prometheus needs --enable-feature=exemplar-storage). The link "
            "opens the journal's failed and recent canary runs, which carry the same canary_id.",
            "s",
            [
                Query(
                    "histogram_quantile(1, sum by (instance, model, canary, le) "
                    f"({rate(MODEL, 'inference_canary_duration_seconds_bucket')})) >= 0",
                    "{{model}} {{canary}}",
                    exemplar=True,
                )
            ],
            links=[Link("Journal: failed canary runs of ${__field.labels.model}", CANARY_JOURNAL, True)],
            width=12,
        ),
    ]


def model() -> dict:
    lay = Layout()
    v = "version"
    lay.row("Requests, errors, latency (RED)")
    lay.add(
        timeseries(
            "Requests/s by version and outcome",
            "Requests finished per second.",
            "reqps",
            [
                Query(
                    sum_rate(MODEL, REQUESTS, "model, version, outcome"), "{{model}} {{version}} {{outcome}}"
                )
            ],
            width=8,
        ),
        timeseries(
            "Error ratio by version",
            "Share of requests that failed; no value while the version has no traffic.",
            "percentunit",
            [Query(share(MODEL, REQUESTS, "model, version", FAILURE), "{{model}} {{version}}")],
            width=8,
            guarded=True,
        ),
        timeseries(
            "Failures by reason",
            "Failed requests per second by the reason the server gives.",
            "reqps",
            [Query(sum_rate(MODEL, REQUESTS, "model, reason", FAILURE), "{{model}} {{reason}}")],
            width=8,
        ),
    )
    lay.row("Latency")
    lay.add(
        _latency_heatmap(),
        timeseries(
            "Latency percentiles and mean",
            "p99 and mean request duration as the rule pack records them (the figures the alerts use), "
            "and p50/p90 from the buckets, which no rule records. Servers that report only totals have "
            "no percentile: their exact mean is the figure.",
            "s",
            [
                Query(quantile(0.5, MODEL, DURATION, "model, version"), "{{model}} {{version}} p50"),
                Query(quantile(0.9, MODEL, DURATION, "model, version"), "{{model}} {{version}} p90"),
                Query(f"max by (model) ({MODEL(P99)})", "{{model}} p99"),
                Query(f"max by (model) ({MODEL(MEAN_LATENCY)})", "{{model}} mean"),
            ],
            guarded=True,
        ),
        timeseries(
            "Queue vs compute time (mean)",
            "Mean time a request waited in the server's queue, and mean time computing it. Queue time "
            "growing while compute stays flat means too little capacity.",
            "s",
            [
                Query(mean(MODEL, "inference_request_queue_duration_seconds", "model"), "{{model}} queue"),
                Query(
                    mean(MODEL, "inference_request_compute_duration_seconds", "model"), "{{model}} compute"
                ),
            ],
            guarded=True,
            stack=True,
        ),
        timeseries(
            "Batch size (mean) and requests running/waiting",
            "Mean requests per model execution, and requests executing or queued now.",
            "short",
            [
                Query(mean(MODEL, "inference_batch_size", "model"), "{{model}} mean batch size"),
                Query(f"sum by (model) ({MODEL('inference_requests_running')})", "{{model}} running"),
                Query(f"sum by (model) ({MODEL('inference_requests_waiting')})", "{{model}} waiting"),
            ],
            guarded=True,
        ),
    )
    # Repeated over the models that report tokens, so it is absent for other models.
    lay.row("Generative: $generative (TTFT, time per output token, tokens/s, KV cache)", repeat="generative")
    gen = GENERATIVE
    lay.add(
        timeseries(
            "Time to first token",
            "p99 time from request arrival to the first output token as the rule pack records it, or "
            "the mean where the server has no buckets.",
            "s",
            [
                Query(
                    f"max by (model) ({gen(TTFT_P99)}) or ({mean(gen, TTFT, 'model')})",
                    "{{model}}",
                )
            ],
            width=6,
            guarded=True,
        ),
        timeseries(
            "Time per output token",
            "p99 or mean time between consecutive output tokens (inter-token latency).",
            "s",
            [
                Query(
                    p99_or_mean(gen, "inference_time_per_output_token_seconds", "model, version"),
                    "{{model}} {{version}}",
                )
            ],
            width=6,
            guarded=True,
        ),
        timeseries(
            "Tokens/s",
            "Prompt (input) tokens processed and tokens generated per second.",
            "short",
            [
                Query(sum_rate(gen, "inference_input_tokens_total", "model"), "{{model}} input"),
                Query(sum_rate(gen, "inference_output_tokens_total", "model"), "{{model}} output"),
            ],
            width=6,
        ),
        timeseries(
            "KV cache in use",
            "Share of the KV cache in use (highest over the model's servers).",
            "percentunit",
            [Query(f"max by (model) ({gen('inference_kv_cache_usage_ratio')})", "{{model}}")],
            width=6,
            maximum=1,
        ),
    )
    lay.row("Health, canaries and quality")
    lay.add(
        state_timeline(
            "Readiness by version",
            "Whether each version answers its readiness probe, and whether its server does.",
            [
                Query(f"min by (model, version) ({MODEL('inference_model_ready')})", "{{model}} {{version}}"),
                Query(f"min by (target) ({MODEL_TARGETS('inference_server_ready')})", "server {{target}}"),
            ],
            READY_STATES,
            width=8,
        ),
        state_timeline(
            "Canary success",
            "Whether the canary's last golden request passed every check.",
            [
                Query(
                    f"min by (instance, model, canary) ({MODEL('inference_canary_success')})",
                    "{{model}} {{canary}}",
                )
            ],
            [(0, "failed", "red"), (1, "passed", "green")],
            width=8,
            links=[Link("Journal: failed canary runs of ${__field.labels.model}", CANARY_JOURNAL, True)],
        ),
        timeseries(
            "Canary quality score",
            "Quality of the canary's last answer, 0..1 (top-K overlap, cosine similarity or regex match).",
            "percentunit",
            [
                Query(
                    f"min by (model, canary, check) ({MODEL('inference_canary_quality_score')})",
                    "{{model}} {{canary}} {{check}}",
                )
            ],
            width=8,
            maximum=1,
        ),
    )
    lay.row("Journal and canary runs")
    lay.add(*_journal_panels())
    lay.row("Anomaly bands (rule pack)")
    lay.add(*_band_panels(repeat=False))
    lay.row("Versions")
    lay.add(
        table(
            "Per-version comparison",
            "Each version of the selected models side by side over the rate window: traffic, errors, "
            "mean and p99 latency, and when the exporter first saw the version.",
            ["model", v],
            [
                Column("Requests/s", sum_rate(MODEL, REQUESTS, "model, version"), "reqps"),
                Column("Error ratio", share(MODEL, REQUESTS, "model, version", FAILURE), "percentunit", True),
                Column("Mean latency", mean(MODEL, DURATION, "model, version"), "s", True),
                Column("p99 latency", quantile(0.99, MODEL, DURATION, "model, version"), "s", True),
                Column(
                    "First seen",
                    agg(
                        "max", "model, version", MODEL, "inference_model_version_first_seen_timestamp_seconds"
                    )
                    + " * 1000",
                    "dateTimeAsIso",
                ),
            ],
        ),
        timeseries(
            "Loaded versions",
            "Versions of the model loaded now, from the server's model API.",
            "none",
            [Query(f"max by (model) ({MODEL_ONLY('inference_model_loaded_versions')})", "{{model}}")],
            width=12,
        ),
        timeseries(
            "Mean latency by version",
            "Exact mean request duration of each version: a new version's step shows here first.",
            "s",
            [Query(mean(MODEL, DURATION, "model, version"), "{{model}} {{version}}")],
            width=12,
            guarded=True,
        ),
    )
    return dashboard(
        "inference-model",
        "Inference / Model detail",
        "One model: RED metrics, latency, queueing, batching, generative metrics, health, canaries, "
        "anomaly bands and versions.",
        lay,
        variables(single_model=True)
        + [
            presence_variable("generative", "inference_output_tokens_total"),
            presence_variable("server", f"{DURATION}_count", label="server"),
            presence_variable("target", "inference_model_info", label="target"),
            presence_variable("exporter", "inference_model_info", label="instance"),
        ],
        [version_annotation(), journal_annotation()],
        dashboard_links(),
    )
