"""The running exporter: one collection thread per source, one renderer thread.

A *source* is anything collected on its own schedule: a model-server target, or a
local collector (process, container, GPU). Each collection stores its prepared
lines; the renderer joins the fresh ones (dropping data older than the source's
staleness window) with the self-metrics into the exposition /metrics serves.
"""

from __future__ import annotations

import logging
import platform
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from . import __version__
from .builder import Builder, Rendered
from .collection import WATCHDOG, Result, TargetCollector
from .config import Config, TargetConfig
from .exposition import ProcessMetrics, Rendering, render

log = logging.getLogger("inference_exporter.exporter")

ERROR_REASONS = (
    "timeout",
    "connection",
    "tls",
    "http_status",
    "auth",
    "too_large",
    "parse",
    "unknown_kind",
    "adapter",
)


@dataclass
class Source:
    """Something collected on a schedule; ``collect`` returns a Result."""

    name: str
    interval: float
    stale_after: float
    collect: Callable[[], Result]
    close: Callable[[], None] = lambda: None
    is_target: bool = True
    kind: str = ""
    url: str = ""


@dataclass
class SourceState:
    source: Source
    last: Result | None = None
    last_ok: Result | None = None
    collections: int = 0
    errors: dict[str, int] = field(default_factory=lambda: dict.fromkeys(ERROR_REASONS, 0))
    thread: threading.Thread | None = None

    def fresh(self, now: float) -> Rendered | None:
        ok = self.last_ok
        if ok is None or ok.rendered is None:
            return None
        if now - (ok.started + ok.duration) > self.source.stale_after:
            return None
        return ok.rendered


@dataclass(frozen=True)
class CollectorOptions:
    """Which local collectors run (--collector.NAME / --no-collector.NAME)."""

    process: bool = True
    container: bool = True
    gpu: bool = True
    cgroup_root: str = "/sys/fs/cgroup"
    proc_root: str = "/proc"


def merge(rendered: list[Rendered]) -> Rendered:
    chunks: dict[str, str] = {}
    for r in rendered:
        for name, lines in r.chunks.items():
            chunks[name] = chunks.get(name, "") + lines
    return Rendered(chunks, sum(r.series for r in rendered), set().union(*(r.models for r in rendered)))


def local_source(name: str, interval: float, run: Callable[[], Rendered], close=lambda: None) -> Source:
    """Wrap a local collector's run() as a Source; a failure is a result, never a crash."""

    def collect() -> Result:
        started = time.time()
        t0 = time.perf_counter()
        try:
            rendered = run()
            return Result(True, started, time.perf_counter() - t0, rendered=rendered)
        except Exception as exc:  # noqa: BLE001 - a collector bug must not stop the exporter
            log.warning("collector failed", extra={"collector": name, "err": f"{type(exc).__name__}: {exc}"})
            return Result(False, started, time.perf_counter() - t0, reason="collector", message=str(exc))

    return Source(
        name=name, interval=interval, stale_after=4 * interval, collect=collect, close=close, is_target=False
    )


def target_source(target: TargetConfig) -> Source:
    collector = TargetCollector(target)
    return Source(
        name=target.name,
        interval=target.scrape_interval,
        stale_after=target.stale_after,
        collect=collector.collect,
        close=collector.close,
        kind=target.kind,
        url=target.metrics_url,
    )


