"""The resources and GPU dashboard: CPU, memory, GPU use and health per target and device."""

from __future__ import annotations

from board import Layout, dashboard, dashboard_links, variables
from panels import Column, Query, state_timeline, table, timeseries
from promql import MODEL, SCOPE, agg, ratio, sum_increase, sum_rate
from serving_boards import MODEL_LINK, version_annotation

GPU = "gpu, gpu_name"  # a GPU's legend: index and product name; MIG adds gpu_instance
GPU_LEGEND = "{{instance}} GPU {{gpu}} {{gpu_instance}}"


def resources() -> dict:
    lay = Layout()
    lay.row("Models on the selected nodes")
    lay.add(
        table(
            "Models served by these exporters (click a model for its dashboard)",
            "Which models each exporter instance serves, with their GPU utilisation and memory share "
            "as the rule pack joins them (GPUs carry no model label; they meet models on the exporter).",
            ["instance", "target", "model", "version"],
            [
                Column(
                    "Served",
                    f"count by (instance, target, model, version) ({MODEL('inference_model_info')})",
                    "none",
                ),
                Column(
                    "GPU utilisation",
                    f"max by (model) ({MODEL('model:inference_gpu_utilization:ratio')})",
                    "percentunit",
                ),
                Column(
                    "GPU memory used",
                    f"max by (model) ({MODEL('model:inference_gpu_memory_used:ratio')})",
                    "percentunit",
                ),
            ],
            links={"model": [MODEL_LINK]},
        ),
    )
    lay.row("Model-server processes")
    lay.add(
        timeseries(
            "CPU by target and mode",
            "CPU time per second used by each target's model-server processes, children included (cores).",
            "short",
            [
                Query(
                    sum_rate(SCOPE, "inference_process_cpu_seconds_total", "instance, target, mode"),
                    "{{target}} {{mode}}",
                )
            ],
            width=8,
            stack=True,
        ),
        timeseries(
            "Resident memory",
            "Resident memory of each target's model-server processes, children included.",
            "bytes",
            [
                Query(
                    agg("sum", "instance, target", SCOPE, "inference_process_resident_memory_bytes"),
                    "{{target}}",
                )
            ],
            width=8,
        ),
        timeseries(
            "Processes, threads, open files",
            "Processes found for each target, their threads and open file descriptors.",
            "short",
            [
                Query(
                    agg("sum", "instance, target", SCOPE, "inference_process_pids"), "{{target}} processes"
                ),
                Query(
                    agg("sum", "instance, target", SCOPE, "inference_process_threads"), "{{target}} threads"
                ),
                Query(agg("sum", "instance, target", SCOPE, "inference_process_open_fds"), "{{target}} fds"),
            ],
            width=8,
        ),
        timeseries(
            "Process restarts",
            "Times each target's main process was replaced by a new one within the rate window.",
            "short",
            [
                Query(
                    sum_increase(SCOPE, "inference_process_restarts_total", "instance, target"),
                    "{{target}}",
                )
            ],
            width=8,
        ),
    )
    lay.row("Container (cgroup)")
    lay.add(
        timeseries(
            "Container CPU vs limit",
            "CPU time per second used by the container's cgroup, and its CPU limit (cores).",
            "short",
            [
                Query(
                    sum_rate(SCOPE, "inference_container_cpu_usage_seconds_total", "instance"),
                    "{{instance}} used",
                ),
                Query(
                    agg("max", "instance", SCOPE, "inference_container_cpu_quota_cores"),
                    "{{instance}} limit",
                ),
            ],
            width=8,
        ),
        timeseries(
            "CPU throttling",
            "Share of CFS enforcement periods in which the container was throttled by its quota.",
            "percentunit",
            [
                Query(
                    ratio(
                        sum_rate(SCOPE, "inference_container_cpu_throttled_periods_total", "instance"),
                        sum_rate(SCOPE, "inference_container_cpu_periods_total", "instance"),
                    ),
                    "{{instance}}",
                )
            ],
            width=8,
            guarded=True,
        ),
        timeseries(
            "Container memory vs limit",
            "Working set (what kubelet evicts on), total usage including page cache, and the limit.",
            "bytes",
            [
                Query(
                    agg("max", "instance", SCOPE, "inference_container_memory_working_set_bytes"),
                    "{{instance}} working set",
                ),
                Query(
                    agg("max", "instance", SCOPE, "inference_container_memory_usage_bytes"),
                    "{{instance}} usage",
                ),
                Query(
                    agg("max", "instance", SCOPE, "inference_container_memory_limit_bytes"),
                    "{{instance}} limit",
                ),
            ],
            width=8,
        ),
        timeseries(
            "OOM kills",
            "Processes of the container killed by the OOM killer within the rate window.",
            "short",
            [
                Query(
                    sum_increase(SCOPE, "inference_container_oom_kills_total", "instance"),
                    "{{instance}}",
                )
            ],
            width=8,
        ),
    )
    lay.row("GPU")
    lay.add(
        timeseries(
            "GPU utilisation",
            "Share of the sample period in which a kernel ran, and in which device memory was read or "
            "written.",
            "percentunit",
            [
                Query(
                    agg("max", "instance, gpu, gpu_instance", SCOPE, "inference_gpu_utilization_ratio"),
                    f"{GPU_LEGEND} kernels",
                ),
                Query(
                    agg(
                        "max",
                        "instance, gpu, gpu_instance",
                        SCOPE,
                        "inference_gpu_memory_copy_utilization_ratio",
                    ),
                    f"{GPU_LEGEND} memory",
                ),
            ],
            width=8,
            maximum=1,
        ),
        timeseries(
            "GPU memory",
            "Device memory used and installed.",
            "bytes",
            [
                Query(
                    agg("max", "instance, gpu, gpu_instance", SCOPE, "inference_gpu_memory_used_bytes"),
                    f"{GPU_LEGEND} used",
                ),
                Query(
                    agg("max", "instance, gpu, gpu_instance", SCOPE, "inference_gpu_memory_total_bytes"),
                    f"{GPU_LEGEND} total",
                ),
            ],
            width=8,
        ),
        timeseries(
            "GPU memory per target",
            "Device memory held by each target's processes (empty target: processes no target owns).",
            "bytes",
            [
                Query(
                    agg("sum", "instance, gpu, target", SCOPE, "inference_gpu_process_memory_bytes"),
                    "{{instance}} GPU {{gpu}} {{target}}",
                )
            ],
            width=8,
            stack=True,
        ),
        timeseries(
            "GPU temperature",
            "GPU core temperature.",
            "celsius",
            [
                Query(
                    agg("max", "instance, gpu", SCOPE, "inference_gpu_temperature_celsius"),
                    "{{instance}} GPU {{gpu}}",
                )
            ],
            width=8,
        ),
        timeseries(
            "GPU power vs limit",
            "Power drawn by the board and the limit the driver enforces.",
            "watt",
            [
                Query(
                    agg("max", "instance, gpu", SCOPE, "inference_gpu_power_usage_watts"),
                    "{{instance}} GPU {{gpu}}",
                ),
                Query(
                    agg("max", "instance, gpu", SCOPE, "inference_gpu_power_limit_watts"),
                    "{{instance}} GPU {{gpu}} limit",
                ),
            ],
            width=8,
        ),
        timeseries(
            "SM clock",
            "Streaming-multiprocessor clock: it drops when the GPU throttles.",
            "hertz",
            [
                Query(
                    agg("max", "instance, gpu", SCOPE, "inference_gpu_sm_clock_hertz"),
                    "{{instance}} GPU {{gpu}}",
                )
            ],
            width=8,
        ),
        state_timeline(
            "Clock throttle reasons",
            "Reasons the clocks are held down now (gpu_idle and sw_power_cap are normal; thermal and "
            "hardware slowdowns are not).",
            [
                Query(
                    agg("max", "instance, gpu, reason", SCOPE, "inference_gpu_clock_event_reasons"),
                    "{{instance}} GPU {{gpu}} {{reason}}",
                )
            ],
            [(0, "off", "transparent"), (1, "active", "orange")],
        ),
        state_timeline(
            "GPU state",
            "ok while the GPU answers NVML; lost when it fell off the bus.",
            [
                Query(
                    f"max by (instance, gpu, state) ({SCOPE('inference_gpu_state')}) == 1",
                    "{{instance}} GPU {{gpu}} {{state}}",
                )
            ],
            [(1, "current", "blue")],
        ),
        timeseries(
            "XID errors",
            "XID errors (critical driver events) per code within the rate window.",
            "short",
            [
                Query(
                    sum_increase(SCOPE, "inference_gpu_xid_errors_total", "instance, gpu, xid"),
                    "{{instance}} GPU {{gpu}} XID {{xid}}",
                )
            ],
            width=8,
        ),
        timeseries(
            "ECC errors",
            "Volatile ECC errors by type within the rate window.",
            "short",
            [
                Query(
                    sum_increase(SCOPE, "inference_gpu_ecc_volatile_errors_total", "instance, gpu, type"),
                    "{{instance}} GPU {{gpu}} {{type}}",
                )
            ],
            width=8,
        ),
        timeseries(
            "Row remapping",
            "Memory rows remapped by cause, and whether a remap is pending or has failed.",
            "short",
            [
                Query(
                    agg("max", "instance, gpu, cause", SCOPE, "inference_gpu_remapped_rows"),
                    "{{instance}} GPU {{gpu}} {{cause}}",
                ),
                Query(
                    agg("max", "instance, gpu", SCOPE, "inference_gpu_row_remap_pending"),
                    "{{instance}} GPU {{gpu}} pending",
                ),
                Query(
                    agg("max", "instance, gpu", SCOPE, "inference_gpu_row_remap_failure"),
                    "{{instance}} GPU {{gpu}} failed",
                ),
            ],
            width=8,
        ),
    )
    return dashboard(
        "inference-resources",
        "Inference / Resources and GPU",
        "CPU, memory, throttling and OOM kills of the model servers and their containers; GPU utilisation, "
        "memory, temperature, power, throttling, XID and ECC events, per-target GPU memory; the models on "
        "the selected nodes.",
        lay,
        variables(),
        [version_annotation()],
        dashboard_links(),
    )
