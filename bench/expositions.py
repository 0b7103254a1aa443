"""Deterministic, realistically sized native expositions for the scrape benchmark.

The families, label sets, help texts and bucket lists are the real ones:

* vLLM (V1 engine): vllm-project/vllm vllm/v1/metrics/loggers.py, rendered the way
  prometheus_client renders them (``_created`` gauges, ``12.0`` values), plus the
  ``http_*`` families of prometheus-fastapi-instrumentator and the default
  ``python_gc_*``/``process_*`` collectors every vLLM process exports.
* Triton: triton-inference-server/core src/metrics.cc, rendered the way prometheus-cpp
  does (counters without ``_total``, no ``_created``), per model and version, plus the
  ``nv_cpu_*``/``nv_gpu_*``/pinned-memory gauges.

Values come from a seeded generator and a log-normal latency shape, so the cumulative
counts are consistent (buckets rise to ``_count``, ``_sum`` matches the mean) and the
same arguments always give the same bytes.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable

from prometheus_client.utils import floatToGoString

SEED = 20240601
CREATED = 1795983627.9136932  # a fixed process start, so the bytes never change

# --- vLLM bucket lists (loggers.py) ---------------------------------------------------
REQUEST_LATENCY = (0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 40.0, 50.0, 60.0,
                   120.0, 240.0, 480.0, 960.0, 1920.0, 7680.0)  # fmt: skip
TTFT = (0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
        20.0, 40.0, 80.0, 160.0, 640.0, 2560.0)  # fmt: skip
TPOT = (0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
        20.0, 40.0, 80.0)  # fmt: skip
ITERATION_TOKENS = (1, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384)
PARAMS_N = (1, 2, 5, 10, 20)
# prometheus-fastapi-instrumentator's defaults.
HTTP_HIGHR = (0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5,
              5.0, 7.5, 10.0, 30.0, 60.0)  # fmt: skip
HTTP_LOWR = (0.1, 0.5, 1.0)
HTTP_HANDLERS = ("/v1/chat/completions", "/v1/completions", "/v1/models", "/health", "/metrics")


def one_two_five(max_value: int) -> tuple[int, ...]:
    """vLLM's build_1_2_5_buckets: 1, 2, 5, 10, 20, 50, ... up to max_value."""
    out = []
    exponent = 0
    while True:
        for mantissa in (1, 2, 5):
            value = mantissa * 10**exponent
            if value > max_value:
                return tuple(out)
            out.append(value)
        exponent += 1


def _lognormal_cdf(x: float, median: float, sigma: float) -> float:
    if x <= 0:
        return 0.0
    return 0.5 * (1 + math.erf(math.log(x / median) / (sigma * math.sqrt(2))))


def _fmt(value: float) -> str:
    return floatToGoString(value)


def _labels(pairs: Iterable[tuple[str, str]]) -> str:
    inner = ",".join(f'{k}="{v}"' for k, v in pairs)
    return "{" + inner + "}" if inner else ""


