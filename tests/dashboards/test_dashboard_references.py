"""No dangling names: every metric a dashboard reads exists in the schema or the rule pack's
recording rules, and every `dashboard_url` of the rule pack opens an existing dashboard with
variables it has."""

from __future__ import annotations

import functools
import re
import shutil
import subprocess
from urllib.parse import parse_qsl, urlsplit

import pytest
import yaml
from board_walk import ROOT, expressions, load, metric_names, rule_files, rules
from inference_devtools import repo
from inference_exporter import schema

BOARDS = load()
# Series Prometheus itself writes; the dashboards show alert state from it.
PROMETHEUS_SERIES = {"ALERTS": "alert state of every rule: the firing-alerts panels read it"}


@functools.cache
def schema_series() -> frozenset[str]:
    return frozenset(name for metric in schema.ALL for name in schema.series_names(metric))


def recorded() -> set[str]:
    return {r["record"] for r in rules() if "record" in r}


def test_the_rule_pack_is_rendered():
    assert rule_files(), "no rendered rule files: run python rules/generate.py"


@pytest.mark.parametrize("e", expressions(BOARDS), ids=str)
def test_every_metric_exists_in_the_schema_or_the_recording_rules(e):
    known = schema_series() | recorded() | set(PROMETHEUS_SERIES)
    names = metric_names(e.expr)
    assert names, f"no metric in {e.expr}"
    dangling = [n for n in names if n not in known]
    assert not dangling, f"{e}: {dangling} neither in schema.py nor recorded in rules/*.yml"


def _dashboard_urls() -> list[tuple[str, str]]:
    out = []
    for rule in rules():
        url = rule.get("annotations", {}).get("dashboard_url")
        if url:
            out.append((rule["alert"], url))
    return out


def test_every_alert_links_a_dashboard():
    alerts = [r["alert"] for r in rules() if "alert" in r]
    assert alerts, "no alerts in rules/*.yml"
    linked = {name for name, _ in _dashboard_urls()}
    assert set(alerts) == linked, f"alerts without dashboard_url: {sorted(set(alerts) - linked)}"


@pytest.mark.parametrize("alert, url", _dashboard_urls(), ids=lambda x: x if "/" not in x else "")
def test_dashboard_url_opens_an_existing_dashboard_and_its_variables(alert, url):
    parts = urlsplit(url)
    assert parts.path.startswith("/d/"), f"{alert}: {url}"
    uid = parts.path.removeprefix("/d/").split("/")[0]
    assert uid in BOARDS, f"{alert}: dashboard uid {uid!r} does not exist"
    variables = {v["name"] for v in BOARDS[uid]["templating"]["list"]}
    for key, _ in parse_qsl(parts.query, keep_blank_values=True):
        assert key.startswith("var-"), f"{alert}: unexpected parameter {key}"
        assert key.removeprefix("var-") in variables, f"{alert}: {uid} has no variable {key}"


def test_without_a_grafana_url_the_pack_writes_no_dashboard_url(tmp_path):
    """A link to a Grafana nobody configured (grafana.example.com) is worse than none."""
    config = yaml.safe_load((ROOT / "rules" / "config.yml").read_text())
    config["urls"]["grafana"] = ""
    path = tmp_path / "config.yml"
    path.write_text(yaml.safe_dump(config))
    generator = repo.load("rules/generate.py", "rule_pack_generate")
    rendered = generator.render(path)
    alerts = [
        r
        for name, text in rendered.items()
        if name.suffix == ".yml" and "groups:" in text
        for g in yaml.safe_load(text)["groups"]
        for r in g["rules"]
        if "alert" in r
    ]
    assert alerts and all("dashboard_url" not in r["annotations"] for r in alerts)
    assert all("runbook_url" in r["annotations"] for r in alerts)
    runbooks = [text for name, text in rendered.items() if name.suffix == ".md" and "Dashboard: `" in text]
    assert runbooks and all("Dashboard: `/d/inference-" in text for text in runbooks)


def test_the_documented_performance_index_is_a_valid_rule_over_recorded_series(tmp_path):
    doc = (ROOT / "docs" / "model-performance-index.md").read_text()
    (block,) = re.findall(r"```yaml\n(.*?)```", doc, re.S)
    path = tmp_path / "index.yml"
    path.write_text(block)
    promtool = shutil.which("promtool")
    assert promtool, "promtool missing: run 'make test' (it installs the Debian prometheus package)"
    checked = subprocess.run([promtool, "check", "rules", str(path)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    (rule,) = [r for g in yaml.safe_load(block)["groups"] for r in g["rules"]]
    assert set(metric_names(rule["expr"])) <= recorded()
    assert "model-performance-index.md" in (ROOT / "docs" / "metrics.md").read_text()
