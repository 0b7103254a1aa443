"""The scheduler: a bounded pool, collections at each source's own phase, reloads as differences."""

import random
import threading
import time

from inference_exporter.scheduler import Scheduler, SourceState, next_due
from inference_exporter.sharding import phase_of
from inference_exporter.snapshot import Result
from inference_exporter.sources import Source

SEED = 16


def test_next_due_keeps_the_phase_and_skips_only_missed_ticks():
    """Generated cases: the next collection falls on the source's phase, more than a quarter of an
    interval after this one started and at most one and a quarter later: however a collection
    fell (a first one off the phase, a late one), no gap grows past 1.25 intervals."""
    rng = random.Random(SEED)
    for case in range(2000):
        interval = rng.choice((0.5, 1.0, 15.0, 60.0, 300.0)) * rng.uniform(0.5, 2.0)
        phase = rng.uniform(0, interval)
        wall = rng.uniform(1.7e9, 1.8e9)
        mono = rng.uniform(0, 1e6)
        due = next_due(wall, mono, interval, phase)
        at = wall + (due - mono)  # the due time on the wall clock
        where = f"case {case} (seed {SEED}): interval {interval}, phase {phase}, start {wall}"
        assert abs((at - phase) / interval - round((at - phase) / interval)) < 1e-6, where
        assert wall + interval / 4 < at <= wall + 1.25 * interval + 1e-6, where


def test_phases_spread_a_fleet_over_the_interval():
    """A thousand targets with one interval: no tenth of it holds much more than its share."""
    interval = 15.0
    phases = [
        phase_of(f"t{i:05d}", f"http://10.0.{i // 250}.{i % 250}:8000/metrics", interval) for i in range(1000)
    ]
    bins = [0] * 10
    for p in phases:
        assert 0 <= p < interval
        bins[int(p / interval * 10)] += 1
    assert max(bins) < 1.4 * 100 and min(bins) > 0.6 * 100, bins
    # Stable: the same target gets the same phase in every process (a restart keeps the rhythm).
    assert phase_of("t00001", "http://x/metrics", 15.0) == phase_of("t00001", "http://x/metrics", 15.0)


class Recorder:
    """Sources whose collection sleeps; records when each ran and how many ran at once."""

    def __init__(self, sleep: float = 0.0):
        self.sleep = sleep
        self.lock = threading.Lock()
        self.running = 0
        self.most = 0
        self.runs: dict[str, list[float]] = {}
        self.closed: list[str] = []

    def source(self, name: str, interval: float, sleep: float | None = None) -> Source:
        def collect() -> Result:
            with self.lock:
                self.running += 1
                self.most = max(self.most, self.running)
                self.runs.setdefault(name, []).append(time.monotonic())
            time.sleep(self.sleep if sleep is None else sleep)
            with self.lock:
                self.running -= 1
            return Result(True, time.time(), 0.0)

        return Source(name, interval, 10 * interval, collect, close=lambda: self.closed.append(name))


def wait(predicate, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.02)
    raise AssertionError("condition not met in time")


def test_many_sources_run_on_a_bounded_pool():
    rec = Recorder(sleep=0.01)
    sched = Scheduler(lambda *a: None, max_workers=4)
    sched.replace([SourceState(rec.source(f"s{i}", 0.5)) for i in range(60)])
    sched.start()
    try:
        wait(lambda: len(rec.runs) == 60 and all(len(r) >= 2 for r in rec.runs.values()))
        assert rec.most <= 4
        assert sched.threads <= 5  # the dispatcher and at most four workers
    finally:
        sched.stop(time.monotonic() + 5)


