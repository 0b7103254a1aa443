"""Runs the sources on a bounded pool of worker threads, in the order their collections fall due.

Each source is collected every ``interval`` seconds at its own fixed phase (``sharding.phase_of``,
a hash of the target, as Prometheus offsets its scrapes), so a fleet's collections spread evenly
over the interval instead of arriving in one burst. The first collection of a source is due at
once, so a new exporter, or a source a reload adds, has data as soon as possible.

One dispatcher thread waits for the earliest due time and hands the source to the workers; the
pool grows when sources have waited for a worker ``GROW_AFTER`` seconds, up to ``max_workers``,
and shrinks when idle, so a sidecar with one target runs two threads and a fleet of thousands a
few dozen. Fast targets due together are then collected one after the other by a worker or two,
whose interpreter state stays in the CPU's caches, instead of side by side by a dozen threads
that take the GIL from each other (a third of the CPU per collection, docs/performance.md);
slow ones grow the pool within a few ticks of the backlog. A source whose last collection timed out
(a hung target) runs in a lane of its own, at most ``slow_workers`` threads: hung targets then
wait for each other, never healthy ones for them. A collection that starts late skips the ticks
it missed instead of bunching up. :meth:`Scheduler.replace` applies a reload as a difference:
sources kept from before keep their schedule and state, removed ones are closed once their
collection in flight ends.
"""

from __future__ import annotations

import collections
import functools
import heapq
import itertools
import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .sharding import phase_of
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
DEFAULT_WORKERS = 16
IDLE_WORKER_SECONDS = 60.0  # an idle worker beyond the first exits after this long
GROW_AFTER = 0.025  # a source waiting this long for a worker starts one more (up to the bound)


@dataclass(eq=False)
class SourceState:
    source: Source
    last: Result | None = None
    last_ok: Result | None = None
    collections: int = 0
    errors: dict[str, int] = field(default_factory=lambda: dict.fromkeys(ERROR_REASONS, 0))
    removed: bool = False  # a reload dropped the source; its collection in flight is discarded
    running: bool = False  # a worker is collecting it now
    due: float = 0.0  # monotonic time of the next collection
    own: Any = None  # a target's own series about its last collection, rendered (exporter.py)
    own_renderer: Any = None
    own_keys: Any = None  # the keys of those series (selfmetrics.OwnKeys)

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

    @functools.cached_property
    def phase(self) -> float:
        """The source's fixed offset within its interval."""
        src = self.source
        return phase_of(src.name, src.url, src.interval)


def next_due(started_wall: float, started_mono: float, interval: float, phase: float) -> float:
    """The monotonic time of the first slot of the source's phase more than a quarter interval
    after the collection that started then: the next tick when this one ran on time or up to
    three quarters late (a tick is skipped only beyond that), and after a first collection off
    the phase, at most one and a quarter intervals later."""
    slot = math.ceil((started_wall + interval / 4 - phase) / interval) * interval + phase
    return started_mono + (slot - started_wall)


# Called after each collection with (state, result, whether the previous one succeeded).
OnResult = Callable[[SourceState, Result, "bool | None"], None]


class _Worker:
    """A worker thread's hand-off: the dispatcher sets ``state`` and releases ``wake``."""

    __slots__ = ("wake", "state")

    def __init__(self) -> None:
        self.wake = threading.Lock()  # held while the worker has nothing: released to hand it work
        self.wake.acquire()
        self.state: SourceState | None = None  # None when woken: stop


class _Lane:
    """A pool of worker threads (its fields are guarded by ``Scheduler._guard``).

    A source falling due while a worker is busy waits in ``backlog``, taken in order by the next
    worker that finishes; a backlog older than ``GROW_AFTER`` puts one more worker on it (an idle
    one, else a new one up to ``max_workers``), and so on while it lasts. Fast collections due
    together thus run one after the other on one worker; slow ones spread over as many workers
    as they need. An idle worker waits on its own lock, the last to go idle being woken first,
    so the workers a burst no longer needs stay idle until they leave."""

    def __init__(self, name: str, max_workers: int, floor: int):
        self.name = name
        self.max_workers = max(1, max_workers)
        self.floor = floor  # workers that never leave
        self.workers = 0
        self.waiting: list[_Worker] = []  # idle, the last to go idle on top
        self.backlog: collections.deque[SourceState] = collections.deque()
        self.backlog_since: float | None = None  # when the backlog began, or the pool last grew

    def grow_at(self) -> float | None:
        """When one more worker takes the backlog if it lasts (None: no backlog, or none to take)."""
        if not self.backlog or self.backlog_since is None:
            return None
        if not self.waiting and self.workers >= self.max_workers:
            return None
        return self.backlog_since + GROW_AFTER


