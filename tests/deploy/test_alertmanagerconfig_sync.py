"""The operator's AlertmanagerConfig says what alertmanager/alertmanager.yml says.

The resource is generated (alertmanager/to_operator.py; `make check-generated` fails when the
committed copy is stale). These tests prove the translation loses nothing: converted back into Alertmanager's
own format (as the operator does when it builds the running config), it routes, inhibits
and mutes exactly like the source, as amtool reads both.
"""

from __future__ import annotations

import copy
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from inference_devtools import repo
from manifests import load_all

REPO = repo.ROOT
SOURCE = REPO / "alertmanager" / "alertmanager.yml"
COMMITTED = REPO / "deploy" / "kubernetes" / "base" / "alertmanagerconfig.yaml"
repo.use("alertmanager")

import to_operator  # noqa: E402

MATCHER = re.compile(r'^\s*(\w+)\s*(=~|!~|!=|=)\s*"?(.*?)"?\s*$')


def _snake(key: str) -> str:
    return re.sub(r"(?<=[a-z])([A-Z]+)", r"_\1", key).lower()  # apiURL -> api_url, groupBy -> group_by


def _matcher(m: dict) -> str:
    return f"{m['name']}{m['matchType']}{json.dumps(m['value'])}"


def _normal_matcher(text: str) -> str:
    name, op, value = MATCHER.match(text).groups()
    return f"{name}{op}{json.dumps(value)}"


def back_to_alertmanager(resource: dict) -> dict:
    """The resource's spec in alertmanager.yml's own format."""

    def plain(obj):
        if isinstance(obj, dict):
            return {_snake(k): plain(v) for k, v in obj.items()}
        if isinstance(obj, list):
            return [plain(v) for v in obj]
        return obj

    spec = copy.deepcopy(resource["spec"])

    def route(r: dict) -> dict:
        out = plain({k: v for k, v in r.items() if k not in ("matchers", "routes")})
        if "matchers" in r:
            out["matchers"] = [_matcher(m) for m in r["matchers"]]
        if "routes" in r:
            out["routes"] = [route(child) for child in r["routes"]]
        return out

    receivers = []
    for receiver in spec["receivers"]:
        out = {"name": receiver["name"]}
        if "slackConfigs" in receiver:
            out["slack_configs"] = [plain(s) for s in receiver["slackConfigs"]]
            for s in out["slack_configs"]:
                assert s.pop("api_url") == {"name": "alertmanager-slack", "key": "webhook-url"}
        receivers.append(out)
    return {
        "route": route(spec["route"]),
        "receivers": receivers,
        "inhibit_rules": [
            {
                "source_matchers": [_matcher(m) for m in rule["sourceMatch"]],
                "target_matchers": [_matcher(m) for m in rule["targetMatch"]],
                "equal": rule["equal"],
            }
            for rule in spec.get("inhibitRules", [])
        ],
        "time_intervals": plain(spec.get("muteTimeIntervals", [])),
    }


def normalised_source() -> dict:
    config = yaml.safe_load(SOURCE.read_text())

    def route(r: dict) -> dict:
        out = dict(r)
        if "matchers" in r:
            out["matchers"] = [_normal_matcher(m) for m in r["matchers"]]
        if "routes" in r:
            out["routes"] = [route(child) for child in r["routes"]]
        return out

    for rule in config["inhibit_rules"]:
        rule["source_matchers"] = [_normal_matcher(m) for m in rule["source_matchers"]]
        rule["target_matchers"] = [_normal_matcher(m) for m in rule["target_matchers"]]
    return {
        "route": route(config["route"]),
        "receivers": config["receivers"],
        "inhibit_rules": config["inhibit_rules"],
        "time_intervals": config["time_intervals"],
    }


@pytest.fixture(scope="module")
def resource() -> dict:
    (obj,) = load_all(COMMITTED.read_text())
    return obj


@pytest.mark.parametrize("part", ["route", "receivers", "inhibit_rules", "time_intervals"])
def test_translation_loses_nothing(resource, part):
    assert back_to_alertmanager(resource)[part] == normalised_source()[part]


