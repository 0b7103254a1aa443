"""Shared test helpers: translate a fixture, compare with a golden file, run promtool."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from inference_devtools import prom
from inference_exporter import exposition, parser, servers
from inference_exporter.builder import Builder

# Kinds found by auto-detection (generic needs a mapping file; Ollama is told by its API banner).
DETECTABLE_KINDS = tuple(k for k, s in servers.all_kinds().items() if s.auto_detected)

TESTS = Path(__file__).resolve().parent
FIXTURES = TESTS / "fixtures"
GOLDEN = TESTS / "golden"


def read_fixture(relpath: str) -> str:
    return (FIXTURES / relpath).read_text()


def translate_text(
    kind: str, text: str, target: str = "t1", static: tuple = ()
) -> tuple[str, parser.Exposition]:
    """Parse with the adapter's wanted set and render the unified exposition as text."""
    server = servers.get(kind)
    exp = parser.parse(text, wanted=parser.wanted_names(server.native), resets=parser.ResetTracker())
    out = Builder((("target", target), ("server", kind)), static)
    server.translate(exp, out)
    return exposition.render_snapshots([out.finish()]).text.decode(), exp


def translate_fixture(kind: str, relpath: str, **kw) -> str:
    return translate_text(kind, read_fixture(relpath), **kw)[0]


def check_golden(name: str, text: str) -> None:
    """Compare with tests/golden/NAME.prom; UPDATE_GOLDEN=1 rewrites it."""
    path = GOLDEN / f"{name}.prom"
    if os.environ.get("UPDATE_GOLDEN") == "1" or not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        if os.environ.get("UPDATE_GOLDEN") != "1":
            raise AssertionError(f"golden file {path.name} did not exist; written now, check it in and rerun")
    assert text == path.read_text(), (
        f"unified output differs from {path}; rerun with UPDATE_GOLDEN=1 if intended"
    )


def sample_value(text: str, name: str, /, **labels: str) -> float | None:
    """Value of the sample NAME whose labels include LABELS (None if absent)."""
    from prometheus_client.parser import text_string_to_metric_families

    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                return s.value
    return None


def promtool_check_metrics(text: str) -> subprocess.CompletedProcess:
    return prom.check_metrics(text)
