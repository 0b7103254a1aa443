"""Joins the prepared sample lines of every source into the served exposition.

The text format (0.0.4) and OpenMetrics 1.0 differ only in their headers (OpenMetrics
names counter and info families without ``_total``/``_info``) and the final ``# EOF``,
so one set of sample lines serves both. Gzip is computed lazily, once per rendering.
"""

from __future__ import annotations

import threading
import zlib
from collections.abc import Iterable, Iterator

from prometheus_client import CollectorRegistry, ProcessCollector
from prometheus_client import exposition as pc_exposition
from prometheus_client.openmetrics import exposition as om_exposition

from . import schema
from .builder import Rendered

TEXT_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
OPENMETRICS_CONTENT_TYPE = "application/openmetrics-text; version=1.0.0; charset=utf-8"


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


class Rendering:
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

    def body(self, openmetrics: bool, gzipped: bool) -> bytes:
        with self._lock:
            if not gzipped:
                return self._encoded(openmetrics)
            return self._gzipped(openmetrics)

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


class ProcessMetrics:
    """The exporter's own process_* series, rendered with prometheus_client."""

    def __init__(self) -> None:
        self._registry = CollectorRegistry(auto_describe=False)
        ProcessCollector(registry=self._registry)

    def render(self) -> tuple[str, str]:
        text = pc_exposition.generate_latest(self._registry).decode()
        om = om_exposition.generate_latest(self._registry).decode()
        if om.endswith("# EOF\n"):
            om = om[: -len("# EOF\n")]
        return text, om


def render(
    sources: Iterable[dict[str, str] | Rendered], extra: tuple[str, str] = ("", ""), created: float = 0.0
) -> Rendering:
    """Merge per-source chunks (metric name -> sample lines) in schema order.

    A source is a dict of chunks, or a :class:`Rendered` whose ``om_chunks`` replace
    some of its chunks in the OpenMetrics rendering (exemplars).
    """
    by_metric: dict[str, list[str]] = {}
    om_by_metric: dict[str, list[str]] = {}
    for source in sources:
        chunks, om_chunks = (
            (source.chunks, source.om_chunks) if isinstance(source, Rendered) else (source, {})
        )
        for name, lines in chunks.items():
            if lines:
                by_metric.setdefault(name, []).append(lines)
                om_by_metric.setdefault(name, []).append(om_chunks.get(name, lines))
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
    return Rendering(text_parts, om_parts, created)


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
