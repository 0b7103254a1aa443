"""The only place that turns snapshots into exposition text.

Each source has a :class:`SourceRenderer` that renders its snapshots into sample lines,
keeping the label strings it built across collections (the same series recur every
time). The lines are the same in the text format (0.0.4) and OpenMetrics 1.0 but for
exemplars, so one set serves both; the formats differ only in their headers (OpenMetrics
names counter and info families without ``_total``/``_info``) and the final ``# EOF``.
:func:`assemble` joins the sources' lines in schema order into a :class:`Page`, which
encodes and gzips each format on first use.
"""

from __future__ import annotations

import threading
import zlib
from collections.abc import Iterable, Iterator

from . import schema
from .snapshot import Exemplar, SeriesKey, Snapshot

TEXT_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
OPENMETRICS_CONTENT_TYPE = "application/openmetrics-text; version=1.0.0; charset=utf-8"
INF = float("inf")
LABEL_CACHE_LIMIT = 50000
MODEL_INFO = "inference_model_info"


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


def exemplar_suffix(exemplar: Exemplar) -> str:
    """OpenMetrics exemplar: `` # {trace_id="abc"} 0.67 1700000000.123``."""
    labels, value, ts = exemplar
    suffix = f" # {{{label_string(labels.items())}}} {format_value(value)}"
    return suffix + (f" {ts:.3f}" if ts is not None else "")


def _escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def _headers(metric: schema.Metric) -> tuple[str, str]:
    help_ = _escape_help(metric.help)
    text_type = "gauge" if metric.type == schema.INFO else metric.type
    text = f"# HELP {metric.name} {help_}\n# TYPE {metric.name} {text_type}\n"
    om = f"# HELP {metric.family} {help_}\n# TYPE {metric.family} {metric.type}\n"
    if metric.unit in ("seconds", "bytes") and metric.family.endswith("_" + metric.unit):
        om += f"# UNIT {metric.family} {metric.unit}\n"
    return text, om


_HEADERS = {m.name: _headers(m) for m in schema.ALL}


class RenderedSource:
    """The sample lines of one snapshot, keyed by schema metric name.

    ``om_chunks`` holds the OpenMetrics lines of the few metrics whose lines differ between
    the formats (histograms with exemplars). ``models`` holds the source's model info lines
    as (series without its version, version, line), so :func:`assemble` can serve each
    model once across the sources that saw it (a target's metrics and its health probes).
    """

    __slots__ = ("chunks", "om_chunks", "series", "models")

    def __init__(
        self,
        chunks: dict[str, str],
        series: int,
        om_chunks: dict[str, str] | None = None,
        models: list[tuple[tuple, str, str]] | None = None,
    ):
        self.chunks = chunks
        self.series = series
        self.om_chunks = om_chunks or {}
        self.models = models or []


class SourceRenderer:
    """Renders one source's snapshots; label strings are kept from one collection to the next."""

    def __init__(self, cache_limit: int = LABEL_CACHE_LIMIT) -> None:
        self._cache: dict = {}
        self._prefixes: dict[tuple[str, str], str] = {}
        self._labels_of: tuple = ()  # the identity and static labels the caches were built for
        self._limit = cache_limit

    def render(self, snap: Snapshot) -> RenderedSource:
        if (snap.identity, snap.static) != self._labels_of:
            self._cache, self._prefixes = {}, {}
            self._labels_of = (snap.identity, snap.static)
        static = label_string(snap.static)
        chunks: dict[str, str] = {}
        series = 0
        for name, values in snap.values.items():
            metric = schema.get(name)
            lines = []
            for key, value in values.items():
                lbl = self._labels(metric, key, snap, static)
                lbl_part = "{" + lbl + "}" if lbl else ""
                lines.append(f"{name}{lbl_part} {format_value(value)}\n")
            series += len(lines)
            chunks[name] = "".join(lines)
        om_chunks: dict[str, str] = {}
        for name, hists in snap.histograms.items():
            metric = schema.get(name)
            lines = []
            om_lines: list[str] | None = None
            for key, h in hists.items():
                lbl = self._labels(metric, key, snap, static)
                sep = "," if lbl else ""
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
                            line + (exemplar_suffix(h.exemplar) if le == exemplar_le else "") + "\n"
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
        info = schema.get(MODEL_INFO)
        models = []
        for model, version in sorted(snap.models):
            lbl = self._labels(info, (model, version, ()), snap, static)
            models.append(((snap.identity, snap.static, model), version, f"{MODEL_INFO}{{{lbl}}} 1\n"))
        return RenderedSource(chunks, series + len(models), om_chunks, models)

    def _labels(self, metric: schema.Metric, key: SeriesKey, snap: Snapshot, static: str) -> str:
        ck = (metric.name, key)
        found = self._cache.get(ck)
        if found is None:
            if len(self._cache) >= self._limit:
                self._cache.clear()
            found = self._cache[ck] = self._render_labels(metric, key, snap, static)
        return found

    def _render_labels(self, metric: schema.Metric, key: SeriesKey, snap: Snapshot, static: str) -> str:
        model, version, extra = key
        parts = []
        if metric.identity:
            prefix = self._prefixes.get((model, version))
            if prefix is None:
                prefix = label_string(snap.identity + (("model", model), ("version", version)))
                self._prefixes[(model, version)] = prefix
            if prefix:
                parts.append(prefix)
        else:
            ident = label_string(snap.identity)
            if ident:
                parts.append(ident)
        if extra:
            parts.append(label_string(extra))
        if static:
            parts.append(static)
        return ",".join(parts)

    def _bucket_prefixes(self, name: str, key: SeriesKey) -> dict[float, str]:
        ck = (name, key, "le")
        found = self._cache.get(ck)
        if found is None:
            found = self._cache[ck] = {}
        return found


