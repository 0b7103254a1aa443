"""Reading native families: histograms, summaries and counters, with their units.

Units are converted here (``MICROSECONDS``, ``MILLISECONDS``) so a server module states
the native unit once and never does arithmetic on values itself.
"""

from __future__ import annotations

from collections.abc import Iterator
from operator import itemgetter

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
INF = float("inf")


def _key(labels: dict[str, str]) -> LabelKey:
    """The series' labels as a key. The parser hands out label sets sorted by name (so the items
    are in order already) and keeps the key on them (``parser.Labels``)."""
    try:
        return labels.key  # type: ignore[attr-defined]
    except AttributeError:
        pass
    key = tuple(labels.items())
    try:
        labels.key = key  # type: ignore[attr-defined]
    except AttributeError:
        pass  # a plain dict
    return key


def _bucket(labels: dict[str, str]) -> tuple[LabelKey, float] | None:
    """(the series' labels without ``le``, the bound) of a bucket sample; None when ``le`` is
    missing or not a number. Not kept on the label set: a :class:`_BucketPlan` holds the result
    while the page's series stay, and one tuple per bucket would cost 20 KB a vLLM target."""
    le = labels.get("le")
    if le is None:
        return None
    try:
        return tuple([kv for kv in labels.items() if kv[0] != "le"]), float(le)
    except ValueError:
        return None


class _BucketPlan:
    """How a histogram's bucket samples group into series, for a page whose bucket label sets are
    ``label_sets``: per series its key (its labels without ``le``), bounds (in base units) and where
    its counts are.

    A target's pages keep their layout from one collection to the next, and its label sets are
    the same objects (``parser.LabelCache``), so the plan is checked by comparing the lists (by
    identity first, in C) and made again only when the page's series changed.
    """

    __slots__ = ("label_sets", "scale", "series")

    def __init__(self, label_sets: list[dict[str, str]], scale: float):
        self.label_sets = label_sets
        self.scale = scale
        groups: dict[LabelKey, tuple[list[float], list[int]]] = {}
        for at, labels in enumerate(label_sets):
            found = _bucket(labels)
            if found is None:
                continue
            key, bound = found
            if scale != SECONDS and bound != INF:
                bound = scaled(bound, scale)
            group = groups.get(key)
            if group is None:
                groups[key] = ([bound], [at])
            else:
                group[0].append(bound)
                group[1].append(at)
        self.series = []
        shared: dict[tuple[float, ...], tuple[float, ...]] = {}  # series with the same bounds share them
        for key, (bounds, where) in groups.items():
            if where[-1] - where[0] == len(where) - 1:  # one run of lines, as servers write them
                pick = itemgetter(slice(where[0], where[-1] + 1))
            else:
                pick = itemgetter(*where)
            bounds_ = tuple(bounds)
            self.series.append((key, shared.setdefault(bounds_, bounds_), pick))


_LABEL_SETS = itemgetter(0)
_VALUES = itemgetter(1)


def histograms(
    exp: Exposition, name: str, scale: float = SECONDS
) -> Iterator[tuple[dict, list, float, float]]:
    """Yield (labels, [(le, cumulative count)], sum, count) per native histogram series.

    Bucket bounds and the sum are multiplied by ``scale`` to reach base units.
    """
    samples = exp.get(name + "_bucket")
    if not samples:
        return
    label_sets = list(map(_LABEL_SETS, samples))
    plan = exp.plans.get(name)
    if plan is None or plan.scale != scale or plan.label_sets != label_sets:
        plan = exp.plans[name] = _BucketPlan(label_sets, scale)
    values = list(map(_VALUES, samples))
    sums = {_key(lbl): v for lbl, v in exp.get(name + "_sum")}
    counts = {_key(lbl): v for lbl, v in exp.get(name + "_count")}
    for key, bounds, pick in plan.series:
        buckets = list(zip(bounds, pick(values), strict=True))
        count = counts.get(key)
        if count is None:
            inf = [c for b, c in buckets if b == INF]
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


def model_and_version(labels: dict[str, str]) -> tuple[str, str]:
    """(model, version) from the KServe-v2 servers' ``model``/``version`` labels (Triton, MLServer)."""
    return labels.get("model", ""), labels.get("version", "")
