"""Accumulates one source's unified series and renders their sample lines once.

Adapters call :meth:`Builder.counter`, :meth:`Builder.gauge` and
:meth:`Builder.histogram` with schema names; series with the same labels are summed
(an adapter may fold several native series, e.g. engines or replicas, into one).
:meth:`Builder.finish` renders the sample lines, which are the same in the text
format and in OpenMetrics, so the served exposition is a join of prepared strings.
"""

from __future__ import annotations

from collections.abc import Iterable

from . import schema

INF = float("inf")
LABEL_CACHE_LIMIT = 50000

# Version placeholders servers use when a request named no version.
VERSION_PLACEHOLDERS = frozenset(("", "None", "none", "null", "default", "not available", "-1"))


def format_value(v: float) -> str:
    if v != v:
        return "NaN"
    if v == INF:
        return "+Inf"
    if v == -INF:
        return "-Inf"
    if v == int(v) and abs(v) < 1e15:
        return str(int(v))
    return repr(v)


def format_le(le: float) -> str:
    if le == INF:
        return "+Inf"
    return repr(float(le))


def escape(value: str) -> str:
    if "\\" in value or '"' in value or "\n" in value:
        return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return value


def label_string(pairs: Iterable[tuple[str, str]]) -> str:
    return ",".join(f'{k}="{escape(v)}"' for k, v in pairs if v != "")


def normalize_version(version: str | None) -> str:
    if version is None:
        return ""
    version = str(version).strip()
    return "" if version in VERSION_PLACEHOLDERS else version


class _Hist:
    __slots__ = ("buckets", "sum", "count", "exemplar")

    def __init__(self) -> None:
        self.buckets: dict[float, float] = {}
        self.sum = 0.0
        self.count = 0.0
        self.exemplar: tuple[dict[str, str], float, float | None] | None = None


def exemplar_suffix(labels: dict[str, str], value: float, ts: float | None) -> str:
    """OpenMetrics exemplar: `` # {trace_id="abc"} 0.67 1700000000.123``."""
    suffix = f" # {{{label_string(labels.items())}}} {format_value(value)}"
    return suffix + (f" {ts:.3f}" if ts is not None else "")


class Rendered:
    """Prepared sample lines of one source, keyed by schema metric name.

    ``om_chunks`` holds the OpenMetrics lines of the few metrics whose lines differ
    between the formats (histograms with exemplars); every other metric is shared.
    """

    __slots__ = ("chunks", "series", "models", "om_chunks")

    def __init__(
        self,
        chunks: dict[str, str],
        series: int,
        models: set[tuple[str, str]],
        om_chunks: dict[str, str] | None = None,
    ):
        self.chunks = chunks
        self.series = series
        self.models = models
        self.om_chunks = om_chunks or {}


