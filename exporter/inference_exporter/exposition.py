"""Joins the prepared sample lines of every source into the served exposition.

The text format (0.0.4) and OpenMetrics 1.0 differ only in their headers (OpenMetrics
names counter and info families without ``_total``/``_info``) and the final ``# EOF``,
so one set of sample lines serves both. Gzip is computed lazily, once per rendering.
"""

from __future__ import annotations

import os
import threading
import zlib
from collections.abc import Iterable, Iterator

from . import schema
from .builder import Rendered, format_value

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
    """The exporter's own ``process_*`` series, with the names and help texts of
    prometheus_client's ProcessCollector (what dashboards expect of any exporter).

    Read from /proc/self directly: importing prometheus_client's exposition stack only
    for these six series cost the exporter more memory than all of them are worth.
    Off Linux, only what the standard library knows (CPU time, fd limit) is served.
    """

    _SERIES = (
        ("process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes."),
        ("process_resident_memory_bytes", "gauge", "Resident memory size in bytes."),
        ("process_start_time_seconds", "gauge", "Start time of the process since unix epoch in seconds."),
        ("process_cpu_seconds_total", "counter", "Total user and system CPU time spent in seconds."),
        ("process_open_fds", "gauge", "Number of open file descriptors."),
        ("process_max_fds", "gauge", "Maximum number of open file descriptors."),
    )

    def __init__(self, proc_self: str = "/proc/self") -> None:
        self._proc = proc_self
        self._page = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
        self._ticks = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
        self._start = self._start_time()

    def _start_time(self) -> float | None:
        try:
            with open(f"{self._proc}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
            with open("/proc/stat") as fh:
                btime = next(int(line.split()[1]) for line in fh if line.startswith("btime"))
            return btime + int(fields[19]) / self._ticks
        except (OSError, ValueError, IndexError, StopIteration):
            return None

    def values(self) -> dict[str, float]:
        times = os.times()
        out = {"process_cpu_seconds_total": times.user + times.system}
        try:
            with open(f"{self._proc}/statm") as fh:
                size, resident = fh.read().split()[:2]
            out["process_virtual_memory_bytes"] = int(size) * self._page
            out["process_resident_memory_bytes"] = int(resident) * self._page
        except (OSError, ValueError):
            pass
        if self._start is not None:
            out["process_start_time_seconds"] = self._start
        try:
            out["process_open_fds"] = len(os.listdir(f"{self._proc}/fd"))
        except OSError:
            pass
        try:
            import resource

            out["process_max_fds"] = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        except (ImportError, OSError, ValueError):
            pass
        return out

    def render(self) -> tuple[str, str]:
        values = self.values()
        text, om = [], []
        for name, kind, help_ in self._SERIES:
            if name not in values:
                continue
            line = f"{name} {format_value(float(values[name]))}\n"
            family = name[: -len("_total")] if kind == "counter" else name
            text.append(f"# HELP {name} {help_}\n# TYPE {name} {kind}\n{line}")
            om.append(f"# HELP {family} {help_}\n# TYPE {family} {kind}\n{line}")
        return "".join(text), "".join(om)


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
