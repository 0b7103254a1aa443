"""grafana/dashboard-linter's rules, re-implemented over the generated dashboards, plus ours.

Linter rules: template-datasource, template-job, template-instance, template-on-time-change-reload,
template-label-promql, panel-datasource, panel-title-description, panel-units, panel-no-targets,
target-job, target-instance, target-rate-interval, target-counter-agg, uneditable-dashboard.

One deliberate deviation: the linter wants `allValue: ".+"`; ours is `.*`, because the rule
pack's recording rules aggregate `job`/`instance` away and `cluster`/`namespace` are absent
outside Kubernetes, and only `.*` matches an absent label (see promql.py).

Ours on top: every selector filters on all scope variables, every division guards its
denominator with `> 0` and the panel then says "No traffic", descriptions name the metrics.
"""

from __future__ import annotations

import re

import pytest
from board_walk import UIDS, expressions, load, metric_names, panels_of, promql, rules, variable_selector

BOARDS = load()
DATASOURCE_UIDS = ("$datasource", "${datasource}")
SCOPE_VARS = ("cluster", "namespace", "job", "instance")
MODEL_VARS = ("model", "version")
NO_TRAFFIC = "No traffic"
RECORDED_LABELS = promql.RECORDED_LABELS
# Grafana unit ids (packages/grafana-data/src/valueFormats/categories.ts), the ones a linter accepts
# that make sense for these dashboards.
VALID_UNITS = frozenset(
    {
        *("none", "short", "percent", "percentunit", "bool", "bool_yes_no", "bytes", "decbytes", "bits"),
        *("reqps", "rps", "ops", "cps", "wps", "iops", "ns", "µs", "ms", "s", "m", "h", "d", "dtdurations"),
        *("dateTimeAsIso", "dateTimeFromNow", "celsius", "watt", "joule", "hertz"),
    }
)
# Variables that select one value: the model dashboard is about one model.
SINGLE_SELECT = {("inference-model", "model")}
PICKED = {("inference-anomalies", "model")}  # repeated band panels: the models picked, never All
COUNTER_SUFFIXES = ("_total", "_sum", "_count", "_bucket")
RATE_FUNCS = ("rate(", "irate(", "increase(")


def _mask(expr: str) -> str:
    return promql.mask(expr)


def selectors(expr: str) -> list[tuple[str, str, int, int]]:
    return promql.vector_selectors(expr)


def panel_exprs() -> list:
    return [e for e in expressions(BOARDS) if e.kind == "panel"]


def all_panels() -> list[tuple[str, dict]]:
    return [(uid, p) for uid, board in BOARDS.items() for p in panels_of(board)]


def _id(item) -> str:
    uid, p = item
    return f"{uid}/{p['title']}"


# --- dashboard and template rules ------------------------------------------------------------


@pytest.mark.parametrize("uid", UIDS)
def test_template_datasource(uid):
    ds = [v for v in BOARDS[uid]["templating"]["list"] if v["name"] == "datasource"]
    assert len(ds) == 1 and ds[0]["type"] == "datasource" and ds[0]["query"] == "prometheus"


@pytest.mark.parametrize("uid", UIDS)
def test_template_variables_job_instance_and_the_chain(uid):
    variables = {v["name"]: v for v in BOARDS[uid]["templating"]["list"]}
    models = ("model",) if (uid, "model") in PICKED else MODEL_VARS  # model-level recordings only
    wanted = SCOPE_VARS + (() if uid == "inference-exporter" else models)
    for name in wanted:
        var = variables.get(name)
        assert var is not None, f"{uid}: no {name} variable"
        assert var["type"] == "query", name
        assert var["datasource"]["uid"] in DATASOURCE_UIDS, name
        assert var["label"] == name.title(), name
        assert var["refresh"] == 2, f"{name}: template-on-time-change-reload"
        if (uid, name) in SINGLE_SELECT:
            continue
        if (uid, name) in PICKED:
            assert var["multi"] and not var["includeAll"], f"{name}: multi-select without All"
            continue
        assert var["multi"] and var["includeAll"], f"{name}: multi-select with All"
        assert var["allValue"] == ".*", name


@pytest.mark.parametrize("uid", UIDS)
def test_repeated_panels_stay_few_at_any_fleet_size(uid):
    """A panel repeated over a variable at All draws one copy per value: at a thousand models,
    thousands of panels. Repeats go over picked values (no All), or over a hidden variable that
    lists what one selected model has (the model dashboard's server kinds)."""
    variables = {v["name"]: v for v in BOARDS[uid]["templating"]["list"]}
    one_model = variables.get("model", {}).get("multi") is False
    for p in panels_of(BOARDS[uid]):
        if not p.get("repeat"):
            continue
        var = variables[p["repeat"]]
        bounded = not var["includeAll"] or (var["hide"] == 2 and one_model)
        assert bounded, f"{p['title']}: repeated over {p['repeat']}, which can be All of a fleet"


