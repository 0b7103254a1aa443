"""The running exporter: decoupled collection, staleness, formats, endpoints, self-metrics."""

import gzip
import time

import pytest
import requests
from fake_targets import FakeTarget, HungTarget, TrickleTarget, garbage
from helpers import read_fixture, sample_value
from inference_exporter.config import loads
from inference_exporter.exporter import Exporter
from inference_exporter.server import make_server, serve_in_thread
from prometheus_client.openmetrics.parser import text_string_to_metric_families as om_parse

TRITON = read_fixture("triton/pytriton-0.7.0-tritonserver-2.51.prom")


def _config(targets: list[dict]) -> str:
    lines = ["targets:"]
    for t in targets:
        lines.append(f"  - name: {t['name']}")
        for k, v in t.items():
            if k != "name":
                lines.append(f"    {k}: {v}")
    return "\n".join(lines) + "\n"


class Running:
    def __init__(self, targets):
        self.exporter = Exporter(loads(_config(targets)))
        self.server = make_server(self.exporter, "127.0.0.1:0")
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.exporter.start()
        serve_in_thread(self.server)

    def metrics(self, **headers) -> requests.Response:
        return requests.get(self.url + "/metrics", headers=headers, timeout=5)

    def text(self) -> str:
        return self.metrics().text

    def wait_for(self, predicate, timeout=15.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.text()
            if predicate(text):
                return text
            time.sleep(0.1)
        raise AssertionError("condition not met; last exposition:\n" + self.text())

    def close(self):
        self.server.shutdown()
        self.exporter.stop()


@pytest.fixture
def healthy():
    t = FakeTarget(TRITON)
    yield t
    t.close()


def test_misbehaving_targets_never_delay_metrics_or_healthy_targets(healthy):
    hung, trickle, junk = HungTarget(), TrickleTarget(gap=0.05), FakeTarget(garbage())
    timeout = 2.0
    run = Running(
        [
            {"name": "ok", "metrics_url": healthy.url, "scrape_interval": "0.25s", "scrape_timeout": "0.25s"},
            {
                "name": "hung",
                "metrics_url": hung.url,
                "scrape_interval": "3s",
                "scrape_timeout": f"{timeout}s",
            },
            {
                "name": "trickle",
                "metrics_url": trickle.url,
                "scrape_interval": "3s",
                "scrape_timeout": f"{timeout}s",
            },
            {
                "name": "junk",
                "metrics_url": junk.url,
                "scrape_interval": "3s",
                "scrape_timeout": f"{timeout}s",
            },
        ]
    )
    try:
        # While the hung and trickling targets sit in their 2 s timeouts, /metrics answers at once
        # from the prepared rendering, and the healthy target keeps its 0.25 s schedule.
        latencies = []
        start = time.monotonic()
        while time.monotonic() - start < timeout * 1.5:
            t0 = time.perf_counter()
            assert run.metrics().status_code == 200
            latencies.append(time.perf_counter() - t0)
            time.sleep(0.05)
        assert max(latencies) < timeout / 4, (
            f"a /metrics request waited for a collection: {max(latencies):.3f}s"
        )
        text = run.text()
        collected = sample_value(text, "inference_exporter_collections_total", target="ok")
        assert collected >= (timeout * 1.5) / 0.25 * 0.6, (
            f"healthy target was held up: {collected} collections"
        )
        assert sample_value(text, "inference_requests_total", target="ok", outcome="success") == 6
        text = run.wait_for(
            lambda t: (
                sample_value(
                    t, "inference_exporter_collection_errors_total", target="trickle", reason="timeout"
                )
                == 1
            )
        )
        assert (
            sample_value(text, "inference_exporter_collection_errors_total", target="hung", reason="timeout")
            == 1
        )
        assert (
            sample_value(text, "inference_exporter_collection_errors_total", target="junk", reason="parse")
            >= 1
        )
        for name in ("hung", "trickle", "junk"):
            assert sample_value(text, "inference_exporter_target_up", target=name) == 0
        assert sample_value(text, "inference_exporter_target_up", target="ok", server="triton") == 1
        # The trickling response was cut at its deadline, not read for ever.
        assert (
            sample_value(text, "inference_exporter_collection_duration_seconds", target="trickle")
            < timeout + 1
        )
    finally:
        run.close()
        for t in (hung, trickle, junk):
            t.close()


def test_stale_data_is_dropped_after_window(healthy):
    run = Running(
        [
            {
                "name": "ok",
                "metrics_url": healthy.url,
                "scrape_interval": "0.2s",
                "scrape_timeout": "0.2s",
                "stale_after": "1s",
            }
        ]
    )
    try:
        run.wait_for(
            lambda t: sample_value(t, "inference_requests_total", target="ok", outcome="success") == 6
        )
        healthy.status = 503  # the server stops answering properly
        text = run.wait_for(lambda t: sample_value(t, "inference_exporter_target_up", target="ok") == 0)
        # Still within the window: last data is served, flagged as not stale yet.
        if sample_value(text, "inference_requests_total", target="ok", outcome="success") is not None:
            assert sample_value(text, "inference_exporter_target_stale", target="ok") == 0
        text = run.wait_for(lambda t: sample_value(t, "inference_exporter_target_stale", target="ok") == 1)
        assert "inference_requests_total{" not in text
        assert (
            sample_value(
                text, "inference_exporter_collection_errors_total", target="ok", reason="http_status"
            )
            > 0
        )
        healthy.status = 200
        text = run.wait_for(lambda t: sample_value(t, "inference_exporter_target_stale", target="ok") == 0)
        assert sample_value(text, "inference_requests_total", target="ok", outcome="success") == 6
    finally:
        run.close()


def test_openmetrics_and_gzip_negotiation(healthy):
    run = Running(
        [{"name": "ok", "metrics_url": healthy.url, "scrape_interval": "0.2s", "scrape_timeout": "0.2s"}]
    )
    try:
        run.wait_for(lambda t: "inference_requests_total{" in t)
        plain = run.metrics()
        assert plain.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        om = run.metrics(Accept="application/openmetrics-text; version=1.0.0,text/plain;version=0.0.4;q=0.5")
        assert om.headers["Content-Type"].startswith("application/openmetrics-text")
        assert om.text.endswith("# EOF\n")
        families = {f.name: f for f in om_parse(om.text)}  # the strict parser accepts it
        assert families["inference_requests"].type == "counter"
        assert families["inference_model"].type == "info"
        raw = requests.get(run.url + "/metrics", headers={"Accept-Encoding": "gzip"}, stream=True, timeout=5)
        assert raw.headers["Content-Encoding"] == "gzip"
        body = gzip.decompress(raw.raw.read(decode_content=False)).decode()
        assert "inference_requests_total{" in body
    finally:
        run.close()


def test_endpoints_and_landing_page(healthy):
    run = Running(
        [
            {
                "name": "ranker-a",
                "metrics_url": healthy.url,
                "scrape_interval": "0.2s",
                "scrape_timeout": "0.2s",
            }
        ]
    )
    try:
        run.wait_for(lambda t: "inference_requests_total{" in t)
        assert requests.get(run.url + "/-/healthy", timeout=5).status_code == 200
        assert requests.get(run.url + "/-/ready", timeout=5).status_code == 200
        page = requests.get(run.url + "/", timeout=5).text
        assert "ranker-a" in page and "triton" in page and ">up<" in page
        assert requests.get(run.url + "/nope", timeout=5).status_code == 404
        assert requests.post(run.url + "/metrics", timeout=5).status_code == 405
    finally:
        run.close()


def test_not_ready_until_first_collection():
    hung = HungTarget()
    run = Running(
        [{"name": "hung", "metrics_url": hung.url, "scrape_interval": "2s", "scrape_timeout": "1s"}]
    )
    try:
        r = requests.get(run.url + "/-/ready", timeout=5)
        assert r.status_code == 503 and "1 source" in r.text
        deadline = time.monotonic() + 5
        while requests.get(run.url + "/-/ready", timeout=5).status_code != 200:
            assert time.monotonic() < deadline
            time.sleep(0.1)
    finally:
        run.close()
        hung.close()


def test_secret_never_leaks(tmp_path, healthy):
    token = "tok-" + "9f8e7d6c5b4a"
    token_file = tmp_path / "token"
    token_file.write_text(token)
    healthy.status = 401
    run = Running(
        [
            {
                "name": "ok",
                "metrics_url": healthy.url,
                "scrape_interval": "0.2s",
                "scrape_timeout": "0.2s",
                "bearer_token_file": str(token_file),
            }
        ]
    )
    try:
        text = run.wait_for(
            lambda t: (
                (
                    sample_value(t, "inference_exporter_collection_errors_total", target="ok", reason="auth")
                    or 0
                )
                > 0
            )
        )
        page = requests.get(run.url + "/", timeout=5).text
        assert token not in text and token not in page
    finally:
        run.close()
