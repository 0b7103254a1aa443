"""Building blocks of the dashboards: selectors, PromQL helpers, panels, variables, layout.

Everything here returns plain dicts in Grafana's dashboard JSON model (schemaVersion 39),
so the generator needs no Grafana and no network. Conventions every panel follows:

* every query filters on the dashboard variables through ``Sel`` (``job`` and ``instance``
  included, as dashboard-linter asks), and every ``rate``/``irate`` range is
  ``$__rate_interval``;
* ratios divide by ``(denominator > 0)``, so an idle model has no value instead of NaN,
  and the panel says "No traffic";
* the description ends with the metrics the panel reads, computed from its queries.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import slo_config

DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
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


# --- metric names read by a query ------------------------------------------------------------

_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"')
_BRACES = re.compile(r"\{[^{}]*\}")
_RANGES = re.compile(r"\[[^\[\]]*\]")
_LABEL_LISTS = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)")
_IDENT = re.compile(r"(?<![\w.$])([A-Za-z_:][A-Za-z0-9_:]*)(\s*\()?")
# Words that look like metric names in PromQL but are operators or keywords.
KEYWORDS = frozenset(
    {
        *("sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values"),
        *("bottomk", "topk", "quantile", "and", "or", "unless", "offset", "bool", "inf", "nan"),
        *("by", "without", "on", "ignoring", "group_left", "group_right", "atan2"),
    }
)


def metric_names(expr: str) -> list[str]:
    """Metric names (and recording-rule names) a PromQL expression selects, in order, once each."""
    text = _STRINGS.sub('""', expr)
    text = _LABEL_LISTS.sub("", text)
    text = _BRACES.sub("{}", text)
    text = _RANGES.sub("[]", text)
    names: list[str] = []
    for m in _IDENT.finditer(text):
        name, call = m.group(1), m.group(2)
        if call or name.lower() in KEYWORDS or name in names:
            continue
        names.append(name)
    return names


# --- panels ------------------------------------------------------------------------------


@dataclass
class Query:
    expr: str
    legend: str = ""
    instant: bool = False
    fmt: str = "time_series"


def _targets(queries: list[Query]) -> list[dict]:
    out = []
    for i, q in enumerate(queries):
        out.append(
            {
                "datasource": DATASOURCE,
                "editorMode": "code",
                "expr": q.expr,
                "format": q.fmt,
                "instant": q.instant,
                "legendFormat": q.legend or "__auto",
                "range": not q.instant,
                "refId": chr(ord("A") + i),
            }
        )
    return out


def _description(text: str, queries: list[Query]) -> str:
    names = []
    for q in queries:
        names += [n for n in metric_names(q.expr) if n not in names]
    return f"{text} Metrics: {', '.join(f'`{n}`' for n in names)}."


def _no_traffic(guarded: bool) -> dict:
    if not guarded:
        return {}
    return {
        "noValue": NO_TRAFFIC,
        "mappings": [{"type": "special", "options": {"match": "nan", "result": {"text": NO_TRAFFIC}}}],
    }


def _thresholds(steps: list[tuple[float | None, str]] | None) -> dict:
    steps = steps or [(None, "green")]
    return {"mode": "absolute", "steps": [{"color": c, "value": v} for v, c in steps]}


@dataclass
class Panel:
    """A panel before layout: the generator assigns ``id`` and ``gridPos``."""

    body: dict
    width: int = 12
    height: int = 8


def _panel(kind: str, title: str, description: str, unit: str, queries: list[Query], **kw) -> dict:
    return {
        "type": kind,
        "title": title,
        "description": _description(description, queries),
        "datasource": DATASOURCE,
        "targets": _targets(queries),
        "fieldConfig": {
            "defaults": {
                "unit": unit,
                "thresholds": _thresholds(kw.pop("thresholds", None)),
                **_no_traffic(kw.pop("guarded", False)),
                **kw.pop("defaults", {}),
            },
            "overrides": kw.pop("overrides", []),
        },
        **kw,
    }


def timeseries(
    title: str,
    description: str,
    unit: str,
    queries: list[Query],
    *,
    width: int = 12,
    height: int = 8,
    guarded: bool = False,
    stack: bool = False,
    overrides: list | None = None,
    maximum: float | None = None,
) -> Panel:
    custom = {
        "drawStyle": "line",
        "lineWidth": 1,
        "fillOpacity": 20 if stack else 0,
        "showPoints": "never",
        "spanNulls": False,
        "stacking": {"mode": "normal" if stack else "none", "group": "A"},
    }
    defaults: dict = {"custom": custom, "min": 0}
    if maximum is not None:
        defaults["max"] = maximum
    body = _panel(
        "timeseries",
        title,
        description,
        unit,
        queries,
        guarded=guarded,
        defaults=defaults,
        overrides=overrides or [],
        options={
            "legend": {
                "displayMode": "table",
                "placement": "bottom",
                "showLegend": True,
                "calcs": ["mean", "max"],
            },
            "tooltip": {"mode": "multi", "sort": "desc"},
        },
    )
    return Panel(body, width, height)


def stat(
    title: str,
    description: str,
    unit: str,
    queries: list[Query],
    *,
    width: int = 4,
    height: int = 4,
    guarded: bool = False,
    thresholds: list[tuple[float | None, str]] | None = None,
    decimals: int | None = None,
) -> Panel:
    defaults = {"decimals": decimals} if decimals is not None else {}
    body = _panel(
        "stat",
        title,
        description,
        unit,
        queries,
        guarded=guarded,
        thresholds=thresholds,
        defaults=defaults,
        options={
            "colorMode": "value",
            "graphMode": "area",
            "justifyMode": "auto",
            "textMode": "auto",
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
        },
    )
    return Panel(body, width, height)


def heatmap(
    title: str, description: str, unit: str, query: Query, *, width: int = 12, height: int = 8
) -> Panel:
    query.fmt = "heatmap"
    query.legend = query.legend or "{{le}}"
    body = _panel(
        "heatmap",
        title,
        description,
        unit,
        [query],
        options={
            "calculate": False,
            "cellGap": 1,
            "color": {"mode": "scheme", "scheme": "Oranges", "steps": 64},
            "yAxis": {"axisPlacement": "left", "unit": unit},
            "rowsFrame": {"layout": "auto"},
            "tooltip": {"mode": "single", "yHistogram": True},
        },
    )
    return Panel(body, width, height)


def state_timeline(
    title: str,
    description: str,
    queries: list[Query],
    mappings: list[tuple[int, str, str]],
    *,
    width: int = 12,
    height: int = 8,
) -> Panel:
    """Discrete states over time; ``mappings`` are (value, text, colour)."""
    body = _panel(
        "state-timeline",
        title,
        description,
        "none",
        queries,
        defaults={
            "mappings": [
                {"type": "value", "options": {str(v): {"text": text, "color": colour, "index": i}}}
                for i, (v, text, colour) in enumerate(mappings)
            ],
            "color": {"mode": "thresholds"},
        },
        options={
            "showValue": "never",
            "mergeValues": True,
            "rowHeight": 0.9,
            "legend": {"showLegend": False},
        },
    )
    return Panel(body, width, height)


@dataclass
class Column:
    """One column of a table: an instant query whose value becomes the column ``title``."""

    title: str
    expr: str
    unit: str
    guarded: bool = False


def table(
    title: str,
    description: str,
    keys: list[str],
    columns: list[Column],
    *,
    link: tuple[str, str] | None = None,
    width: int = 24,
    height: int = 9,
) -> Panel:
    """A table joined on KEYS; LINK is (column, url) for a drill-down on that column."""
    queries = [Query(c.expr, instant=True, fmt="table") for c in columns]
    overrides = []
    renames = {}
    for i, c in enumerate(columns):
        field = f"Value #{chr(ord('A') + i)}"
        renames[field] = c.title
        props = [{"id": "unit", "value": c.unit}]
        if c.guarded:
            props.append({"id": "noValue", "value": NO_TRAFFIC})
        # Overrides match the name after the organize transformation renamed the field.
        overrides.append({"matcher": {"id": "byName", "options": c.title}, "properties": props})
    if link:
        column, url = link
        overrides.append(
            {
                "matcher": {"id": "byName", "options": column},
                "properties": [{"id": "links", "value": [{"title": f"Open {column}", "url": url}]}],
            }
        )
    order = {k: i for i, k in enumerate(keys)}
    order.update({f"Value #{chr(ord('A') + i)}": len(keys) + i for i in range(len(columns))})
    body = _panel(
        "table",
        title,
        description,
        "none",
        queries,
        overrides=overrides,
        options={"showHeader": True, "cellHeight": "sm", "footer": {"show": False}},
        transformations=[
            {"id": "merge", "options": {}},
            {
                "id": "organize",
                "options": {
                    "excludeByName": {"Time": True},
                    "indexByName": order,
                    "renameByName": renames,
                },
            },
            {"id": "filterFieldsByName", "options": {"include": {"names": keys + list(renames.values())}}},
        ],
    )
    return Panel(body, width, height)


# --- variables, annotations, layout, dashboard ------------------------------------------------


def _query_variable(name: str, metric: str, label: str, scope: tuple[str, ...]) -> dict:
    selector = ", ".join(f'{v}=~"${v}"' for v in scope)
    query = (
        f"label_values({metric}{{{selector}}}, {label})" if selector else f"label_values({metric}, {label})"
    )
    return {
        "type": "query",
        "name": name,
        "label": name.title(),
        "datasource": DATASOURCE,
        "query": {"query": query, "refId": f"{name}-variable"},
        "definition": query,
        "refresh": 2,  # on time range change: models come and go
        "multi": True,
        "includeAll": True,
        # `.*`, not dashboard-linter's `.+`: recording rules aggregate `instance` away and
        # `namespace`/`cluster` are absent outside Kubernetes; `.*` matches an absent label.
        "allValue": ".*",
        "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
        "sort": 1,
        "hide": 0,
        "options": [],
        "regex": "",
    }


def presence_variable(name: str, metric: str, label: str = "model") -> dict:
    """A hidden variable listing the selected models that have METRIC: a row repeated over it
    is drawn only for them, so panels of an absent feature do not show at all."""
    var = _query_variable(name, metric, label, SCOPE_VARS + MODEL_VARS)
    var.update({"hide": 2, "label": name, "allValue": None})
    return var


def variables(metric: str = "inference_model_info", with_models: bool = True) -> list[dict]:
    """datasource, then the scope chain, then model and version (when the dashboard has models)."""
    out = [
        {
            "type": "datasource",
            "name": "datasource",
            "label": "Data source",
            "query": "prometheus",
            "current": {},
            "hide": 0,
            "options": [],
            "refresh": 1,
            "regex": "",
        }
    ]
    chain = SCOPE_VARS + (MODEL_VARS if with_models else ())
    for i, name in enumerate(chain):
        out.append(_query_variable(name, metric, name, chain[:i]))
    return out


def annotation(name: str, expr: str, title: str, text: str, colour: str = "blue") -> dict:
    return {
        "name": name,
        "datasource": DATASOURCE,
        "enable": True,
        "hide": False,
        "iconColor": colour,
        "expr": expr,
        "step": "1m",
        "titleFormat": title,
        "textFormat": text,
        "useValueForTime": False,
    }


@dataclass
class Layout:
    """Packs panels left to right on Grafana's 24-column grid; ``row`` starts a titled row."""

    panels: list[dict] = field(default_factory=list)
    x: int = 0
    y: int = 0
    line_height: int = 0

    def _newline(self) -> None:
        self.y += self.line_height
        self.x = 0
        self.line_height = 0

    def row(self, title: str, repeat: str = "") -> Layout:
        """A titled row; with REPEAT, Grafana draws it once per value of that variable (none: hidden)."""
        if self.x:
            self._newline()
        row = {
            "type": "row",
            "title": title,
            "collapsed": False,
            "panels": [],
            "gridPos": {"h": 1, "w": 24, "x": 0, "y": self.y},
        }
        if repeat:
            row["repeat"] = repeat
        self.panels.append(row)
        self.y += 1
        return self

    def add(self, *panels: Panel) -> Layout:
        for p in panels:
            if self.x + p.width > 24:
                self._newline()
            self.panels.append({**p.body, "gridPos": {"h": p.height, "w": p.width, "x": self.x, "y": self.y}})
            self.x += p.width
            self.line_height = max(self.line_height, p.height)
        return self


