"""The per-target ``health:`` block of the config, strictly validated; the ``models:`` list is
read by ``health/models.py``, imported only by a config that has one (a sidecar's start).

Errors use the config module's one-line form, e.g.
``config.yml:12: targets[0].health.timeout: 9s is longer than interval 5s``.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..validation import (
    Context,
    YamlMap,
    boolean,
    check_keys,
    describe,
    duration,
    expect_map,
    integer,
    sequence,
    url,
    url_path,
)

PROBES = ("live", "ready", "models", "config")


@dataclass(frozen=True)
class HealthConfig:
    enabled: bool = False
    interval: float = 15.0
    timeout: float = 5.0
    probes: tuple[str, ...] = PROBES
    live_path: str = ""  # override the server kind's endpoint
    ready_path: str = ""
    management_url: str = ""  # TorchServe's management API
    flap_changes: int = 4  # state changes within flap_window that make a probe "flapping"
    flap_window: float = 300.0


HEALTH_KEYS = {
    "enabled",
    "interval",
    "timeout",
    "probes",
    "live_path",
    "ready_path",
    "management_url",
    "flap_changes",
    "flap_window",
}


def parse_health(
    ctx: Context, data: YamlMap, prefix: str, interval: float, timeout: float, implied: bool
) -> HealthConfig:
    """The target's health block; ``implied``: probes on without a block (api_url or models set)."""
    if "health" not in data:
        return HealthConfig(enabled=implied, interval=interval, timeout=timeout)
    hp = f"{prefix}health."
    h = expect_map(ctx, data["health"], data.lines.get("health"), f"{prefix}health")
    check_keys(ctx, h, HEALTH_KEYS, hp)
    enabled = boolean(ctx, h, "enabled", hp) if "enabled" in h else True
    h_interval = duration(ctx, h, "interval", hp, interval, minimum=0.1)
    h_timeout = duration(ctx, h, "timeout", hp, min(timeout, h_interval), minimum=0.01)
    if h_timeout > h_interval:
        raise ctx.fail(
            h.lines.get("timeout"), f"{hp}timeout", f"{h_timeout:g}s is longer than interval {h_interval:g}s"
        )
    probes = PROBES
    if "probes" in h:
        raw = sequence(ctx, h, "probes", hp)
        for i, p in enumerate(raw):
            if p not in PROBES:
                raise ctx.fail(
                    raw.lines[i],
                    f"{hp}probes[{i}]",
                    f"unknown probe {describe(p)} (one of: {', '.join(PROBES)})",
                )
        probes = tuple(raw)
    return HealthConfig(
        enabled=enabled,
        interval=h_interval,
        timeout=h_timeout,
        probes=probes,
        live_path=url_path(ctx, h, "live_path", hp),
        ready_path=url_path(ctx, h, "ready_path", hp),
        management_url=url(ctx, h, "management_url", hp, required=False),
        flap_changes=integer(ctx, h, "flap_changes", hp, 4, 2, 1000),
        flap_window=duration(ctx, h, "flap_window", hp, 300.0),
    )
