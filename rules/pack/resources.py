"""Saturation, container and GPU alerts.

Model-level saturation alerts read the recorded model series. Container and GPU series
belong to the exporter's pod (`job`/`instance`), not to a model, so those alerts borrow the
team and class of the models that pod serves (`with_owner`) and still fire without them.
"""

from __future__ import annotations

from .common import Pack, Runbook, alert, events, group, served_models, with_owner
from .slo import model_versions

GPU_ID = "gpu, uuid"


def _codes(codes: list[int]) -> str:
    return "|".join(str(c) for c in codes)


def saturation(pack: Pack) -> list[dict]:
    m, t = pack.by_model, pack.cfg["thresholds"]
    inst = pack.instance_labels
    rph = pack.cfg["min_requests_per_hour"]
    sat = pack.for_duration("saturation")
    return [
        alert(
            pack,
            "InferenceQueueTimeDominating",
            f"model:inference_request_queue_share:ratio_rate5m > {t['queue_share']:g}\n"
            f"and on ({m})\nmodel:inference_requests:rate5m * 3600 >= {rph}",
            for_=sat,
            severity="warning",
            summary="Requests spend most of their time waiting in the queue.",
            description=model_versions(pack) + ": "
            f"{{{{ $value | humanizePercentage }}}} of request time is "
            f"queueing (limit {t['queue_share']:.0%}).",
            dashboard="inference-model",
            runbook=Runbook(
                meaning="Queue time is more than the configured share of end-to-end latency: the model has "
                "less capacity than its traffic needs.",
                check="Queue share, running and waiting requests, batch size and GPU utilisation on the "
                "model "
                "dashboard; whether traffic rose or capacity fell (replicas not ready, throttling).",
                fix="Scale out, raise instance count/concurrency if the GPU has headroom, tune batching "
                "delay.",
                rollback="Roll back only if a new version became slower per request.",
            ),
        ),
        alert(
            pack,
            "InferenceRequestsWaitingGrowing",
            f"model:inference_requests_waiting:sum > {t['waiting_requests']:g}\n"
            f"and on ({m})\nderiv(model:inference_requests_waiting:sum[15m]) > 0",
            for_=sat,
            severity="warning",
            summary="The number of waiting requests keeps growing.",
            description=model_versions(pack) + ": "
            f"{{{{ $value | humanize }}}} requests waiting and still "
            f"growing (limit {t['waiting_requests']:g}).",
            dashboard="inference-model",
            runbook=Runbook(
                meaning="More requests are queued than the limit and the queue still grows: arrivals exceed "
                "service rate, latency will keep rising until requests time out.",
                check="Running vs waiting requests, KV-cache usage (generative), preemptions, GPU "
                "utilisation.",
                fix="Scale out or shed load; for LLM servers lower max tokens or concurrency per replica.",
                rollback="Roll back if a new version serves fewer requests per second.",
            ),
        ),
        alert(
            pack,
            "InferenceKVCacheNearFull",
            f"max by ({m}, target) (inference_kv_cache_usage_ratio{pack.sel()}) > {t['kv_cache_usage']:g}",
            for_=sat,
            severity="warning",
            summary="KV cache is nearly full.",
            description=model_versions(pack) + " on {{ $labels.target }}: KV cache "
            f"{{{{ $value | humanizePercentage }}}} used (limit {t['kv_cache_usage']:.0%}).",
            dashboard="inference-model",
            runbook=Runbook(
                meaning="The generative server has almost no KV cache left: new sequences wait or running "
                "ones "
                "get preempted and recomputed, so time to first token rises.",
                check="Waiting requests, TTFT p99, prompt and output token rates on the model dashboard.",
                fix="Scale out, lower max model length or concurrency, enable prefix caching, use a GPU with "
                "more memory.",
                rollback="Roll back if a new version raised context length or memory per sequence.",
            ),
        ),
        alert(
            pack,
            "InferenceCPUThrottling",
            with_owner(
                pack,
                f"sum by ({inst}) (rate(inference_container_cpu_throttled_periods_total{pack.sel()}[5m]))\n"
                f"/ (sum by ({inst}) (rate(inference_container_cpu_periods_total{pack.sel()}[5m])) > 0)\n"
                f"> {t['cpu_throttled_ratio']:g}",
                on=inst,
            ),
            for_=sat,
            severity="warning",
            summary="Model server container is CPU throttled.",
            description=f"{{{{ $labels.instance }}}}: {{{{ $value | humanizePercentage }}}} of CPU periods "
            f"throttled (limit {t['cpu_throttled_ratio']:.0%}).",
            dashboard="inference-resources",
            model_scoped=False,
            runbook=Runbook(
                meaning="The container hits its CPU quota in many scheduling periods; pre/post-processing "
                "and "
                "tokenisation stall, latency rises.",
                check="CPU usage against the quota on the resources dashboard; latency of the models in the "
                "pod.",
                fix="Raise the CPU limit (or remove it and keep requests), reduce worker threads.",
                rollback="Roll back if a new version uses more CPU per request.",
            ),
        ),
        alert(
            pack,
            "InferenceMemoryNearLimit",
            with_owner(
                pack,
                f"sum by ({inst}) (inference_container_memory_working_set_bytes{pack.sel()})\n"
                f"/ (sum by ({inst}) (inference_container_memory_limit_bytes{pack.sel()}) > 0)\n"
                f"> {t['memory_limit_ratio']:g}",
                on=inst,
            ),
            for_=sat,
            severity="warning",
            summary="Model server container is close to its memory limit.",
            description=f"{{{{ $labels.instance }}}}: working set at {{{{ $value | humanizePercentage }}}} "
            f"of "
            f"the memory limit (limit {t['memory_limit_ratio']:.0%}).",
            dashboard="inference-resources",
            model_scoped=False,
            runbook=Runbook(
                meaning="The working set (what the kernel cannot reclaim) is close to the cgroup limit: the "
                "next allocation may OOM-kill the model server.",
                check="Working set trend, models loaded, request payload sizes.",
                fix="Raise the memory limit, unload unused models, lower worker count or batch size.",
                rollback="Roll back if a new version needs more memory.",
            ),
        ),
        alert(
            pack,
            "InferenceOOMKilled",
            with_owner(
                pack,
                f"{events(pack, 'inference_container_oom_kills_total', inst, '15m')} > 0",
                on=inst,
            ),
            keep_firing_for=pack.keep("event_ticket"),
            severity="warning",
            summary="A model server process was OOM-killed.",
            description='{{ $labels.instance }}: {{ $value | printf "%.0f" }} OOM kills in the last 15 '
            "minutes.",
            dashboard="inference-resources",
            model_scoped=False,
            runbook=Runbook(
                meaning="The kernel killed a process of the container for exceeding the memory limit; "
                "workers restart and in-flight requests fail. The ticket stays open "
                f"{pack.keep('event_ticket')} after the last kill, so the ticket quiet hours cannot "
                "swallow it.",
                check="Memory working set before the kill, process restarts, request errors at that time.",
                fix="Raise the memory limit or lower memory per worker (fewer workers, smaller batches).",
                rollback="Roll back if the kills started with a new version.",
            ),
        ),
    ]


