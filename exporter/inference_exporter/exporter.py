"""The running exporter: one collection thread per source, one renderer thread.

A *source* is anything collected on its own schedule: a model-server target, or a
local collector (process, container, GPU). Each collection stores its prepared
lines; the renderer joins the fresh ones (dropping data older than the source's
staleness window) with the self-metrics into the exposition /metrics serves.
"""

from __future__ import annotations

import logging
import platform
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from . import __version__, parser
from .builder import Builder, Rendered
from .collection import WATCHDOG, Result, TargetCollector
from .config import Config, ConfigError, TargetConfig, load
from .exposition import ProcessMetrics, Rendering, render
from .journal import EVENT_TYPES, Journal

log = logging.getLogger("inference_exporter.exporter")

LOCAL_COLLECTORS = ("process", "container", "gpu")
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
    config: object = None  # what the source was built from; an unchanged one survives a reload


@dataclass
class SourceState:
    source: Source
    last: Result | None = None
    last_ok: Result | None = None
    collections: int = 0
    errors: dict[str, int] = field(default_factory=lambda: dict.fromkeys(ERROR_REASONS, 0))
    thread: threading.Thread | None = None
    stop: threading.Event = field(default_factory=threading.Event)

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
        config=target,
    )


def requests_total(rendered: Rendered | None) -> float | None:
    """The target's inference_requests_total summed over its series (canary rate limits)."""
    if rendered is None or "inference_requests_total" not in rendered.chunks:
        return None
    exp = parser.parse(rendered.chunks["inference_requests_total"])
    return sum(v for _, v in exp.get("inference_requests_total"))


def _secrets(config: Config) -> list[str]:
    """Values the journal must never contain: secret canary bodies, bearer tokens."""
    out: list[str] = []
    for t in config.targets:
        for m in t.models:
            for c in m.canaries:
                out.extend(c.secret_values())
        if t.bearer_token_file:
            try:
                with open(t.bearer_token_file) as fh:
                    out.append(fh.read().strip())
            except OSError:
                pass
    return out


