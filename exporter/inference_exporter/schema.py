"""The unified metric schema: the single definition of every series the exporter serves.

Adapters, collectors, the rule pack, the dashboards and ``docs/metrics.md`` all read
this module. Principles: one ``inference_`` prefix for serving metrics, base units
(seconds, bytes, ratios 0..1), counters end in ``_total``, and every serving series
carries ``target``, ``server``, ``model`` and ``version`` plus the target's static labels.
"""

from __future__ import annotations

from dataclasses import dataclass, field

COUNTER = "counter"
GAUGE = "gauge"
HISTOGRAM = "histogram"
INFO = "info"

# Labels every serving series carries, in rendering order. Static labels follow them.
IDENTITY_LABELS = ("target", "server", "model", "version")
# Names a user's static labels may not take: they would shadow schema labels.
RESERVED_LABELS = frozenset(
    IDENTITY_LABELS + ("outcome", "reason", "le", "quantile", "kind", "state", "collector", "job", "instance")
)


@dataclass(frozen=True)
class Metric:
    """One family of the schema.

    ``name`` is the family name as it appears in the text format (counters include
    ``_total``). ``labels`` are the labels beyond the identity labels.
    """

    name: str
    type: str
    unit: str
    help: str
    labels: tuple[str, ...] = ()
    identity: bool = True  # carries target/server/model/version
    group: str = "serving"
    otel: str = ""  # OpenTelemetry GenAI semantic-convention equivalent, if any
    notes: str = ""
    sources: dict[str, str] = field(default_factory=dict, compare=False, hash=False)

    @property
    def family(self) -> str:
        """OpenMetrics family name (counters drop ``_total``, info drops ``_info``)."""
        if self.type == COUNTER and self.name.endswith("_total"):
            return self.name[: -len("_total")]
        if self.type == INFO and self.name.endswith("_info"):
            return self.name[: -len("_info")]
        return self.name


def _m(name, type_, unit, help_, labels=(), **kw) -> Metric:
    return Metric(name, type_, unit, help_, tuple(labels), **kw)


SERVING: tuple[Metric, ...] = (
    _m(
        "inference_requests_total", COUNTER, "requests",
        "Inference requests finished, by outcome (success or failure) and, for failures, the reason "
        "the server gives.",
        ("outcome", "reason"),
        notes="`reason` is empty for successes and where the server gives no reason.",
    ),
    _m(
        "inference_request_duration_seconds", HISTOGRAM, "seconds",
        "End-to-end request duration as measured by the model server.",
        otel="gen_ai.server.request.duration",
        notes="Servers that report only cumulative totals get a single `+Inf` bucket: the mean "
        "(`_sum`/`_count`) is exact, quantiles are not available.",
    ),
    _m(
        "inference_request_queue_duration_seconds", HISTOGRAM, "seconds",
        "Time requests spent queued before the model started on them.",
    ),
    _m(
        "inference_request_compute_duration_seconds", HISTOGRAM, "seconds",
        "Time spent computing (input handling, inference and output handling).",
    ),
    _m(
        "inference_batch_size", HISTOGRAM, "requests",
        "Requests (or sequences) per model execution. `_sum`/`_count` is the mean batch size.",
    ),
    _m("inference_requests_running", GAUGE, "requests", "Requests being executed now."),
    _m("inference_requests_waiting", GAUGE, "requests", "Requests queued and waiting to run now."),
    _m(
        "inference_time_to_first_token_seconds", HISTOGRAM, "seconds",
        "Generative models: time from request arrival to the first output token.",
        otel="gen_ai.server.time_to_first_token",
    ),
    _m(
        "inference_time_per_output_token_seconds", HISTOGRAM, "seconds",
        "Generative models: time between consecutive output tokens (inter-token latency).",
        otel="gen_ai.server.time_per_output_token",
    ),
    _m(
        "inference_input_tokens_total", COUNTER, "tokens",
        "Generative models: prompt (input) tokens processed.",
        otel="gen_ai.client.token.usage{gen_ai.token.type=input} (client-side in OTel; no server metric)",
    ),
    _m(
        "inference_output_tokens_total", COUNTER, "tokens",
        "Generative models: tokens generated (output).",
        otel="gen_ai.client.token.usage{gen_ai.token.type=output} (client-side in OTel; no server metric)",
    ),
    _m(
        "inference_kv_cache_usage_ratio", GAUGE, "ratio",
        "Generative models: share of the KV cache in use (0..1).",
    ),
    _m(
        "inference_model_info", INFO, "",
        "Always 1: one series per model and version seen in the server's metrics.",
        notes="Join on `model`/`version` to attach the version to any series.",
    ),
)

