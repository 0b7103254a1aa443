"""SLO classes, burn-rate windows and recorded labels, read from the rule pack's config
(rules/config.yml).

The SLO dashboard divides recorded error ratios by each class's error budget, so it must
use the same objectives as the alerts; reading them from the one config keeps them equal
(the generator's --check fails when the config changes and the JSON was not regenerated).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

CONFIG = Path(__file__).resolve().parents[1] / "rules" / "config.yml"


@dataclass(frozen=True)
class SloClass:
    name: str
    matcher: str  # on the model-class label, as the rule pack selects the class
    availability: float
    latency_objective: float
    latency_threshold: float


@dataclass(frozen=True)
class SloConfig:
    period_days: int
    classes: tuple[SloClass, ...]
    factors: tuple[float, ...]  # burn-rate factors of the alert windows, fastest first


def load_model_labels(path: Path = CONFIG) -> list[str]:
    """Labels every model-level recording rule keeps, as rule-pack label keys resolved to names."""
    cfg = yaml.safe_load(path.read_text())
    return [cfg["labels"].get(key, key) for key in cfg["model_labels"]]


def load(path: Path = CONFIG) -> SloConfig:
    cfg = yaml.safe_load(path.read_text())
    slo = cfg["slo"]
    label = cfg["labels"]["model_class"]
    named = [c for c in slo["classes"] if c != slo["default_class"]]
    classes = []
    for name, spec in slo["classes"].items():
        if name == slo["default_class"]:
            # Models without the label, or with a class the config does not name.
            matcher = f'{label}!~"{"|".join(named)}"' if named else f'{label}=~".*"'
        else:
            matcher = f'{label}="{name}"'
        lat = spec["latency"]
        classes.append(
            SloClass(name, matcher, spec["availability"], lat["objective"], lat["threshold_seconds"])
        )
    factors = sorted(
        {w["factor"] for tier in cfg["burn_rate_windows"].values() for w in tier["windows"]}, reverse=True
    )
    return SloConfig(slo["period_days"], tuple(classes), tuple(factors))
