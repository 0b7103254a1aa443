"""Events from outside the health probes: collection up/down, GPU XIDs, SIGHUP reloads."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

from fake_api import FakeAPI
from inference_exporter import schema
from inference_exporter.builder import Builder
from inference_exporter.config import loads
from inference_exporter.exporter import Exporter
from inference_exporter.journal import Journal, read

NATIVE = 'nv_inference_request_success{model="ranker",version="1"} 5\n'


def _wait(predicate, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError("condition not met")


def test_without_probes_the_collection_gives_up_and_down_events(tmp_path):
    api = FakeAPI()
    api.routes[("GET", "/metrics")] = (200, NATIVE.encode())
    journal = Journal(tmp_path)
    config = loads(
        f"targets:\n  - name: r\n    kind: triton\n    metrics_url: {api.url}/metrics\n"
        "    scrape_interval: 0.1s\n    scrape_timeout: 0.1s\n"
    )
    assert not config.targets[0].health.enabled  # no api_url, no models: no probes
    exporter = Exporter(config, journal=journal)
    exporter.start()
    try:
        _wait(lambda: journal.counts["target_up"] == 1)
        api.routes[("GET", "/metrics")] = (500, b"")
        _wait(lambda: journal.counts["target_down"] == 1)
        time.sleep(0.3)  # further failures are no new events
    finally:
        exporter.stop()
        api.close()
        journal.close()
    events = read(tmp_path)
    assert [e["type"] for e in events] == ["target_up", "target_down"]
    assert events[1]["details"] == {"reason": "http_status"}


def _xid_snapshot(count: float):
    out = Builder()
    labels = dict.fromkeys(schema.get("inference_gpu_xid_errors_total").labels, "")
    labels.update(gpu="0", uuid="GPU-1", xid="79")
    out.counter("inference_gpu_xid_errors_total", count, **labels)
    return out.finish()


def test_a_rising_xid_count_is_a_gpu_xid_event(tmp_path):
    from inference_exporter.collectors.gpu import XidEvents

    journal = Journal(tmp_path)
    events = XidEvents(journal)
    events.observe(_xid_snapshot(2))  # what the exporter found at start is not news
    events.observe(_xid_snapshot(2))
    events.observe(_xid_snapshot(5))
    journal.close()
    (event,) = read(tmp_path)
    assert event["type"] == "gpu_xid" and event["severity"] == "critical"
    assert event["details"] == {"gpu_uuid": "GPU-1", "xid": "79", "count": 5, "new": 3}


def test_sighup_reloads_and_a_bad_file_keeps_the_running_config(tmp_path):
    api = FakeAPI()
    api.v2_server({"ranker": ["1"]})
    config = tmp_path / "config.yml"
    body = "targets:\n  - name: r\n    kind: triton\n"
    body += f"    metrics_url: {api.url}/metrics\n    api_url: {api.url}\n"
    config.write_text(body)
    journal = tmp_path / "journal"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "inference_exporter",
            f"--config.file={config}",
            "--web.listen-address=127.0.0.1:0",
            f"--journal.path={journal}",
            "--no-collector.gpu",
            "--no-collector.process",
            "--no-collector.container",
        ],
        stderr=subprocess.PIPE,
        text=True,
    )

    def types():
        return [e["type"] for e in read(journal)]

    try:
        _wait(lambda: "target_up" in types(), timeout=20)
        config.write_text(body.replace("name: r", "name: r2"))
        proc.send_signal(signal.SIGHUP)
        _wait(lambda: "config_reload" in types())
        config.write_text(body + "    colour: red\n")
        proc.send_signal(signal.SIGHUP)
        _wait(lambda: "config_reload_failed" in types())
        assert proc.poll() is None  # a bad reload never stops the exporter
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=10)
        api.close()
    events = [
        json.loads(line) for p in sorted(Path(journal).iterdir()) for line in p.read_text().splitlines()
    ]
    reload = next(e for e in events if e["type"] == "config_reload")
    assert reload["details"]["added"] == ["r2"] and reload["details"]["removed"] == ["r"]
    failed = next(e for e in events if e["type"] == "config_reload_failed")
    assert "targets[0].colour: unknown key" in failed["details"]["error"]
    assert "config reload failed" in err
