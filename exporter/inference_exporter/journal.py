"""The event journal: append-only JSON lines in size-rotated segments under one folder.

One line per event::

    {"ts": 1764448262.481, "time": "2026-11-29T20:31:02.481Z", "type": "version_changed",
     "target": "ranker", "model": "ranker", "version": "v2", "severity": "info",
     "details": {"old": "v1", "new": "v2"}}

Guarantees (see docs/health.md):

* Each event is written with a single ``write()`` on an ``O_APPEND`` descriptor, so a
  crash leaves at most the last line torn; opening the journal truncates a torn tail
  back to the last newline, so every event that was fully written stays readable.
* ``fsync="always"`` (the default) calls ``fsync`` after every event: an event the
  exporter has reported is on disk even after a power loss. ``"never"`` leaves it to
  the page cache, which survives a kill -9 of the process but not of the machine.
* Segments (``events-00000001.jsonl``, ...) rotate at ``max_bytes``; only the newest
  ``max_files`` are kept, so the journal never holds more than about
  ``max_bytes * max_files`` bytes.
* Secrets registered with :meth:`Journal.add_secrets` are replaced by ``<redacted>``
  before anything is written: a last line of defence, events never carry them anyway.
* A full disk or a descriptor shortage never corrupts the journal: a rotation opens the
  next segment before closing the current one (a failed open keeps writing to the current
  one), a short write is cut back off the file, and every failure is counted
  (``inference_exporter_journal_errors_total``) and logged at most once a minute. Writing
  resumes by itself once space returns.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import re
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

SEGMENT_RE = re.compile(r"^events-(\d{8})\.jsonl$")
DEFAULT_PATH = "./inference-exporter-journal/"
DEFAULT_MAX_BYTES = 8 * 1024 * 1024
DEFAULT_MAX_FILES = 8
REDACTED = "<redacted>"
ERROR_LOG_INTERVAL = 60.0  # seconds between two log lines about failing writes

log = logging.getLogger("inference_exporter.journal")

INFO, WARNING, CRITICAL = "info", "warning", "critical"

# Every event type the exporter writes, with its severity (pre-created at 0 in inference_events_total).
EVENT_TYPES: dict[str, str] = {
    "target_up": INFO,
    "target_down": CRITICAL,
    "model_loaded": INFO,
    "model_unloaded": WARNING,
    "version_changed": INFO,
    "model_not_ready": WARNING,
    "model_ready": INFO,
    "manifest_mismatch": WARNING,
    "manifest_recovered": INFO,
    "canary_failed": WARNING,
    "canary_recovered": INFO,
    "canary_run": INFO,
    "probe_flapping": WARNING,
    "gpu_xid": CRITICAL,
    "config_reload": INFO,
    "config_reload_failed": WARNING,
}
# Written at every canary run: the record behind the failures, summarised unless asked for.
ROUTINE_TYPES = frozenset({"canary_run"})


def _iso(ts: float) -> str:
    ms = round(ts * 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000)) + f".{ms % 1000:03d}Z"


@dataclass(frozen=True)
class Filter:
    """Which events to read: all of these that are set must hold."""

    since: float = 0.0
    types: frozenset[str] = frozenset()
    model: str = ""
    target: str = ""

    def matches(self, event: dict) -> bool:
        if self.since and event.get("ts", 0) < self.since:
            return False
        if self.types and event.get("type") not in self.types:
            return False
        if self.model and event.get("model") != self.model:
            return False
        return not self.target or event.get("target") == self.target


def segments(path: str | Path) -> list[Path]:
    """The journal's segment files, oldest first."""
    folder = Path(path)
    if not folder.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in folder.iterdir() if (m := SEGMENT_RE.match(p.name))]
    return [p for _, p in sorted(found)]


def _parse_lines(data: bytes) -> Iterator[dict]:
    for line in data.split(b"\n"):
        if not line.strip():
            continue
        try:
            event = json.loads(line)
        except ValueError:
            continue  # a torn line another process is still writing
        if isinstance(event, dict):
            yield event


