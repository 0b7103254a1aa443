"""Which replica collects a target, and when in its interval: both from a hash of the target.

``shard_of`` is Prometheus' ``hashmod`` relabel action (the low 64 bits of the MD5 of the value,
modulo n), applied to the target's name, so ``--shard=i/n`` keeps exactly the targets a
Prometheus with ``action: hashmod, modulus: n`` and ``regex: i`` on the same value would keep.
``phase_of`` spreads collections over the interval as Prometheus offsets its scrapes: each
target has its own fixed offset, so a thousand targets with one interval are not collected in
one burst, and a restart keeps every target's rhythm. The offsets fall on ticks of
``PHASE_TICK`` seconds (60 a 15-second interval): the targets of one tick are collected one after
the other while the exporter's working set is in the CPU's caches, instead of one every few
milliseconds with an idle, cold CPU between them (scheduler.py; docs/performance.md).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

_SHARD_RE = re.compile(r"^(?P<index>[^/]+)/(?P<count>\d+)$")
_ORDINAL_RE = re.compile(r"^\S+-(\d+)$")  # a StatefulSet pod name: <name>-<ordinal>


def _md5_low64(value: str) -> int:
    return int.from_bytes(hashlib.md5(value.encode(), usedforsecurity=False).digest()[8:], "big")


def shard_of(name: str, count: int) -> int:
    """The shard (0..count-1) that collects the target NAME."""
    return _md5_low64(name) % count


PHASE_TICK = 0.25  # seconds between the offsets a target may get


def phase_of(name: str, url: str, interval: float) -> float:
    """The target's fixed offset within its interval, in [0, interval), on one of its ticks."""
    digest = hashlib.md5(f"{name}\0{url}".encode(), usedforsecurity=False).digest()
    ticks = max(1, round(interval / PHASE_TICK))
    return (int.from_bytes(digest[:8], "big") * ticks >> 64) * interval / ticks


@dataclass(frozen=True)
class Shard:
    index: int = 0
    count: int = 1

    def keeps(self, name: str) -> bool:
        return self.count == 1 or shard_of(name, self.count) == self.index

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def parse_shard(value: str) -> Shard:
    """``i/n``; ``i`` may also be a StatefulSet pod name (``inference-exporter-2``): its ordinal."""
    m = _SHARD_RE.match(value.strip())
    if not m:
        raise ValueError(f"expected INDEX/COUNT like 2/5, got {value!r}")
    count = int(m.group("count"))
    index_text = m.group("index")
    if not index_text.isdigit():
        ordinal = _ORDINAL_RE.search(index_text)
        if not ordinal:
            raise ValueError(f"{index_text!r} is neither a number nor a pod name ending in -<ordinal>")
        index_text = ordinal.group(1)
    index = int(index_text)
    if count < 1 or not 0 <= index < count:
        raise ValueError(f"shard {index} of {count}: expected 0 <= INDEX < COUNT")
    return Shard(index, count)
