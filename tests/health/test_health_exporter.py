"""The running exporter with health probes: /events, reload, secrets, promtool, formats."""

from __future__ import annotations

import io
import logging
import time

import pytest
import requests
from fake_api import FakeAPI
from helpers import promtool_check_metrics, sample_value
from inference_exporter import log as logsetup
from inference_exporter.config import load
from inference_exporter.exporter import Exporter
from inference_exporter.journal import Journal
from inference_exporter.server import make_server, serve_in_thread
from prometheus_client.openmetrics.parser import text_string_to_metric_families as om_parse

SECRET = "s3cr3t-customer-query-4417"
TOKEN = "tok-9f8e7d6c5b4a"

CONFIG = """\
global: {{scrape_interval: 0.2s, scrape_timeout: 0.2s}}
targets:
  - name: ranker
    kind: triton
    metrics_url: {url}/metrics
    api_url: {url}
    bearer_token_file: {token}
    health: {{interval: 0.3s, timeout: 0.3s}}
    models:
      - name: ranker
        version: "{version}"
        canaries:
          - id: private-query
            every: 0.2s
            secret: true
            kserve_v2: {{inputs: [{{name: q, datatype: BYTES, shape: [1], data: ["{secret}"]}}]}}
            expect: {{json_path: {{path: "outputs[0].data[0]", equals: 1}}}}
"""

NATIVE = 'nv_inference_request_success{model="ranker",version="1"} 5\n'


