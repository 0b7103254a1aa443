"""The exporter's own series: one per source about its collections, plus build, reload,
journal and render figures, and the ``process_*`` series every exporter serves.

A target's series split in two: what changes only when it is collected
(:func:`target_snapshot`, rendered by the collecting thread) and what changes with time
(its data age and staleness, in :func:`self_snapshot`, rendered with every page)."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass

from . import __version__
from .builder import Builder
from .collectors._procfs import boot_time, count_fds, read_memory, read_stat
from .counters import DROP_REASONS
from .exposition import format_value
from .journal import EVENT_TYPES, Journal
from .scheduler import SourceState
from .snapshot import Result, Snapshot


@dataclass(frozen=True)
class ExporterFacts:
    """What the self-metrics report beside the sources."""

    labels: tuple[tuple[str, str], ...]  # the global static labels, so dashboards can filter on them
    render_duration: float
    reload_ok: bool
    reload_time: float
    journal: Journal | None


# What platform.python_version() reads (the first word of sys.version), without importing it.
PYTHON_VERSION = sys.version.split()[0]
UP = "inference_exporter_target_up"
COLLECTIONS = "inference_exporter_collections_total"
ERRORS = "inference_exporter_collection_errors_total"
DURATION = "inference_exporter_collection_duration_seconds"
LAST_SUCCESS = "inference_exporter_last_success_timestamp_seconds"
NATIVE_SAMPLES = "inference_exporter_native_samples"
INVALID_LINES = "inference_exporter_invalid_lines"
DROPPED = "inference_exporter_dropped_samples_total"


@dataclass(frozen=True)
class OwnKeys:
    """The series keys of a target's own series, made by a :class:`Builder` (so checked against
    the schema) once for its name, kind and error reasons, then reused every collection."""

    of: tuple[str, str, tuple[str, ...]]
    keys: dict[str, tuple]  # metric -> its series keys: one, or one per reason (ERRORS, DROPPED)

    @classmethod
    def make(cls, name: str, kind: str, reasons: tuple[str, ...]) -> OwnKeys:
        b = Builder()
        b.gauge(UP, 1, target=name, server=kind)
        b.counter(COLLECTIONS, 1, target=name)
        for reason in reasons:
            b.counter(ERRORS, 1, target=name, reason=reason)
        for metric in (DURATION, LAST_SUCCESS, NATIVE_SAMPLES, INVALID_LINES):
            b.gauge(metric, 1, target=name)
        for reason in DROP_REASONS:
            b.counter(DROPPED, 1, target=name, reason=reason)
        return cls((name, kind, reasons), {metric: tuple(keys) for metric, keys in b.finish().values.items()})


def target_snapshot(state: SourceState, labels: tuple[tuple[str, str], ...]) -> Snapshot:
    """A target's series that change only when it is collected: rendered once per collection, in
    the collecting thread, so a page of thousands of targets never renders them again. Built on
    the state's :class:`OwnKeys`: a collection only fills in the values."""
    name, kind, reasons = state.source.name, state.kind(), tuple(state.errors)
    own = state.own_keys
    if own is None or own.of != (name, kind, reasons):
        own = state.own_keys = OwnKeys.make(name, kind, reasons)
    keys = own.keys
    last, ok = state.last, state.last_ok
    values: dict[str, dict] = {
        UP: {keys[UP][0]: 1.0 if last is not None and last.ok else 0.0},
        COLLECTIONS: {keys[COLLECTIONS][0]: float(state.collections)},
        ERRORS: dict(zip(keys[ERRORS], map(float, state.errors.values()), strict=True)),
    }
    if last is not None:
        values[DURATION] = {keys[DURATION][0]: float(last.duration)}
    if ok is not None:
        values[LAST_SUCCESS] = {keys[LAST_SUCCESS][0]: float(ok.started + ok.duration)}
        values[NATIVE_SAMPLES] = {keys[NATIVE_SAMPLES][0]: float(ok.native_samples)}
        values[INVALID_LINES] = {keys[INVALID_LINES][0]: float(ok.invalid_lines)}
    dropped = dict(ok.dropped) if ok is not None and ok.dropped else {}
    drop_keys = zip(DROP_REASONS, keys[DROPPED], strict=True)
    values[DROPPED] = {key: float(dropped.get(reason, 0)) for reason, key in drop_keys}
    return Snapshot((), labels, values)


