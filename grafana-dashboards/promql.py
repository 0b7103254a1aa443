"""PromQL of the dashboards: selectors over the dashboard variables, rate/ratio/quantile
helpers, and the metric names a query reads (the panel descriptions list them; the tests
check them against the schema and the rule pack).

Conventions every query follows:

* every selector filters on the dashboard variables through ``Sel`` (``job`` and ``instance``
  included, as dashboard-linter asks), and every ``rate``/``irate`` range is
  ``$__rate_interval``;
* ratios divide by ``(denominator > 0)``, so an idle model has no value instead of NaN,
  and the panel says "No traffic".
"""

from __future__ import annotations

from dataclasses import dataclass

import slo_config
from inference_devtools.promql import mask, metric_names, vector_selectors  # noqa: F401 - the boards use them

RATE = "$__rate_interval"
NO_TRAFFIC = "No traffic"

# Dashboard variables in chain order, and the label each one filters.
SCOPE_VARS = ("cluster", "namespace", "job", "instance")
MODEL_VARS = ("model", "version")
# Labels the rule pack's `model:` recording rules keep (rules/config.yml model_labels).
RECORDED_LABELS = frozenset(slo_config.load_model_labels())


@dataclass(frozen=True)
class Sel:
    """A label selector over the dashboard variables plus fixed matchers."""

    variables: tuple[str, ...] = SCOPE_VARS + MODEL_VARS
    extra: tuple[str, ...] = ()

    def __call__(self, metric: str, *matchers: str) -> str:
        variables = self.variables
        if metric.startswith("model:"):
            # The rule pack's model-level rules keep only its model labels: a matcher on
            # job, instance or version would empty the panel as soon as one is chosen.
            variables = tuple(v for v in variables if v in RECORDED_LABELS)
        parts = [f'{v}=~"${v}"' for v in variables] + list(self.extra) + list(matchers)
        return f"{metric}{{{', '.join(parts)}}}"

    def where(self, *matchers: str) -> Sel:
        return Sel(self.variables, self.extra + matchers)


MODEL = Sel()  # serving series: scope and model/version variables
SCOPE = Sel(SCOPE_VARS)  # series without model/version (process, container, GPU, self-metrics)
MODEL_ONLY = Sel(SCOPE_VARS + ("model",))  # series that carry `model` but no `version`


def by(labels: str) -> str:
    return f" by ({labels})" if labels else ""


def rate(sel: Sel, metric: str, *matchers: str) -> str:
    return f"rate({sel(metric, *matchers)}[{RATE}])"


def sum_rate(sel: Sel, metric: str, group: str, *matchers: str) -> str:
    return f"sum{by(group)} ({rate(sel, metric, *matchers)})"


def agg(op: str, group: str, sel: Sel, metric: str, *matchers: str) -> str:
    """OP by (GROUP) over a gauge, e.g. ``agg("max", "model", MODEL, "inference_kv_cache_usage_ratio")``."""
    return f"{op}{by(group)} ({sel(metric, *matchers)})"


def sum_increase(sel: Sel, metric: str, group: str) -> str:
    """Events within the rate window (for rare events: a count reads better than a rate)."""
    return f"sum{by(group)} (increase({sel(metric)}[{RATE}]))"


def ratio(numerator: str, denominator: str) -> str:
    """NUMERATOR / DENOMINATOR, with no value where the denominator is zero (no NaN, no +Inf)."""
    return f"({numerator}) / ({denominator} > 0)"


def mean(sel: Sel, histogram: str, group: str) -> str:
    """Mean of a histogram over the rate window: exact even for `+Inf`-only histograms."""
    return ratio(sum_rate(sel, f"{histogram}_sum", group), sum_rate(sel, f"{histogram}_count", group))


def quantile(q: float, sel: Sel, histogram: str, group: str) -> str:
    """Quantile from the buckets, only where there are buckets to interpolate.

    Histograms with only a `+Inf` bucket (servers that report sums) have no quantile, so
    they are filtered out by counting their distinct `le` values; ``>= 0`` drops the NaN
    that histogram_quantile answers for an idle model.
    """
    grouping = ", ".join(x for x in (group, "le") if x)
    buckets = f"sum by ({grouping}) ({rate(sel, f'{histogram}_bucket')})"
    edges = f"count{by(group)} (count by ({grouping}) ({sel(f'{histogram}_bucket')})) > 1"
    return f"histogram_quantile({q}, {buckets} and on ({group}) ({edges})) >= 0"


def share(sel: Sel, metric: str, group: str, *matchers: str) -> str:
    """Share of METRIC's rate that MATCHERS select; 0 (not absent) when none of them moved."""
    part = sum_rate(sel, metric, group, *matchers)
    whole = sum_rate(sel, metric, group)
    return ratio(f"{part} or 0 * {whole}", whole)


def p99_or_mean(sel: Sel, histogram: str, group: str) -> str:
    """p99 where the histogram has buckets, else its mean (servers that report only sums)."""
    return f"({quantile(0.99, sel, histogram, group)}) or ({mean(sel, histogram, group)})"

