"""promtool unit tests of every alert: fresh, passing, and covering the four required cases."""

from __future__ import annotations

import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml
from unit_cases import CASES

ROOT = Path(__file__).resolve().parents[2]
TESTS = sorted((ROOT / "rules" / "tests").glob("*.test.yml"))
PROMTOOL = shutil.which("promtool")


def rendered_alerts() -> set[str]:
    files = [p for p in (ROOT / "rules").glob("*.yml") if p.name != "config.yml"]
    return {
        r["alert"]
        for f in files
        for g in yaml.safe_load(f.read_text())["groups"]
        for r in g["rules"]
        if "alert" in r
    }


def test_every_alert_has_every_case_and_a_runbook():
    groups = {}
    for path in TESTS:
        for test in yaml.safe_load(path.read_text())["tests"]:
            groups[test["name"]] = test
    missing = []
    for alert in sorted(rendered_alerts()):
        missing += [f"{alert}: {case}" for case in CASES if f"{alert}: {case}" not in groups]
        if not (ROOT / "docs" / "runbooks" / f"{alert}.md").is_file():
            missing.append(f"docs/runbooks/{alert}.md")
        fires = groups.get(f"{alert}: fires")
        if fires:
            expected = [e for t in fires["alert_rule_test"] for e in t["exp_alerts"]]
            assert expected, f"{alert}: the fires case expects no alert"
            for e in expected:
                assert e["exp_labels"].get("severity"), f"{alert}: fires case does not assert labels"
                assert set(e["exp_annotations"]) == {
                    "summary",
                    "description",
                    "runbook_url",
                    "dashboard_url",
                }, alert
    assert not missing, missing


@pytest.fixture(scope="module")
def promtool_results():
    assert PROMTOOL is not None, "promtool missing: run 'make test'"

    def run(path: Path):
        return path.name, subprocess.run(
            [PROMTOOL, "test", "rules", path.name], cwd=path.parent, capture_output=True, text=True
        )

    # The anomaly file replays 26 hours per case; running the files side by side halves the wait.
    with ThreadPoolExecutor(max_workers=len(TESTS)) as pool:
        return dict(pool.map(run, TESTS))


@pytest.mark.parametrize("name", [p.name for p in TESTS])
def test_promtool_unit_tests_pass(promtool_results, name):
    result = promtool_results[name]
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