class _PyWriter:
    """Writes families the way prometheus_client's generate_latest lays them out."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def _head(self, name: str, help_: str, type_: str) -> None:
        self.lines.append(f"# HELP {name} {help_}")
        self.lines.append(f"# TYPE {name} {type_}")

    def gauge(self, name: str, help_: str, series: list[tuple[tuple, float]]) -> None:
        self._head(name, help_, "gauge")
        self.lines.extend(f"{name}{_labels(lbl)} {_fmt(v)}" for lbl, v in series)

    def counter(self, base: str, help_: str, series: list[tuple[tuple, float]], created: bool = True) -> None:
        self._head(base + "_total", help_, "counter")
        self.lines.extend(f"{base}_total{_labels(lbl)} {_fmt(v)}" for lbl, v in series)
        if not created:  # collectors built from metric families (GC, process) have no _created
            return
        self._head(base + "_created", help_, "gauge")
        self.lines.extend(f"{base}_created{_labels(lbl)} {_fmt(CREATED)}" for lbl, _ in series)

    def histogram(
        self, name: str, help_: str, bounds: Iterable[float], series: list[tuple[tuple, int, float, float]]
    ) -> None:
        """``series``: (labels, count, median, sigma) with a log-normal shape."""
        bounds = tuple(float(b) for b in bounds)
        self._head(name, help_, "histogram")
        for lbl, count, median, sigma in series:
            for le in bounds:
                n = round(count * _lognormal_cdf(le, median, sigma))
                self.lines.append(f"{name}_bucket{_labels((*lbl, ('le', _fmt(le))))} {_fmt(n)}")
            self.lines.append(f"{name}_bucket{_labels((*lbl, ('le', '+Inf')))} {_fmt(count)}")
            self.lines.append(f"{name}_count{_labels(lbl)} {_fmt(count)}")
            mean = median * math.exp(sigma * sigma / 2)
            self.lines.append(f"{name}_sum{_labels(lbl)} {_fmt(round(count * mean, 6))}")
        self._head(name + "_created", help_, "gauge")
        self.lines.extend(f"{name}_created{_labels(s[0])} {_fmt(CREATED)}" for s in series)

    def summary(self, name: str, help_: str, series: list[tuple[tuple, int, float]]) -> None:
        self._head(name, help_, "summary")
        for lbl, count, total in series:
            self.lines.append(f"{name}_count{_labels(lbl)} {_fmt(count)}")
            self.lines.append(f"{name}_sum{_labels(lbl)} {_fmt(total)}")
        self._head(name + "_created", help_, "gauge")
        self.lines.extend(f"{name}_created{_labels(s[0])} {_fmt(CREATED)}" for s in series)

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"


def _process_families(w: _PyWriter, rng: random.Random) -> None:
    w.counter(
        "python_gc_objects_collected",
        "Objects collected during gc",
        [((("generation", str(g)),), rng.randint(100, 90000)) for g in range(3)],
        created=False,
    )
    w.counter(
        "python_gc_objects_uncollectable",
        "Uncollectable objects found during GC",
        [((("generation", str(g)),), 0) for g in range(3)],
        created=False,
    )
    w.counter(
        "python_gc_collections",
        "Number of times this generation was collected",
        [((("generation", str(g)),), rng.randint(10, 5000)) for g in range(3)],
        created=False,
    )
    info = (("implementation", "CPython"), ("major", "3"), ("minor", "12"), ("patchlevel", "9"))
    info = (*info, ("version", "3.12.9"))
    w.gauge("python_info", "Python platform information", [(info, 1)])
    w.gauge("process_virtual_memory_bytes", "Virtual memory size in bytes.", [((), 5.4e10)])
    w.gauge("process_resident_memory_bytes", "Resident memory size in bytes.", [((), 3.1e9)])
    w.gauge(
        "process_start_time_seconds",
        "Start time of the process since unix epoch in seconds.",
        [((), 1.79598e9)],
    )
    w.counter(
        "process_cpu_seconds",
        "Total user and system CPU time spent in seconds.",
        [((), 8123.4)],
        created=False,
    )
    w.gauge("process_open_fds", "Number of open file descriptors.", [((), 187)])
    w.gauge("process_max_fds", "Maximum number of open file descriptors.", [((), 1048576)])


# (name, help, tokens per request) of vLLM's per-engine counters.
VLLM_COUNTERS = (
    (
        "vllm:gpu_prefix_cache_queries",
        "GPU prefix cache queries, in terms of number of queriedtokens. "
        "DEPRECATED: Use vllm:prefix_cache_queries instead.",
        900,
    ),
    (
        "vllm:gpu_prefix_cache_hits",
        "GPU prefix cache hits, in terms of number of cached tokens. "
        "DEPRECATED: Use vllm:prefix_cache_hits instead.",
        300,
    ),
    ("vllm:prefix_cache_queries", "Prefix cache queries, in terms of number of queried tokens.", 900),
    ("vllm:prefix_cache_hits", "Prefix cache hits, in terms of number of cached tokens.", 300),
    ("vllm:num_preemptions", "Cumulative number of preemption from the engine.", 0.002),
    ("vllm:prompt_tokens", "Number of prefill tokens processed.", 900),
    ("vllm:generation_tokens", "Number of generation tokens processed.", 250),
)
# (name, help, bounds or None for the 1-2-5 token buckets, median, log-normal sigma).
VLLM_HISTOGRAMS = (
    ("vllm:request_prompt_tokens", "Number of prefill tokens processed.", None, 900, 1.0),
    ("vllm:request_generation_tokens", "Number of generation tokens processed.", None, 250, 0.9),
    (
        "vllm:iteration_tokens_total",
        "Histogram of number of tokens per engine_step.",
        ITERATION_TOKENS,
        300,
        1.2,
    ),
    (
        "vllm:request_max_num_generation_tokens",
        "Histogram of maximum number of requested generation tokens.",
        None,
        1024,
        0.5,
    ),
    ("vllm:request_params_n", "Histogram of the n request parameter.", PARAMS_N, 1, 0.1),
    ("vllm:request_params_max_tokens", "Histogram of the max_tokens request parameter.", None, 1024, 0.5),
    ("vllm:time_to_first_token_seconds", "Histogram of time to first token in seconds.", TTFT, 0.12, 0.9),
    ("vllm:time_per_output_token_seconds", "Histogram of time per output token in seconds.", TPOT, 0.03, 0.4),
    ("vllm:inter_token_latency_seconds", "Histogram of inter-token latency in seconds.", TPOT, 0.03, 0.4),
    (
        "vllm:e2e_request_latency_seconds",
        "Histogram of e2e request latency in seconds.",
        REQUEST_LATENCY,
        7.5,
        0.8,
    ),
    (
        "vllm:request_queue_time_seconds",
        "Histogram of time spent in WAITING phase for request.",
        REQUEST_LATENCY,
        0.2,
        1.5,
    ),
    (
        "vllm:request_inference_time_seconds",
        "Histogram of time spent in RUNNING phase for request.",
        REQUEST_LATENCY,
        7.2,
        0.8,
    ),
    (
        "vllm:request_prefill_time_seconds",
        "Histogram of time spent in PREFILL phase for request.",
        REQUEST_LATENCY,
        0.1,
        0.9,
    ),
    (
        "vllm:request_decode_time_seconds",
        "Histogram of time spent in DECODE phase for request.",
        REQUEST_LATENCY,
        7.0,
        0.8,
    ),
)
VLLM_CACHE_CONFIG = (
    ("block_size", "16"),
    ("cache_dtype", "auto"),
    ("calculate_kv_scales", "False"),
    ("cpu_offload_gb", "0"),
    ("enable_prefix_caching", "True"),
    ("gpu_memory_utilization", "0.9"),
    ("num_cpu_blocks", "None"),
    ("num_gpu_blocks", "27910"),
    ("prefix_caching_hash_algo", "builtin"),
    ("sliding_window", "None"),
    ("swap_space", "4"),
    ("swap_space_bytes", "4294967296"),
)


def vllm(
    models: tuple[str, ...] = ("llama-3.1-8b-instruct",),
    engines: int = 2,
    max_model_len: int = 8192,
    traffic: float = 1.0,
) -> str:
    """A vLLM V1 /metrics page: every family per model and data-parallel engine.

    ``traffic`` scales every request count (a larger value is the same server later on)."""
    rng = random.Random(SEED)
    w = _PyWriter()
    _process_families(w, rng)
    per = [(("engine", str(e)), ("model_name", m)) for m in models for e in range(engines)]
    requests = {lbl: round(rng.randint(20000, 200000) * traffic) for lbl in per}

    def series(value_of) -> list[tuple[tuple, float]]:
        return [(lbl, value_of(lbl)) for lbl in per]

    w.gauge(
        "vllm:num_requests_running",
        "Number of requests in model execution batches.",
        series(lambda _: rng.randint(0, 64)),
    )
    w.gauge(
        "vllm:num_requests_waiting",
        "Number of requests waiting to be processed.",
        series(lambda _: rng.randint(0, 20)),
    )
    kv = series(lambda _: round(rng.random(), 4))
    w.gauge(
        "vllm:gpu_cache_usage_perc",
        "GPU KV-cache usage. 1 means 100 percent usage.DEPRECATED: Use vllm:kv_cache_usage_perc instead.",
        kv,
    )
    for name, help_, per_request in VLLM_COUNTERS:
        w.counter(name, help_, series(lambda lbl, k=per_request: round(requests[lbl] * k)))
    w.gauge("vllm:kv_cache_usage_perc", "KV-cache usage. 1 means 100 percent usage.", kv)
    reasons = {"stop": 0.9, "length": 0.09, "abort": 0.01}
    w.counter(
        "vllm:request_success",
        "Count of successfully processed requests.",
        [
            ((*lbl, ("finished_reason", r)), round(requests[lbl] * s))
            for lbl in per
            for r, s in reasons.items()
        ],
    )
    tokens = one_two_five(max_model_len)
    for name, help_, bounds, median, sigma in VLLM_HISTOGRAMS:
        bounds = tokens if bounds is None else bounds
        w.histogram(name, help_, bounds, [(lbl, requests[lbl], median, sigma) for lbl in per])
    w.gauge(
        "vllm:cache_config_info",
        "Information of the LLMEngine CacheConfig",
        [((*VLLM_CACHE_CONFIG, ("engine", str(e))), 1) for e in range(engines)],
    )
    _http_families(w, rng, sum(requests.values()))
    return w.text()


def _http_families(w: _PyWriter, rng: random.Random, completions: int) -> None:
    """prometheus-fastapi-instrumentator's families on vLLM's API server."""
    calls = {h: (completions if h.startswith("/v1/c") else rng.randint(100, 20000)) for h in HTTP_HANDLERS}
    method = {h: ("POST" if h.startswith("/v1/c") else "GET") for h in HTTP_HANDLERS}
    w.counter(
        "http_requests",
        "Total number of requests by method, status and handler.",
        [
            ((("handler", h), ("method", method[h]), ("status", status)), round(n * share))
            for h, n in calls.items()
            for status, share in (("2xx", 0.99), ("4xx", 0.01))
        ],
    )
    size_help = "Only value of header is respected. Otherwise ignored. No percentile calculated. "
    w.summary(
        "http_request_size_bytes",
        "Content length of incoming requests by handler. " + size_help,
        [((("handler", h),), n, n * 1800.0) for h, n in calls.items()],
    )
    w.summary(
        "http_response_size_bytes",
        "Content length of outgoing responses by handler. " + size_help,
        [((("handler", h),), n, n * 2600.0) for h, n in calls.items()],
    )
    w.histogram(
        "http_request_duration_highr_seconds",
        "Latency with many buckets but no API specific labels. Made for more accurate percentile "
        "calculations. ",
        HTTP_HIGHR,
        [((), sum(calls.values()), 2.0, 1.2)],
    )
    w.histogram(
        "http_request_duration_seconds",
        "Latency with only few buckets by handler. Made to be only used if aggregation by handler is "
        "important. ",
        HTTP_LOWR,
        [((("handler", h), ("method", method[h])), n, 2.0, 1.2) for h, n in calls.items()],
    )


# --- Triton ---------------------------------------------------------------------------
TRITON_FAILURE_REASONS = ("REJECTED", "CANCELED", "BACKEND", "OTHER")
PENDING = "nv_inference_pending_request_count"
TRITON_PER_MODEL = (
    ("nv_inference_request_success", "Number of successful inference requests, all batch sizes"),
    ("nv_inference_request_failure", "Number of failed inference requests, all batch sizes"),
    ("nv_inference_count", "Number of inferences performed (does not include cached requests)"),
    ("nv_inference_exec_count", "Number of model executions performed (does not include cached requests)"),
    (
        "nv_inference_request_duration_us",
        "Cumulative inference request duration in microseconds (includes cached requests)",
    ),
    (
        "nv_inference_queue_duration_us",
        "Cumulative inference queuing duration in microseconds (includes cached requests)",
    ),
    (
        "nv_inference_compute_input_duration_us",
        "Cumulative compute input duration in microseconds (does not include cached requests)",
    ),
    (
        "nv_inference_compute_infer_duration_us",
        "Cumulative compute inference duration in microseconds (does not include cached requests)",
    ),
    (
        "nv_inference_compute_output_duration_us",
        "Cumulative inference compute output duration in microseconds (does not include cached requests)",
    ),
    (PENDING, "Instantaneous number of pending requests awaiting execution per-model."),
)


def _gpu_uuid(rng: random.Random) -> str:
    parts = (rng.getrandbits(32), rng.getrandbits(16), rng.getrandbits(16), rng.getrandbits(16))
    return "GPU-{:08x}-{:04x}-{:04x}-{:04x}-".format(*parts) + f"{rng.getrandbits(48):012x}"


def triton(models: int = 12, versions: int = 2, gpus: int = 4) -> str:
    """A Triton /metrics page: per model/version counters, CPU, GPU and pinned-memory gauges."""
    rng = random.Random(SEED + 1)
    mv = [(f"model_{i:02d}", str(v + 1)) for i in range(models) for v in range(versions)]
    stats = {}
    for key in mv:
        success = rng.randint(1000, 5_000_000)
        batch = rng.choice((1, 1, 2, 4, 8))
        queue_us, infer_us = rng.uniform(50, 2000), rng.uniform(500, 20000)
        stats[key] = {
            "nv_inference_request_success": success,
            "nv_inference_count": success,
            "nv_inference_exec_count": max(1, success // batch),
            "nv_inference_request_duration_us": round(success * (queue_us + infer_us * 1.1)),
            "nv_inference_queue_duration_us": round(success * queue_us),
            "nv_inference_compute_input_duration_us": round(success * infer_us * 0.04),
            "nv_inference_compute_infer_duration_us": round(success * infer_us),
            "nv_inference_compute_output_duration_us": round(success * infer_us * 0.03),
            PENDING: rng.randint(0, 12),
        }
    lines: list[str] = []
    for name, help_ in TRITON_PER_MODEL:
        lines.append(f"# HELP {name} {help_}")
        lines.append(
            f"# TYPE {name} {'gauge' if name.endswith('_count') and 'pending' in name else 'counter'}"
        )
        for model, version in mv:
            if name == "nv_inference_request_failure":
                for reason in TRITON_FAILURE_REASONS:
                    n = rng.randint(0, 50) if reason in ("BACKEND", "REJECTED") else 0
                    lines.append(f'{name}{{model="{model}",reason="{reason}",version="{version}"}} {n}')
            else:
                lines.append(f'{name}{{model="{model}",version="{version}"}} {stats[(model, version)][name]}')
    uuids = [_gpu_uuid(rng) for _ in range(gpus)]
    total_mem = 85899345920
    for name, help_, value in (
        ("nv_gpu_utilization", "GPU utilization rate [0.0 - 1.0)", lambda: round(rng.random(), 2)),
        ("nv_gpu_memory_total_bytes", "GPU total memory, in bytes", lambda: total_mem),
        ("nv_gpu_memory_used_bytes", "GPU used memory, in bytes", lambda: rng.randint(10**9, total_mem)),
        ("nv_gpu_power_usage", "GPU power usage in watts", lambda: round(rng.uniform(60, 650), 3)),
        ("nv_gpu_power_limit", "GPU power management limit in watts", lambda: 700),
        (
            "nv_energy_consumption",
            "GPU energy consumption in joules since the Triton Server started",
            lambda: round(rng.uniform(1e6, 1e8), 3),
        ),
    ):
        type_ = "counter" if name == "nv_energy_consumption" else "gauge"
        lines.append(f"# HELP {name} {help_}")
        lines.append(f"# TYPE {name} {type_}")
        lines.extend(f'{name}{{gpu_uuid="{u}"}} {value()}' for u in uuids)
    for name, help_, value in (
        ("nv_cpu_utilization", "CPU utilization rate [0.0 - 1.0]", 0.0425),
        ("nv_cpu_memory_total_bytes", "CPU total memory (RAM), in bytes", 2164197244928),
        ("nv_cpu_memory_used_bytes", "CPU used memory (RAM), in bytes", 412316860416),
        ("nv_pinned_memory_pool_total_bytes", "Pinned memory pool total memory size, in bytes", 268435456),
        ("nv_pinned_memory_pool_used_bytes", "Pinned memory pool used memory size, in bytes", 0),
    ):
        lines += [f"# HELP {name} {help_}", f"# TYPE {name} gauge", f"{name} {value}"]
    return "\n".join(lines) + "\n"


def sample_count(text: str) -> int:
    """Sample lines in an exposition (the denominator of every per-sample figure)."""
    return sum(1 for line in text.splitlines() if line and not line.startswith("#"))


if __name__ == "__main__":
    for label, body in (("vllm", vllm()), ("triton", triton())):
        print(f"{label}: {len(body)} bytes, {sample_count(body)} samples")
