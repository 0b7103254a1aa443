"""The exporter's own process_* series agree with psutil and parse as both formats."""

import os

import psutil
from inference_exporter.selfmetrics import ProcessMetrics
from prometheus_client.openmetrics.parser import text_string_to_metric_families as om_parse
from prometheus_client.parser import text_string_to_metric_families


def test_values_agree_with_psutil():
    values = ProcessMetrics().values()
    me = psutil.Process(os.getpid())
    assert abs(values["process_start_time_seconds"] - me.create_time()) < 1.0
    rss = me.memory_info().rss
    assert abs(values["process_resident_memory_bytes"] - rss) < 0.1 * rss
    assert values["process_open_fds"] >= 3
    assert values["process_max_fds"] > values["process_open_fds"]
    assert values["process_cpu_seconds_total"] > 0


def test_renders_valid_text_and_openmetrics():
    text, om = ProcessMetrics().render()
    names = {s.name for f in text_string_to_metric_families(text) for s in f.samples}
    assert "process_cpu_seconds_total" in names and "process_resident_memory_bytes" in names
    families = {f.name: f.type for f in om_parse(om + "# EOF\n")}
    assert families["process_cpu_seconds"] == "counter"