def self_snapshot(
    facts: ExporterFacts, states: Sequence[tuple[SourceState, Result | None]], now: float
) -> Snapshot:
    """The series that change with time or with the exporter: build, reload, journal, render
    figures, the local collectors, and each target's data age, staleness and series count.

    ``states``: each source's state and its fresh result (None when it has none or it is stale)."""
    b = Builder((), facts.labels)
    b.gauge("inference_exporter_build_info", 1, version=__version__, python_version=PYTHON_VERSION)
    b.gauge("inference_exporter_render_duration_seconds", facts.render_duration)
    b.gauge("inference_exporter_config_last_reload_successful", 1 if facts.reload_ok else 0)
    b.gauge("inference_exporter_config_last_reload_success_timestamp_seconds", facts.reload_time)
    if facts.journal is not None:
        for type_, count in facts.journal.counts.items():
            b.counter("inference_events_total", count, type=type_)
        b.counter("inference_exporter_journal_errors_total", facts.journal.errors)
    else:
        for type_ in EVENT_TYPES:
            b.counter("inference_events_total", 0, type=type_)
    for state, fresh in states:
        src, last, ok = state.source, state.last, state.last_ok
        if not src.is_target:
            if last is not None:
                b.gauge("inference_exporter_collector_success", 1 if last.ok else 0, collector=src.name)
                b.gauge("inference_exporter_collector_duration_seconds", last.duration, collector=src.name)
            continue
        name = src.name
        if ok is not None:
            age = max(0.0, now - (ok.started + ok.duration))
            b.gauge("inference_exporter_data_age_seconds", age, target=name)
        b.gauge("inference_exporter_target_stale", 1 if ok is not None and fresh is None else 0, target=name)
        b.gauge("inference_exporter_series", fresh.series if fresh is not None else 0, target=name)
    return b.finish()


class ProcessMetrics:
    """The exporter's own ``process_*`` series, with the names and help texts of
    prometheus_client's ProcessCollector (what dashboards expect of any exporter).

    Read from /proc with the process collector's readers: importing prometheus_client's
    exposition stack only for these six series cost the exporter more memory than all of
    them are worth.
    """

    _SERIES = (
        ("process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes."),
        ("process_resident_memory_bytes", "gauge", "Resident memory size in bytes."),
        ("process_start_time_seconds", "gauge", "Start time of the process since unix epoch in seconds."),
        ("process_cpu_seconds_total", "counter", "Total user and system CPU time spent in seconds."),
        ("process_open_fds", "gauge", "Number of open file descriptors."),
        ("process_max_fds", "gauge", "Maximum number of open file descriptors."),
    )

    def __init__(self, proc_root: str = "/proc", pid: int | str = "self") -> None:
        self._proc, self._pid = proc_root, pid
        try:
            self._start: float | None = boot_time(proc_root) + read_stat(proc_root, pid).started
        except (OSError, ValueError, IndexError):
            self._start = None

    def values(self) -> dict[str, float]:
        out: dict[str, float] = {}
        try:
            stat = read_stat(self._proc, self._pid)
            out["process_cpu_seconds_total"] = stat.user + stat.system
        except (OSError, ValueError, IndexError):
            times = os.times()
            out["process_cpu_seconds_total"] = times.user + times.system
        try:
            out["process_virtual_memory_bytes"], out["process_resident_memory_bytes"] = read_memory(
                self._proc, self._pid
            )
        except (OSError, ValueError):
            pass
        if self._start is not None:
            out["process_start_time_seconds"] = self._start
        try:
            out["process_open_fds"] = count_fds(self._proc, self._pid)
        except OSError:
            pass
        try:
            import resource

            out["process_max_fds"] = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        except (ImportError, OSError, ValueError):
            pass
        return out

    def render(self) -> tuple[str, str]:
        """(text format, OpenMetrics) lines of the six series."""
        values = self.values()
        text, om = [], []
        for name, kind, help_ in self._SERIES:
            if name not in values:
                continue
            line = f"{name} {format_value(float(values[name]))}\n"
            family = name[: -len("_total")] if kind == "counter" else name
            text.append(f"# HELP {name} {help_}\n# TYPE {name} {kind}\n{line}")
            om.append(f"# HELP {family} {help_}\n# TYPE {family} {kind}\n{line}")
        return "".join(text), "".join(om)