def test_a_hung_source_holds_one_worker_only():
    rec = Recorder()
    sched = Scheduler(lambda *a: None, max_workers=3)
    hung = rec.source("hung", 0.2, sleep=2.0)
    healthy = [rec.source(f"ok{i}", 0.2, sleep=0.0) for i in range(5)]
    sched.replace([SourceState(s) for s in [hung, *healthy]])
    sched.start()
    try:
        time.sleep(1.5)
        counts = [len(rec.runs.get(f"ok{i}", [])) for i in range(5)]
        # 1.5 s at 0.2 s: about 7 each, while the hung one has not finished its first.
        assert min(counts) >= 4, counts
        assert len(rec.runs["hung"]) == 1
    finally:
        sched.stop(time.monotonic() + 5)


def test_hung_sources_never_hold_up_healthy_ones():
    """More hung sources than workers: each holds a worker for its timeout once, then they run in
    the slow lane and the healthy ones keep their interval (before the lane they waited behind
    them, issue 16's hung-target p99)."""
    rec = Recorder()

    def hung(name: str) -> Source:
        def collect() -> Result:
            with rec.lock:
                rec.runs.setdefault(name, []).append(time.monotonic())
            time.sleep(0.6)
            return Result(False, time.time(), 0.6, reason="timeout", message="timed out")

        return Source(name, 0.2, 2.0, collect)

    sched = Scheduler(lambda *a: None, max_workers=3, slow_workers=2)
    states = [SourceState(hung(f"hung{i}")) for i in range(6)]
    healthy = [rec.source(f"ok{i}", 0.2, sleep=0.0) for i in range(4)]
    sched.replace(states + [SourceState(s) for s in healthy])
    sched.start()
    try:
        wait(lambda: all(s.collections >= 1 for s in states))  # every hung one timed out once
        start = time.monotonic()
        time.sleep(2.0)
        counts = [sum(1 for t in rec.runs[f"ok{i}"] if t >= start) for i in range(4)]
        # 2 s at 0.2 s is about 10 each; behind six hung sources on three workers, 3 or fewer.
        assert min(counts) >= 6, counts
        assert sched.threads <= 1 + 3 + 2
        assert all(len(rec.runs[f"hung{i}"]) >= 2 for i in range(6)), "hung sources still run"
    finally:
        sched.stop(time.monotonic() + 5)


def test_replace_applies_a_difference():
    rec = Recorder()
    sched = Scheduler(lambda *a: None, max_workers=4)
    kept = SourceState(rec.source("kept", 0.3))
    dropped = SourceState(rec.source("dropped", 0.3))
    sched.replace([kept, dropped])
    sched.start()
    try:
        wait(lambda: kept.collections >= 2 and dropped.collections >= 1)
        due, runs = kept.due, len(rec.runs["kept"])
        added = SourceState(rec.source("added", 0.3))
        gone = sched.replace([kept, added])
        assert gone == [dropped]
        assert kept.due == due, "a kept source keeps its place in the schedule"
        assert len(rec.runs["kept"]) <= runs + 1
        wait(lambda: added.collections >= 1)  # a new source is collected at once
        wait(lambda: "dropped" in rec.closed)
        settled = len(rec.runs["dropped"])
        time.sleep(0.8)
        assert len(rec.runs["dropped"]) == settled, "a dropped source is never collected again"
        assert sched.target("dropped") is None and sched.target("added") is added
    finally:
        sched.stop(time.monotonic() + 5)


