"""Runs each source on its own schedule, in its own thread, and keeps its last results.

A slow or hung source delays nothing but itself. :meth:`Scheduler.replace` swaps in a new
set of states on a reload: states kept from before keep their threads; the others are
stopped after the swap, so /metrics never misses the sources that did not change.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from .snapshot import Result
from .sources import Source

log = logging.getLogger("inference_exporter.scheduler")

# The reasons a collection fails: the values of collection_errors_total's reason label.
ERROR_REASONS = (
    "timeout",
    "connection",
    "tls",
    "http_status",
    "auth",
    "body_size_limit",
    "sample_limit",
    "label_limit",
    "label_name_length_limit",
    "label_value_length_limit",
    "parse",
    "unknown_kind",
    "adapter",
)


@dataclass
class SourceState:
    source: Source
    last: Result | None = None
    last_ok: Result | None = None
    collections: int = 0
    errors: dict[str, int] = field(default_factory=lambda: dict.fromkeys(ERROR_REASONS, 0))
    thread: threading.Thread | None = None
    stop: threading.Event = field(default_factory=threading.Event)

    def fresh(self, now: float) -> Result | None:
        """The last successful result, unless it is older than the source's staleness window."""
        ok = self.last_ok
        if ok is None or now - (ok.started + ok.duration) > self.source.stale_after:
            return None
        return ok

    def kind(self) -> str:
        """The server kind: as detected by the last collection, else as configured."""
        last = self.last
        return last.kind if last is not None and last.kind else self.source.kind


# Called after each collection with (state, result, whether the previous one succeeded).
OnResult = Callable[[SourceState, Result, "bool | None"], None]


class Scheduler:
    def __init__(self, on_result: OnResult):
        self.states: list[SourceState] = []
        self.lock = threading.Lock()  # guards states and each state's results
        self._on_result = on_result
        self._stop = threading.Event()
        self._running = False

    # --- lookups ------------------------------------------------------------------
    def target(self, name: str) -> SourceState | None:
        for state in self.states:
            if state.source.is_target and state.source.name == name:
                return state
        return None

    def kind_of(self, target: str) -> str:
        state = self.target(target)
        return state.source.kind if state is not None else ""

    def last_ok(self, target: str) -> Result | None:
        state = self.target(target)
        return state.last_ok if state is not None else None

    @property
    def ready(self) -> bool:
        return all(s.last is not None for s in self.states)

    # --- lifecycle ----------------------------------------------------------------
    def start(self) -> None:
        self._running = True
        for state in self.states:
            self._start(state)

    def _start(self, state: SourceState) -> None:
        if state.thread is None:
            state.thread = threading.Thread(
                target=self._loop, args=(state,), name=f"collect:{state.source.name}", daemon=True
            )
            state.thread.start()

    def replace(self, states: list[SourceState]) -> list[SourceState]:
        """Run ``states`` from now on; returns the old states that were stopped."""
        with self.lock:
            old, self.states = self.states, states
        gone = [s for s in old if all(s is not n for n in states)]
        self._stop_states(gone, time.monotonic() + 5.0)
        if self._running:
            for state in states:
                self._start(state)
        return gone

    def stop(self, deadline: float) -> None:
        self._stop.set()
        self._stop_states(self.states, deadline)

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

    # --- collection -------------------------------------------------------------------
    def _loop(self, state: SourceState) -> None:
        src = state.source
        next_run = time.monotonic()
        while not self._stop.is_set() and not state.stop.is_set():
            self.record(state, src.collect())
            now = time.monotonic()
            next_run += src.interval
            if next_run < now:  # a slow collection skips missed ticks instead of bunching up
                next_run = now + src.interval - ((now - next_run) % src.interval)
            state.stop.wait(next_run - now)

    def record(self, state: SourceState, result: Result) -> None:
        with self.lock:
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
        self._on_result(state, result, was_ok)