class Exporter:
    def __init__(
        self,
        config: Config,
        collectors: CollectorOptions | None = None,
        extra_sources: tuple[Source, ...] = (),
    ):
        self.config = config
        self.started = time.time()
        self.states: list[SourceState] = [SourceState(target_source(t)) for t in config.targets]
        self.states += [
            SourceState(s)
            for s in self._local_sources(
                collectors or CollectorOptions(process=False, container=False, gpu=False)
            )
        ]
        self.states += [SourceState(s) for s in extra_sources]
        self._stop = threading.Event()
        self._dirty = threading.Event()
        self._lock = threading.Lock()
        self._process = ProcessMetrics()
        self._render_duration = 0.0
        self._rendering = self._render(time.time())
        self._renderer: threading.Thread | None = None

    def _target_kind(self, name: str) -> str:
        for state in self.states:
            if state.source.is_target and state.source.name == name:
                return state.source.kind
        return ""

    def _local_sources(self, opts: CollectorOptions) -> list[Source]:
        from .collectors import ContainerCollector, GpuCollector, ProcessCollector, ProcessMatcher, pid_owner

        interval = self.config.scrape_interval
        sources = []
        procs: list[tuple[TargetConfig, ProcessCollector]] = []
        if opts.process:
            for t in self.config.targets:
                if t.process is not None:
                    p = t.process
                    matcher = ProcessMatcher(
                        pid_file=p.pid_file, pattern=p.match, all_except_self=p.container
                    )
                    procs.append((t, ProcessCollector(t.name, matcher)))
        if procs:

            def run_process() -> Rendered:
                parts = []
                for t, collector in procs:
                    out = Builder((("target", t.name), ("server", self._target_kind(t.name))), t.labels)
                    collector.collect(out)
                    parts.append(out.finish())
                return merge(parts)

            sources.append(local_source("process", interval, run_process))
        if opts.container:
            container = ContainerCollector(opts.cgroup_root, opts.proc_root)
            labels = self.config.labels

            def run_container() -> Rendered:
                out = Builder((), labels)
                container.collect(out)
                return out.finish()

            sources.append(local_source("container", interval, run_container))
        if opts.gpu:
            gpu = GpuCollector(owner=pid_owner(c for _, c in procs))
            labels = self.config.labels

            def run_gpu() -> Rendered:
                out = Builder((), labels)
                gpu.collect(out)
                return out.finish()

            sources.append(local_source("gpu", interval, run_gpu, gpu.close))
        return sources

    # --- lifecycle -----------------------------------------------------------------
    def start(self) -> None:
        for state in self.states:
            state.thread = threading.Thread(
                target=self._loop, args=(state,), name=f"collect:{state.source.name}", daemon=True
            )
            state.thread.start()
        self._renderer = threading.Thread(target=self._render_loop, name="render", daemon=True)
        self._renderer.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._dirty.set()
        deadline = time.monotonic() + timeout
        for state in self.states:
            if state.thread is not None:
                state.thread.join(max(0.0, deadline - time.monotonic()))
            try:
                state.source.close()
            except Exception:  # noqa: BLE001 - closing must never block shutdown
                log.debug("close failed", exc_info=True)
        if self._renderer is not None:
            self._renderer.join(max(0.0, deadline - time.monotonic()))
        WATCHDOG.stop()

    @property
    def ready(self) -> bool:
        return all(s.last is not None for s in self.states)

    def current(self) -> Rendering:
        return self._rendering

    # --- collection -------------------------------------------------------------------
    def _loop(self, state: SourceState) -> None:
        src = state.source
        next_run = time.monotonic()
        while not self._stop.is_set():
            result = src.collect()
            self._record(state, result)
            now = time.monotonic()
            next_run += src.interval
            if next_run < now:  # a slow collection skips missed ticks instead of bunching up
                next_run = now + src.interval - ((now - next_run) % src.interval)
            self._stop.wait(next_run - now)

    def _record(self, state: SourceState, result: Result) -> None:
        with self._lock:
            was_ok = state.last.ok if state.last is not None else None
            state.last = result
            state.collections += 1
            if result.ok:
                state.last_ok = result
            else:
                state.errors[result.reason] = state.errors.get(result.reason, 0) + 1
        if result.kind and state.source.kind in ("", "auto"):
            state.source.kind = result.kind
        if was_ok is not False and not result.ok:
            log.warning(
                "collection failed",
                extra={"target": state.source.name, "reason": result.reason, "err": result.message},
            )
        elif was_ok is False and result.ok:
            log.info("collection recovered", extra={"target": state.source.name})
        self._dirty.set()

    # --- rendering ---------------------------------------------------------------------
    def _render_loop(self) -> None:
        while not self._stop.is_set():
            self._dirty.wait(timeout=1.0)  # the timeout also ages stale data out
            self._dirty.clear()
            if self._stop.is_set():
                return
            self._rendering = self._render(time.time())

    def _render(self, now: float) -> Rendering:
        t0 = time.perf_counter()
        with self._lock:
            fresh = [(s, s.fresh(now)) for s in self.states]
            chunks = [r.chunks for _, r in fresh if r is not None]
            chunks.append(self._self_metrics(now, fresh).chunks)
        rendering = render(chunks, self._process.render(), created=now)
        self._render_duration = time.perf_counter() - t0
        return rendering

    def _self_metrics(self, now: float, fresh: list[tuple[SourceState, Rendered | None]]) -> Rendered:
        b = Builder()
        b.gauge(
            "inference_exporter_build_info", 1, version=__version__, python_version=platform.python_version()
        )
        b.gauge("inference_exporter_render_duration_seconds", self._render_duration)
        for state, rendered in fresh:
            src = state.source
            last, ok = state.last, state.last_ok
            if not src.is_target:
                if last is not None:
                    b.gauge("inference_exporter_collector_success", 1 if last.ok else 0, collector=src.name)
                    b.gauge(
                        "inference_exporter_collector_duration_seconds", last.duration, collector=src.name
                    )
                continue
            name = src.name
            b.gauge(
                "inference_exporter_target_up",
                1 if last is not None and last.ok else 0,
                target=name,
                server=(last.kind if last is not None and last.kind else src.kind),
            )
            b.counter("inference_exporter_collections_total", state.collections, target=name)
            for reason, count in state.errors.items():
                b.counter("inference_exporter_collection_errors_total", count, target=name, reason=reason)
            if last is not None:
                b.gauge("inference_exporter_collection_duration_seconds", last.duration, target=name)
            if ok is not None:
                finished = ok.started + ok.duration
                b.gauge("inference_exporter_last_success_timestamp_seconds", finished, target=name)
                b.gauge("inference_exporter_data_age_seconds", max(0.0, now - finished), target=name)
                b.gauge("inference_exporter_native_samples", ok.native_samples, target=name)
                b.gauge("inference_exporter_invalid_lines", ok.invalid_lines, target=name)
            b.gauge(
                "inference_exporter_target_stale",
                1 if ok is not None and rendered is None else 0,
                target=name,
            )
            b.gauge("inference_exporter_series", rendered.series if rendered is not None else 0, target=name)
        return b.finish()

    def snapshot(self) -> list[dict]:
        """Per-source state for the landing page and the probe debug view."""
        now = time.time()
        rows = []
        with self._lock:
            for state in self.states:
                last, ok = state.last, state.last_ok
                if last is None:
                    status = "pending"
                elif last.ok:
                    status = "up"
                elif state.fresh(now) is not None:
                    status = "down (serving last data)"
                else:
                    status = "down"
                rows.append(
                    {
                        "name": state.source.name,
                        "kind": (last.kind if last and last.kind else state.source.kind) or "auto",
                        "url": state.source.url,
                        "is_target": state.source.is_target,
                        "status": status,
                        "age": None if ok is None else now - (ok.started + ok.duration),
                        "duration": None if last is None else last.duration,
                        "series": (ok.rendered.series if ok and ok.rendered else 0),
                        "error": "" if last is None or last.ok else f"{last.reason}: {last.message}",
                        "collections": state.collections,
                    }
                )
        return rows
