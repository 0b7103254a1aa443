"""The demo's time-compressed rule pack and fast routes (deploy/local/demo_speed.py)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from amstack import CONFIG, REPO
from inference_devtools import repo

repo.use("deploy/local")

import demo_speed  # noqa: E402

RULE_FILES = sorted(str(p) for p in (REPO / "rules").glob("*.yml") if p.name != "config.yml")


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("rate(x[5m])", "rate(x[10s])"),  # 300 s / 30
        ("rate(x[1m])", "rate(x[4s])"),  # 2 s would starve rate(): the floor holds
        ("sum_over_time(r[30d:1h])", "sum_over_time(r[86400s:120s])"),
        ("avg_over_time(r[1h] offset 23h30m)", "avg_over_time(r[120s] offset 2820s)"),
        ("x offset 167h30m > 3600", "x offset 20100s > 3600"),  # numbers are not durations
    ],
)
def test_durations_in_expressions_are_divided_by_speed(expr, expected):
    assert demo_speed.compress_expr(expr, speed=30, min_window_s=4) == expected


def test_rule_pack_at_demo_speed_loads_in_prometheus(tmp_path):
    promtool = shutil.which("promtool")
    assert promtool, "promtool missing: run 'make test' (it installs the Debian prometheus package)"
    written = demo_speed.write(RULE_FILES, tmp_path, speed=30, min_window_s=4, interval_s=1)
    result = subprocess.run([promtool, "check", "rules", *written], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    for path in written:
        for group in yaml.safe_load(Path(path).read_text())["groups"]:
            assert group["interval"] == "1s"
            assert all(r.get("for", "0s").endswith("s") for r in group["rules"])


def _alerts(paths: list[str]) -> list[dict]:
    groups = [g for p in paths for g in yaml.safe_load(Path(p).read_text())["groups"]]
    return [r for g in groups for r in g["rules"] if "alert" in r]


@pytest.mark.parametrize("grafana", ["http://127.0.0.1:3300", ""])
def test_demo_alerts_link_the_demos_grafana_or_nothing(tmp_path, grafana):
    """Not the configured Grafana (grafana.example.com): the demo's own, or no link at all."""
    originals = [r["annotations"]["dashboard_url"] for r in _alerts(RULE_FILES)]
    written = demo_speed.write(RULE_FILES, tmp_path, speed=30, min_window_s=4, interval_s=1, grafana=grafana)
    alerts = _alerts(written)
    assert len(alerts) == len(originals)
    for rule, original in zip(alerts, originals, strict=True):
        url = rule["annotations"].get("dashboard_url")
        if not grafana:
            assert url is None, rule["alert"]
            continue
        assert url == f"{grafana}/d/{original.split('/d/', 1)[1]}", rule["alert"]


def test_fast_routes_retime_every_route_that_sets_its_own(tmp_path):
    config = yaml.safe_load(demo_speed.fast_routes(CONFIG.read_text()))

    def walk(route):
        yield route
        for child in route.get("routes") or []:
            yield from walk(child)

    root = config["route"]
    assert {k: root[k] for k in demo_speed.ROUTE_TIMINGS} == demo_speed.ROUTE_TIMINGS
    for route in walk(root):
        for key in set(route) & set(demo_speed.ROUTE_TIMINGS):
            assert route[key] == demo_speed.ROUTE_TIMINGS[key]
    path = tmp_path / "am.yml"
    config["templates"] = [str(CONFIG.parent / t) for t in config["templates"]]
    path.write_text(yaml.safe_dump(config))
    check = subprocess.run(
        [shutil.which("amtool"), "check-config", str(path)], capture_output=True, text=True
    )
    assert check.returncode == 0, check.stdout + check.stderr
