"""The dashboard JSON is generated (its freshness: `make check-generated`): the generator writes
every dashboard and removes strays, its output is deterministic, and the ConfigMaps for the Grafana
sidecar carry exactly the committed dashboards."""

from __future__ import annotations

import json
import subprocess
import sys

import yaml
from board_walk import DASHBOARD_DIR, UIDS, load

GENERATE = DASHBOARD_DIR / "generate.py"


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(GENERATE), *args], capture_output=True, text=True)


def run_in(folder, *args: str) -> subprocess.CompletedProcess:
    """The generator writing into FOLDER only (dashboards and the docs page)."""
    return run("--out", str(folder), "--docs", str(folder / "dashboards.md"), *args)


def test_generation_repairs_stale_and_missing_files_and_removes_strays(tmp_path):
    assert run_in(tmp_path).returncode == 0
    fresh = {p.name: p.read_text() for p in tmp_path.iterdir()}
    (tmp_path / "inference-fleet.json").write_text("{}\n")
    (tmp_path / "inference-slo.json").unlink()
    (tmp_path / "old-dashboard.json").write_text("{}\n")
    (tmp_path / "dashboards.md").write_text("# edited by hand\n")
    result = run_in(tmp_path)
    assert result.returncode == 0 and "4 changed" in result.stdout, result.stdout
    assert {p.name: p.read_text() for p in tmp_path.iterdir()} == fresh


def test_docs_page_lists_every_panel():
    page = (DASHBOARD_DIR.parent / "docs" / "dashboards.md").read_text()
    for uid, board in load().items():
        assert f"(`{uid}`)" in page
        for p in board["panels"]:
            if p["type"] != "row":
                assert f"| {p['title'].replace('|', chr(92) + '|')} |" in page, p["title"]


def test_output_is_deterministic(tmp_path):
    first, second = tmp_path / "a", tmp_path / "b"
    run_in(first)
    run_in(second)
    for path in sorted(first.glob("*.json")):
        text = path.read_text()
        assert text == (second / path.name).read_text(), path.name
        assert text.endswith("}\n") and text.startswith("{\n  ")


def test_one_dashboard_per_fixed_uid_named_after_it():
    boards = load()
    assert sorted(boards) == sorted(UIDS)
    for uid in UIDS:
        assert json.loads((DASHBOARD_DIR / f"{uid}.json").read_text())["uid"] == uid


def test_configmaps_carry_the_dashboards_with_the_sidecar_label(tmp_path):
    other = tmp_path / "kustomization.yaml"
    other.write_text("resources: []\n")  # someone else's manifest in the same folder: left alone
    result = run_in(tmp_path / "json", "--configmaps", str(tmp_path), "--namespace", "monitoring")
    assert result.returncode == 0, result.stderr
    maps = sorted(tmp_path.glob("grafana-dashboard-*.yaml"))
    assert [m.name for m in maps] == sorted(f"grafana-dashboard-{uid}.yaml" for uid in UIDS)
    boards = load()
    for path in maps:
        cm = yaml.safe_load(path.read_text())
        assert cm["kind"] == "ConfigMap" and cm["apiVersion"] == "v1"
        assert cm["metadata"]["labels"]["grafana_dashboard"] == "1"
        assert cm["metadata"]["namespace"] == "monitoring"
        (file_name, text), *rest = cm["data"].items()
        assert not rest
        assert json.loads(text) == boards[file_name.removesuffix(".json")]
    assert other.exists()
    # A dashboard that no longer exists loses its ConfigMap; other manifests stay.
    (tmp_path / "grafana-dashboard-gone.yaml").write_text("{}\n")
    maps = ("--configmaps", str(tmp_path), "--namespace", "monitoring")
    assert run_in(tmp_path / "json", *maps).returncode == 0
    assert not (tmp_path / "grafana-dashboard-gone.yaml").exists() and other.exists()
