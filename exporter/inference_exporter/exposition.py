"""The only place that turns snapshots into exposition text.

Each source has a :class:`SourceRenderer` that renders its snapshots into sample lines,
keeping the label strings it built across collections (the same series recur every
time), and compresses each metric's lines into a piece of its own (``deflate.py``). The
lines are the same in the text format (0.0.4) and OpenMetrics 1.0 but for exemplars, so
one set serves both; the formats differ only in their headers (OpenMetrics names counter
and info families without ``_total``/``_info``) and the final ``# EOF``. :func:`assemble`
orders the sources' pieces by metric into a :class:`Page`, whose gzip body is the pieces
joined: a new page costs a join, whatever its size, and nothing is compressed twice.
"""

from __future__ import annotations

import functools
import os
import threading
import zlib
from collections.abc import Iterable, Iterator

from . import deflate, schema
from .snapshot import Exemplar, SeriesKey, Snapshot

TEXT_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
OPENMETRICS_CONTENT_TYPE = "application/openmetrics-text; version=1.0.0; charset=utf-8"
INF = float("inf")
MODEL_INFO = "inference_model_info"


def format_value_python(v: float) -> str:
    """A sample value as text (the reference; ``_fastformat.pyx`` is the same in C)."""
    if -1e15 < v < 1e15:  # finite, not NaN: the common case first
        i = int(v)
        return str(i) if i == v else repr(v)
    if v != v:
        return "NaN"
    if v == INF:
        return "+Inf"
    if v == -INF:
        return "-Inf"
    return repr(v)


format_value = format_value_python
if os.environ.get("INFERENCE_EXPORTER_PARSER", "") != "python":  # the compiled parts, or none
    try:
        from . import _fastformat
    except ImportError:
        pass
    else:
        _fastformat.set_fallback(format_value_python)
        format_value = _fastformat.format_value


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
    """The sample lines of one snapshot, keyed by schema metric name, as compressed pieces.

    ``pieces`` holds each metric's lines (``deflate.Piece``: compressed once, when the source is
    collected; a page joins them without compressing anything again). ``om_pieces`` holds the
    OpenMetrics lines of the few metrics whose lines differ between the formats (histograms
    with exemplars). ``models`` holds the source's model info lines as (series without its
    version, version, line), so :func:`assemble` can serve each model once across the sources
    that saw it (a target's metrics and its health probes).
    """

    __slots__ = ("pieces", "om_pieces", "series", "models")

    def __init__(
        self,
        pieces: dict[str, deflate.Piece],
        series: int,
        om_pieces: dict[str, deflate.Piece] | None = None,
        models: list[tuple[tuple, str, str]] | None = None,
    ):
        self.pieces = pieces
        self.series = series
        self.om_pieces = om_pieces or {}
        self.models = models or []

    @property
    def text(self) -> str:
        """The lines (for tests and benchmarks; the page never decompresses a source)."""
        return "".join(_text(p) for p in self.pieces.values()) + "".join(m[2] for m in self.models)


def _text(piece: deflate.Piece) -> str:
    return zlib.decompressobj(-zlib.MAX_WBITS).decompress(piece[0]).decode() if piece[2] else ""


_LE: dict[float, str] = {}  # bucket bound -> its le label text, shared by every source


def _le(le: float) -> str:
    found = _LE.get(le)
    if found is None:
        found = f'le="{format_le(le)}"'
        if len(_LE) < 10_000:
            _LE[le] = found
    return found


class SourceRenderer:
    """Renders one source's snapshots; label strings are kept from one collection to the next (the
    same series recur every time), and dropped when the series they were made for went away."""

    def __init__(self) -> None:
        self._cache: dict = {}
        self._labels_of: tuple = ()  # the identity and static labels the cache was built for
        self._keys = 0  # series keys the last rendering used

    def render(self, snap: Snapshot) -> RenderedSource:
        if (snap.identity, snap.static) != self._labels_of or len(self._cache) > 2 * self._keys + 1024:
            self._cache = {}  # new labels, or many series gone: start over
            self._labels_of = (snap.identity, snap.static)
        self._keys = 0
        static = label_string(snap.static)
        compressor = deflate.Compressor()
        pieces: dict[str, deflate.Piece] = {}
        series = 0
        cache = self._cache
        for name, values in snap.values.items():
            metric = schema.get(name)
            lines = []
            for key, value in values.items():
                lbl = cache.get((name, key)) or self._labels(metric, key, snap, static)
                lbl_part = "{" + lbl + "}" if lbl else ""
                lines.append(f"{name}{lbl_part} {format_value(value)}\n")
            series += len(lines)
            self._keys += len(lines)
            pieces[name] = compressor.lines(lines)
        om_pieces: dict[str, deflate.Piece] = {}
        for name, hists in snap.histograms.items():
            metric = schema.get(name)
            lines = []
            om_lines: list[str] | None = None
            bucket = name + "_bucket{"
            self._keys += len(hists)
            for key, h in hists.items():
                lbl = cache.get((name, key)) or self._labels(metric, key, snap, static)
                head = bucket + lbl + "," if lbl else bucket
                buckets = h.buckets
                if h.exemplar is None and om_lines is None:
                    for le in sorted(buckets) if len(buckets) > 1 else buckets:
                        lines.append(f"{head}{_LE.get(le) or _le(le)}}} {format_value(buckets[le])}\n")
                else:
                    if om_lines is None:
                        om_lines = list(lines)
                    exemplar_le = None
                    if h.exemplar is not None:
                        exemplar_le = min(le for le in buckets if h.exemplar[1] <= le)
                    for le in sorted(buckets):
                        line = f"{head}{_le(le)}}} {format_value(buckets[le])}"
                        lines.append(line + "\n")
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
            pieces[name] = compressor.lines(lines)
            if om_lines is not None:
                om_pieces[name] = compressor.lines(om_lines)
        info = schema.get(MODEL_INFO)
        models = []
        for model, version in sorted(snap.models):
            lbl = self._labels(info, (model, version, ()), snap, static)
            self._keys += 1
            models.append(((snap.identity, snap.static, model), version, f"{MODEL_INFO}{{{lbl}}} 1\n"))
        return RenderedSource(pieces, series + len(models), om_pieces, models)

    def _labels(self, metric: schema.Metric, key: SeriesKey, snap: Snapshot, static: str) -> str:
        ck = (metric.name, key)
        found = self._cache.get(ck)
        if found is None:
            found = self._cache[ck] = self._render_labels(metric, key, snap, static)
        return found

    def _render_labels(self, metric: schema.Metric, key: SeriesKey, snap: Snapshot, static: str) -> str:
        model, version, extra = key
        parts = []
        if metric.identity:
            prefix = label_string(snap.identity + (("model", model), ("version", version)))
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


