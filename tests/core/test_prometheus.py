"""A real Prometheus scrapes the real exporter; PromQL over the unified names works."""

import os
import subprocess
import sys
import time

import pytest
import requests
from fake_targets import FakeTarget
from helpers import promtool_check_metrics, read_fixture
from inference_devtools.prom import Prometheus, free_port

TRITON = read_fixture("triton/pytriton-0.7.0-tritonserver-2.51.prom")


@pytest.fixture
def exporter(tmp_path):
    target = FakeTarget(TRITON)
    port = free_port()
    config = tmp_path / "exporter.yml"
    pid_file = tmp_path / "server.pid"
    pid_file.write_text(str(os.getpid()))  # the fake model server runs inside this test process
    config.write_text(
        "global: {scrape_interval: 1s, scrape_timeout: 1s, labels: {cluster: test}}\n"
        f"targets:\n  - name: ranker\n    metrics_url: {target.url}\n    labels: {{team: search}}\n"
        f"    process: {{pid_file: {pid_file}}}\n"
    )
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "inference_exporter",
            f"--config.file={config}",
            f"--web.listen-address=127.0.0.1:{port}",
            f"--journal.path={tmp_path / 'journal'}",  # not ./inference-exporter-journal in the repository
        ],
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while True:
        try:
            if requests.get(url + "/-/ready", timeout=1).status_code == 200:
                break
        except requests.RequestException:
            pass
        assert proc.poll() is None and time.monotonic() < deadline, "exporter did not become ready"
        time.sleep(0.1)
    yield port, url
    proc.terminate()
    proc.wait(10)
    target.close()


def test_prometheus_scrapes_unified_metrics(tmp_path, exporter):
    port, _ = exporter
    prom = Prometheus(
        tmp_path / "prom",
        f"""
global: {{scrape_interval: 1s, evaluation_interval: 1s}}
scrape_configs:
  - job_name: inference-exporter
    static_configs: [{{targets: ['127.0.0.1:{port}']}}]
""",
    )
    try:
        ok = prom.wait_for('sum by (model, team) (inference_requests_total{outcome="success"})', lambda r: r)
        assert ok[0]["metric"] == {"model": "ranker", "team": "search"} and float(ok[0]["value"][1]) == 6
        failed = prom.query('sum(inference_requests_total{outcome="failure",reason="backend"})')
        assert float(failed[0]["value"][1]) == 1
        mean = prom.query(
            "sum(inference_request_duration_seconds_sum) / sum(inference_request_duration_seconds_count)"
        )
        assert abs(float(mean[0]["value"][1]) - 0.01786 / 6) < 1e-12
        batch = prom.query("inference_batch_size_sum / inference_batch_size_count")
        assert float(batch[0]["value"][1]) == 1.5
        up = prom.query('inference_exporter_target_up{target="ranker",server="triton"}')
        assert float(up[0]["value"][1]) == 1
        info = prom.query('inference_model_info{model="ranker"}')
        assert info[0]["metric"]["version"] == "1" and info[0]["metric"]["cluster"] == "test"
        # Prometheus itself found nothing wrong with the exposition.
        targets = requests.get(prom.url + "/api/v1/targets", timeout=5).json()["data"]["activeTargets"]
        assert targets[0]["health"] == "up" and not targets[0]["lastError"]
    finally:
        prom.close()


def test_promtool_check_metrics_reports_nothing(exporter):
    _, url = exporter
    text = requests.get(url + "/metrics", timeout=5).text
    # every collector is on: serving, process, container (where cgroups exist) and GPU (reports 0 here)
    assert "inference_requests_total{" in text and "inference_process_resident_memory_bytes{" in text
    assert "inference_gpu_collector_available" in text
    result = promtool_check_metrics(text)
    assert result.returncode == 0 and not (result.stdout + result.stderr).strip(), (
        result.stdout + result.stderr
    )
