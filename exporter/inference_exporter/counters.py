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
per collection (``dropped``) for ``inference_exporter_dropped_samples_total``.

A series is keyed by a 64-bit hash of its name and label text; two series of one target
colliding is as good as impossible (about 1 in 10^9 at 100k). A target sends its series in the
same order every time, so the keys and last values are kept in that order in two arrays, and
the n-th series of a collection is first looked for at position n: steady state costs one
comparison per series (the parser inlines it), 16 bytes of memory per series and no object per
series (thousands of targets' state would otherwise fragment the heap). When the order changes,
an index of the keys is built for that collection; a set of the collection's keys (to find
duplicates) exists only in a collection that left the steady path.
"""

from __future__ import annotations

import math
from array import array

DROP_REASONS = ("duplicate", "non_finite", "negative")


class ResetTracker:
    __slots__ = ("_keys", "_last", "_new_keys", "_new", "_index", "_offset", "_pending", "seen", "dropped")

    def __init__(self) -> None:
        self._keys = array("q")  # the keys at the last committed collection, in their order
        self._last = array("d")  # their values
        self._new_keys = array("q")  # the collection under way
        self._new = array("d")
        self._index: dict[int, int] | None = None  # key -> position in _keys, once the order changed
        self._offset: dict[int, float] = {}  # what resets took away so far (few series have one)
        self._pending: dict[int, float] = {}  # offsets changed by the collection under way
        self.seen: set[int] | None = None  # this collection's keys, once it left the steady path
        self.dropped: dict[str, int] = {}  # reason -> samples dropped in this collection

    def adjust(self, series: int, value: float) -> float | None:
        """The value to serve for the series (a 64-bit key), or None when it is dropped."""
        seen = self.seen
        if seen is None:
            seen = self.seen = set(self._new_keys)
        if series in seen:
            return self._drop("duplicate")
        position = len(self._new_keys)
        keys = self._keys
        if position < len(keys) and keys[position] == series:
            last = self._last[position]
        else:
            if self._index is None:
                self._index = {k: i for i, k in enumerate(keys)}
            found = self._index.get(series)
            last = self._last[found] if found is not None else None
        if not math.isfinite(value) or value < 0:
            if last is not None:  # keep the series (and its offset) for when it is sane again
                seen.add(series)
                self._new_keys.append(series)
                self._new.append(last)
            return self._drop("negative" if value < 0 and value != -math.inf else "non_finite")
        seen.add(series)
        self._new_keys.append(series)
        self._new.append(value)
        offset = self._pending.get(series) if self._pending else None
        if offset is None:
            offset = self._offset.get(series, 0.0) if self._offset else 0.0
        if last is not None and value < last:
            offset += last
            self._pending[series] = offset
        return value + offset if offset else value

    def _drop(self, reason: str) -> None:
        self.dropped[reason] = self.dropped.get(reason, 0) + 1
        return None

    def commit(self) -> None:
        """Forget series not seen in the collection that just finished."""
        self._keys, self._last = self._new_keys, self._new
        self._new_keys, self._new = array("q"), array("d")
        self._index = None
        self.seen = None
        self.dropped = {}
        if self._pending:
            self._offset.update(self._pending)
            self._pending = {}
        if self._offset:
            alive = set(self._keys)
            self._offset = {k: v for k, v in self._offset.items() if k in alive}

    def rollback(self) -> None:
        self._new_keys, self._new = array("q"), array("d")
        self._pending = {}
        self.seen = None
        self.dropped = {}