def test_routes_read_by_amtool_are_the_same(resource, tmp_path):
    amtool = shutil.which("amtool")
    assert amtool, "amtool missing: run 'make test' (it installs the Debian prometheus-alertmanager package)"
    converted = {
        "global": {"slack_api_url": "https://hooks.slack.invalid/placeholder"},
        "templates": [str(SOURCE.parent / "templates" / "*.tmpl")],
        **back_to_alertmanager(resource),
    }
    path = tmp_path / "from-resource.yml"
    path.write_text(yaml.safe_dump(converted, sort_keys=False))
    check = subprocess.run([amtool, "check-config", str(path)], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr

    def tree(config: Path) -> str:
        shown = subprocess.run(
            [amtool, "config", "routes", "show", f"--config.file={config}"],
            capture_output=True,
            text=True,
            check=True,
        )
        return shown.stdout

    assert tree(path) == tree(SOURCE)


@pytest.mark.parametrize(
    ("edit", "named"),
    [
        (lambda c: c["receivers"][1].update(webhook_configs=[{"url": "http://x"}]), "receivers[1]"),
        (lambda c: c["time_intervals"][0]["time_intervals"][0].update(location="Europe/Berlin"), "location"),
        (lambda c: c["route"]["routes"][1].update(match={"team": "search"}), "route.routes[1]"),
        (lambda c: c.update(mute_time_intervals=[]), "mute_time_intervals"),
    ],
)
def test_what_a_resource_cannot_hold_is_refused_by_its_path(tmp_path, edit, named):
    config = yaml.safe_load(SOURCE.read_text())
    edit(config)
    source = tmp_path / "alertmanager.yml"
    source.write_text(yaml.safe_dump(config))
    with pytest.raises(to_operator.Untranslatable, match=re.escape(named)):
        to_operator.render(source)


def test_exporter_absent_reaches_the_team_through_the_operators_namespace_matcher(resource, tmp_path):
    """Issue 12, defect 3: the operator puts `namespace="<the resource's namespace>"` on the
    resource's top route. The absent page, with the labels the rule pack really gives it,
    must pass that matcher and reach the team's on-call receiver, not the root's `null`."""
    amtool = shutil.which("amtool")
    assert amtool, "amtool missing: run 'make test'"
    from scenarios.promprobe import Case, Probe, run, series, values

    pod = {"job": "inference-exporter", "instance": "10.0.0.1:9400", "namespace": "inference"}
    served = {**pod, "team": "search", "model_class": "ranking", "model": "ranker", "target": "triton",
              "server": "triton", "version": "1"}  # fmt: skip
    case = Case(
        "absent",
        [series("up", pod, values([1] * 30)), series("inference_model_info", served, values([1] * 30))],
        [Probe("absent", 'ALERTS{alertname="InferenceExporterAbsent", alertstate="firing"}', "60m")],
    )
    result = run([case])
    assert not result.errors, result.errors
    fired = [labels for labels, _ in result.get("absent", "absent")]
    assert fired, "InferenceExporterAbsent did not fire"
    operator_route = back_to_alertmanager(resource)["route"]
    operator_route["matchers"] = ['namespace="inference"', *operator_route.get("matchers", [])]
    config = {
        "global": {"slack_api_url": "https://hooks.slack.invalid/placeholder"},
        "route": {"receiver": "null", "routes": [operator_route]},
        "receivers": back_to_alertmanager(resource)["receivers"],  # it has a "null" receiver
        "time_intervals": back_to_alertmanager(resource)["time_intervals"],
    }
    path = tmp_path / "operator.yml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    for labels in fired:
        pairs = [f"{k}={v}" for k, v in labels.items() if k not in ("__name__", "alertstate")]
        shown = subprocess.run(
            [amtool, "config", "routes", "test", f"--config.file={path}", *pairs],
            capture_output=True,
            text=True,
        )
        assert shown.stdout.strip() == "oncall-search", (labels, shown.stdout, shown.stderr)
