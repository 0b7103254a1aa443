"""Run one target's health checker against a FakeAPI and read what it exported."""

from __future__ import annotations

import textwrap

from helpers import sample_value
from inference_exporter import exposition
from inference_exporter.config import loads
from inference_exporter.health.probes import HealthChecker
from inference_exporter.journal import Journal


def target_config(api_url: str, kind: str, models_yaml: str = "", extra: str = ""):
    text = (
        "targets:\n"
        "  - name: t\n"
        f"    kind: {kind}\n"
        f"    metrics_url: {api_url}/metrics\n"
        f"    api_url: {api_url}\n"
        + textwrap.indent(textwrap.dedent(extra), "    ")
        + ("    models:\n" + textwrap.indent(textwrap.dedent(models_yaml), "      ") if models_yaml else "")
    )
    return loads(text).targets[0]


class Checked:
    """A HealthChecker with a journal; ``run()`` returns the text and OpenMetrics expositions."""

    def __init__(self, target, journal_path, traffic=lambda: None):
        self.journal = Journal(journal_path, fsync="never")
        self.checker = HealthChecker(target, self.journal, traffic=traffic)

    def run(self) -> tuple[str, str]:
        rendering = exposition.render_snapshots([self.checker.collect()])
        return rendering.text.decode(), rendering.openmetrics.decode()

    def value(self, name: str, **labels) -> float | None:
        return sample_value(self.run()[0], name, **labels)

    def events(self, *types: str) -> list[dict]:
        return [e for e in self.journal.read() if not types or e["type"] in types]

    def close(self):
        self.checker.close()
        self.journal.close()
