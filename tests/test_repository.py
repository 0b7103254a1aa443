"""Repository hygiene: lint, the metrics doc covers the schema, no machine-specific paths."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_ruff_lint_clean():
    ruff = shutil.which("ruff") or str(Path(sys.executable).parent / "ruff")
    result = subprocess.run([ruff, "check", "."], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_schema_metric_is_documented():
    from inference_exporter import schema

    doc = (ROOT / "docs" / "metrics.md").read_text()
    for metric in schema.ALL:
        assert f"`{metric.name}" in doc, metric.name


def test_no_machine_specific_paths_in_tracked_files():
    files = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True).stdout.split()
    pattern = re.compile(r"/(work|root|home)/[A-Za-z0-9_.-]+")
    offenders = []
    for name in files:
        path = ROOT / name
        if path.suffix in (".png", ".gz") or not path.is_file():
            continue
        text = path.read_text(errors="ignore")
        if pattern.search(text):
            offenders.append(name)
    assert not offenders, offenders