def dashboard(
    uid: str,
    title: str,
    description: str,
    layout: Layout,
    templating: list[dict],
    annotations: list[dict] = (),
    links: list[dict] = (),
) -> dict:
    panels = []
    for i, p in enumerate(layout.panels, start=1):
        panels.append({"id": i, **p})
    builtin = {
        "builtIn": 1,
        "datasource": {"type": "grafana", "uid": "-- Grafana --"},
        "enable": True,
        "hide": True,
        "iconColor": "rgba(0, 211, 255, 1)",
        "name": "Annotations & Alerts",
        "type": "dashboard",
    }
    return {
        "uid": uid,
        "title": title,
        "description": description,
        "tags": ["inference", "inference-exporter"],
        "editable": False,
        "graphTooltip": 1,
        "schemaVersion": 39,
        "version": 1,
        "refresh": "30s",
        "time": {"from": "now-6h", "to": "now"},
        "timepicker": {},
        "timezone": "",
        "liveNow": False,
        "fiscalYearStartMonth": 0,
        "links": list(links),
        "annotations": {"list": [builtin, *annotations]},
        "templating": {"list": templating},
        "panels": panels,
    }


def dashboard_links() -> list[dict]:
    """One drop-down with every inference dashboard; variables and time range carry over."""
    return [
        {
            "title": "Inference dashboards",
            "type": "dashboards",
            "tags": ["inference-exporter"],
            "asDropdown": True,
            "includeVars": True,
            "keepTime": True,
            "icon": "external link",
            "targetBlank": False,
            "url": "",
            "tooltip": "",
        }
    ]