class Builder:
    """Unified series of one source (a target, or a local collector)."""

    def __init__(
        self,
        identity: Iterable[tuple[str, str]] = (),
        static: Iterable[tuple[str, str]] = (),
        cache: dict | None = None,
    ):
        self._identity = tuple(identity)  # e.g. (("target", "t1"), ("server", "triton"))
        self._static = tuple(static)
        # Rendered label strings by (metric, series key); a caller that builds the same
        # source again and again (a target) passes one dict to keep them across builds.
        self._cache: dict = {} if cache is None else cache
        self._static_str = label_string(self._static)
        self._values: dict[str, dict[tuple, float]] = {}
        self._hists: dict[str, dict[tuple, _Hist]] = {}
        self._models: set[tuple[str, str]] = set()
        self._prefix_cache: dict[tuple[str, str], tuple] = {}

    # --- adapter API -----------------------------------------------------
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
        exemplar: tuple[dict[str, str], float, float | None] | None = None,
        **labels: str,
    ) -> None:
        """Add a histogram. ``buckets`` are (upper bound, cumulative count) in base units.

        Pass no buckets for servers that report only totals: the series then has a
        single ``+Inf`` bucket, so the mean stays exact and no quantile is invented.
        ``exemplar`` (labels, value, unix time) is attached, in OpenMetrics only, to
        the lowest bucket that holds the value.
        """
        metric = schema.get(name)
        if metric.type != schema.HISTOGRAM:
            raise TypeError(f"{name} is a {metric.type}, not a histogram")
        key = self._key(metric, model, version, labels)
        h = self._hists.setdefault(name, {}).get(key)
        if h is None:
            h = _Hist()
            self._hists[name][key] = h
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

    # --- internals ---------------------------------------------------------
    def _key(self, metric: schema.Metric, model: str, version: str, labels: dict[str, str]) -> tuple:
        if not metric.identity:
            # Metrics without the identity labels may declare their own model/version labels.
            if version and "version" in metric.labels:
                labels = {**labels, "version": version}
            if model and "model" in metric.labels:
                labels = {**labels, "model": model}
            model = version = ""
        version = normalize_version(version)
        if model:
            self._models.add((model, version))
        if labels:
            for k in labels:
                if k not in metric.labels:
                    raise KeyError(f"label {k!r} is not defined for {metric.name}")
            extra = tuple((k, str(labels[k])) for k in metric.labels if k in labels)
        else:
            extra = ()
        return (model, version, extra)

    def _add(self, name: str, type_: str, value: float, model: str, version: str, labels) -> None:
        metric = schema.get(name)
        if metric.type != type_ and not (type_ == schema.GAUGE and metric.type == schema.INFO):
            raise TypeError(f"{name} is a {metric.type}, not a {type_}")
        if value is None or value != value:
            return  # never serve a NaN a server produced for "no data"
        key = self._key(metric, model, version, labels)
        series = self._values.setdefault(name, {})
        series[key] = series.get(key, 0.0) + value

    def _labels(self, metric: schema.Metric, key: tuple) -> str:
        ck = (metric.name, key)
        found = self._cache.get(ck)
        if found is None:
            if len(self._cache) >= LABEL_CACHE_LIMIT:
                self._cache.clear()
            found = self._cache[ck] = self._render_labels(metric, key)
        return found

    def _render_labels(self, metric: schema.Metric, key: tuple) -> str:
        model, version, extra = key
        parts = []
        if metric.identity:
            pk = (model, version)
            prefix = self._prefix_cache.get(pk)
            if prefix is None:
                prefix = label_string(self._identity + (("model", model), ("version", version)))
                self._prefix_cache[pk] = prefix
            if prefix:
                parts.append(prefix)
        else:
            ident = label_string(self._identity)
            if ident:
                parts.append(ident)
        if extra:
            parts.append(label_string(extra))
        if self._static_str:
            parts.append(self._static_str)
        return ",".join(parts)

    def _bucket_prefixes(self, name: str, key: tuple) -> dict[float, str]:
        ck = (name, key, "le")
        found = self._cache.get(ck)
        if found is None:
            found = self._cache[ck] = {}
        return found

    def hold_counters(self, floor: dict[tuple, float]) -> None:
        """Never serve a counter below what was served before for the same series.

        Native counters are already kept monotonic by the parser's reset tracker, but a
        unified counter an adapter derives by subtraction (KServe failures = predictions
        minus postprocessed) can dip while a request is in flight; Prometheus would read
        the dip as a reset and ``rate()`` would spike. ``floor`` persists across
        collections of one target and is updated in place.
        """
        seen: dict[tuple, float] = {}
        for name, values in self._values.items():
            if schema.get(name).type != schema.COUNTER:
                continue
            for key, value in values.items():
                fkey = (name, key)
                held = max(value, floor.get(fkey, value))
                values[key] = held
                seen[fkey] = held
        floor.clear()
        floor.update(seen)

    def finish(self) -> Rendered:
        for model, version in sorted(self._models):
            self._values.setdefault("inference_model_info", {})[(model, version, ())] = 1.0
        chunks: dict[str, str] = {}
        series = 0
        for name, values in self._values.items():
            metric = schema.get(name)
            lines = []
            for key, value in values.items():
                lbl = self._labels(metric, key)
                lbl_part = "{" + lbl + "}" if lbl else ""
                lines.append(f"{name}{lbl_part} {format_value(value)}\n")
            series += len(lines)
            chunks[name] = "".join(lines)
        om_chunks: dict[str, str] = {}
        for name, hists in self._hists.items():
            metric = schema.get(name)
            lines = []
            om_lines: list[str] | None = None
            for key, h in hists.items():
                lbl = self._labels(metric, key)
                sep = "," if lbl else ""
                if INF not in h.buckets:
                    h.buckets[INF] = h.count
                exemplar_le = None
                if h.exemplar is not None:
                    if om_lines is None:
                        om_lines = list(lines)
                    exemplar_le = min(le for le in h.buckets if h.exemplar[1] <= le)
                prefixes = self._bucket_prefixes(name, key)
                for le in sorted(h.buckets):
                    prefix = prefixes.get(le)
                    if prefix is None:
                        prefix = prefixes[le] = f'{name}_bucket{{{lbl}{sep}le="{format_le(le)}"}} '
                    line = prefix + format_value(h.buckets[le])
                    lines.append(line + "\n")
                    if om_lines is not None:
                        om_lines.append(
                            line + (exemplar_suffix(*h.exemplar) if le == exemplar_le else "") + "\n"
                        )
                lbl_part = "{" + lbl + "}" if lbl else ""
                tail = (
                    f"{name}_sum{lbl_part} {format_value(h.sum)}\n"
                    f"{name}_count{lbl_part} {format_value(h.count)}\n"
                )
                lines.append(tail)
                if om_lines is not None:
                    om_lines.append(tail)
                series += len(h.buckets) + 2
            chunks[name] = "".join(lines)
            if om_lines is not None:
                om_chunks[name] = "".join(om_lines)
        return Rendered(chunks, series, set(self._models), om_chunks)