def _read_segment(seg: Path, flt: Filter) -> list[dict]:
    try:
        data = seg.read_bytes()
    except FileNotFoundError:
        return []  # rotated away while we read
    # An unterminated last line may still be being written: never report half an event.
    complete = data[: data.rfind(b"\n") + 1]
    return [e for e in _parse_lines(complete) if flt.matches(e)]


def read(path: str | Path, flt: Filter = Filter(), limit: int = 0) -> list[dict]:
    """Matching events in the order written; with ``limit``, the newest ``limit`` of them.

    With a limit, segments are read newest first and reading stops once enough events
    are found, so a request for the last few events never loads the whole journal.
    """
    files = segments(path)
    if not limit:
        return [e for seg in files for e in _read_segment(seg, flt)]
    out: list[dict] = []
    for seg in reversed(files):
        out = _read_segment(seg, flt) + out
        if len(out) >= limit:
            break
    return out[-limit:]


def follow(path: str | Path, flt: Filter = Filter(), poll: float = 0.5, stop=None) -> Iterator[dict]:
    """Yield matching events as they are written, starting after the current end."""
    positions: dict[str, int] = {}
    for seg in segments(path):
        positions[seg.name] = seg.stat().st_size
    while stop is None or not stop.is_set():
        for seg in segments(path):
            pos = positions.get(seg.name, 0)
            try:
                with open(seg, "rb") as fh:
                    fh.seek(pos)
                    data = fh.read()
            except FileNotFoundError:
                continue
            end = data.rfind(b"\n") + 1
            if end:
                positions[seg.name] = pos + end
                yield from (e for e in _parse_lines(data[:end]) if flt.matches(e))
        time.sleep(poll)


