"""The rule pack's config (rules/config.yml), as both generators read it.

The rule generator (rules/pack) selects each SLO class with a matcher on the model-class
label and divides by its error budget; the SLO dashboard must use the same matchers and
objectives, and every alert's ``dashboard_url`` must name a dashboard the dashboard
generator builds. Both read them here, so they cannot drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from .repo import ROOT

CONFIG = ROOT / "rules" / "config.yml"
# The dashboards the repository ships, by uid (= file name without .json): alerts link to them.
DASHBOARDS = (
    "inference-fleet",
    "inference-model",
    "inference-resources",
    "inference-slo",
    "inference-anomalies",
    "inference-exporter",
)


@dataclass(frozen=True)
class SloClass:
    name: str
    matcher: str  # on the model-class label, as the rule pack selects the class
    availability: float
    latency_objective: float
    latency_threshold: float
    spec: dict  # the class's block of rules/config.yml, as written


def load(path: Path = CONFIG) -> dict[str, Any]:
    return yaml.safe_load(Path(path).read_text())


def slo_classes(cfg: dict[str, Any]) -> tuple[SloClass, ...]:
    """Every SLO class in config order; the default class matches models of no named class."""
    slo = cfg["slo"]
    label = cfg["labels"]["model_class"]
    named = [c for c in slo["classes"] if c != slo["default_class"]]
    out = []
    for name, spec in slo["classes"].items():
        if name == slo["default_class"]:
            # Models without the label, or with a class the config does not name.
            matcher = f'{label}!~"{"|".join(named)}"' if named else f'{label}=~".*"'
        else:
            matcher = f'{label}="{name}"'
        lat = spec["latency"]
        out.append(
            SloClass(name, matcher, spec["availability"], lat["objective"], lat["threshold_seconds"], spec)
        )
    return tuple(out)


def model_labels(cfg: dict[str, Any]) -> list[str]:
    """Labels every model-level recording rule keeps, as label names."""
    return [cfg["labels"].get(key, key) for key in cfg["model_labels"]]


def window_factor(cfg: dict[str, Any], window: dict[str, Any]) -> float:
    """A burn window's factor: given, or derived from the share of the budget it must have spent
    over its long window (``budget_consumed``)."""
    if "factor" in window:
        return window["factor"]
    from inference_exporter.durations import parse_duration

    period = cfg["slo"]["period_days"] * 86400
    return window["budget_consumed"] * period / parse_duration(window["long"])


def burn_rate_factors(cfg: dict[str, Any]) -> tuple[float, ...]:
    """Burn-rate factors of the alert windows, fastest first."""
    tiers = cfg["burn_rate_windows"].values()
    return tuple(sorted({window_factor(cfg, w) for tier in tiers for w in tier["windows"]}, reverse=True))
