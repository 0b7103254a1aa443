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
    dcgm: str = ""  # matching dcgm-exporter field, if any (for the naming table in docs/metrics.md)
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
        "inference_requests_total",
        COUNTER,
        "requests",
        "Inference requests finished, by outcome (success or failure) and, for failures, the reason "
        "the server gives.",
        ("outcome", "reason"),
        notes="`reason` is empty for successes and where the server gives no reason.",
    ),
    _m(
        "inference_request_duration_seconds",
        HISTOGRAM,
        "seconds",
        "End-to-end request duration as measured by the model server.",
        otel="gen_ai.server.request.duration",
        notes="Servers that report only cumulative totals get a single `+Inf` bucket: the mean "
        "(`_sum`/`_count`) is exact, quantiles are not available.",
    ),
    _m(
        "inference_request_queue_duration_seconds",
        HISTOGRAM,
        "seconds",
        "Time requests spent queued before the model started on them.",
    ),
    _m(
        "inference_request_compute_duration_seconds",
        HISTOGRAM,
        "seconds",
        "Time spent computing (input handling, inference and output handling).",
    ),
    _m(
        "inference_batch_size",
        HISTOGRAM,
        "requests",
        "Requests (or sequences) per model execution. `_sum`/`_count` is the mean batch size.",
    ),
    _m("inference_requests_running", GAUGE, "requests", "Requests being executed now."),
    _m("inference_requests_waiting", GAUGE, "requests", "Requests queued and waiting to run now."),
    _m(
        "inference_time_to_first_token_seconds",
        HISTOGRAM,
        "seconds",
        "Generative models: time from request arrival to the first output token.",
        otel="gen_ai.server.time_to_first_token",
    ),
    _m(
        "inference_time_per_output_token_seconds",
        HISTOGRAM,
        "seconds",
        "Generative models: time between consecutive output tokens (inter-token latency).",
        otel="gen_ai.server.time_per_output_token",
    ),
    _m(
        "inference_input_tokens_total",
        COUNTER,
        "tokens",
        "Generative models: prompt (input) tokens processed.",
        otel="gen_ai.client.token.usage{gen_ai.token.type=input} (client-side in OTel; no server metric)",
    ),
    _m(
        "inference_output_tokens_total",
        COUNTER,
        "tokens",
        "Generative models: tokens generated (output).",
        otel="gen_ai.client.token.usage{gen_ai.token.type=output} (client-side in OTel; no server metric)",
    ),
    _m(
        "inference_kv_cache_usage_ratio",
        GAUGE,
        "ratio",
        "Generative models: share of the KV cache in use (0..1).",
    ),
    _m(
        "inference_model_info",
        INFO,
        "",
        "Always 1: one series per model and version seen in the server's metrics.",
        notes="Join on `model`/`version` to attach the version to any series.",
    ),
)

# Per-target process series: ``target``/``server`` come from the target's Builder identity.
_PROC = ("target", "server")
# Every GPU series; MIG instances add ``gpu_instance``/``compute_instance`` (empty on whole GPUs).
_GPU = ("gpu", "uuid", "name", "pci_bus_id", "gpu_instance", "compute_instance")


def _proc(name, type_, unit, help_, labels=(), **kw) -> Metric:
    return _m(name, type_, unit, help_, _PROC + tuple(labels), identity=False, group="process", **kw)


def _cont(name, type_, unit, help_, labels=(), **kw) -> Metric:
    return _m(name, type_, unit, help_, labels, identity=False, group="container", **kw)


def _gpu(name, type_, unit, help_, labels=(), **kw) -> Metric:
    return _m(name, type_, unit, help_, _GPU + tuple(labels), identity=False, group="gpu", **kw)