class Journal:
    """Writes events; thread-safe; counts what it wrote by type for inference_events_total."""

    def __init__(
        self,
        path: str | Path = DEFAULT_PATH,
        max_bytes: int = DEFAULT_MAX_BYTES,
        max_files: int = DEFAULT_MAX_FILES,
        fsync: str = "always",
    ):
        if fsync not in ("always", "never"):
            raise ValueError(f"fsync must be 'always' or 'never', got {fsync!r}")
        self.path = Path(path)
        self.max_bytes = max_bytes
        self.max_files = max(1, max_files)
        self.fsync = fsync == "always"
        self.counts: dict[str, int] = dict.fromkeys(EVENT_TYPES, 0)
        self.errors = 0
        self._failing = False  # the last write failed: the next success is logged
        self._last_error_log = -ERROR_LOG_INTERVAL
        self._unlogged = 0  # failures since the last log line
        self._secrets: set[str] = set()
        self._lock = threading.Lock()
        self.path.mkdir(parents=True, exist_ok=True)
        # One exporter per folder: a second one still works (appends are atomic, rotation
        # tolerates it) but its events mix with ours, so the CLI warns about it.
        self._lock_fd = os.open(self.path / ".lock", os.O_RDWR | os.O_CREAT, 0o640)
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            self.shared = False
        except OSError:
            self.shared = True
        existing = segments(self.path)
        self._seq = int(SEGMENT_RE.match(existing[-1].name).group(1)) if existing else 1
        self.repaired_bytes = self._repair(self._segment(self._seq))
        self._fd = self._open(self._seq)

    # --- files -----------------------------------------------------------------
    def _segment(self, seq: int) -> Path:
        return self.path / f"events-{seq:08d}.jsonl"

    def _open(self, seq: int) -> int:
        fd = os.open(self._segment(seq), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
        if self.fsync:
            self._sync_dir()
        return fd

    def _sync_dir(self) -> None:
        try:
            dfd = os.open(self.path, os.O_RDONLY)
        except OSError:
            return
        try:
            os.fsync(dfd)
        except OSError:
            pass
        finally:
            os.close(dfd)

    @staticmethod
    def _repair(segment: Path) -> int:
        """Truncate a torn last line (a crash mid-write); return the bytes dropped."""
        if not segment.exists():
            return 0
        with open(segment, "rb+") as fh:
            size = fh.seek(0, os.SEEK_END)
            if size == 0:
                return 0
            # Look back in blocks for the last newline; a line is far smaller than a segment.
            pos, block = size, 64 * 1024
            while pos > 0:
                start = max(0, pos - block)
                fh.seek(start)
                chunk = fh.read(pos - start)
                nl = chunk.rfind(b"\n")
                if nl >= 0:
                    keep = start + nl + 1
                    break
                pos = start
            else:
                keep = 0
            if keep < size:
                fh.truncate(keep)
                fh.flush()
                os.fsync(fh.fileno())
            return size - keep

    def _rotate(self) -> None:
        """Start the next segment. Its descriptor is opened before the current one is closed, so
        a failed open (no space, no inodes, no descriptors) leaves the journal on the current
        segment, never on a closed descriptor number that a socket may reuse."""
        fd = self._open(self._seq + 1)
        os.close(self._fd)
        self._seq, self._fd = self._seq + 1, fd
        for old in segments(self.path)[: -self.max_files]:
            try:
                old.unlink()
            except FileNotFoundError:
                pass

    # --- writing -----------------------------------------------------------------
    def add_secrets(self, values: Iterable[str]) -> None:
        """Strings that must never be written (e.g. leaves of secret canary bodies)."""
        with self._lock:
            self._secrets.update(v for v in values if isinstance(v, str) and len(v) >= 4)

    def _scrub(self, line: str) -> str:
        for secret in self._secrets:
            if secret in line:
                line = line.replace(secret, REDACTED)
        return line

    def emit(
        self,
        type_: str,
        target: str = "",
        model: str = "",
        version: str = "",
        severity: str = "",
        ts: float | None = None,
        **details,
    ) -> dict:
        """Write one event and return it; a write error is counted, never raised."""
        ts = round(time.time() if ts is None else ts, 3)
        event = {
            "ts": ts,
            "time": _iso(ts),
            "type": type_,
            "target": target,
            "model": model,
            "version": version,
            "severity": severity or EVENT_TYPES.get(type_, INFO),
            "details": details,
        }
        line = json.dumps(event, separators=(",", ":"), sort_keys=False, default=str)
        with self._lock:
            data = (self._scrub(line) + "\n").encode()
            if self._fd < 0:
                return event
            try:
                size = os.fstat(self._fd).st_size
                if size + len(data) > self.max_bytes and size:
                    try:
                        self._rotate()
                        size = 0
                    except OSError as exc:
                        self._failed("rotation", exc)  # keep writing to the current segment
                self._write(data, size)
                if self.fsync:
                    os.fsync(self._fd)
                self.counts[type_] = self.counts.get(type_, 0) + 1
                if self._failing:
                    self._failing = False
                    log.info("journal writes recovered", extra={"errors_total": self.errors})
            except OSError as exc:
                self._failed("write", exc)
        return event

    def _write(self, data: bytes, size: int) -> None:
        """Append one whole line or nothing: a short write (a full disk) is cut back off."""
        try:
            written = os.write(self._fd, data)
        except OSError:
            written = -1
            raise
        finally:
            if 0 <= written < len(data) or written == -1:
                self._cut(size)
        if written < len(data):
            raise OSError(28, f"short write ({written} of {len(data)} bytes)")

    def _cut(self, size: int) -> None:
        """Truncate back to ``size`` when our own failed write left a partial line there."""
        try:
            if os.fstat(self._fd).st_size > size and not self.shared:
                os.ftruncate(self._fd, size)
        except OSError:
            pass

    def _failed(self, what: str, exc: OSError) -> None:
        self.errors += 1
        self._unlogged += 1
        self._failing = True
        now = time.monotonic()
        if now - self._last_error_log >= ERROR_LOG_INTERVAL:
            self._last_error_log = now
            log.error(
                "journal write failed; events are counted but not kept until this clears",
                extra={"op": what, "err": exc.strerror or str(exc), "failures": self._unlogged},
            )
            self._unlogged = 0

    def read(self, flt: Filter = Filter(), limit: int = 0) -> list[dict]:
        return read(self.path, flt, limit)

    def close(self) -> None:
        with self._lock:
            if self._fd >= 0:
                os.close(self._fd)
                os.close(self._lock_fd)  # releases the folder lock
                self._fd = -1
