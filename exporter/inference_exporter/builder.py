"""Collects one source's unified series into a :class:`~inference_exporter.snapshot.Snapshot`.

Server modules and local collectors call :meth:`Builder.counter`, :meth:`Builder.gauge`
and :meth:`Builder.histogram` with schema names; series with the same labels are summed
(a server module may fold several native series, e.g. engines or replicas, into one).
Labels are checked against the schema here, so a snapshot only ever holds valid series.
"""

from __future__ import annotations

from collections.abc import Iterable
from operator import add

from . import schema
from .snapshot import Exemplar, Histogram, SeriesKey, Snapshot

INF = float("inf")

# Version placeholders servers use when a request named no version.
VERSION_PLACEHOLDERS = frozenset(("", "None", "none", "null", "default", "not available", "-1"))


def normalize_version(version: str | None) -> str:
    if version is None:
        return ""
    found = _VERSIONS.get(version)
    if found is None:
        found = str(version).strip()
        found = "" if found in VERSION_PLACEHOLDERS else found
        if len(_VERSIONS) < 10_000 and isinstance(version, str):
            _VERSIONS[version] = found
    return found


_VERSIONS: dict[str, str] = {}  # as sent -> normalized (a fleet has few distinct versions)


class Builder:
    """Unified series of one source (a target, its health probes, or a local collector)."""

    def __init__(
        self,
        identity: Iterable[tuple[str, str]] = (),
        static: Iterable[tuple[str, str]] = (),
        default_model: str = "",
        keys: dict[SeriesKey, SeriesKey] | None = None,
    ):
        self._identity = tuple(identity)  # e.g. (("target", "t1"), ("server", "triton"))
        # A source's series recur every collection: with its key table (kept by the caller)
        # each snapshot reuses the previous one's key tuples instead of holding copies.
        self._keys = keys if keys is not None else {}
        self._static = tuple(static)
        self._default_model = default_model  # for servers whose metrics name no model (llama.cpp)
        self._values: dict[str, dict[SeriesKey, float]] = {}
        self._hists: dict[str, dict[SeriesKey, Histogram]] = {}
        self._models: set[tuple[str, str]] = set()

    # --- the API of server modules and collectors -----------------------------------
    def counter(self, name: str, value: float, /, model: str = "", version: str = "", **labels: str) -> None:
        self._add(name, schema.COUNTER, value, model, version, labels)

    def gauge(self, name: str, value: float, /, model: str = "", version: str = "", **labels: str) -> None:
        self._add(name, schema.GAUGE, value, model, version, labels)

    def histogram(
        self,
        name: str,
        buckets: Iterable[tuple[float, float]],
        sum_: float,
        count: float,
        /,
        model: str = "",
        version: str = "",
        exemplar: Exemplar | None = None,
        **labels: str,
    ) -> None:
        """Add a histogram. ``buckets`` are (upper bound, cumulative count) in base units.

        Pass no buckets for servers that report only totals: the series then has a
        single ``+Inf`` bucket, so the mean stays exact and no quantile is invented.
        ``exemplar`` (labels, value, unix time) is served, in OpenMetrics only, on the
        lowest bucket that holds the value.
        """
        metric = schema.get(name)
        if metric.type != schema.HISTOGRAM:
            raise TypeError(f"{name} is a {metric.type}, not a histogram")
        key = self._key(metric, model, version, labels)
        hists = self._hists.get(name)
        if hists is None:
            hists = self._hists[name] = {}
        h = hists.get(key)
        if h is None:
            h = hists[key] = Histogram()
        if type(buckets) is list:
            # Every bound once (as servers send them): taken whole, or added to a series with the
            # same bounds in one step; anything else bucket by bucket below.
            taken = dict(buckets)
            if len(taken) == len(buckets):
                if not h.buckets:
                    h.buckets, buckets = taken, ()
                elif list(h.buckets) == list(taken):
                    added = map(add, h.buckets.values(), taken.values())
                    h.buckets, buckets = dict(zip(taken, added, strict=True)), ()
        for le, c in buckets:
            h.buckets[le] = h.buckets.get(le, 0.0) + c
        h.sum += sum_
        h.count += count
        if exemplar is not None:
            h.exemplar = exemplar

    def model(self, model: str, version: str = "") -> None:
        """Record a model seen without a sample (e.g. from a model list)."""
        if model:
            self._models.add((model, normalize_version(version)))

    # --- internals ----------------------------------------------------------------------
    def _key(self, metric: schema.Metric, model: str, version: str, labels: dict[str, str]) -> SeriesKey:
        if not metric.identity:
            # Metrics without the identity labels may declare their own model/version labels.
            if version and "version" in metric.labels:
                labels = {**labels, "version": version}
            if model and "model" in metric.labels:
                labels = {**labels, "model": model}
            model = version = ""
        elif not model:
            model = self._default_model
        normalized = _VERSIONS.get(version)
        version = normalize_version(version) if normalized is None else normalized
        if model:
            self._models.add((model, version))
        if labels:
            allowed = metric.labels
            for k in labels:
                if k not in allowed:
                    raise KeyError(f"label {k!r} is not defined for {metric.name}")
            if len(labels) == 1:
                ((k, v),) = labels.items()
                extra = ((k, v if type(v) is str else str(v)),)
            else:
                extra = tuple([(k, str(labels[k])) for k in allowed if k in labels])
        else:
            extra = ()
        key = (model, version, extra)
        return self._keys.setdefault(key, key)

    def _add(self, name: str, type_: str, value: float, model: str, version: str, labels) -> None:
        metric = schema.get(name)
        if metric.type != type_ and not (type_ == schema.GAUGE and metric.type == schema.INFO):
            raise TypeError(f"{name} is a {metric.type}, not a {type_}")
        if value is None or value != value:
            return  # never serve a NaN a server produced for "no data"
        key = self._key(metric, model, version, labels)
        series = self._values.get(name)
        if series is None:
            series = self._values[name] = {}
        series[key] = series.get(key, 0.0) + value

    def hold_counters(self, floor: dict[str, dict[SeriesKey, float]]) -> None:
        """Never serve a counter below what was served before for the same series.

        Native counters are already kept monotonic by the parser's reset tracker, but a
        unified counter a server module derives by subtraction (KServe failures =
        predictions minus postprocessed) can dip while a request is in flight; Prometheus
        would read the dip as a reset and ``rate()`` would spike. ``floor`` persists
        across collections of one target and is updated in place.
        """
        seen: dict[str, dict[SeriesKey, float]] = {}
        for name, values in self._values.items():
            if schema.get(name).type != schema.COUNTER:
                continue
            before = floor.get(name, {})
            for key, value in values.items():
                held = before.get(key, value)
                if held > value:
                    values[key] = held
            seen[name] = values  # the snapshot's own table: snapshots are never changed
        floor.clear()
        floor.update(seen)

    def finish(self) -> Snapshot:
        for hists in self._hists.values():
            for h in hists.values():
                if INF not in h.buckets:
                    h.buckets[INF] = h.count
        return Snapshot(self._identity, self._static, self._values, self._hists, frozenset(self._models))
