"""Slack templates rendered offline by ``amtool template render``: golden files plus the facts
an on-call person relies on (who, what version, how bad, where to look, how to silence)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import urllib.parse
from datetime import datetime
from pathlib import Path

import pytest
import yaml
from amstack import CONFIG, TEMPLATES, binary

GOLDEN = Path(__file__).resolve().parent / "golden"
EXTERNAL_URL = "http://alertmanager.example:9093"
# Each part of the Slack message, in the order the golden files list them.
PARTS = (
    "title",
    "title_link",
    "color",
    "page",
    "text",
    "fallback",
    "runbook_url",
    "dashboard_url",
    "silence_url",
)


def _group_by(labels: dict) -> list[str]:
    """The group_by of the route the committed config sends `labels` to."""
    route = yaml.safe_load(CONFIG.read_text())["route"]
    group_by = route["group_by"]
    while True:
        for child in route.get("routes") or []:
            wanted = [m.split("=", 1) for m in child.get("matchers", [])]
            if all(labels.get(k) == v.strip('"') for k, v in wanted):
                route = child
                group_by = child.get("group_by", group_by)
                break
        else:
            return group_by


def _silence_filters(text: str) -> list[dict[str, str]]:
    found = []
    for url in re.findall(r"<(http[^|>]+/#/silences/new\?filter=[^|>]+)\|", text):
        matchers = urllib.parse.parse_qs(urllib.parse.urlsplit(url).fragment.split("?", 1)[1])["filter"][0]
        found.append(dict(re.findall(r'(\w+)="([^"]*)"', matchers)))
    return found


def alert(status: str, target: str, **extra: str) -> dict:
    return {
        "status": status,
        "labels": {
            "alertname": "InferenceMeanLatencyHigh",
            "severity": "critical",
            "team": "search",
            "cluster": "prod-eu",
            "namespace": "search",
            "model": "ranker",
            "version": "7",
            "target": target,
        },
        "annotations": {
            "summary": "Model's mean latency is above its class limit.",
            "description": f"ranker version 7 on {target}: mean request duration 312ms over 5m, limit 80ms.",
            "runbook_url": "https://runbooks.example/InferenceMeanLatencyHigh.md",
            "dashboard_url": "https://grafana.example/d/inference-model?var-cluster=prod-eu&var-model=ranker",
            **extra,
        },
        "startsAt": "2026-11-29T10:00:00Z",
        "endsAt": "2026-11-29T10:12:30Z" if status == "resolved" else "0001-01-01T00:00:00Z",
    }


def group(alerts: list[dict]) -> dict:
    labels = alerts[0]["labels"]
    common_labels = {k: v for k, v in labels.items() if all(a["labels"].get(k) == v for a in alerts)}
    common_notes = {
        k: v for k, v in alerts[0]["annotations"].items() if all(a["annotations"].get(k) == v for a in alerts)
    }
    return {
        "receiver": "oncall-search",
        "status": "firing" if any(a["status"] == "firing" for a in alerts) else "resolved",
        "alerts": alerts,
        "groupLabels": {k: labels[k] for k in _group_by(labels) if k in labels},
        "commonLabels": common_labels,
        "commonAnnotations": common_notes,
        "externalURL": EXTERNAL_URL,
    }


CASES = {
    "firing_single": group([alert("firing", "ranker-triton", value="312ms")]),
    "firing_group_of_20": group([alert("firing", f"ranker-{i:02d}") for i in range(20)]),
    "resolved": group([alert("resolved", "ranker-triton")]),
}


def render(data: dict, part: str, tmp_path: Path) -> str:
    data_file = tmp_path / "data.json"
    data_file.write_text(json.dumps(data))
    result = subprocess.run(
        [
            binary("amtool"),
            "template",
            "render",
            f"--template.glob={TEMPLATES}/*.tmpl",
            f"--template.data={data_file}",
            f'--template.text={{{{ template "slack.inference.{part}" . }}}}',
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.fixture(params=sorted(CASES))
def message(request, tmp_path) -> tuple[str, dict[str, str]]:
    return request.param, {part: render(CASES[request.param], part, tmp_path) for part in PARTS}


def test_matches_golden_file(message):
    name, parts = message
    text = "".join(f"--- {part}\n{parts[part]}\n" for part in PARTS)
    path = GOLDEN / f"{name}.txt"
    if os.environ.get("UPDATE_GOLDEN") == "1" or not path.exists():
        path.write_text(text)
        if os.environ.get("UPDATE_GOLDEN") != "1":
            raise AssertionError(f"golden file {path.name} did not exist; written now, check it in and rerun")
    assert text == path.read_text(), f"{path} differs; rerun with UPDATE_GOLDEN=1 if intended"


def test_every_message_links_runbook_dashboard_and_a_silence_for_its_group(message):
    name, parts = message
    first = CASES[name]["alerts"][0]["annotations"]
    assert parts["runbook_url"] == first["runbook_url"]
    assert parts["dashboard_url"].startswith(first["dashboard_url"] + "&")
    silence = urllib.parse.urlsplit(parts["silence_url"])
    assert f"{silence.scheme}://{silence.netloc}" == EXTERNAL_URL
    matchers = urllib.parse.parse_qs(silence.fragment.split("?", 1)[1])["filter"][0]
    # The group's labels and, for a page group (no alert name in it), the alert name they share.
    wanted = {**CASES[name]["groupLabels"], "alertname": CASES[name]["commonLabels"]["alertname"]}
    expected = ",".join(f'{k}="{v}"' for k, v in sorted(wanted.items()))
    assert matchers == "{" + expected + "}"


def test_firing_single_names_model_version_target_value_and_description(tmp_path):
    data = CASES["firing_single"]
    title = render(data, "title", tmp_path)
    assert title == "[FIRING:1] InferenceMeanLatencyHigh · ranker (critical)"
    text = render(data, "text", tmp_path)
    notes = data["alerts"][0]["annotations"]
    for fact in ("*ranker*", "version 7", "target ranker-triton", "value 312ms", notes["description"]):
        assert fact in text
    assert render(data, "page", tmp_path).startswith("<!here>")
    assert render(data, "color", tmp_path) == "danger"


def _ms(rfc3339: str) -> int:
    return int(datetime.fromisoformat(rfc3339.replace("Z", "+00:00")).timestamp() * 1000)


@pytest.mark.parametrize("name", sorted(CASES))
def test_dashboard_links_open_the_alerts_model_version_and_time_range(name, tmp_path):
    """One click from Slack: the dashboard with the model, version and time of the alert."""
    data = CASES[name]
    first = data["alerts"][0]
    text = render(data, "text", tmp_path)
    links = re.findall(r"<([^|>]+)\|dashboard>", text)
    assert len(links) == min(10, len(data["alerts"]))
    for url in [*links, render(data, "dashboard_url", tmp_path)]:
        query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))
        assert query["var-model"] == first["labels"]["model"]
        assert query["var-version"] == first["labels"]["version"]
        assert int(query["from"]) == _ms(first["startsAt"]) - 3600_000  # an hour of context
        ended = _ms(first["endsAt"]) + 900_000 if first["status"] == "resolved" else "now"
        assert query["to"] == str(ended)


def test_without_a_dashboard_url_the_message_has_no_dashboard_link(tmp_path):
    bare = alert("firing", "ranker-triton")
    del bare["annotations"]["dashboard_url"]
    data = group([bare])
    assert "|dashboard>" not in render(data, "text", tmp_path)
    assert render(data, "dashboard_url", tmp_path) == EXTERNAL_URL  # the button opens Alertmanager


def test_group_of_20_lists_ten_and_counts_the_rest(tmp_path):
    data = CASES["firing_group_of_20"]
    assert render(data, "title", tmp_path).startswith("[FIRING:20] InferenceMeanLatencyHigh")
    text = render(data, "text", tmp_path)
    listed = [line for line in text.splitlines() if line.startswith("• ")]
    assert [line.split("target ")[1] for line in listed] == [f"ranker-{i:02d}" for i in range(10)]
    assert "…and 10 more" in text
    assert len(text) < 6000  # one readable Slack message, below the attachment limit


def test_resolved_message_is_distinct(tmp_path):
    data = CASES["resolved"]
    firing = CASES["firing_single"]
    assert render(data, "title", tmp_path).startswith("[RESOLVED:1] InferenceMeanLatencyHigh")
    assert render(data, "color", tmp_path) == "good" != render(firing, "color", tmp_path)
    text = render(data, "text", tmp_path)
    assert text.startswith("*Resolved*")
    assert "resolved after 12m30s" in text
    assert render(data, "page", tmp_path) == ""  # nobody is paged for good news


def test_defect17_silence_links_hold_exactly_the_alerts_they_name(tmp_path):
    """A TargetDown has no `model`: its silence must still name the team and the target, never
    every TargetDown of the cluster."""
    labels = {
        "alertname": "InferenceTargetDown",
        "severity": "critical",
        "team": "search",
        "cluster": "prod-eu",
        "namespace": "search",
        "job": "inference-exporter",
        "instance": "10.0.0.7:9400",
        "target": "ranker-triton",
        "server": "triton",
    }
    firing = {**alert("firing", "ranker-triton"), "labels": labels}
    data = group([firing])
    button = urllib.parse.urlsplit(render(data, "silence_url", tmp_path))
    matchers = urllib.parse.parse_qs(button.fragment.split("?", 1)[1])["filter"][0]
    assert 'team="search"' in matchers and 'alertname="InferenceTargetDown"' in matchers, matchers
    per_alert = _silence_filters(render(data, "text", tmp_path))
    assert per_alert == [labels], per_alert
