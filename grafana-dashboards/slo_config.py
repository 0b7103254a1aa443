"""The SLO classes, burn-rate factors and recorded labels the dashboards use: the rule pack's own
(rules/config.yml, read by inference_devtools.packconfig, as the rule generator reads it)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from inference_devtools import packconfig
from inference_devtools.packconfig import SloClass


@dataclass(frozen=True)
class SloConfig:
    period_days: int
    classes: tuple[SloClass, ...]
    factors: tuple[float, ...]  # burn-rate factors of the alert windows, fastest first


@cache
def load() -> SloConfig:
    cfg = packconfig.load()
    classes, factors = packconfig.slo_classes(cfg), packconfig.burn_rate_factors(cfg)
    return SloConfig(cfg["slo"]["period_days"], classes, factors)


def load_model_labels() -> list[str]:
    return packconfig.model_labels(packconfig.load())