SELF: tuple[Metric, ...] = (
    _m(
        "inference_exporter_build_info", INFO, "", "Always 1: the exporter's version and Python.",
        ("version", "python_version"), identity=False, group="self",
    ),
    _m(
        "inference_exporter_target_up", GAUGE, "",
        "1 if the target's last collection succeeded, else 0.",
        ("target", "server"), identity=False, group="self",
    ),
    _m(
        "inference_exporter_collection_duration_seconds", GAUGE, "seconds",
        "Duration of the target's last collection (fetch, parse and translate).",
        ("target",), identity=False, group="self",
    ),
    _m(
        "inference_exporter_collections_total", COUNTER, "collections",
        "Collections attempted for the target.",
        ("target",), identity=False, group="self",
    ),
    _m(
        "inference_exporter_collection_errors_total", COUNTER, "errors",
        "Failed collections by reason (timeout, connection, http_status, too_large, parse, "
        "unknown_kind, auth, adapter).",
        ("target", "reason"), identity=False, group="self",
    ),
    _m(
        "inference_exporter_last_success_timestamp_seconds", GAUGE, "seconds",
        "Unix time of the target's last successful collection.",
        ("target",), identity=False, group="self",
    ),
    _m(
        "inference_exporter_data_age_seconds", GAUGE, "seconds",
        "Age of the target's data being served now.",
        ("target",), identity=False, group="self",
    ),
    _m(
        "inference_exporter_target_stale", GAUGE, "",
        "1 if the target's data is older than its staleness window and is no longer served.",
        ("target",), identity=False, group="self",
    ),
    _m(
        "inference_exporter_series", GAUGE, "series",
        "Unified series served for the target.",
        ("target",), identity=False, group="self",
    ),
    _m(
        "inference_exporter_native_samples", GAUGE, "samples",
        "Native samples read from the target's last exposition.",
        ("target",), identity=False, group="self",
    ),
    _m(
        "inference_exporter_invalid_lines", GAUGE, "lines",
        "Lines of the target's last exposition that could not be parsed and were skipped.",
        ("target",), identity=False, group="self",
    ),
    _m(
        "inference_exporter_collector_success", GAUGE, "",
        "1 if the local collector's last run succeeded (no data is not a failure), else 0.",
        ("collector",), identity=False, group="self",
    ),
    _m(
        "inference_exporter_collector_duration_seconds", GAUGE, "seconds",
        "Duration of the local collector's last run.",
        ("collector",), identity=False, group="self",
    ),
    _m(
        "inference_exporter_render_duration_seconds", GAUGE, "seconds",
        "Duration of the last rendering of the exposition served at /metrics.",
        identity=False, group="self",
    ),
)

ALL: tuple[Metric, ...] = SERVING + SELF
BY_NAME: dict[str, Metric] = {m.name: m for m in ALL}


def get(name: str) -> Metric:
    try:
        return BY_NAME[name]
    except KeyError:
        raise KeyError(f"{name!r} is not in the unified schema") from None


def series_names(metric: Metric) -> tuple[str, ...]:
    """Sample names a metric produces in the text format."""
    if metric.type == HISTOGRAM:
        return (metric.name + "_bucket", metric.name + "_sum", metric.name + "_count")
    return (metric.name,)