def test_the_model_dashboard_shows_exactly_one_model():
    """All would merge every server's bucket layout in one heatmap and touch the whole fleet."""
    (var,) = [v for v in BOARDS["inference-model"]["templating"]["list"] if v["name"] == "model"]
    assert var["multi"] is False and var["includeAll"] is False
    assert "allValue" not in var and "current" not in var  # Grafana selects the first model


def test_one_latency_heatmap_per_server_kind():
    board = BOARDS["inference-model"]
    (heat,) = [p for p in panels_of(board) if p["type"] == "heatmap"]
    assert heat["repeat"] == "server" and "$server" in heat["title"]
    (expr,) = [t["expr"] for t in heat["targets"]]
    assert 'server=~"$server"' in expr and expr.startswith("sum by (le) (")


def test_model_dashboard_reads_recorded_quantiles_where_the_pack_records_them():
    recorded = {r["record"] for r in rules() if "record" in r}
    for p in panels_of(BOARDS["inference-model"]):
        for t in p["targets"]:
            for name in metric_names(t["expr"]):
                if not name.endswith("_bucket") or p["type"] == "heatmap":
                    continue
                base = name.removesuffix("_bucket")
                legend = t["legendFormat"]
                quantile = re.search(r"p(\d+)", legend)
                if quantile:
                    rule = f"model:{base}:p{quantile.group(1)}_rate5m"
                    assert rule not in recorded, f"{p['title']}: {legend} from buckets, but {rule} exists"


@pytest.mark.parametrize("uid", UIDS)
def test_template_label_queries_are_label_values_over_known_variables(uid):
    names = {v["name"] for v in BOARDS[uid]["templating"]["list"]}
    for var in BOARDS[uid]["templating"]["list"]:
        if var["type"] != "query":
            continue
        selector, label = variable_selector(var)
        assert label == var["name"] or var.get("hide") == 2, var["name"]
        for ref in re.findall(r"\$(\w+)", selector):
            assert ref in names, f"{var['name']} refers to unknown ${ref}"


@pytest.mark.parametrize("uid", UIDS)
def test_every_variable_is_used_by_a_panel(uid):
    board = BOARDS[uid]
    texts = [t["expr"] for p in panels_of(board) for t in p.get("targets", [])]
    texts += [p.get("repeat", "") for p in board["panels"]]
    for var in board["templating"]["list"]:
        if var["type"] == "query":
            name = var["name"]
            assert any(f"${name}" in t or t == name for t in texts), f"{uid}: ${name} unused"


@pytest.mark.parametrize("uid", UIDS)
def test_uneditable_and_datasource_everywhere(uid):
    board = BOARDS[uid]
    assert board["editable"] is False
    for ann in board["annotations"]["list"]:
        if "expr" in ann:
            assert ann["datasource"]["uid"] in DATASOURCE_UIDS, ann["name"]


# --- panel rules ------------------------------------------------------------------------------


@pytest.mark.parametrize("item", all_panels(), ids=_id)
def test_panel_datasource(item):
    _, p = item
    assert p["datasource"]["uid"] in DATASOURCE_UIDS
    assert all(t["datasource"]["uid"] in DATASOURCE_UIDS for t in p["targets"])


@pytest.mark.parametrize("item", all_panels(), ids=_id)
def test_panel_title_and_description_naming_its_metrics(item):
    _, p = item
    assert p["title"].strip() and p["description"].strip()
    for t in p["targets"]:
        for name in metric_names(t["expr"]):
            assert f"`{name}`" in p["description"], f"description does not name {name}"


@pytest.mark.parametrize("item", all_panels(), ids=_id)
def test_panel_units(item):
    _, p = item
    units = [p["fieldConfig"]["defaults"].get("unit", "")]
    for o in p["fieldConfig"]["overrides"]:
        units += [prop["value"] for prop in o["properties"] if prop["id"] == "unit"]
    if p["type"] == "heatmap":
        units.append(p["options"]["yAxis"]["unit"])
    for unit in units:
        assert unit in VALID_UNITS, f"unit {unit!r}"


@pytest.mark.parametrize("item", all_panels(), ids=_id)
def test_panel_has_targets(item):
    _, p = item
    assert p["targets"] and all(t["expr"].strip() for t in p["targets"])
    assert len({t["refId"] for t in p["targets"]}) == len(p["targets"])


# --- target rules ----------------------------------------------------------------------------