RESOURCES: tuple[Metric, ...] = (
    _proc(
        "inference_process_pids",
        GAUGE,
        "processes",
        "Processes of the target's model server found now (main process plus child workers).",
        notes="0 when no process matches; the other process series are then absent.",
    ),
    _proc(
        "inference_process_cpu_seconds_total",
        COUNTER,
        "seconds",
        "CPU time of the model server's processes, children included, by mode (user, system).",
        ("mode",),
        notes="Time of exited workers is kept, so the counter only resets when the exporter restarts.",
    ),
    _proc(
        "inference_process_resident_memory_bytes",
        GAUGE,
        "bytes",
        "Resident memory of the model server's processes, children included.",
    ),
    _proc(
        "inference_process_virtual_memory_bytes",
        GAUGE,
        "bytes",
        "Virtual memory of the model server's processes, children included.",
    ),
    _proc("inference_process_threads", GAUGE, "threads", "Threads of the model server's processes."),
    _proc(
        "inference_process_open_fds",
        GAUGE,
        "fds",
        "Open file descriptors of the model server's processes.",
        notes="Absent where the exporter may not read the processes' fd tables.",
    ),
    _proc(
        "inference_process_start_time_seconds",
        GAUGE,
        "seconds",
        "Unix time the model server's main process started.",
    ),
    _proc(
        "inference_process_restarts_total",
        COUNTER,
        "restarts",
        "Times the model server's main process was seen replaced by a new one (its pid changed).",
    ),
    _cont(
        "inference_container_cpu_usage_seconds_total",
        COUNTER,
        "seconds",
        "CPU time used by the container's cgroup (cgroup v2 cpu.stat usage_usec, v1 cpuacct.usage).",
    ),
    _cont(
        "inference_container_cpu_quota_cores",
        GAUGE,
        "cores",
        "CPU limit of the container in cores (quota / period); absent when unlimited.",
    ),
    _cont(
        "inference_container_cpu_periods_total",
        COUNTER,
        "periods",
        "CFS enforcement periods elapsed while the container had runnable tasks (nr_periods).",
    ),
    _cont(
        "inference_container_cpu_throttled_periods_total",
        COUNTER,
        "periods",
        "Enforcement periods in which the container was throttled by its CPU quota (nr_throttled).",
    ),
    _cont(
        "inference_container_cpu_throttled_seconds_total",
        COUNTER,
        "seconds",
        "Time the container's tasks were throttled by its CPU quota.",
    ),
    _cont(
        "inference_container_memory_usage_bytes",
        GAUGE,
        "bytes",
        "Memory charged to the container's cgroup, page cache included.",
    ),
    _cont(
        "inference_container_memory_limit_bytes",
        GAUGE,
        "bytes",
        "Memory limit of the container's cgroup; absent when unlimited.",
    ),
    _cont(
        "inference_container_memory_working_set_bytes",
        GAUGE,
        "bytes",
        "Memory usage minus inactive file cache, as kubelet and cAdvisor compute it for eviction.",
    ),
    _cont(
        "inference_container_oom_kills_total",
        COUNTER,
        "kills",
        "Processes of the container's cgroup killed by the OOM killer.",
    ),
    _m(
        "inference_gpu_collector_available",
        GAUGE,
        "",
        "1 if NVML could be initialised and GPUs are collected, 0 if the collector is disabled.",
        identity=False,
        group="gpu",
    ),
    _gpu(
        "inference_gpu_state",
        GAUGE,
        "",
        "1 for the GPU's current state: ok, or lost (fell off the bus, NVML GpuIsLost).",
        ("state",),
    ),
    _gpu(
        "inference_gpu_utilization_ratio",
        GAUGE,
        "ratio",
        "Share of the last sample period in which a kernel ran on the GPU (0..1).",
        dcgm="DCGM_FI_DEV_GPU_UTIL",
    ),
    _gpu(
        "inference_gpu_memory_copy_utilization_ratio",
        GAUGE,
        "ratio",
        "Share of the last sample period in which device memory was read or written (0..1).",
        dcgm="DCGM_FI_DEV_MEM_COPY_UTIL",
    ),
    _gpu(
        "inference_gpu_memory_used_bytes", GAUGE, "bytes", "Device memory used.", dcgm="DCGM_FI_DEV_FB_USED"
    ),
    _gpu(
        "inference_gpu_memory_free_bytes", GAUGE, "bytes", "Device memory free.", dcgm="DCGM_FI_DEV_FB_FREE"
    ),
    _gpu(
        "inference_gpu_memory_total_bytes",
        GAUGE,
        "bytes",
        "Device memory installed.",
        dcgm="DCGM_FI_DEV_FB_TOTAL",
    ),
    _gpu(
        "inference_gpu_temperature_celsius",
        GAUGE,
        "celsius",
        "GPU core temperature.",
        dcgm="DCGM_FI_DEV_GPU_TEMP",
    ),
    _gpu(
        "inference_gpu_power_usage_watts",
        GAUGE,
        "watts",
        "Power drawn by the GPU board.",
        dcgm="DCGM_FI_DEV_POWER_USAGE",
    ),
    _gpu(
        "inference_gpu_power_limit_watts",
        GAUGE,
        "watts",
        "Power limit the driver enforces now.",
        dcgm="DCGM_FI_DEV_ENFORCED_POWER_LIMIT",
    ),
    _gpu(
        "inference_gpu_energy_joules_total",
        COUNTER,
        "joules",
        "Energy consumed by the GPU since the driver was last loaded.",
        dcgm="DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION",
    ),
    _gpu("inference_gpu_sm_clock_hertz", GAUGE, "hertz", "SM clock.", dcgm="DCGM_FI_DEV_SM_CLOCK"),
    _gpu("inference_gpu_memory_clock_hertz", GAUGE, "hertz", "Memory clock.", dcgm="DCGM_FI_DEV_MEM_CLOCK"),
    _gpu(
        "inference_gpu_clock_event_reasons",
        GAUGE,
        "",
        "1 per reason the clocks are held down now (throttling): gpu_idle, sw_power_cap, hw_slowdown, "
        "sw_thermal_slowdown, hw_thermal_slowdown, hw_power_brake_slowdown, ...",
        ("reason",),
        dcgm="DCGM_FI_DEV_CLOCKS_EVENT_REASONS",
        notes="Only active reasons have a series; dcgm-exporter serves the raw bitmask.",
    ),
    _gpu(
        "inference_gpu_pcie_replays_total",
        COUNTER,
        "replays",
        "PCIe replays (link-level retransmissions).",
        dcgm="DCGM_FI_DEV_PCIE_REPLAY_COUNTER",
    ),
    _gpu(
        "inference_gpu_ecc_volatile_errors_total",
        COUNTER,
        "errors",
        "ECC errors since the driver was last loaded, by type (corrected, uncorrected).",
        ("type",),
        dcgm="DCGM_FI_DEV_ECC_SBE_VOL_TOTAL / DCGM_FI_DEV_ECC_DBE_VOL_TOTAL",
    ),
    _gpu(
        "inference_gpu_ecc_aggregate_errors_total",
        COUNTER,
        "errors",
        "ECC errors over the GPU's lifetime, by type (corrected, uncorrected).",
        ("type",),
        dcgm="DCGM_FI_DEV_ECC_SBE_AGG_TOTAL / DCGM_FI_DEV_ECC_DBE_AGG_TOTAL",
    ),
    _gpu(
        "inference_gpu_remapped_rows",
        GAUGE,
        "rows",
        "Memory rows remapped, by the kind of error that caused it (correctable, uncorrectable).",
        ("cause",),
        dcgm="DCGM_FI_DEV_CORRECTABLE_REMAPPED_ROWS / DCGM_FI_DEV_UNCORRECTABLE_REMAPPED_ROWS",
    ),
    _gpu(
        "inference_gpu_row_remap_pending",
        GAUGE,
        "",
        "1 if a row remapping is pending (takes effect at the next GPU reset).",
        dcgm="DCGM_FI_DEV_ROW_REMAP_PENDING",
    ),
    _gpu(
        "inference_gpu_row_remap_failure",
        GAUGE,
        "",
        "1 if a row remapping failed (the GPU should be taken out of service).",
        dcgm="DCGM_FI_DEV_ROW_REMAP_FAILURE",
    ),
    _gpu(
        "inference_gpu_xid_errors_total",
        COUNTER,
        "errors",
        "XID errors (critical driver events) by XID code, counted by the exporter "
        "(carried across its restarts by the journal).",
        ("xid",),
        dcgm="DCGM_FI_DEV_XID_ERRORS",
        notes="dcgm-exporter serves the last XID code as a gauge; this is a counter per code.",
    ),
    _gpu(
        "inference_gpu_process_memory_bytes",
        GAUGE,
        "bytes",
        "Device memory used by processes, summed per target that owns them.",
        ("target",),
        notes="`target` is empty for processes no target owns. Inside a container NVML reports host "
        "pids, so attribution needs the host's pid namespace (hostPID or no pid namespace).",
    ),
)

