"""Per-target scrape limits with the names and meanings of Prometheus' scrape config.

``sample_limit``, ``label_limit``, ``label_name_length_limit``, ``label_value_length_limit``
and ``body_size_limit``: a collection over any of them fails, with the limit's name as the
reason (``inference_exporter_collection_errors_total{reason=...}``, the landing page), as
Prometheus fails the scrape. Unlike Prometheus, 0 does not mean "no limit": a sidecar shares
its pod's memory, so every target is bounded (docs/security.md lists the defaults).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .validation import Context, YamlMap, describe


class LimitExceeded(Exception):
    """A collection over a limit; ``reason`` is the limit's name."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class ScrapeLimits:
    """What a target may send, with the names and meanings of Prometheus' scrape limits: a
    collection over any of them fails with the limit's name as its reason. Counted on what the
    exporter reads (the server kind's families), as Prometheus counts after relabelling."""

    sample_limit: int = 20_000  # samples read from one response
    label_limit: int = 64  # labels on one sample
    label_name_length_limit: int = 256
    label_value_length_limit: int = 4096
    body_size_limit: int = 20 * 1024 * 1024  # bytes of one response, after decompression


LIMIT_KEYS = ("sample_limit", "label_limit", "label_name_length_limit", "label_value_length_limit")
SIZE_UNITS = {
    "B": 1,
    "KB": 1 << 10,
    "KiB": 1 << 10,
    "MB": 1 << 20,
    "MiB": 1 << 20,
    "GB": 1 << 30,
    "GiB": 1 << 30,
}
SIZE_RE = re.compile(r"^(\d+)\s*(B|KB|KiB|MB|MiB|GB|GiB)$")


def parse_limits(ctx: Context, data: YamlMap, prefix: str) -> ScrapeLimits:
    """Prometheus' scrape limits; 0 is refused (Prometheus reads it as "no limit", which a
    sidecar sharing its pod's memory cannot afford)."""
    values: dict[str, int] = {}
    for key in LIMIT_KEYS:
        if key in data:
            value = data[key]
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 10_000_000:
                raise ctx.fail(
                    data.lines.get(key),
                    f"{prefix}{key}",
                    f"expected a whole number from 1 to 10000000, got {describe(value)}",
                )
            values[key] = value
    if "body_size_limit" in data and "max_response_bytes" in data:
        raise ctx.fail(
            data.lines.get("max_response_bytes"),
            f"{prefix}max_response_bytes",
            "is the old name of body_size_limit: set only body_size_limit",
        )
    for key in ("body_size_limit", "max_response_bytes"):
        if key in data:
            values["body_size_limit"] = _size(ctx, data, key, prefix)
    return ScrapeLimits(**values)


def _size(ctx: Context, data: YamlMap, key: str, prefix: str) -> int:
    """A size in bytes: a whole number, or Prometheus' spelling with a unit (512KB, 20MB, 1GB:
    powers of 1024), from 1 KiB to 1 GiB."""
    value = data[key]
    size = None
    if isinstance(value, int) and not isinstance(value, bool):
        size = value
    elif isinstance(value, str) and (m := SIZE_RE.match(value.strip())):
        size = int(m.group(1)) * SIZE_UNITS[m.group(2)]
    if size is None or not 1024 <= size <= 1 << 30:
        raise ctx.fail(
            data.lines.get(key),
            f"{prefix}{key}",
            f"expected a size from 1KB to 1GB like 20MB, got {describe(value)}",
        )
    return size


def label_checker(limits: ScrapeLimits):
    """Checks one parsed label set against the target's label limits (each new series once)."""
    count, name_len, value_len = (
        limits.label_limit,
        limits.label_name_length_limit,
        limits.label_value_length_limit,
    )

    def check(labels: dict[str, str]) -> None:
        if len(labels) > count:
            raise LimitExceeded(
                "label_limit", f"a sample has {len(labels)} labels, more than label_limit ({count})"
            )
        for name, value in labels.items():
            if len(name) > name_len:
                raise LimitExceeded(
                    "label_name_length_limit",
                    f"a label name is longer than label_name_length_limit ({name_len})",
                )
            if len(value) > value_len:
                raise LimitExceeded(
                    "label_value_length_limit",
                    f"label {name[:64]!r} has a value longer than label_value_length_limit ({value_len})",
                )

    return check