class Running:
    def __init__(self, tmp_path, api, version="1"):
        self.path = tmp_path / "config.yml"
        self.token = tmp_path / "token"
        self.token.write_text(TOKEN + "\n")
        self.api = api
        self.write(version)
        self.logs = io.StringIO()
        logsetup.setup("debug", "logfmt", self.logs)
        self.journal = Journal(tmp_path / "journal")
        self.exporter = Exporter(load(str(self.path)), journal=self.journal)
        self.server = make_server(self.exporter, "127.0.0.1:0", enable_lifecycle=True)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.exporter.start()
        serve_in_thread(self.server)

    def write(self, version: str, extra: str = "") -> None:
        text = CONFIG.format(url=self.api.url, token=self.token, version=version, secret=SECRET)
        self.path.write_text(text + extra)

    def get(self, path: str, **headers) -> requests.Response:
        return requests.get(self.url + path, headers=headers, timeout=5)

    def wait_for(self, predicate, timeout=10.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.get("/metrics").text
            if predicate(text):
                return text
            time.sleep(0.1)
        raise AssertionError("condition not met; last exposition:\n" + self.get("/metrics").text)

    def close(self):
        self.server.shutdown()
        self.exporter.stop()
        self.journal.close()
        logging.getLogger("inference_exporter").handlers[:] = []


@pytest.fixture
def api():
    a = FakeAPI()
    a.v2_server({"ranker": ["1"]})
    a.routes[("GET", "/metrics")] = (200, NATIVE.encode())
    a.routes[("POST", "/v2/models/ranker/infer")] = (200, {"outputs": [{"data": [0]}]})  # fails the check
    yield a
    a.close()


@pytest.fixture
def running(tmp_path, api):
    r = Running(tmp_path, api)
    yield r
    r.close()


def test_probes_canaries_and_events_end_to_end(running, api):
    text = running.wait_for(
        lambda t: sample_value(
            t, "inference_canary_requests_total", canary="private-query", outcome="failure"
        )
    )
    assert sample_value(text, "inference_server_ready", target="ranker", server="triton") == 1
    assert sample_value(text, "inference_model_ready", model="ranker", version="1") == 1
    # One model_info per series although the metrics and the probes both see ranker v1.
    assert text.count('inference_model_info{target="ranker",server="triton",model="ranker",version="1"}') == 1
    assert sample_value(text, "inference_events_total", type="target_up") == 1
    assert promtool_check_metrics(text).returncode == 0, promtool_check_metrics(text).stderr
    om = running.get("/metrics", Accept="application/openmetrics-text; version=1.0.0").text
    list(om_parse(om))  # the OpenMetrics rendering, exemplar included, parses strictly
    assert '# {canary_id="' in om


def test_events_endpoint_filters(running, api):
    running.wait_for(lambda t: sample_value(t, "inference_events_total", type="canary_failed") == 1)
    all_events = running.get("/events").json()["events"]
    assert {"target_up", "model_loaded", "canary_failed", "canary_run"} <= {e["type"] for e in all_events}
    only = running.get("/events?type=target_up,model_loaded").json()["events"]
    assert sorted(e["type"] for e in only) == ["model_loaded", "target_up"]
    assert all(e["model"] == "ranker" for e in running.get("/events?model=ranker").json()["events"])
    assert running.get("/events?model=nope").json()["events"] == []
    assert len(running.get("/events?limit=2").json()["events"]) == 2
    recent = running.get("/events?since=1h").json()["events"]
    assert recent[: len(all_events)] == all_events  # everything was written within the hour
    later = running.get(f"/events?since={time.time() + 60}").json()["events"]
    assert later == []
    assert running.get("/events?limit=zero").status_code == 400
    assert running.get("/events?colour=red").status_code == 400


def test_reload_applies_a_good_config_and_keeps_the_old_one_on_error(running, api):
    running.wait_for(lambda t: sample_value(t, "inference_manifest_match", check="version") == 1)
    assert running.get("/-/reload").status_code == 405
    running.write("2")  # now the manifest expects version 2
    assert requests.post(running.url + "/-/reload", timeout=10).status_code == 200
    running.wait_for(lambda t: sample_value(t, "inference_manifest_match", check="version") == 0)
    running.write("2", extra="    colour: red\n")
    resp = requests.post(running.url + "/-/reload", timeout=10)
    assert resp.status_code == 500 and "targets[0].colour: unknown key" in resp.text
    text = running.wait_for(
        lambda t: sample_value(t, "inference_exporter_config_last_reload_successful") == 0
    )
    assert sample_value(text, "inference_manifest_match", check="version") == 0  # old config still runs
    types = [e["type"] for e in running.journal.read()]
    assert "config_reload" in types and "config_reload_failed" in types


def test_no_secret_in_journal_logs_or_metrics(running, api, tmp_path):
    running.wait_for(lambda t: sample_value(t, "inference_events_total", type="canary_failed") == 1)
    # The secret body and token really were sent...
    infer = [r for r in api.received if r[1] == "/v2/models/ranker/infer"]
    assert SECRET.encode() in infer[0][2]
    assert infer[0][3].get("Authorization") == f"Bearer {TOKEN}"
    # ...and appear nowhere the exporter writes.
    api.routes[("GET", "/v2/health/ready")] = (503, b"")
    running.wait_for(lambda t: sample_value(t, "inference_events_total", type="target_down") == 1)
    places = {
        "journal": "".join(p.read_text() for p in (tmp_path / "journal").iterdir()),
        "logs": running.logs.getvalue(),
        "metrics": running.get("/metrics").text,
        "openmetrics": running.get("/metrics", Accept="application/openmetrics-text").text,
        "events": running.get("/events").text,
        "landing page": running.get("/").text,
        "config": running.get("/config").text,
    }
    assert "private-query" in places["config"] and "<redacted>" in places["config"]
    assert "canary failed" in places["logs"]  # the logs did record the failure
    for where, text in places.items():
        assert SECRET not in text, f"secret canary body in {where}"
        assert TOKEN not in text, f"bearer token in {where}"


def test_model_info_without_version_gives_way_to_the_version_the_api_names():
    from inference_exporter.builder import Builder
    from inference_exporter.exposition import render_snapshots

    identity = (("target", "t"), ("server", "mlserver"))
    from_metrics = Builder(identity, (("team", "s"),))
    from_metrics.model("ranker", "None")  # MLServer's metrics say version="None"
    from_probes = Builder(identity, (("team", "s"),))
    from_probes.model("ranker", "v1")
    other = Builder(identity)
    other.model("other")
    page = render_snapshots([b.finish() for b in (from_metrics, from_probes, other)]).text.decode()
    head = 'inference_model_info{target="t",server="mlserver",model="ranker"'
    assert [line for line in page.splitlines() if line.startswith("inference_model_info{")] == [
        f'{head},version="v1",team="s"}} 1',
        'inference_model_info{target="t",server="mlserver",model="other"} 1',
    ]
