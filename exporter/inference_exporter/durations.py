"""The one duration grammar of the project: Prometheus' (``1h30m``, ``500ms``, ``7d``, ``1w``).

Units, largest first, each at most once: ``y`` (365 days), ``w``, ``d``, ``h``, ``m``,
``s``, ``ms``. Numbers may have a fraction (``1.5s``, as Go's time.ParseDuration allows);
Prometheus itself writes whole numbers, which :func:`format_duration` produces. The config,
the event filters, the backtest, the rule-pack generator and the demo's time compression
all read durations through here, so ``1h30m`` means the same thing everywhere.
"""

from __future__ import annotations

import math
import re

UNITS = {"y": 31536000.0, "w": 604800.0, "d": 86400.0, "h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
_NUMBER = r"(\d+(?:\.\d+)?)"
_DURATION_RE = re.compile("".join(f"(?:{_NUMBER}{unit}{'(?!s)' if unit == 'm' else ''})?" for unit in UNITS))
# Anywhere in a text (PromQL range selectors, offsets): whole-number parts only, as PromQL writes them.
DURATION_PATTERN = r"(?:\d+(?:ms|[smhdwy]))+"
MAX_SECONDS = 100 * UNITS["y"]  # longer is a typo; it would overflow timers too


def parse_duration(text: str) -> float:
    """Seconds in ``text``; ValueError for anything else (empty, no unit, out of order, > 100y)."""
    if not isinstance(text, str):
        raise ValueError(f"not a duration: {text!r}")
    m = _DURATION_RE.fullmatch(text.strip())
    if not text.strip() or m is None or not any(m.groups()):
        raise ValueError(f"not a duration: {text!r}")
    total = sum(float(n) * UNITS[unit] for n, unit in zip(m.groups(), UNITS, strict=True) if n)
    if not math.isfinite(total) or total > MAX_SECONDS:
        raise ValueError(f"duration out of range: {text!r}")
    return total


def format_duration(seconds: float) -> str:
    """The shortest Prometheus spelling of a whole number of milliseconds: 5400 -> '1h30m'."""
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"cannot format {seconds!r} as a duration")
    ms = round(seconds * 1000)
    if ms == 0:
        return "0s"
    parts = []
    for unit in ("w", "d", "h", "m", "s", "ms"):
        size = round(UNITS[unit] * 1000)
        count, ms = divmod(ms, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)
