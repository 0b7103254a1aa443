"""Panels of the dashboards (board.py puts them together with variables, annotations and a
layout), built with the Grafana Foundation SDK's typed builders (``grafana-foundation-sdk``,
the release line of the Grafana version in docs/dashboards.md).

The builders are generated from Grafana's own schemas, so option names and nesting come
from Grafana rather than from this file; tests/dashboards/test_dashboard_schema.py checks
the output again against ``@grafana/schema`` with ``tsc --strict``. Conventions every panel
follows on top (the PromQL ones are in promql.py):

* a description that ends with the metrics the panel reads, computed from its queries;
* ratios say "No traffic" instead of NaN;
* fixed ids and grid positions, so the JSON is the same on every run.
"""

from __future__ import annotations

from dataclasses import dataclass

from grafana_foundation_sdk.builders import common as cb
from grafana_foundation_sdk.builders import dashboard as db
from grafana_foundation_sdk.builders import heatmap as heatmap_b
from grafana_foundation_sdk.builders import prometheus, statetimeline
from grafana_foundation_sdk.builders import stat as stat_b
from grafana_foundation_sdk.builders import table as table_b
from grafana_foundation_sdk.builders import timeseries as timeseries_b
from grafana_foundation_sdk.models import common as cm
from grafana_foundation_sdk.models import dashboard as dm
from grafana_foundation_sdk.models import prometheus as pm
from promql import NO_TRAFFIC, metric_names

DATASOURCE = dm.DataSourceRef(type_val="prometheus", uid="${datasource}")
INTERVAL_ONLY = ("auto", "auto_count", "auto_min")
FORMATS = {
    "time_series": pm.PromQueryFormat.TIME_SERIES,
    "table": pm.PromQueryFormat.TABLE,
    "heatmap": pm.PromQueryFormat.HEATMAP,
}


@dataclass
class Query:
    expr: str
    legend: str = ""
    instant: bool = False
    fmt: str = "time_series"
    exemplar: bool = False  # ask Prometheus for the exemplars of the series the query reads


@dataclass
class Link:
    """A data link: on a series or a table cell, opens URL (Grafana interpolates ${__field...})."""

    title: str
    url: str
    new_tab: bool = False


def _target(q: Query, index: int) -> prometheus.Dataquery:
    target = (
        prometheus.Dataquery()
        .expr(q.expr)
        .legend_format(q.legend or "__auto")
        .format(FORMATS[q.fmt])
        .editor_mode(pm.QueryEditorMode.CODE)
        .ref_id(chr(ord("A") + index))
        .datasource(DATASOURCE)
    )
    target = target.instant() if q.instant else target.range()
    return target.exemplar(True) if q.exemplar else target


def _description(text: str, queries: list[Query]) -> str:
    names: list[str] = []
    for q in queries:
        names += [n for n in metric_names(q.expr) if n not in names]
    return f"{text} Metrics: {', '.join(f'`{n}`' for n in names)}."


def _thresholds(steps: list[tuple[float | None, str]] | None) -> db.ThresholdsConfig:
    steps = steps or [(None, "green")]
    return (
        db.ThresholdsConfig()
        .mode(dm.ThresholdsMode.ABSOLUTE)
        .steps([dm.Threshold(value=v, color=c) for v, c in steps])
    )


def _no_traffic_mapping() -> dm.SpecialValueMap:
    return dm.SpecialValueMap(
        dm.DashboardSpecialValueMapOptions(
            match=dm.SpecialValueMatch.NA_N, result=dm.ValueMappingResult(text=NO_TRAFFIC)
        )
    )


def _links(links: list[Link]) -> list[db.DashboardLink]:
    return [db.DashboardLink(link.title).url(link.url).target_blank(link.new_tab) for link in links]


@dataclass
class Panel:
    """A panel builder before layout: Layout assigns its id and grid position."""

    builder: object
    title: str
    width: int = 12
    height: int = 8


def _common(builder, title: str, description: str, unit: str, queries: list[Query], **kw) -> object:
    """What every panel has: title, description, data source, queries, unit, thresholds."""
    builder = (
        builder.title(title)
        .description(_description(description, queries))
        .datasource(DATASOURCE)
        .targets([_target(q, i) for i, q in enumerate(queries)])
        .unit(unit)
        .thresholds(_thresholds(kw.get("thresholds")))
    )
    mappings = list(kw.get("mappings", []))
    if kw.get("guarded"):
        builder = builder.no_value(NO_TRAFFIC)
        mappings.append(_no_traffic_mapping())
    if mappings:
        builder = builder.mappings(mappings)
    if kw.get("links"):
        builder = builder.data_links(_links(kw["links"]))
    return builder