class Exporter:
    def __init__(
        self,
        config: Config,
        collectors: CollectorOptions | None = None,
        extra_sources: tuple[Source, ...] = (),
        journal: Journal | None = None,
    ):
        self.config = config
        self.journal = journal
        self.started = time.time()
        self._collectors = collectors or CollectorOptions(process=False, container=False, gpu=False)
        self._xid_seen: dict[tuple[str, str], float] | None = None
        self._extra = tuple(extra_sources)
        self.states: list[SourceState] = []
        self.states = self._build_states(config, [])
        if journal is not None:
            journal.add_secrets(_secrets(config))
        self._stop = threading.Event()
        self._dirty = threading.Event()
        self._lock = threading.Lock()
        self._reload_lock = threading.Lock()
        self._running = False
        self.last_reload_ok = True
        self.last_reload_time = self.started
        self._process = ProcessMetrics()
        self._render_duration = 0.0
        self._rendering = self._render(time.time())
        self._renderer: threading.Thread | None = None

    def _build_states(self, config: Config, old: list[SourceState]) -> list[SourceState]:
        """States for CONFIG, reusing each old state whose source was built from the same config."""
        by_key = {(s.source.name, s.source.is_target): s for s in old}

        def keep_or(name: str, is_target: bool, cfg, make) -> SourceState:
            prev = by_key.get((name, is_target))
            if prev is not None and prev.source.config == cfg and cfg is not None:
                return prev
            return SourceState(make())

        states = [keep_or(t.name, True, t, lambda t=t: target_source(t)) for t in config.targets]
        self.states = states  # the health sources look their target up by name
        locals_key = (
            tuple((t.name, t.process, t.labels) for t in config.targets),
            config.labels,
            config.scrape_interval,
        )
        old_locals = [s for s in old if s.source.name in LOCAL_COLLECTORS and not s.source.is_target]
        if old_locals and all(s.source.config == locals_key for s in old_locals):
            states += old_locals
        else:
            for src in self._local_sources(self._collectors, config):
                src.config = locals_key
                states.append(SourceState(src))
        for t in config.targets:
            if t.health is not None and t.health.enabled:
                states.append(keep_or(f"health:{t.name}", False, t, lambda t=t: self._health_source(t)))
        if old:
            states += [s for s in old if any(s.source is x for x in self._extra)]
        else:
            states += [SourceState(s) for s in self._extra]
        return states

    def _target_state(self, name: str) -> SourceState | None:
        for state in self.states:
            if state.source.is_target and state.source.name == name:
                return state
        return None

    def _health_source(self, target: TargetConfig) -> Source:
        from .health.probes import HealthChecker

        def last_rendered() -> Rendered | None:
            state = self._target_state(target.name)
            return state.last_ok.rendered if state is not None and state.last_ok is not None else None

        checker = HealthChecker(
            target,
            self.journal,
            kind=lambda: self._target_kind(target.name),
            traffic=lambda: requests_total(last_rendered()),
            seen_models=lambda: set(r.models) if (r := last_rendered()) is not None else set(),
        )
        interval = target.health.interval
        src = local_source(f"health:{target.name}", interval, checker.collect, checker.close)
        src.config, src.kind, src.url = target, "health", checker.client.base
        return src

    def _target_kind(self, name: str) -> str:
        for state in self.states:
            if state.source.is_target and state.source.name == name:
                return state.source.kind
        return ""

    def _local_sources(self, opts: CollectorOptions, config: Config) -> list[Source]:
        from .collectors import ContainerCollector, GpuCollector, ProcessCollector, ProcessMatcher, pid_owner

        interval = config.scrape_interval
        sources = []
        procs: list[tuple[TargetConfig, ProcessCollector]] = []
        if opts.process:
            for t in config.targets:
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
            labels = config.labels

            def run_container() -> Rendered:
                out = Builder((), labels)
                container.collect(out)
                return out.finish()

            sources.append(local_source("container", interval, run_container))
        if opts.gpu:
            gpu = GpuCollector(owner=pid_owner(c for _, c in procs))
            labels = config.labels

            def run_gpu() -> Rendered:
                out = Builder((), labels)
                gpu.collect(out)
                rendered = out.finish()
                self._xid_events(rendered)
                return rendered

            sources.append(local_source("gpu", interval, run_gpu, gpu.close))
        return sources

    # --- lifecycle -----------------------------------------------------------------
    def _start_state(self, state: SourceState) -> None:
        if state.thread is None:
            state.thread = threading.Thread(
                target=self._loop, args=(state,), name=f"collect:{state.source.name}", daemon=True
            )
            state.thread.start()

    def start(self) -> None:
        self._running = True
        for state in self.states:
            self._start_state(state)
        self._renderer = threading.Thread(target=self._render_loop, name="render", daemon=True)
        self._renderer.start()

    @staticmethod
    def _stop_states(states: list[SourceState], deadline: float) -> None:
        for state in states:
            state.stop.set()
        for state in states:
            if state.thread is not None:
                state.thread.join(max(0.0, deadline - time.monotonic()))
            try:
                state.source.close()
            except Exception:  # noqa: BLE001 - closing must never block shutdown
                log.debug("close failed", exc_info=True)

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._dirty.set()
        deadline = time.monotonic() + timeout
        self._stop_states(self.states, deadline)
        if self._renderer is not None:
            self._renderer.join(max(0.0, deadline - time.monotonic()))
        WATCHDOG.stop()

    def reload(self) -> tuple[bool, str]:
        """Re-read the config file; on any error keep the running config (as blackbox does)."""
        with self._reload_lock:
            now = time.time()
            try:
                config = load(self.config.path)
            except ConfigError as exc:
                self.last_reload_ok = False
                log.error("config reload failed", extra={"err": str(exc)})
                if self.journal is not None:
                    self.journal.emit("config_reload_failed", ts=now, error=str(exc))
                self._dirty.set()
                return False, str(exc)
            self.last_reload_ok, self.last_reload_time = True, now
            if config.sha256 == self.config.sha256:
                return True, "unchanged"
            if self.journal is not None:
                self.journal.add_secrets(_secrets(config))
            old_names = {t.name for t in self.config.targets}
            new_names = {t.name for t in config.targets}
            with self._lock:
                old = self.states
                states = self._build_states(config, old)
                self.states = states
                self.config = config
            gone = [s for s in old if all(s is not n for n in states)]
            self._stop_states(gone, time.monotonic() + 5.0)
            if self._running:
                for state in states:
                    self._start_state(state)
            if self.journal is not None:
                self.journal.emit(
                    "config_reload",
                    ts=now,
                    sha256=config.sha256[:12],
                    targets=len(config.targets),
                    added=sorted(new_names - old_names),
                    removed=sorted(old_names - new_names),
                    restarted=sorted(s.source.name for s in gone),
                )
            log.info("config reloaded", extra={"targets": len(config.targets), "restarted": len(gone)})
            self._dirty.set()
            return True, "reloaded"

    def _xid_events(self, rendered: Rendered) -> None:
        """A rise in a GPU's XID count is a gpu_xid event (the GPU collector counts them)."""
        chunk = rendered.chunks.get("inference_gpu_xid_errors_total", "")
        counts = {
            (lbl.get("uuid", ""), lbl.get("xid", "")): v
            for lbl, v in parser.parse(chunk).get("inference_gpu_xid_errors_total")
        }
        seen, self._xid_seen = self._xid_seen, counts
        if seen is None or self.journal is None:
            return
        for (uuid, xid), count in sorted(counts.items()):
            if count > seen.get((uuid, xid), 0):
                self.journal.emit(
                    "gpu_xid", gpu_uuid=uuid, xid=xid, count=count, new=count - seen.get((uuid, xid), 0)
                )

    @property
    def ready(self) -> bool:
        return all(s.last is not None for s in self.states)

    def current(self) -> Rendering:
        return self._rendering

    # --- collection -------------------------------------------------------------------
    def _loop(self, state: SourceState) -> None:
        src = state.source
        next_run = time.monotonic()
        while not self._stop.is_set() and not state.stop.is_set():
            result = src.collect()
            self._record(state, result)
            now = time.monotonic()
            next_run += src.interval
            if next_run < now:  # a slow collection skips missed ticks instead of bunching up
                next_run = now + src.interval - ((now - next_run) % src.interval)
            state.stop.wait(next_run - now)

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
        cfg = state.source.config
        if (
            self.journal is not None
            and state.source.is_target
            and was_ok != result.ok
            and isinstance(cfg, TargetConfig)
            and not (cfg.health is not None and cfg.health.enabled)
        ):
            # Without health probes the collection itself says whether the target is up.
            details = {} if result.ok else {"reason": result.reason}
            self.journal.emit("target_up" if result.ok else "target_down", target=cfg.name, **details)
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
            sources: list = [r for _, r in fresh if r is not None]
            sources.append(self._self_metrics(now, fresh).chunks)
            sources.append(_unique_model_info(sources))
        rendering = render(sources, self._process.render(), created=now)
        self._render_duration = time.perf_counter() - t0
        return rendering

    def _self_metrics(self, now: float, fresh: list[tuple[SourceState, Rendered | None]]) -> Rendered:
        # The global static labels (cluster, ...) let dashboards filter the exporter's own health too.
        b = Builder((), self.config.labels)
        b.gauge(
            "inference_exporter_build_info", 1, version=__version__, python_version=platform.python_version()
        )
        b.gauge("inference_exporter_render_duration_seconds", self._render_duration)
        b.gauge("inference_exporter_config_last_reload_successful", 1 if self.last_reload_ok else 0)
        b.gauge("inference_exporter_config_last_reload_success_timestamp_seconds", self.last_reload_time)
        if self.journal is not None:
            for type_, count in self.journal.counts.items():
                b.counter("inference_events_total", count, type=type_)
            b.counter("inference_exporter_journal_errors_total", self.journal.errors)
        else:
            for type_ in EVENT_TYPES:
                b.counter("inference_events_total", 0, type=type_)
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


_VERSION_LABEL = re.compile(r',version="(?:[^"\\]|\\.)*"')


def _unique_model_info(sources: list) -> dict[str, str]:
    """Take inference_model_info out of every source and return it once per series.

    A target's metrics and its health probes both see a model version; the exposition
    must hold each series once. A series without a version (the metrics did not name
    one, e.g. MLServer's version="None") is dropped when the model API named it.
    """
    seen: dict[str, None] = {}
    for i, src in enumerate(sources):
        chunks = src.chunks if isinstance(src, Rendered) else src
        lines = chunks.get("inference_model_info")
        if not lines:
            continue
        seen.update(dict.fromkeys(lines.splitlines(keepends=True)))
        stripped = {k: v for k, v in chunks.items() if k != "inference_model_info"}
        sources[i] = (
            Rendered(stripped, src.series, src.models, src.om_chunks)
            if isinstance(src, Rendered)
            else stripped
        )
    versioned = {_VERSION_LABEL.sub("", line) for line in seen if _VERSION_LABEL.search(line)}
    kept = [line for line in seen if _VERSION_LABEL.search(line) or line not in versioned]
    return {"inference_model_info": "".join(kept)}