def test_collections_fall_on_each_sources_phase():
    """After the first collection (at once), each source is collected at its own phase of the
    interval: the start times, on the wall clock, sit at the phase (the median within a tenth of
    the interval, whatever the machine's load does to single runs)."""
    interval = 1.0
    starts: dict[str, list[float]] = {}

    def source(name: str) -> Source:
        def collect() -> Result:
            starts.setdefault(name, []).append(time.time())
            return Result(True, time.time(), 0.0)

        return Source(name, interval, 10.0, collect, url=f"http://{name}/metrics")

    states = [SourceState(source(f"p{i}")) for i in range(6)]
    sched = Scheduler(lambda *a: None, max_workers=4)
    sched.replace(states)
    sched.start()
    try:
        wait(lambda: all(len(starts.get(f"p{i}", [])) >= 6 for i in range(6)))
    finally:
        sched.stop(time.monotonic() + 5)
    for state in states:
        name = state.source.name
        runs = starts[name][1:6]
        offsets = sorted(((t - state.phase + interval / 2) % interval) - interval / 2 for t in runs)
        assert abs(offsets[len(offsets) // 2]) < interval / 10, (name, state.phase, offsets)


def test_fast_sources_due_together_run_one_after_the_other():
    """Forty fast sources falling due at once: the pool grows by one worker for each GROW_AFTER the
    backlog lasts, so they run one after the other on a worker or a few (a warm CPU, no GIL
    passed between a dozen threads) instead of each on a worker of its own up to the bound."""
    from inference_exporter.scheduler import GROW_AFTER

    rec = Recorder(sleep=0.001)
    sched = Scheduler(lambda *a: None, max_workers=16)
    states = [SourceState(rec.source(f"s{i}", 1.0)) for i in range(40)]
    sched.replace(states)
    sched.start()
    try:
        wait(lambda: len(rec.runs) == 40)
        starts = sorted(r[0] for r in rec.runs.values())
        grown = int((starts[-1] - starts[0]) / GROW_AFTER) + 1  # growth the backlog's age allows
        assert rec.most <= 1 + grown and rec.most < 16, (rec.most, starts[-1] - starts[0])
    finally:
        sched.stop(time.monotonic() + 5)


def test_the_pool_grows_again_after_idle_workers_left(monkeypatch):
    """Workers that went idle leave; when a burst comes, the pool grows back to its bound."""
    import inference_exporter.scheduler as scheduler_module

    monkeypatch.setattr(scheduler_module, "IDLE_WORKER_SECONDS", 0.2)
    rec = Recorder(sleep=0.3)
    sched = Scheduler(lambda *a: None, max_workers=6)
    sched.replace([SourceState(rec.source("first", 60.0))])
    sched.start()
    try:
        wait(lambda: len(rec.runs.get("first", [])) == 1)
        time.sleep(1.0)  # any extra worker has left by now
        burst = [SourceState(rec.source(f"b{i}", 60.0)) for i in range(12)]
        sched.replace(sched.states + burst)
        wait(lambda: all(f"b{i}" in rec.runs for i in range(12)))
        assert rec.most == 6, "a burst of twelve slow sources runs on the whole pool"
    finally:
        sched.stop(time.monotonic() + 5)


def test_a_start_collects_the_targets_first_and_grows_the_pool_as_its_backlog_ages():
    """A start: the first collections queue like any others, targets before local collectors
    (the GPU collector loads NVML on its first, which would otherwise hold the GIL while a
    sidecar's target is being read); slow ones get workers as the backlog ages, not all at once
    (fifty threads at once cost a sidecar 3 MB at its first minute)."""
    from inference_exporter.scheduler import GROW_AFTER

    rec = Recorder()
    sched = Scheduler(lambda *a: None, max_workers=8)
    targets = [SourceState(rec.source(f"t{i}", 60.0, sleep=2.0)) for i in range(3)]
    gpu = rec.source("gpu", 60.0)
    local = SourceState(Source(gpu.name, gpu.interval, gpu.stale_after, gpu.collect, is_target=False))
    sched.replace(targets + [local])
    t0 = time.monotonic()
    sched.start()
    try:
        wait(lambda: len(rec.runs) == 4)
        starts = {name: runs[0] - t0 for name, runs in rec.runs.items()}
        order = sorted(starts, key=starts.get)
        assert order == ["t0", "t1", "t2", "gpu"], starts
        for before, after in zip(order, order[1:], strict=False):  # each waited for the backlog to age
            assert starts[after] - starts[before] >= GROW_AFTER * 0.9, starts
        assert starts["gpu"] < 1.5, starts  # ...not for a target to end
        assert rec.most == 4
    finally:
        sched.stop(time.monotonic() + 5)
