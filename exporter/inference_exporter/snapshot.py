"""What one collection of one source produced: unified series as values, not text.

Every source (a target, its health probes, a local collector) returns a
:class:`Snapshot`. The exporter reads derived facts from snapshots (a target's request
total for the canaries' traffic cap, a GPU's XID counts for journal events, the models a
target serves), and only the exposition layer (``exposition.py``) turns them into text.

A series is keyed by ``(model, version, extra)``: ``extra`` holds the metric's own labels
in schema order. Metrics without the identity labels keep any model/version of theirs in
``extra``. The source's identity (``target``, ``server``) and static labels (``team``,
``cluster``...) are stored once per snapshot, not per series.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .exposition import RenderedSource

Labels = tuple[tuple[str, str], ...]
SeriesKey = tuple[str, str, Labels]  # (model, version, the metric's own labels)
Exemplar = tuple[dict[str, str], float, "float | None"]  # (labels, value, unix time)


class Histogram:
    """One histogram series: cumulative counts per upper bound (base units, +Inf included), sum, count."""

    __slots__ = ("buckets", "sum", "count", "exemplar")

    def __init__(self) -> None:
        self.buckets: dict[float, float] = {}
        self.sum = 0.0
        self.count = 0.0
        self.exemplar: Exemplar | None = None


class Snapshot:
    """Unified series of one source from one collection."""

    __slots__ = ("identity", "static", "values", "histograms", "models")

    def __init__(
        self,
        identity: Labels = (),
        static: Labels = (),
        values: dict[str, dict[SeriesKey, float]] | None = None,
        histograms: dict[str, dict[SeriesKey, Histogram]] | None = None,
        models: frozenset[tuple[str, str]] = frozenset(),
    ):
        self.identity = identity  # e.g. (("target", "t1"), ("server", "triton"))
        self.static = static  # the target's and the global static labels
        self.values = values if values is not None else {}  # counters, gauges
        self.histograms = histograms if histograms is not None else {}
        self.models = models  # (model, version) seen: served as inference_model_info

    @property
    def series(self) -> int:
        """Sample lines this snapshot serves, model info included."""
        lines = sum(len(v) for v in self.values.values()) + len(self.models)
        for hists in self.histograms.values():
            lines += sum(len(h.buckets) + 2 for h in hists.values())  # buckets (+Inf included), sum, count
        return lines

    def samples(self, name: str) -> Iterator[tuple[dict[str, str], float]]:
        """(labels, value) of a counter or gauge; labels hold model, version and the metric's own."""
        for (model, version, extra), value in self.values.get(name, {}).items():
            labels = dict(extra)
            if model:
                labels["model"] = model
            if version:
                labels["version"] = version
            yield labels, value

    def total(self, name: str) -> float | None:
        """The sum of a counter or gauge over its series; None when the snapshot has none."""
        series = self.values.get(name)
        return sum(series.values()) if series else None


@dataclass
class Result:
    """The outcome of one collection of one source: its snapshots, or why it failed.

    A running exporter renders the snapshots as soon as they are collected and keeps only
    their lines and the facts it reads from them (``sources.py``), so it never holds one
    source's data twice: ``rendered``, ``series``, ``requests_total`` and ``models`` are
    filled then, and ``snapshots`` emptied.
    """

    ok: bool
    started: float  # wall-clock
    duration: float
    kind: str = ""  # the server kind, once known
    snapshots: tuple[Snapshot, ...] = ()
    reason: str = ""  # why it failed: the collection_errors_total label
    message: str = ""
    native_samples: int = 0
    invalid_lines: int = 0
    dropped: tuple[tuple[str, int], ...] = ()  # native samples dropped since start, by reason
    rendered: tuple[RenderedSource, ...] = ()
    series: int = 0  # sample lines served, model info included
    requests_total: float | None = None  # inference_requests_total over every series (canary traffic cap)
    models: frozenset[tuple[str, str]] = frozenset()  # (model, version) the snapshots name
