"""Counter accounting for native cumulative series (counters, histogram buckets, sums, counts).

Per target, :class:`ResetTracker` keeps each native cumulative series monotonic across
target restarts and refuses the samples that would corrupt it:

* a value below the last one is a reset (the target or one of its workers restarted): the
  last value is carried as an offset, so a sum over several native series never goes back;
* a series that appears twice in one exposition (``duplicate``) keeps its first sample; the
  later one is dropped, never taken for a reset, which would add its value on every collection;
* ``non_finite`` (NaN, ±Inf) and ``negative`` samples are dropped: a counter that was +Inf
  once would otherwise stay +Inf for good (the offset), and a negative count is no count.

A dropped sample keeps the series' state, so its offset survives; the reasons are counted
per collection (``dropped``) for ``inference_exporter_dropped_samples_total``. Series are
keyed by their ``name{labels}`` text as the exposition writes it.
"""

from __future__ import annotations

import math

DROP_REASONS = ("duplicate", "non_finite", "negative")


class ResetTracker:
    __slots__ = ("_state", "_seen", "dropped")

    def __init__(self) -> None:
        self._state: dict[str, list[float]] = {}
        self._seen: dict[str, list[float]] = {}
        self.dropped: dict[str, int] = {}  # reason -> samples dropped in this collection

    def adjust(self, series: str, value: float) -> float | None:
        """The value to serve for this sample, or None when it is dropped."""
        if series in self._seen:
            return self._drop("duplicate")
        st = self._state.get(series)
        if not math.isfinite(value) or value < 0:
            if st is not None:
                self._seen[series] = st  # keep the offset for when the series is sane again
            return self._drop("negative" if value < 0 and value != -math.inf else "non_finite")
        if st is None:
            st = [value, 0.0]
        else:
            if value < st[0]:
                st[1] += st[0]
            st[0] = value
        self._seen[series] = st
        return value + st[1]

    def _drop(self, reason: str) -> None:
        self.dropped[reason] = self.dropped.get(reason, 0) + 1
        return None

    def commit(self) -> None:
        """Forget series not seen in the collection that just finished."""
        self._state, self._seen = self._seen, {}
        self.dropped = {}

    def rollback(self) -> None:
        self._seen = {}
        self.dropped = {}