# Up to this size a format's uncompressed text is kept joined once asked for (a sidecar's page is
# about 80 KB): an uncompressed scrape then copies bytes instead of inflating the gzip body. A
# fleet page, megabytes, is inflated while it is written instead, so it is never held twice.
PLAIN_LIMIT = 4 * 1024 * 1024


class Page:
    """One prepared exposition: each format's pieces in page order. The gzip body of a format is
    joined from the pieces (nothing is compressed again) by :meth:`prepare`, which the render
    thread calls for the formats scrapers asked for, so a scrape finds its body ready; the
    uncompressed text is inflated from it, and kept when small."""

    __slots__ = ("_pieces", "_gz", "_plain", "_lock", "created", "asked")

    def __init__(self, text_pieces: list[deflate.Piece], om_pieces: list[deflate.Piece], created: float):
        self._pieces = {False: text_pieces, True: om_pieces}
        self._gz: dict[bool, tuple[bytes, int]] = {}
        self._plain: dict[bool, bytes] = {}
        self._lock = threading.Lock()
        self.created = created
        # (openmetrics, gzipped) of the scrapes so far, so the next page prepares them at once
        self.asked: set[tuple[bool, bool]] = set()

    def prepare(self, openmetrics: bool, gzipped: bool = True) -> tuple[bytes, int]:
        """(gzip body, length of its text) of a format, joined once; with ``gzipped`` false,
        its text is joined too where it is small enough to keep."""
        with self._lock:
            found = self._gz.get(openmetrics)
            if found is None:
                found = self._gz[openmetrics] = deflate.gzip_body(self._pieces[openmetrics])
            if not gzipped and openmetrics not in self._plain and found[1] <= PLAIN_LIMIT:
                self._plain[openmetrics] = b"".join(deflate.inflate(found[0]))
            return found

    @property
    def text(self) -> bytes:
        return b"".join(deflate.inflate(self.prepare(False)[0]))

    @property
    def openmetrics(self) -> bytes:
        return b"".join(deflate.inflate(self.prepare(True)[0]))

    def payload(self, openmetrics: bool, gzipped: bool) -> tuple[int, Iterator[bytes]]:
        """(Content-Length, body pieces) for a response."""
        self.asked.add((openmetrics, gzipped))
        gz, size = self.prepare(openmetrics, gzipped)
        if gzipped:
            return len(gz), iter((gz,))
        plain = self._plain.get(openmetrics)
        return size, iter((plain,)) if plain is not None else deflate.inflate(gz)


@functools.cache
def _header_pieces() -> dict[str, tuple[deflate.Piece, deflate.Piece]]:
    """Each metric's headers (text, OpenMetrics), compressed once, on the first page."""
    compressor = deflate.Compressor()
    return {name: (compressor.piece(text), compressor.piece(om)) for name, (text, om) in _HEADERS.items()}


_EOF = deflate.piece("# EOF\n")


def assemble(sources: list[RenderedSource], extra: tuple[str, str] = ("", ""), created: float = 0.0) -> Page:
    """Join the sources' pieces in schema order; ``extra`` (text, OpenMetrics) goes last."""
    by_metric: dict[str, list[deflate.Piece]] = {}
    om_by_metric: dict[str, list[deflate.Piece]] = {}
    differ: set[str] = set()
    for source in sources:
        for name, piece in source.pieces.items():
            if piece[2]:
                found = by_metric.get(name)
                if found is None:
                    by_metric[name] = [piece]
                else:
                    found.append(piece)
        for name in source.om_pieces:
            differ.add(name)
    for name in differ:  # only these metrics need their own list for OpenMetrics
        om_by_metric[name] = [
            s.om_pieces.get(name, s.pieces[name]) for s in sources if name in s.pieces and s.pieces[name][2]
        ]
    info = _unique_model_info(sources)
    if info:
        by_metric[MODEL_INFO] = [deflate.piece(info)]
    text_pieces: list[deflate.Piece] = []
    om_pieces: list[deflate.Piece] = []
    headers = _header_pieces()
    for metric in schema.ALL:
        pieces = by_metric.get(metric.name)
        if not pieces:
            continue
        text_head, om_head = headers[metric.name]
        text_pieces.append(text_head)
        text_pieces.extend(pieces)
        om_pieces.append(om_head)
        om_pieces.extend(om_by_metric.get(metric.name, pieces))
    text_pieces.append(deflate.piece(extra[0]))
    om_pieces.append(deflate.piece(extra[1]))
    om_pieces.append(_EOF)
    return Page(text_pieces, om_pieces, created)


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