def _legend(calcs: list[str] | None = None, show: bool = True) -> cb.VizLegendOptions:
    mode = cm.LegendDisplayMode.TABLE if calcs else cm.LegendDisplayMode.LIST
    return (
        cb.VizLegendOptions()
        .display_mode(mode)
        .placement(cm.LegendPlacement.BOTTOM)
        .show_legend(show)
        .calcs(calcs or [])
    )


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
    maximum: float | None = None,
    links: list[Link] = (),
    thresholds: list[tuple[float | None, str]] | None = None,
    overrides: dict[str, dict[str, object]] | None = None,
) -> Panel:
    """A time series; OVERRIDES maps a series name to field properties (``custom.lineWidth``...)."""
    b = _common(
        timeseries_b.Panel(),
        title,
        description,
        unit,
        queries,
        guarded=guarded,
        links=links,
        thresholds=thresholds,
    )
    b = (
        b.min(0)
        .draw_style(cm.GraphDrawStyle.LINE)
        .line_width(1)
        .fill_opacity(20 if stack else 0)
        .show_points(cm.VisibilityMode.NEVER)
        .span_nulls(False)
        .stacking(
            cb.StackingConfig().mode(cm.StackingMode.NORMAL if stack else cm.StackingMode.NONE).group("A")
        )
        .legend(_legend(["mean", "max"]))
        .tooltip(cb.VizTooltipOptions().mode(cm.TooltipDisplayMode.MULTI).sort(cm.SortOrder.DESCENDING))
    )
    if thresholds:
        b = b.thresholds_style(cb.GraphThresholdsStyleConfig().mode(cm.GraphThresholdsStyleMode.DASHED))
    if maximum is not None:
        b = b.max(maximum)
    for name, props in (overrides or {}).items():
        b = b.override_by_name(name, [dm.DynamicConfigValue(k, v) for k, v in props.items()])
    return Panel(b, title, width, height)


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
) -> Panel:
    b = _common(stat_b.Panel(), title, description, unit, queries, guarded=guarded, thresholds=thresholds)
    b = (
        b.color_mode(cm.BigValueColorMode.VALUE)
        .graph_mode(cm.BigValueGraphMode.AREA)
        .justify_mode(cm.BigValueJustifyMode.AUTO)
        .text_mode(cm.BigValueTextMode.AUTO)
        .reduce_options(cb.ReduceDataOptions().calcs(["lastNotNull"]).fields("").values(False))
    )
    return Panel(b, title, width, height)


def heatmap(
    title: str, description: str, unit: str, query: Query, *, width: int = 12, height: int = 8
) -> Panel:
    """Requests per second in each latency bucket, as the buckets come (no re-bucketing)."""
    query.fmt = "heatmap"
    query.legend = query.legend or "{{le}}"
    b = _common(heatmap_b.Panel(), title, description, unit, [query])
    b = (
        b.calculate(False)
        .cell_gap(1)
        .color(
            heatmap_b.HeatmapColorOptions()
            .mode(heatmap_b.heatmap.HeatmapColorMode.SCHEME)
            .scheme("Oranges")
            .steps(64)
        )
        .y_axis(heatmap_b.YAxisConfig().axis_placement(cm.AxisPlacement.LEFT).unit(unit))
        .rows_frame(heatmap_b.RowsHeatmapOptions().layout(cm.HeatmapCellLayout.AUTO))
        .mode(cm.TooltipDisplayMode.SINGLE)
        .show_y_histogram()
    )
    return Panel(b, title, width, height)


def state_timeline(
    title: str,
    description: str,
    queries: list[Query],
    mappings: list[tuple[int, str, str]],
    *,
    width: int = 12,
    height: int = 8,
    links: list[Link] = (),
) -> Panel:
    """Discrete states over time; ``mappings`` are (value, text, colour)."""
    values = [
        dm.ValueMap({str(v): dm.ValueMappingResult(text=text, color=colour, index=i)})
        for i, (v, text, colour) in enumerate(mappings)
    ]
    b = _common(statetimeline.Panel(), title, description, "none", queries, mappings=values, links=links)
    b = (
        b.color_scheme(db.FieldColor().mode(dm.FieldColorModeId.THRESHOLDS))
        .show_value(cm.VisibilityMode.NEVER)
        .merge_values(True)
        .row_height(0.9)
        .legend(_legend(show=False))
    )
    return Panel(b, title, width, height)


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
    links: dict[str, list[Link]] | None = None,
    width: int = 24,
    height: int = 9,
) -> Panel:
    """A table joined on KEYS; LINKS maps a key column to its drill-down links."""
    queries = [Query(c.expr, instant=True, fmt="table") for c in columns]
    b = _common(table_b.Panel(), title, description, "none", queries)
    renames = {}
    for i, c in enumerate(columns):
        renames[f"Value #{chr(ord('A') + i)}"] = c.title
        props = [dm.DynamicConfigValue("unit", c.unit)]
        if c.guarded:
            props.append(dm.DynamicConfigValue("noValue", NO_TRAFFIC))
        # Overrides match the name after the organize transformation renamed the field.
        b = b.override_by_name(c.title, props)
    for column, column_links in (links or {}).items():
        values = [{"title": link.title, "url": link.url} for link in column_links]
        b = b.override_by_name(column, [dm.DynamicConfigValue("links", values)])
    order = {k: i for i, k in enumerate(keys)}
    order.update({name: len(keys) + i for i, name in enumerate(renames)})
    organize = {"excludeByName": {"Time": True}, "indexByName": order, "renameByName": renames}
    include = {"include": {"names": keys + list(renames.values())}}
    b = (
        b.show_header(True)
        .cell_height(cm.TableCellHeight.SM)
        .footer(cb.TableFooterOptions().show(False).reducer([]))
        .transformations(
            [
                dm.DataTransformerConfig(id_val="merge", options={}),
                dm.DataTransformerConfig(id_val="organize", options=organize),
                dm.DataTransformerConfig(id_val="filterFieldsByName", options=include),
            ]
        )
    )
    return Panel(b, title, width, height)