@pytest.mark.parametrize("e", panel_exprs(), ids=str)
def test_target_selectors_filter_on_job_instance_and_scope(e):
    """target-job, target-instance, and the same for cluster/namespace.

    Exempt, with the reason kubernetes-mixin's .lint gives for the same rules: the rule
    pack's `model:` series, which keep only its model labels; they filter on exactly the
    variables whose labels they carry, as a job matcher would empty them.
    """
    found = selectors(e.expr)
    assert found, f"no selector in {e.expr}"
    for name, matchers, _, _ in found:
        if name.startswith("model:"):
            for var in SCOPE_VARS + MODEL_VARS:
                has = f'{var}=~"${var}"' in matchers
                assert has == (var in RECORDED_LABELS), f"{name}: matcher on {var} should be {not has}"
            continue
        for var in SCOPE_VARS:
            assert f'{var}=~"${var}"' in matchers, f'{name} lacks {var}=~"${var}"'


@pytest.mark.parametrize("e", panel_exprs(), ids=str)
def test_target_rate_interval(e):
    for func, window in re.findall(r"\b(i?rate)\((?:[^\[\]]*)\[([^\]]*)\]", e.expr):
        assert window == "$__rate_interval", f"{func}() over [{window}]"


@pytest.mark.parametrize("e", panel_exprs(), ids=str)
def test_target_counters_are_rated(e):
    for name, _, start, end in selectors(e.expr):
        if not name.endswith(COUNTER_SUFFIXES) or ":" in name:
            continue  # gauges, and recording rules (already rates)
        before = e.expr[:start].rstrip()
        ranged = e.expr[end:].lstrip().startswith("[")
        if name.endswith("_bucket") and re.search(r"count by \([^)]*\) \($", before):
            continue  # counting bucket series (which `le` exist) reads no counter value
        assert ranged and before.endswith(RATE_FUNCS), f"counter {name} not inside rate/irate/increase"


def _divisions(expr: str) -> list[str]:
    """The denominator text of every `/` in EXPR."""
    masked = _mask(expr)
    out = []
    for m in re.finditer(r"/", masked):
        i = m.end()
        while masked[i] == " ":
            i += 1
        if masked[i] != "(":
            out.append(re.match(r"[\w.:]+", expr[i:]).group(0))
            continue
        depth, j = 0, i
        while True:
            depth += {"(": 1, ")": -1}.get(masked[j], 0)
            if depth == 0:
                break
            j += 1
        out.append(expr[i + 1 : j])
    return out


@pytest.mark.parametrize("item", all_panels(), ids=_id)
def test_ratios_are_guarded_and_say_no_traffic(item):
    _, p = item
    overrides = {
        o["matcher"]["options"]: {prop["id"]: prop["value"] for prop in o["properties"]}
        for o in p["fieldConfig"]["overrides"]
    }
    for t in p["targets"]:
        denominators = _divisions(t["expr"])
        for den in denominators:
            is_number = re.fullmatch(r"[\d.e+-]+", den.strip())
            assert is_number or den.rstrip().endswith("> 0"), f"unguarded denominator: {den}"
        if any(not re.fullmatch(r"[\d.e+-]+", d.strip()) for d in denominators):
            if p["type"] == "table":
                (organize,) = [x for x in p["transformations"] if x["id"] == "organize"]
                column = organize["options"]["renameByName"][f"Value #{t['refId']}"]
                no_value = overrides.get(column, {}).get("noValue")
            else:
                no_value = p["fieldConfig"]["defaults"].get("noValue")
            assert no_value == NO_TRAFFIC, f"ratio in {t['refId']} without 'No traffic'"


def test_linter_helpers_see_what_they_should():
    # The checks above are only as good as the selector parser: pin it on a known expression.
    expr = (
        'sum by (model, le) (rate(a_bucket{job=~"$job", x="{y}"}[$__rate_interval])) / '
        "(sum by (model) (b:rate5m) > 0) or on (model) c_total"
    )
    assert [s[0] for s in selectors(expr)] == ["a_bucket", "b:rate5m", "c_total"]
    assert _divisions(expr) == ["sum by (model) (b:rate5m) > 0"]


@pytest.mark.parametrize("item", [i for i in all_panels() if i[1]["type"] == "table"], ids=_id)
def test_table_columns_have_units_and_links_point_at_existing_columns(item):
    _, p = item
    (organize,) = [x for x in p["transformations"] if x["id"] == "organize"]
    columns = set(organize["options"]["renameByName"].values())
    keys = set(organize["options"]["indexByName"]) - set(organize["options"]["renameByName"])
    styled = {}
    for o in p["fieldConfig"]["overrides"]:
        styled[o["matcher"]["options"]] = {prop["id"] for prop in o["properties"]}
    for column in columns:
        assert "unit" in styled.get(column, set()), f"column {column!r} has no unit"
    for name, props in styled.items():
        assert name in columns | keys, f"override for {name!r}, which is no column"
        if "links" in props:
            assert name in keys, f"link on {name!r}, not a label column"
