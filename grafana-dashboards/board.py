"""Dashboards out of panels: template variables, annotations, the grid layout and the dashboard
itself, built with the Grafana Foundation SDK's typed builders (see panels.py)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from grafana_foundation_sdk.builders import dashboard as db
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import dashboard as dm
from panels import DATASOURCE, INTERVAL_ONLY, Panel
from promql import MODEL_VARS, SCOPE_VARS


def query_variable(
    name: str, metric: str, label: str, scope: tuple[str, ...], *, multi: bool = True, all_: bool = True
) -> db.QueryVariable:
    """label_values(METRIC{scope}, LABEL); MULTI: multi-select (with All, `.*`, unless not ALL_),
    else one value."""
    selector = ", ".join(f'{v}=~"${v}"' for v in scope)
    query = (
        f"label_values({metric}{{{selector}}}, {label})" if selector else f"label_values({metric}, {label})"
    )
    var = (
        db.QueryVariable(name)
        .label(name.title())
        .datasource(DATASOURCE)
        .query({"query": query, "refId": f"{name}-variable"})
        .refresh(dm.VariableRefresh.ON_TIME_RANGE_CHANGED)  # models come and go
        .sort(dm.VariableSort.ALPHABETICAL_ASC)
        .hide(dm.VariableHide.DONT_HIDE)
        .regex("")
        .options([])
    )
    if not multi:
        return var.multi(False).include_all(False)
    if not all_:
        return var.multi(True).include_all(False)  # the first value until more are picked
    # `.*`, not dashboard-linter's `.+`: recording rules aggregate `instance` away and
    # `namespace`/`cluster` are absent outside Kubernetes; `.*` matches an absent label.
    return (
        var.multi(True)
        .include_all(True)
        .all_value(".*")
        .current(dm.VariableOption(selected=True, text=["All"], value=["$__all"]))
    )


def presence_variable(name: str, metric: str, label: str = "model") -> db.QueryVariable:
    """A hidden variable listing the selected models that have METRIC: a row repeated over it
    is drawn only for them, so panels of an absent feature do not show at all."""
    var = query_variable(name, metric, label, SCOPE_VARS + MODEL_VARS)
    return var.label(name).hide(dm.VariableHide.HIDE_VARIABLE).all_value("")


def variables(
    metric: str = "inference_model_info",
    with_models: bool = True,
    single_model: bool = False,
    picked_models: bool = False,
) -> list:
    """datasource, then the scope chain, then model and version (when the dashboard has models).

    SINGLE_MODEL: `model` selects exactly one model (no All): the dashboard's panels are
    per-model views whose cost and meaning would not survive a whole fleet at once.
    PICKED_MODELS: `model` selects the models picked, without All: panels repeated per model
    stay a handful at any fleet size (a thousand models would be three thousand panels); such a
    dashboard reads model-level recordings, so it has no `version`.
    """
    out: list = [db.DatasourceVariable("datasource").label("Data source").type("prometheus").regex("")]
    chain = SCOPE_VARS + ((("model",) if picked_models else MODEL_VARS) if with_models else ())
    for i, name in enumerate(chain):
        multi = not (single_model and name == "model")
        all_ = not (picked_models and name == "model")
        out.append(query_variable(name, metric, name, chain[:i], multi=multi, all_=all_))
    return out


@dataclass
class Annotation:
    """A Prometheus annotation: a marker wherever EXPR has a series, titled per series."""

    name: str
    expr: str
    title: str
    text: str
    colour: str = "blue"

    def builder(self) -> db.AnnotationQuery:
        return (
            db.AnnotationQuery()
            .name(self.name)
            .datasource(DATASOURCE)
            .enable(True)
            .hide(False)
            .icon_color(self.colour)
            .expr(self.expr)
        )

    def prometheus_fields(self) -> dict:
        # The Prometheus data source's own annotation options: the SDK's AnnotationQuery
        # (like @grafana/schema's) has no field for them, so dashboard() adds them.
        return {"step": "1m", "titleFormat": self.title, "textFormat": self.text, "useValueForTime": False}


def annotation(name: str, expr: str, title: str, text: str, colour: str = "blue") -> Annotation:
    return Annotation(name, expr, title, text, colour)


@dataclass
class Layout:
    """Packs panels left to right on Grafana's 24-column grid; ``row`` starts a titled row."""

    items: list = field(default_factory=list)  # (kind, builder, title)
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
        row = db.Row(title).collapsed(False).grid_pos(dm.GridPos(h=1, w=24, x=0, y=self.y))
        if repeat:
            row = row.repeat(repeat)
        self.items.append(("row", row, title))
        self.y += 1
        return self

    def add(self, *panels: Panel) -> Layout:
        for p in panels:
            if self.x + p.width > 24:
                self._newline()
            p.builder.grid_pos(dm.GridPos(h=p.height, w=p.width, x=self.x, y=self.y))
            self.items.append(("panel", p.builder, p.title))
            self.x += p.width
            self.line_height = max(self.line_height, p.height)
        return self


def _builtin_annotation() -> db.AnnotationQuery:
    return (
        db.AnnotationQuery()
        .name("Annotations & Alerts")
        .built_in(1)
        .type("dashboard")
        .datasource(dm.DataSourceRef(type_val="grafana", uid="-- Grafana --"))
        .enable(True)
        .hide(True)
        .icon_color("rgba(0, 211, 255, 1)")
    )


def to_dict(built) -> dict:
    """An SDK object as the plain JSON model Grafana reads."""
    return json.loads(json.dumps(built, cls=JSONEncoder))


def dashboard(
    uid: str,
    title: str,
    description: str,
    layout: Layout,
    templating: list,
    annotations: list[Annotation] = (),
    links: list[db.DashboardLink] = (),
) -> dict:
    board = (
        db.Dashboard(title)
        .uid(uid)
        .description(description)
        .tags(["inference", "inference-exporter"])
        .readonly()
        .tooltip(dm.DashboardCursorSync.CROSSHAIR)
        .time("now-6h", "now")
        .timezone("")
        .refresh("30s")
        .version(1)
        .fiscal_year_start_month(0)
        .live_now(False)
        .links(list(links))
        .annotations([_builtin_annotation(), *(a.builder() for a in annotations)])
        .variables(templating)
    )
    for i, (kind, item, _) in enumerate(layout.items, start=1):
        item.id(i)
        board = board.with_row(item) if kind == "row" else board.with_panel(item)
    out = to_dict(board.build())
    extra = {a.name: a.prometheus_fields() for a in annotations}
    for ann in out["annotations"]["list"]:
        ann.update(extra.get(ann["name"], {}))
    for var in out["templating"]["list"]:
        # The SDK writes the interval variable's auto-step fields on every variable; Grafana
        # 11.6's schema has no such fields (schema_check.py flags them), so they go.
        for key in INTERVAL_ONLY:
            var.pop(key, None)
    return out


def dashboard_links() -> list[db.DashboardLink]:
    """One drop-down with every inference dashboard; variables and time range carry over."""
    return [
        db.DashboardLink("Inference dashboards")
        .type(dm.DashboardLinkType.DASHBOARDS)
        .tags(["inference-exporter"])
        .as_dropdown(True)
        .include_vars(True)
        .keep_time(True)
        .icon("external link")
        .target_blank(False)
        .url("")
        .tooltip("")
    ]
