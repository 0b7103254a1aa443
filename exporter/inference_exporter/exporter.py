"""The running exporter: sources on a scheduler, one render thread, reload, journal events.

Data flow: each source's collection returns snapshots (structured values, see
``snapshot.py``), which the collecting thread renders into compressed pieces at once
(``sources.Rendering``); so does it with the target's own series about that collection.
The render thread (at most once a second, and at most a tenth of the time) drops data older
than the source's staleness window, adds the series that change with time, and joins
every piece into the page /metrics serves, with the gzip body of each format scrapers ask
for made ready. A scrape never waits for a collection or a render. ``docs/architecture.md``
has the whole picture.

The targets are those of the config file, those of its ``target_files`` (``file_sd.py``,
re-read when they change) and, with ``--shard=i/n``, only the ones whose hash falls to this
replica (``sharding.py``). A reload applies the difference: unchanged targets keep their
schedule and state.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

from . import collectors
from .config import Config, ConfigError, TargetConfig, load
from .exposition import Page, RenderedSource, SourceRenderer, assemble
from .file_sd import FileDiscovery
from .journal import Journal
from .landing import source_rows
from .redaction import SECRETS, url_secrets
from .scheduler import DEFAULT_WORKERS, Scheduler, SourceState
from .selfmetrics import ExporterFacts, ProcessMetrics, self_snapshot, target_snapshot
from .sharding import Shard
from .snapshot import Result
from .sources import Source, health_source, local_sources, locals_key, target_source
from .validation import read_limited

log = logging.getLogger("inference_exporter.exporter")
ALL_TARGETS = Shard()  # no sharding

RENDER_EVERY = 1.0  # seconds between pages once every source has data (stale data ages out on this beat)
RENDER_SHARE = 0.1  # the render thread's share of the time at most: pages wait longer when large
ASKED_FOR = 300.0  # seconds a format stays prepared after a scrape last asked for it


def _secrets(config: Config) -> list[str]:
    """Values no surface may show: secret canary bodies, bearer tokens, passwords, URL query
    values. Registered with the journal and with redaction.SECRETS (logs, pages, errors)."""
    out: list[str] = []
    for t in config.targets:
        for m in t.models:
            for c in m.canaries:
                out.extend(c.secret_values())
        files = [t.bearer_token_file, t.basic_auth.password_file if t.basic_auth else ""]
        for path in filter(None, files):
            try:
                out.append(read_limited(Path(path)).decode("utf-8", errors="replace").strip())
            except (ConfigError, OSError):
                pass
        for url in (t.metrics_url, t.api_url, t.health.management_url):
            out.extend(url_secrets(url))
    SECRETS.add(out)
    return out


class Exporter:
    def __init__(
        self,
        config: Config,
        collectors_enabled: frozenset[str] = frozenset(),
        journal: Journal | None = None,
        proc_root: str = "/proc",
        sys_root: str = "/sys",
        extra_sources: tuple[Source, ...] = (),
        shard: Shard = ALL_TARGETS,
        workers: int = DEFAULT_WORKERS,
    ):
        self.file_config = config  # as read from the file; self.config adds the discovered targets
        self.journal = journal
        self.shard = shard
        self.started = time.time()
        self._collectors = collectors_enabled
        self._roots = (proc_root, sys_root)
        self._extra = tuple(extra_sources)
        self._discovery = FileDiscovery(config.target_files) if config.target_files else None
        self.config = self._effective(config)
        self.scheduler = Scheduler(self._on_result, workers)
        self.scheduler.replace(self._build_states(self.config, []))
        secrets = _secrets(self.config)
        if journal is not None:
            journal.add_secrets(secrets)
        # Other files read on reload (the web config): each checks its file and returns how to
        # apply it, or raises ConfigError; nothing is applied unless every file is good.
        self.reload_hooks: list[Callable[[], Callable[[], None]]] = []
        self._stop = threading.Event()
        self._dirty = threading.Event()
        self._reload_lock = threading.Lock()
        self.last_reload_ok = True
        self.last_reload_time = self.started
        self._process = ProcessMetrics()
        self._own_renderer = SourceRenderer()
        self._render_duration = 0.0
        self._render_cpu = 0.0  # the last render's own CPU time: what RENDER_SHARE limits
        # (openmetrics, gzipped) -> when a scrape last asked for it
        self._asked: dict[tuple[bool, bool], float] = {}
        self._page_ready = False  # the page holds every source's first data
        self._page = self._render(time.time())
        self._renderer: threading.Thread | None = None

    # --- sources ----------------------------------------------------------------------
    def _effective(self, config: Config) -> Config:
        """CONFIG with the discovered targets added and the other shards' targets left out."""
        targets = list(config.targets)
        if self._discovery is not None:
            inline = {t.name for t in targets}
            targets += [t for t in self._discovery.targets() if t.name not in inline]
        if self.shard.count > 1:
            targets = [t for t in targets if self.shard.keeps(t.name)]
        return dataclasses.replace(config, targets=tuple(targets))

    def _build_states(self, config: Config, old: list[SourceState]) -> list[SourceState]:
        """States for CONFIG, keeping each old state whose source was built from the same config."""
        by_key = {(s.source.name, s.source.is_target): s for s in old}

        def reuse(name: str, is_target: bool, cfg, build) -> SourceState:
            prev = by_key.get((name, is_target))
            if prev is not None and cfg is not None and prev.source.config == cfg:
                return prev
            return SourceState(build())

        sched = self.scheduler
        targets = [reuse(t.name, True, t, lambda t=t: target_source(t)) for t in config.targets]
        key = locals_key(config)
        kept = [s for s in old if not s.source.is_target and s.source.name in collectors.registrations()]
        if kept and all(s.source.config == key for s in kept):
            local = kept
        else:
            context = collectors.CollectorContext(
                config, self._roots[0], self._roots[1], self.journal, kind_of=sched.kind_of
            )
            local = [SourceState(src) for src in local_sources(context, self._collectors)]
            for state in local:
                state.source.config = key
        health = [
            reuse(
                f"health:{t.name}",
                False,
                t,
                lambda t=t: health_source(t, self.journal, sched.kind_of, sched.last_ok),
            )
            for t in config.targets
            if t.health.enabled
        ]
        extra = [s for s in old if any(s.source is x for x in self._extra)] or [
            SourceState(s) for s in self._extra
        ]
        return targets + local + health + extra

    def _on_result(self, state: SourceState, result: Result, was_ok: bool | None) -> None:
        cfg = state.source.config
        if (
            self.journal is not None
            and state.source.is_target
            and was_ok != result.ok
            and isinstance(cfg, TargetConfig)
            and not cfg.health.enabled
        ):
            # Without health probes the collection itself says whether the target is up.
            details = {} if result.ok else {"reason": result.reason}
            self.journal.emit("target_up" if result.ok else "target_down", target=cfg.name, **details)
        if state.source.is_target:
            if state.own_renderer is None:
                state.own_renderer = SourceRenderer()
            state.own = state.own_renderer.render(target_snapshot(state, self.config.labels))
        self._dirty.set()

    # --- lifecycle ----------------------------------------------------------------------
    def start(self) -> None:
        self.scheduler.start()
        self._renderer = threading.Thread(target=self._render_loop, name="render", daemon=True)
        self._renderer.start()

    def stop(self, timeout: float = 5.0) -> None:
        from .scrape import WATCHDOG

        self._stop.set()
        self._dirty.set()
        deadline = time.monotonic() + timeout
        self.scheduler.stop(deadline)
        if self._renderer is not None:
            self._renderer.join(max(0.0, deadline - time.monotonic()))
        WATCHDOG.stop()

    def reload(self) -> tuple[bool, str]:
        """Re-read the config file, the target files and the web config; on any error, whatever
        it is, keep the running config (as blackbox does) and report one line. Only the difference
        is applied."""
        with self._reload_lock:
            now = time.time()
            try:
                apply = [hook() for hook in self.reload_hooks]
                config = load(self.file_config.path)
            except Exception as exc:  # noqa: BLE001 - a reload never takes the exporter down
                error = str(exc) if isinstance(exc, ConfigError) else f"reload failed ({type(exc).__name__})"
                error = error.splitlines()[0] if error else "reload failed"
                self.last_reload_ok = False
                log.error("config reload failed", extra={"err": error})
                if self.journal is not None:
                    self.journal.emit("config_reload_failed", ts=now, error=error)
                self._dirty.set()
                return False, error
            for step in apply:
                step()
            self.last_reload_ok, self.last_reload_time = True, now
            if config.sha256 == self.file_config.sha256:
                found = self._discovery.refresh() if self._discovery is not None else False
                if not found:
                    self._dirty.set()
                    return True, "unchanged"
            else:
                self._discovery = FileDiscovery(config.target_files) if config.target_files else None
            return self._apply(config, now)

    def _refresh_files(self) -> None:
        """Re-read the target files that changed (the render thread's beat calls this)."""
        with self._reload_lock:
            if self._discovery is not None and self._discovery.refresh():
                self._apply(self.file_config, time.time())

    def _apply(self, config: Config, now: float) -> tuple[bool, str]:
        """Run CONFIG (the caller holds the reload lock)."""
        effective = self._effective(config)
        old_config, self.file_config = self.config, config
        if effective.targets == old_config.targets and config.sha256 == old_config.sha256:
            return True, "unchanged"
        if self.journal is not None:
            self.journal.add_secrets(_secrets(effective))
        old_names = {t.name for t in old_config.targets}
        new_names = {t.name for t in effective.targets}
        states = self._build_states(effective, self.scheduler.states)
        self.config = effective
        gone = self.scheduler.replace(states)
        if self.journal is not None:
            self.journal.emit(
                "config_reload",
                ts=now,
                sha256=config.sha256[:12],
                targets=len(effective.targets),
                added=sorted(new_names - old_names),
                removed=sorted(old_names - new_names),
                restarted=sorted(s.source.name for s in gone),
            )
        log.info(
            "config reloaded",
            extra={
                "targets": len(effective.targets),
                "added": len(new_names - old_names),
                "dropped": len(gone),
            },
        )
        self._dirty.set()
        return True, "reloaded"

    @property
    def ready(self) -> bool:
        """Every source has been collected and the page being served shows it."""
        return self._page_ready

    def current(self) -> Page:
        return self._page

    def rows(self) -> list[dict]:
        """Per-source state for the landing page and the readiness answer."""
        with self.scheduler.lock:
            return source_rows(list(self.scheduler.states))

    # --- rendering ---------------------------------------------------------------------
    def _render_loop(self) -> None:
        next_files = time.monotonic()
        while not self._stop.is_set():
            t0 = time.monotonic()
            self._dirty.wait(timeout=RENDER_EVERY)  # the timeout also ages stale data out
            self._dirty.clear()
            if self._stop.is_set():
                return
            if self._discovery is not None and time.monotonic() >= next_files:
                self._refresh_files()
                next_files = time.monotonic() + (self._discovery.refresh_interval or 30.0)
            self._page = self._render(time.time())
            # Until every source has data, first collections show at once (a sidecar's first
            # complete page); a large page waits longer, so rendering never takes more than
            # RENDER_SHARE of a core. Its CPU time, not its wall time: a render that waited for
            # the GIL or a loaded machine's cores would otherwise hold the next page back ten times
            # as long.
            # The page's readiness, not the scheduler's: collections that ended during this render
            # are not on it yet.
            beat = RENDER_EVERY if self._page_ready else 0.0
            spent = time.monotonic() - t0
            pause = max(beat, self._render_cpu / RENDER_SHARE) - spent
            if pause > 0:
                self._stop.wait(pause)

    def _render(self, now: float) -> Page:
        t0, cpu0 = time.perf_counter(), time.thread_time()
        previous = getattr(self, "_page", None)
        if previous is not None:
            for form in previous.asked:
                self._asked[form] = now
        with self.scheduler.lock:
            fresh = [(s, s.fresh(now)) for s in self.scheduler.states]
            # Ready once every source has a result and every target its own series (rendered just
            # after the result is recorded, outside the lock): read before the page takes them.
            ready = all(
                s.last is not None and (s.own is not None or not s.source.is_target) for s, _ in fresh
            )
        facts = ExporterFacts(
            self.config.labels,
            self._render_duration,
            self.last_reload_ok,
            self.last_reload_time,
            self.journal,
        )
        own = self_snapshot(facts, fresh, now)
        sources: list[RenderedSource] = [
            r for _, result in fresh if result is not None for r in result.rendered
        ]
        sources += [s.own for s, _ in fresh if s.own is not None]
        sources.append(self._own_renderer.render(own))
        page = assemble(sources, self._process.render(), created=now)
        for (openmetrics, gzipped), when in self._asked.items():
            if now - when < ASKED_FOR:
                page.prepare(openmetrics, gzipped)  # so the next scrape finds its body ready
        self._render_duration = time.perf_counter() - t0
        self._render_cpu = time.thread_time() - cpu0
        self._page_ready = ready
        return page