SELF: tuple[Metric, ...] = (
    _m(
        "inference_exporter_build_info",
        INFO,
        "",
        "Always 1: the exporter's version and Python.",
        ("version", "python_version"),
        identity=False,
        group="self",
    ),
    _m(
        "inference_exporter_target_up",
        GAUGE,
        "",
        "1 if the target's last collection succeeded, else 0.",
        ("target", "server"),
        identity=False,
        group="self",
    ),
    _m(
        "inference_exporter_collection_duration_seconds",
        GAUGE,
        "seconds",
        "Duration of the target's last collection (fetch, parse and translate).",
        ("target",),
        identity=False,
        group="self",
    ),
    _m(
        "inference_exporter_collections_total",
        COUNTER,
        "collections",
        "Collections attempted for the target.",
        ("target",),
        identity=False,
        group="self",
    ),
    _m(
        "inference_exporter_collection_errors_total",
        COUNTER,
        "errors",
        "Failed collections by reason (timeout, connection, tls, http_status, auth, parse, "
        "unknown_kind, adapter, or the scrape limit exceeded: body_size_limit, sample_limit, "
        "label_limit, label_name_length_limit, label_value_length_limit).",
        ("target", "reason"),
        identity=False,
        group="self",
    ),
    _m(
        "inference_exporter_last_success_timestamp_seconds",
        GAUGE,
        "seconds",
        "Unix time of the target's last successful collection.",
        ("target",),
        identity=False,
        group="self",
    ),
    _m(
        "inference_exporter_data_age_seconds",
        GAUGE,
        "seconds",
        "Age of the target's data being served now.",
        ("target",),
        identity=False,
        group="self",
    ),
    _m(
        "inference_exporter_target_stale",
        GAUGE,
        "",
        "1 if the target's data is older than its staleness window and is no longer served.",
        ("target",),
        identity=False,
        group="self",
    ),
    _m(
        "inference_exporter_series",
        GAUGE,
        "series",
        "Unified series served for the target.",
        ("target",),
        identity=False,
        group="self",
    ),
    _m(
        "inference_exporter_native_samples",
        GAUGE,
        "samples",
        "Native samples read from the target's last exposition.",
        ("target",),
        identity=False,
        group="self",
    ),
    _m(
        "inference_exporter_invalid_lines",
        GAUGE,
        "lines",
        "Lines of the target's last exposition that could not be parsed and were skipped.",
        ("target",),
        identity=False,
        group="self",
    ),
    _m(
        "inference_exporter_dropped_samples_total",
        COUNTER,
        "samples",
        "Native counter, bucket, sum and count samples dropped instead of served, by reason: "
        "duplicate (a series twice in one exposition), non_finite (NaN or infinite), negative.",
        ("target", "reason"),
        identity=False,
        group="self",
    ),
    _m(
        "inference_exporter_collector_success",
        GAUGE,
        "",
        "1 if the local collector's last run succeeded (no data is not a failure), else 0.",
        ("collector",),
        identity=False,
        group="self",
    ),
    _m(
        "inference_exporter_collector_duration_seconds",
        GAUGE,
        "seconds",
        "Duration of the local collector's last run.",
        ("collector",),
        identity=False,
        group="self",
    ),
    _m(
        "inference_exporter_config_last_reload_successful",
        GAUGE,
        "",
        "1 if the last config reload (SIGHUP or POST /-/reload) succeeded, 0 if it failed and the "
        "previous config is still running.",
        identity=False,
        group="self",
    ),
    _m(
        "inference_exporter_config_last_reload_success_timestamp_seconds",
        GAUGE,
        "seconds",
        "Unix time of the last config reload attempt that succeeded (start-up counts as one).",
        identity=False,
        group="self",
    ),
    _m(
        "inference_exporter_journal_errors_total",
        COUNTER,
        "errors",
        "Events that could not be written to the journal (disk full, permissions).",
        identity=False,
        group="self",
    ),
    _m(
        "inference_exporter_render_duration_seconds",
        GAUGE,
        "seconds",
        "Duration of the last rendering of the exposition served at /metrics.",
        identity=False,
        group="self",
    ),
)

