"""Reading native families: histograms, summaries and counters, with their units.

Units are converted here (``MICROSECONDS``, ``MILLISECONDS``) so a server module states
the native unit once and never does arithmetic on values itself.
"""

from __future__ import annotations

from collections.abc import Iterator

from ..parser import Exposition

SECONDS = 1.0
MILLISECONDS = 1e-3
MICROSECONDS = 1e-6
NANOSECONDS = 1e-9

LabelKey = tuple[tuple[str, str], ...]


def scaled(value: float, scale: float) -> float:
    """value * scale, computed as a division for sub-unit scales so 25000 us is exactly 0.025 s."""
    if scale < 1:
        divisor = _DIVISORS.get(scale)
        if divisor is None:
            divisor = _DIVISORS[scale] = round(1 / scale)
        return value / divisor
    return value * scale


_DIVISORS: dict[float, int] = {}


def _key(labels: dict[str, str], drop: str = "") -> LabelKey:
    # The parser hands out label sets sorted by name, so the items are in order already.
    if drop in labels:
        return tuple([kv for kv in labels.items() if kv[0] != drop])
    return tuple(labels.items())


def histograms(
    exp: Exposition, name: str, scale: float = SECONDS
) -> Iterator[tuple[dict, list, float, float]]:
    """Yield (labels, [(le, cumulative count)], sum, count) per native histogram series.

    Bucket bounds and the sum are multiplied by ``scale`` to reach base units.
    """
    groups: dict[LabelKey, list[tuple[float, float]]] = {}
    for labels, value in exp.get(name + "_bucket"):
        le = labels.get("le")
        if le is None:
            continue
        try:
            bound = float(le)
        except ValueError:
            continue
        groups.setdefault(_key(labels, "le"), []).append(
            (scaled(bound, scale) if bound != float("inf") else bound, value)
        )
    sums = {_key(lbl): v for lbl, v in exp.get(name + "_sum")}
    counts = {_key(lbl): v for lbl, v in exp.get(name + "_count")}
    for key, buckets in groups.items():
        count = counts.get(key)
        if count is None:
            inf = [c for b, c in buckets if b == float("inf")]
            count = inf[0] if inf else max(c for _, c in buckets)
        yield dict(key), buckets, scaled(sums.get(key, 0.0), scale), count


def summaries(exp: Exposition, name: str, scale: float = SECONDS) -> Iterator[tuple[dict, float, float]]:
    """Yield (labels, sum, count) for a summary (or any ``_sum``/``_count`` pair)."""
    sums = {_key(lbl): v for lbl, v in exp.get(name + "_sum")}
    for labels, count in exp.get(name + "_count"):
        key = _key(labels)
        if key in sums:
            yield labels, scaled(sums[key], scale), count


def detect_any(exp: Exposition, *names: str) -> bool:
    """True when any of the names occurs as a sample or a declared family."""
    for n in names:
        if exp.has(n) or n in exp.types or n + "_bucket" in exp.samples or n + "_count" in exp.samples:
            return True
    return False
