"""Health probes against real model servers (Triton via PyTriton, MLServer, BentoML, KServe).

Each server is started here (not shared with tests/integration, because these tests
load a new model version and stop the server): probes must report it ready, MLServer
loading ranker v2 from its repository at run time must be a version change with a
new model_info series, unloading must show not-ready, and stopping must be a down event.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from checks import Checked, target_config
from helpers import sample_value
from inference_devtools import repo

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
repo.use("deploy/local/servers")

import launch  # noqa: E402
import ranking_model  # noqa: E402

SERVERS = ("triton", "mlserver", "bentoml", "kserve")


@pytest.fixture(scope="module", params=SERVERS)
def server(request, tmp_path_factory):
    name = request.param
    try:
        handle = launch.start(name, tmp_path_factory.mktemp(name))
    except launch.ServerStartError as e:
        pytest.fail(str(e), pytrace=False)
    yield handle
    handle.stop()


def _models(server) -> str:
    text = "- name: ranker\n"
    if server.server == "triton":
        # PyTriton's model: version 1, max_batch_size 64 as bound in deploy/local/servers/triton/serve.py.
        text += '  version: "1"\n  config: {max_batch_size: 64}\n'
        rows = ranking_model.good_rows(6)
        model = ranking_model.train()
        expected = sorted(range(6), key=lambda i: -ranking_model.score(model, rows)[i])[:3]
        flat = [x for row in rows for x in row]
        text += (
            "  canaries:\n"
            "    - id: top3\n"
            "      every: 1s\n"
            "      timeout: 10s\n"
            "      kserve_v2:\n"
            f"        inputs: [{{name: features, datatype: FP32, shape: [6, 5], data: {flat}}}]\n"
            f"      expect: {{top_k: {{path: 'outputs[0].data', ids: {expected}, min_overlap: 1.0}}}}\n"
        )
    return text


@pytest.fixture(scope="module")
def checked(server, tmp_path_factory):
    c = Checked(
        target_config(server.api_url, server.server, _models(server), extra="health: {timeout: 5s}\n"),
        tmp_path_factory.mktemp(f"journal-{server.server}"),
    )
    yield c
    c.close()


def test_probes_report_ready(server, checked):
    text, _ = checked.run()
    assert sample_value(text, "inference_server_ready", server=server.server) == 1, text
    assert sample_value(text, "inference_probe_success", probe="ready") == 1
    assert sample_value(text, "inference_model_ready", model="ranker") == 1, text
    assert [e["type"] for e in checked.events("target_up", "target_down")] == ["target_up"]
    if server.server in ("triton", "kserve", "mlserver"):
        assert sample_value(text, "inference_server_live") == 1
        assert sample_value(text, "inference_probe_success", probe="models") == 1


# The manifest config check and the ranking canary use Triton's config and infer API.
@pytest.mark.parametrize("server", ["triton"], indirect=True)
def test_triton_manifest_and_canary_against_the_real_model(server, checked):
    text, _ = checked.run()
    assert sample_value(text, "inference_manifest_match", check="version") == 1
    assert sample_value(text, "inference_manifest_match", check="config", key="max_batch_size") == 1, text
    assert sample_value(text, "inference_manifest_observed_value", key="max_batch_size") == 64
    assert sample_value(text, "inference_canary_success", canary="top3") == 1, checked.events("canary_run")
    assert sample_value(text, "inference_canary_quality_score", canary="top3", check="top_k") == 1


# Of the four, only MLServer loads a new version of a model at run time (repository API).
@pytest.mark.parametrize("server", ["mlserver"], indirect=True)
def test_loading_a_new_version_is_a_version_change(server, checked):
    settings = server.workdir / "mlserver-repo" / "ranker" / "model-settings.json"
    data = json.loads(settings.read_text())
    data["parameters"]["version"] = "v2"
    settings.write_text(json.dumps(data))
    status, body = launch._http("POST", f"{server.api_url}/v2/repository/models/ranker/load", {})
    assert status == 200, body
    text, _ = checked.run()
    assert sample_value(text, "inference_model_info", model="ranker", version="v2") == 1
    assert sample_value(text, "inference_model_info", model="ranker", version="v1") is None
    assert sample_value(text, "inference_model_ready", model="ranker", version="v2") == 1
    (changed,) = checked.events("version_changed")
    assert changed["details"] == {"old": ["v1"], "new": ["v2"]}

    status, body = launch._http("POST", f"{server.api_url}/v2/repository/models/ranker/unload", {})
    assert status == 200, body
    text, _ = checked.run()
    assert sample_value(text, "inference_model_ready", model="ranker") == 0
    assert sample_value(text, "inference_model_loaded_versions", model="ranker") == 0
    assert [e["version"] for e in checked.events("model_unloaded")] == ["v2"]


def test_stopping_the_server_is_not_ready_and_a_down_event(server, checked):
    server.stop()
    text, _ = checked.run()
    assert sample_value(text, "inference_server_ready") == 0
    assert sample_value(text, "inference_probe_success", probe="ready") == 0
    assert sample_value(text, "inference_model_ready", model="ranker") == 0
    assert [e["type"] for e in checked.events("target_up", "target_down")] == ["target_up", "target_down"]
