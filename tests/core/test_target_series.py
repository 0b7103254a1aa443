"""A target's own series, built on its kept keys, are what a Builder makes of its state.

``selfmetrics.target_snapshot`` fills values into series keys it made once per target (name,
kind, error reasons). Generated targets (seeded; a failure names its seed and step) go through
collections that succeed, fail for any reason (one the exporter does not list included), change
kind and drop samples; after every step the snapshot, rendered, must equal the one a Builder
makes from the same state, series by series and value by value.
"""

from __future__ import annotations

import random

from inference_exporter.builder import Builder
from inference_exporter.counters import DROP_REASONS
from inference_exporter.exposition import SourceRenderer
from inference_exporter.scheduler import ERROR_REASONS, SourceState
from inference_exporter.selfmetrics import target_snapshot
from inference_exporter.snapshot import Result


class _Target:
    is_target = True
    interval = 15.0
    url = "http://127.0.0.1:1/metrics"

    def __init__(self, name: str, kind: str):
        self.name, self.kind = name, kind


def _built(state: SourceState, labels: tuple) -> Builder:
    """The target's own series through the Builder, series by series."""
    b = Builder((), labels)
    last, ok, name = state.last, state.last_ok, state.source.name
    up = 1 if last is not None and last.ok else 0
    b.gauge("inference_exporter_target_up", up, target=name, server=state.kind())
    b.counter("inference_exporter_collections_total", state.collections, target=name)
    for reason, count in state.errors.items():
        b.counter("inference_exporter_collection_errors_total", count, target=name, reason=reason)
    if last is not None:
        b.gauge("inference_exporter_collection_duration_seconds", last.duration, target=name)
    if ok is not None:
        b.gauge("inference_exporter_last_success_timestamp_seconds", ok.started + ok.duration, target=name)
        b.gauge("inference_exporter_native_samples", ok.native_samples, target=name)
        b.gauge("inference_exporter_invalid_lines", ok.invalid_lines, target=name)
    dropped = dict(ok.dropped) if ok is not None else {}
    for reason in DROP_REASONS:
        count = dropped.get(reason, 0)
        b.counter("inference_exporter_dropped_samples_total", count, target=name, reason=reason)
    return b


def test_own_series_match_the_builder():
    for seed in range(200):
        rng = random.Random(seed)
        state = SourceState(_Target(f"t{seed}", rng.choice(["vllm", "auto", "triton"])))
        static = [("cluster", "c1"), ("team", "search"), ("region", 'a"b')]
        labels = tuple(rng.sample(static, rng.randint(0, 2)))
        fast, plain = SourceRenderer(), SourceRenderer()
        for step in range(12):
            if rng.random() < 0.6:
                dropped = tuple((r, rng.randint(0, 5)) for r in DROP_REASONS if rng.random() < 0.3)
                result = Result(
                    True,
                    1.7e9 + step * rng.uniform(0, 20),
                    rng.uniform(0, 2),
                    rng.choice(["vllm", "triton", ""]),
                    native_samples=rng.randint(0, 10**6),
                    invalid_lines=rng.randint(0, 3),
                    dropped=dropped,
                )
                state.last_ok = result
            else:
                reason = rng.choice([*ERROR_REASONS, "a_reason_not_listed"])
                result = Result(False, 1.7e9 + step, rng.uniform(0, 2), reason=reason)
                state.errors[reason] = state.errors.get(reason, 0) + 1
            state.last = result
            state.collections += 1
            got = fast.render(target_snapshot(state, labels))
            want = plain.render(_built(state, labels).finish())
            where = f"seed {seed}, step {step}"
            assert got.text == want.text, where
            assert got.series == want.series, where