def gpu_xid_critical(pack: Pack) -> str:
    """One series per GPU and critical XID code seen in the last 10 minutes."""
    critical = f'xid=~"{_codes(pack.cfg["thresholds"]["xid_critical"])}"'
    by = f"{pack.instance_labels}, {GPU_ID}, xid"
    return f"{events(pack, 'inference_gpu_xid_errors_total', by, '10m', critical)} > 0"


def gpu_lost(pack: Pack) -> str:
    """One series per GPU that NVML reports lost."""
    lost = 'state="lost"'
    return f"max by ({pack.instance_labels}, {GPU_ID}) (inference_gpu_state{pack.sel(lost)}) == 1"


def gpu(pack: Pack) -> list[dict]:
    t = pack.cfg["thresholds"]
    inst = pack.instance_labels
    gid = f"{inst}, {GPU_ID}"
    hours = t["gpu_memory_fill_hours"]
    hw = "inference-resources"
    throttle = f'reason=~"{"|".join(t["gpu_throttle_reasons"])}"'
    xid_other = f'xid!~"{_codes(t["xid_critical"] + t["xid_ignored"])}"'
    uncorrected = 'type="uncorrected"'
    return [
        alert(
            pack,
            "InferenceGPUMemoryNearFull",
            with_owner(
                pack,
                f"max by ({gid}) (inference_gpu_memory_used_bytes{pack.sel()})\n"
                f"/ (max by ({gid}) (inference_gpu_memory_total_bytes{pack.sel()}) > 0)\n"
                f"> {t['gpu_memory_ratio']:g}",
                on=inst,
            ),
            for_=pack.for_duration("saturation"),
            severity="warning",
            summary="GPU memory is nearly full.",
            description=f"{{{{ $labels.instance }}}} GPU {{{{ $labels.gpu }}}}: "
            f"{{{{ $value | humanizePercentage }}}} of device memory used (limit "
            f"{t['gpu_memory_ratio']:.0%}).",
            dashboard=hw,
            model_scoped=False,
            runbook=Runbook(
                meaning="Device memory is nearly exhausted; the next allocation fails with CUDA OOM. Servers "
                "that pre-allocate (vLLM's gpu_memory_utilization) sit near a fixed level: raise the limit "
                "for "
                "them rather than ignore it.",
                check="Per-target GPU memory on the resources dashboard; which process grows.",
                fix="Restart the leaking worker, lower pre-allocation, move a model to another GPU.",
                rollback="Roll back if a new version needs more memory.",
            ),
        ),
        alert(
            pack,
            "InferenceGPUMemoryFillingUp",
            with_owner(
                pack,
                f"max by ({gid}) (predict_linear(inference_gpu_memory_used_bytes{pack.sel()}[1h], "
                f"{hours * 3600}))\n"
                f"> max by ({gid}) (inference_gpu_memory_total_bytes{pack.sel()})\n"
                # The hour before must predict the same on its own: a model load is one step,
                # which lies in one of the two hours, while a leak grows through both.
                f"and on ({gid})\n"
                f"max by ({gid}) (predict_linear(inference_gpu_memory_used_bytes{pack.sel()}[1h] offset 1h, "
                f"{(hours + 1) * 3600}))\n"
                f"> max by ({gid}) (inference_gpu_memory_total_bytes{pack.sel()})",
                on=inst,
            ),
            for_=pack.for_duration("gpu_memory_fill"),
            severity="warning",
            summary="GPU memory keeps growing and will run out.",
            description=f"{{{{ $labels.instance }}}} GPU {{{{ $labels.gpu }}}}: at the last hour's trend, "
            f"memory use reaches {{{{ $value | humanize1024 }}}}B within {hours} hours, more than installed "
            "(and the hour before predicted the same).",
            dashboard=hw,
            model_scoped=False,
            runbook=Runbook(
                meaning="Linear fits of the last hour of device memory and of the hour before each reach the "
                f"installed memory within {hours} hours: memory keeps growing, typically a leak (cached "
                "tensors, growing CUDA graphs, fragmentation). A model load is one step and lies in only "
                "one of the two hours, so it never fires this.",
                check="Per-target process memory: which target grows; correlate with version and traffic.",
                fix="Restart the leaking replica during low traffic; file a bug with the growth rate.",
                rollback="Roll back when the growth started with a new version.",
            ),
        ),
        alert(
            pack,
            "InferenceGPUThrottled",
            with_owner(
                pack,
                f"max by ({gid}, reason) (inference_gpu_clock_event_reasons{pack.sel(throttle)}) == 1",
                on=inst,
            ),
            for_=pack.for_duration("gpu_throttle"),
            severity="warning",
            summary="GPU clocks are held down by thermal or power protection.",
            description="{{ $labels.instance }} GPU {{ $labels.gpu }}: clocks throttled ({{ $labels.reason "
            "}}).",
            dashboard=hw,
            model_scoped=False,
            runbook=Runbook(
                meaning="The GPU runs below its clocks because of temperature or power protection (not the "
                "normal software power cap), so every request is slower.",
                check="Temperature and power against limits; other GPUs in the same chassis; fans and "
                "airflow.",
                fix="Fix cooling or power delivery; drain the node if a single GPU runs hot.",
                rollback="Not a rollback case.",
            ),
        ),
        alert(
            pack,
            "InferenceGPUXidCritical",
            with_owner(pack, gpu_xid_critical(pack), on=inst),
            severity="critical",
            summary="GPU reported a critical XID error.",
            description="{{ $labels.instance }} GPU {{ $labels.gpu }}: XID {{ $labels.xid }} "
            '({{ $value | printf "%.0f" }} in 10 minutes).'
            + served_models(pack, inst, " Models on it: ", "."),
            dashboard=hw,
            model_scoped=False,
            runbook=Runbook(
                meaning="The driver reported an XID from the critical tier (double-bit ECC, row-remap "
                "events, "
                "NVLink errors, GPU fallen off the bus, GSP errors): the GPU is unreliable or gone.",
                check="`dmesg`/`nvidia-smi -q` on the node; which models run on the GPU; their error ratios.",
                fix="Drain the node, reset the GPU or reboot; open a hardware ticket if it repeats.",
                rollback="Not a rollback case.",
            ),
        ),
        alert(
            pack,
            "InferenceGPUXidError",
            with_owner(
                pack,
                f"{events(pack, 'inference_gpu_xid_errors_total', f'{gid}, xid', '10m', xid_other)} > 0",
                on=inst,
            ),
            keep_firing_for=pack.keep("event_ticket"),
            severity="warning",
            summary="GPU reported an XID error.",
            description="{{ $labels.instance }} GPU {{ $labels.gpu }}: XID {{ $labels.xid }} "
            '({{ $value | printf "%.0f" }} in 10 minutes).',
            dashboard=hw,
            model_scoped=False,
            runbook=Runbook(
                meaning="The driver reported an XID that is neither critical nor known to be caused by the "
                f"application. The ticket stays open {pack.keep('event_ticket')} after the last one, so the "
                "ticket quiet hours cannot swallow it.",
                check="Look the code up in NVIDIA's XID catalogue; correlate with model errors.",
                fix="Follow the catalogue's action; drain the node if the code repeats.",
                rollback="Not a rollback case.",
            ),
        ),
        alert(
            pack,
            "InferenceGPUUncorrectableECC",
            with_owner(
                pack,
                f"{events(pack, 'inference_gpu_ecc_volatile_errors_total', gid, '10m', uncorrected)} > 0",
                on=inst,
            ),
            severity="critical",
            summary="GPU memory had uncorrectable ECC errors.",
            description='{{ $labels.instance }} GPU {{ $labels.gpu }}: {{ $value | printf "%.0f" }} '
            "uncorrectable "
            "ECC errors in 10 minutes.",
            dashboard=hw,
            model_scoped=False,
            runbook=Runbook(
                meaning="Data in GPU memory was corrupted; results of running requests may be wrong.",
                check="Remapped rows and pending remaps of the GPU; XID 48/94/95.",
                fix="Drain the node and reset the GPU; replace it if errors recur.",
                rollback="Not a rollback case.",
            ),
        ),
        alert(
            pack,
            "InferenceGPURowRemapFailure",
            with_owner(pack, f"max by ({gid}) (inference_gpu_row_remap_failure{pack.sel()}) == 1", on=inst),
            severity="critical",
            summary="GPU failed to remap a memory row.",
            description="{{ $labels.instance }} GPU {{ $labels.gpu }}: row remapping failed.",
            dashboard=hw,
            model_scoped=False,
            runbook=Runbook(
                meaning="The GPU ran out of spare rows to replace failing memory: it must leave service.",
                check="`nvidia-smi -q -d ROW_REMAPPER` on the node.",
                fix="Drain the node and replace the GPU.",
                rollback="Not a rollback case.",
            ),
        ),
        alert(
            pack,
            "InferenceGPULost",
            with_owner(pack, gpu_lost(pack), on=inst),
            severity="critical",
            summary="A GPU fell off the bus.",
            description="{{ $labels.instance }} GPU {{ $labels.gpu }} is lost."
            + served_models(pack, inst, " Models on it: ", "."),
            dashboard=hw,
            model_scoped=False,
            runbook=Runbook(
                meaning="NVML reports the GPU as lost (XID 79 class): every model on it is down.",
                check="Node kernel log; other GPUs on the node.",
                fix="Drain the node, reboot it; replace the GPU if it repeats.",
                rollback="Not a rollback case.",
            ),
        ),
    ]


def groups(pack: Pack) -> list[dict]:
    return [group("inference.saturation", saturation(pack)), group("inference.gpu", gpu(pack))]