class Scheduler:
    def __init__(
        self, on_result: OnResult, max_workers: int = DEFAULT_WORKERS, slow_workers: int | None = None
    ):
        self.states: list[SourceState] = []
        self.lock = threading.Lock()  # guards states and each state's results
        self._targets: dict[str, SourceState] = {}
        self._on_result = on_result
        self._main = _Lane("collect", max_workers, floor=1)
        # The hung targets' lane: half the main pool unless told (16 + 8 keeps a fleet under 32 threads).
        slow = max(1, max_workers // 2) if slow_workers is None else slow_workers
        self._slow = _Lane("collect-slow", slow, floor=0)
        self._heap: list[tuple[float, int, SourceState]] = []
        self._seq = itertools.count()
        self._guard = threading.Lock()  # guards the heap and the lanes' counters
        # Wakes the dispatcher before its next due time (a reload, an earlier slot, stop): a lock
        # used as a binary semaphore, released to ring; rings before it waits again coalesce. Not a
        # Condition, whose timed wait is Python code and a new lock per wait, at every collection.
        self._bell = threading.Lock()
        self._bell.acquire()
        self._running = False
        self._stopping = False
        self._threads: list[threading.Thread] = []

    # --- lookups ------------------------------------------------------------------
    def target(self, name: str) -> SourceState | None:
        return self._targets.get(name)

    def kind_of(self, target: str) -> str:
        state = self.target(target)
        return state.source.kind if state is not None else ""

    def last_ok(self, target: str) -> Result | None:
        state = self.target(target)
        return state.last_ok if state is not None else None

    @property
    def ready(self) -> bool:
        return all(s.last is not None for s in self.states)

    @property
    def threads(self) -> int:
        """Threads the scheduler runs now: the dispatcher and the workers."""
        return (1 if self._running else 0) + self._main.workers + self._slow.workers

    # --- lifecycle ----------------------------------------------------------------
    def start(self) -> None:
        with self._guard:
            self._running = True
            now = time.monotonic()
            for state in self.states:
                self._push(state, now)
        dispatcher = threading.Thread(target=self._dispatch, name="dispatch", daemon=True)
        self._threads.append(dispatcher)
        dispatcher.start()

    def replace(self, states: list[SourceState]) -> list[SourceState]:
        """Run ``states`` from now on; returns the old states that were dropped.

        Only the difference is applied: a state in both lists keeps its place in the schedule."""
        new_ids = {id(s) for s in states}
        with self.lock:
            old, self.states = self.states, list(states)
            self._targets = {s.source.name: s for s in states if s.source.is_target}
        old_ids = {id(s) for s in old}
        gone = [s for s in old if id(s) not in new_ids]
        added = [s for s in states if id(s) not in old_ids]
        with self._guard:
            for state in gone:
                state.removed = True
            idle = [s for s in gone if not s.running]  # a running one is closed by its worker
            if self._running:
                now = time.monotonic()
                for state in added:
                    self._push(state, now)
        self._ring()
        for state in idle:
            _close(state)
        return gone

    def stop(self, deadline: float) -> None:
        with self._guard:
            self._stopping = True
            waiting = [w for lane in (self._main, self._slow) for w in lane.waiting]
            for lane in (self._main, self._slow):
                lane.waiting.clear()
                lane.backlog.clear()
        self._ring()
        for worker in waiting:
            worker.wake.release()  # with no state: stop
        for thread in list(self._threads):
            thread.join(max(0.0, deadline - time.monotonic()))
        for state in self.states:
            _close(state)

    # --- scheduling -------------------------------------------------------------------
    def _push(self, state: SourceState, due: float) -> None:
        """Schedule STATE at DUE (the caller holds ``_guard``)."""
        state.due = due
        heapq.heappush(self._heap, (due, next(self._seq), state))

    def _ring(self) -> None:
        try:
            self._bell.release()
        except RuntimeError:
            pass  # rung already, not yet heard

    def _dispatch(self) -> None:
        while True:
            handed = None
            with self._guard:
                if self._stopping:
                    return
                now = time.monotonic()
                wait = self._heap[0][0] - now if self._heap else -1.0
                due = self._heap and wait <= 0
                if due:
                    _, _, state = heapq.heappop(self._heap)
                    if state.removed:
                        continue
                    state.running = True
                    lane = self._slow if _hung(state) else self._main
                    # One is busy: after it. First collections too: the exporter gives targets
                    # before local collectors (the GPU collector's first loads NVML), so a sidecar's
                    # target is read first, and a start's burst grows the pool as its backlog ages.
                    if lane.workers > len(lane.waiting):
                        lane.backlog.append(state)
                        if lane.backlog_since is None:
                            lane.backlog_since = now
                    else:
                        handed = self._give(lane, state)
                else:
                    for lane in (self._main, self._slow):
                        at = lane.grow_at()
                        if at is not None and at <= now:
                            state = lane.backlog.popleft()
                            lane.backlog_since = now if lane.backlog else None
                            handed = self._give(lane, state)
                            if handed is not None:
                                break  # handed over below; the next turn looks again
                            at = lane.grow_at()
                        if at is not None:
                            wait = at - now if wait < 0 else min(wait, at - now)
            if handed is not None:
                handed.wake.release()
            elif not due:
                self._bell.acquire(timeout=wait)  # -1: until rung

    def _give(self, lane: _Lane, state: SourceState) -> _Worker | None:
        """STATE to the worker of LANE that went idle last, returned to be woken once ``_guard`` is
        released; without an idle one, to a new worker (None)."""
        if lane.waiting:
            worker = lane.waiting.pop()
            worker.state = state
            return worker
        self._spawn(lane, state)
        return None

    def _spawn(self, lane: _Lane, state: SourceState) -> None:
        """Start one more worker in LANE on STATE (the caller holds ``_guard``)."""
        lane.workers += 1
        thread = threading.Thread(
            target=self._work_loop,
            args=(lane, _Worker(), state),
            name=f"{lane.name}-{lane.workers}",
            daemon=True,
        )
        self._threads = [t for t in self._threads if t.is_alive()] + [thread]
        thread.start()

    def _work_loop(self, lane: _Lane, worker: _Worker, state: SourceState | None) -> None:
        while state is not None:
            self._run(state)
            with self._guard:
                if self._stopping:
                    lane.workers -= 1
                    return
                if lane.backlog:
                    state = lane.backlog.popleft()
                    if not lane.backlog:
                        lane.backlog_since = None
                    continue
                lane.waiting.append(worker)
            state = self._wait(lane, worker)
        with self._guard:
            lane.workers -= 1

    def _wait(self, lane: _Lane, worker: _Worker) -> SourceState | None:
        """The next source handed to WORKER; None to stop (or to leave, idle too long)."""
        while not worker.wake.acquire(timeout=IDLE_WORKER_SECONDS):
            with self._guard:
                if worker not in lane.waiting:
                    break  # handed work as the wait ran out: the wake is on its way
                if lane.workers > lane.floor:
                    lane.waiting.remove(worker)
                    return None
        else:
            state, worker.state = worker.state, None
            return state
        worker.wake.acquire()
        state, worker.state = worker.state, None
        return state

    def _run(self, state: SourceState) -> None:
        src = state.source
        started_wall, started_mono = time.time(), time.monotonic()
        try:
            result = src.collect()
        except Exception as exc:  # noqa: BLE001 - collect never raises; a bug must not kill a worker
            log.exception("collection raised", extra={"source": src.name})
            result = Result(
                False, started_wall, time.monotonic() - started_mono, reason="adapter", message=str(exc)
            )
        earliest = False
        with self._guard:
            state.running = False
            removed = state.removed
            if not removed and not self._stopping:
                due = next_due(started_wall, started_mono, src.interval, state.phase)
                self._push(state, due)
                earliest = self._heap[0][2] is state
        if earliest:
            self._ring()
        if removed:
            _close(state)
            return
        self.record(state, result)

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


def _hung(state: SourceState) -> bool:
    """Whether the source's last collection timed out (it goes to the slow lane)."""
    last = state.last
    return last is not None and not last.ok and last.reason == "timeout"


def _close(state: SourceState) -> None:
    try:
        state.source.close()
    except Exception:  # noqa: BLE001 - closing must never block shutdown
        log.debug("close failed", exc_info=True)
