"""The rendered rule pack: fresh, valid for promtool, every name in the schema, every alert complete."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from inference_devtools import repo
from inference_exporter import schema

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "rules"
repo.use("rules")
from inference_devtools.promql import metric_names  # noqa: E402

RULE_FILES = sorted(p for p in RULES.glob("*.yml") if p.name != "config.yml")
PROMETHEUS_RULE = ROOT / "deploy" / "kubernetes" / "base" / "prometheusrule.yaml"
PROMTOOL = shutil.which("promtool")
# A missing promtool is a broken test machine: the tests that need it fail, they do not skip.
needs_promtool = pytest.mark.usefixtures("promtool_present")


@pytest.fixture
def promtool_present():
    assert PROMTOOL is not None, "promtool missing: run 'make test'"


def all_rules() -> list[dict]:
    return [r for f in RULE_FILES for g in yaml.safe_load(f.read_text())["groups"] for r in g["rules"]]


def test_every_rule_reads_only_schema_or_pack_series():
    # `up` is Prometheus' own; `ALERTS` too (a hysteresis reads whether its alert fires).
    known = {n for m in schema.ALL for n in schema.series_names(m)} | {"up", "ALERTS"}
    known |= {r["record"] for r in all_rules() if "record" in r}
    unknown = {}
    for rule in all_rules():
        missing = set(metric_names(rule["expr"])) - known
        if missing:
            unknown[rule.get("alert") or rule["record"]] = sorted(missing)
    assert not unknown, unknown


def test_name_extraction_sees_metrics_not_labels_or_functions():
    expr = (
        'sum by (model, le) (rate(inference_requests_total{job=~"a", outcome="failure"}[5m] offset 1d))\n'
        "/ on (model) group_left () (model:inference_requests:rate5m > 0) or vector(1)"
    )
    assert metric_names(expr) == ["inference_requests_total", "model:inference_requests:rate5m"]


@needs_promtool
@pytest.mark.parametrize("path", RULE_FILES, ids=lambda p: p.name)
def test_promtool_check_rules(path):
    result = subprocess.run([PROMTOOL, "check", "rules", str(path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


@needs_promtool
def test_prometheusrule_holds_the_same_valid_groups(tmp_path):
    manifest = yaml.safe_load(PROMETHEUS_RULE.read_text())
    assert manifest["apiVersion"] == "monitoring.coreos.com/v1" and manifest["kind"] == "PrometheusRule"
    groups = {g["name"]: g for f in RULE_FILES for g in yaml.safe_load(f.read_text())["groups"]}
    assert {g["name"]: g for g in manifest["spec"]["groups"]} == groups
    spec = tmp_path / "spec.yml"
    spec.write_text(yaml.safe_dump({"groups": manifest["spec"]["groups"]}))
    result = subprocess.run([PROMTOOL, "check", "rules", str(spec)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_is_routable_and_documented():
    dashboards = (
        "inference-fleet",
        "inference-model",
        "inference-resources",
        "inference-slo",
        "inference-anomalies",
        "inference-exporter",
    )
    for rule in (r for r in all_rules() if "alert" in r):
        name, ann = rule["alert"], rule["annotations"]
        assert rule["labels"]["severity"] in ("critical", "warning", "info"), name
        assert "{{" not in ann["summary"], f"{name}: summary must be static"
        # absent() has no labels to template; its description names the selector instead.
        assert "{{" in ann["description"] or "absent(" in rule["expr"], (
            f"{name}: description must be templated"
        )
        assert ann["runbook_url"].endswith(f"/{name}.md"), name
        assert any(f"/d/{uid}?" in ann["dashboard_url"] for uid in dashboards), name
        assert (ROOT / "docs" / "runbooks" / f"{name}.md").is_file(), f"{name}: no runbook page"
        if rule.get("annotations", {}).get("dashboard_url", "").find("var-model") >= 0:
            assert "$labels.model" in ann["description"], f"{name}: description must name the model"


def _divisor(expr: str, slash: int) -> str:
    """The operand right of the `/` at `slash`: a number or a parenthesised expression."""
    rest = re.sub(
        r"^\s*(on|ignoring)\s*\([^)]*\)\s*(group_left|group_right)?\s*(\([^)]*\))?", "", expr[slash + 1 :]
    )
    rest = rest.lstrip()
    if not rest.startswith("("):
        return rest.split()[0]
    depth = 0
    for j, ch in enumerate(rest):
        depth += {"(": 1, ")": -1}.get(ch, 0)
        if depth == 0:
            return rest[: j + 1]
    raise AssertionError(f"unbalanced: {expr!r}")


def test_ratios_never_divide_by_a_possible_zero():
    """Every divisor is a constant or ends in `> 0`, so zero traffic gives no sample, not NaN/Inf."""
    for rule in all_rules():
        expr = rule["expr"]
        for slash in (i for i, ch in enumerate(expr) if ch == "/"):
            divisor = _divisor(expr, slash)
            guarded = re.fullmatch(r"[0-9.]+", divisor.rstrip(",)")) or re.search(r">\s*0\s*\)$", divisor)
            assert guarded, f"{rule.get('alert') or rule['record']}: divisor {divisor!r} may be zero"


def test_burn_rate_pages_read_recorded_traffic_floors():
    """The pages' traffic floors (requests over 30 minutes or an hour) are recorded once and every
    class and tier reads them, instead of each burn rule averaging the rates itself."""
    groups = {g["name"]: g for f in RULE_FILES for g in yaml.safe_load(f.read_text())["groups"]}
    burn = [r for r in groups["inference.slo.alerts"]["rules"] if "BudgetBurn" in r["alert"]]
    assert burn and all("_over_time" not in r["expr"] for r in burn), [
        r["alert"] for r in burn if "_over_time" in r["expr"]
    ]
    floors = re.findall(r"(model:[a-z_:]+:rate(?:30m|1h))\{", "\n".join(r["expr"] for r in burn))
    recorded = {r["record"]: r["expr"] for r in groups["inference.slo.recording"]["rules"]}
    assert floors and set(floors) <= set(recorded)
    for name in set(floors):
        window = name.rsplit(":rate", 1)[1]
        assert recorded[name] == f"avg_over_time({name.rsplit(':rate', 1)[0]}:rate5m[{window}])"


def test_hourly_tickets_do_not_run_every_minute():
    """InferenceLatencySLIMissing waits a day (`for: 1d`) and groups the raw request counters of
    every model: it runs in a slower group than the pages."""
    for f in RULE_FILES:
        for g in yaml.safe_load(f.read_text())["groups"]:
            for r in g["rules"]:
                if r.get("alert") == "InferenceLatencySLIMissing":
                    assert g["interval"] != "1m", g["name"]