# Health probes, model inventory, manifest checks, canaries and the event journal.
# Server-level series carry target/server (model and version empty); model-level ones all four.
HEALTH: tuple[Metric, ...] = (
    _m(
        "inference_server_live",
        GAUGE,
        "",
        "1 if the server's liveness endpoint answered OK at the last probe.",
        group="health",
    ),
    _m(
        "inference_server_ready",
        GAUGE,
        "",
        "1 if the server's readiness endpoint answered OK at the last probe.",
        group="health",
    ),
    _m(
        "inference_model_ready",
        GAUGE,
        "",
        "1 if the model version reports ready at the last probe.",
        group="health",
    ),
    _m(
        "inference_probe_success",
        GAUGE,
        "",
        "1 if the named health probe succeeded at its last run.",
        ("probe",),
        group="health",
    ),
    _m(
        "inference_probe_duration_seconds",
        GAUGE,
        "seconds",
        "Duration of the named health probe's last run.",
        ("probe",),
        group="health",
    ),
    _m(
        "inference_model_loaded_versions",
        GAUGE,
        "versions",
        "Versions of the model loaded now, from the server's model API.",
        group="health",
        notes="Carries `model` but no `version`.",
    ),
    _m(
        "inference_model_version_first_seen_timestamp_seconds",
        GAUGE,
        "seconds",
        "Unix time the exporter first saw this model version loaded (its deploy time, as far as we "
        "can tell).",
        group="health",
    ),
    _m(
        "inference_model_last_health_check_timestamp_seconds",
        GAUGE,
        "seconds",
        "Unix time of the last health probe of this model version, whatever its result.",
        group="health",
    ),
    _m(
        "inference_model_last_probe_success_timestamp_seconds",
        GAUGE,
        "seconds",
        "Unix time of the last successful health probe of this model version.",
        group="health",
    ),
    _m(
        "inference_model_last_canary_failure_timestamp_seconds",
        GAUGE,
        "seconds",
        "Unix time of this model version's last failed canary request.",
        group="health",
    ),
    _m(
        "inference_manifest_match",
        GAUGE,
        "",
        "1 if what the server runs matches the declared manifest for this check, else 0.",
        ("check", "key"),
        group="health",
        notes="`check` is `version`, `config` or `artifact`; `key` names the config key or artifact file.",
    ),
    _m(
        "inference_manifest_observed_value",
        GAUGE,
        "",
        "Numeric configuration value the server reports for a manifest key (e.g. max_batch_size).",
        ("key",),
        group="health",
    ),
    _m(
        "inference_canary_success",
        GAUGE,
        "",
        "1 if the canary's last golden request passed every check.",
        ("canary",),
        group="health",
    ),
    _m(
        "inference_canary_requests_total",
        COUNTER,
        "requests",
        "Canary requests sent, by outcome.",
        ("canary", "outcome", "reason"),
        group="health",
    ),
    _m(
        "inference_canary_duration_seconds",
        HISTOGRAM,
        "seconds",
        "Canary request duration; in OpenMetrics the last request's id is attached as an exemplar.",
        ("canary",),
        group="health",
    ),
    _m(
        "inference_canary_quality_score",
        GAUGE,
        "ratio",
        "Quality of the canary's last answer, 0..1: top-K overlap, cosine similarity or regex match.",
        ("canary", "check"),
        group="health",
    ),
    _m(
        "inference_events_total",
        COUNTER,
        "events",
        "Events written to the journal, by type.",
        ("type",),
        identity=False,
        group="health",
    ),
)

ALL: tuple[Metric, ...] = SERVING + RESOURCES + HEALTH + SELF
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