def _unique_model_info(sources: Iterable[RenderedSource]) -> str:
    """Each model info series once; a version-less one is dropped where a source named the version
    (MLServer's metrics say version="None" while its model API names it)."""
    lines: dict[str, None] = {}
    versioned: set[tuple] = set()
    entries = []
    for source in sources:
        for series, version, line in source.models:
            entries.append((series, version, line))
            if version:
                versioned.add(series)
    for series, version, line in entries:
        if version or series not in versioned:
            lines.setdefault(line, None)
    return "".join(lines)


class Page:
    """One prepared exposition. Each format is joined and encoded on first use, so a
    Prometheus that only asks for OpenMetrics never makes the exporter hold the text
    format too; gzip variants are made on first use as well."""

    __slots__ = ("_parts", "_raw", "_gz", "_lengths", "_lock", "created")

    def __init__(self, text_parts: list[str], om_parts: list[str], created: float):
        self._parts = {False: text_parts, True: om_parts}
        self._raw: dict[bool, bytes] = {}
        self._gz: dict[bool, bytes] = {}
        self._lengths: dict[bool, int] = {}
        self._lock = threading.Lock()
        self.created = created

    def _encoded(self, openmetrics: bool) -> bytes:
        raw = self._raw.get(openmetrics)
        if raw is None:
            raw = "".join(self._parts[openmetrics]).encode()
            self._raw[openmetrics] = raw
        return raw

    @property
    def text(self) -> bytes:
        with self._lock:
            return self._encoded(False)

    @property
    def openmetrics(self) -> bytes:
        with self._lock:
            return self._encoded(True)

    def _gzipped(self, openmetrics: bool) -> bytes:
        gz = self._gz.get(openmetrics)
        if gz is None:
            # Compressed part by part: the uncompressed page is never held whole.
            comp = zlib.compressobj(5, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
            pieces = [comp.compress(part.encode()) for part in self._parts[openmetrics]]
            pieces.append(comp.flush())
            gz = self._gz[openmetrics] = b"".join(pieces)
        return gz

    def payload(self, openmetrics: bool, gzipped: bool) -> tuple[int, Iterator[bytes]]:
        """(Content-Length, body pieces) for a response.

        An uncompressed page is encoded piece by piece while it is written, so fifty
        targets' worth of text is not copied into one more buffer per format.
        """
        with self._lock:
            if gzipped:
                gz = self._gzipped(openmetrics)
                return len(gz), iter((gz,))
            raw = self._raw.get(openmetrics)
            if raw is not None:
                return len(raw), iter((raw,))
            parts = self._parts[openmetrics]
            length = self._lengths.get(openmetrics)
            if length is None:
                length = sum(len(p) if p.isascii() else len(p.encode()) for p in parts)
                self._lengths[openmetrics] = length
        return length, _pieces(parts)


def _pieces(parts: list[str], size: int = 64 * 1024) -> Iterator[bytes]:
    """Encode parts into pieces of about ``size`` bytes (few, full TCP writes)."""
    batch: list[str] = []
    pending = 0
    for part in parts:
        batch.append(part)
        pending += len(part)
        if pending >= size:
            yield "".join(batch).encode()
            batch, pending = [], 0
    if batch:
        yield "".join(batch).encode()


def assemble(sources: list[RenderedSource], extra: tuple[str, str] = ("", ""), created: float = 0.0) -> Page:
    """Join the sources' lines in schema order; ``extra`` (text, OpenMetrics) goes last."""
    by_metric: dict[str, list[str]] = {}
    om_by_metric: dict[str, list[str]] = {}
    for source in sources:
        for name, lines in source.chunks.items():
            if lines:
                by_metric.setdefault(name, []).append(lines)
                om_by_metric.setdefault(name, []).append(source.om_chunks.get(name, lines))
    info = _unique_model_info(sources)
    if info:
        by_metric[MODEL_INFO] = om_by_metric[MODEL_INFO] = [info]
    text_parts: list[str] = []
    om_parts: list[str] = []
    for metric in schema.ALL:
        parts = by_metric.get(metric.name)
        if not parts:
            continue
        text_head, om_head = _HEADERS[metric.name]
        text_parts.append(text_head)
        text_parts.extend(parts)
        om_parts.append(om_head)
        om_parts.extend(om_by_metric[metric.name])
    text_parts.append(extra[0])
    om_parts.append(extra[1])
    om_parts.append("# EOF\n")
    return Page(text_parts, om_parts, created)


def render_snapshots(snapshots: Iterable[Snapshot], created: float = 0.0) -> Page:
    """A page from snapshots rendered once (the probe command, tests)."""
    return assemble([SourceRenderer().render(s) for s in snapshots], created=created)


def negotiate(accept: str, accept_encoding: str) -> tuple[bool, bool]:
    """(openmetrics, gzip) for a request's Accept and Accept-Encoding headers."""
    openmetrics = False
    for part in accept.split(","):
        media = part.split(";")[0].strip()
        if media == "application/openmetrics-text":
            params = dict(p.strip().split("=", 1) for p in part.split(";")[1:] if "=" in p)
            if params.get("q", "1") not in ("0", "0.0", "0.00", "0.000"):
                openmetrics = True
                break
    gz = any(e.split(";")[0].strip() == "gzip" for e in accept_encoding.split(","))
    return openmetrics, gz
