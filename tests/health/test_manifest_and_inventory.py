"""Manifest checks (version, config, artifact sha256) and the model inventory's events."""

from __future__ import annotations

import hashlib
import time

import pytest
from checks import Checked, target_config
from fake_api import FakeAPI
from helpers import promtool_check_metrics, sample_value


@pytest.fixture
def api():
    a = FakeAPI()
    a.v2_server({"ranker": ["3"]})
    a.routes[("GET", "/v2/models/ranker/versions/3/config")] = (
        200,
        {"name": "ranker", "max_batch_size": 64, "instance_group": [{"count": 2, "kind": "KIND_CPU"}]},
    )
    yield a
    a.close()


def _manifest(artifact, digest: str, version: str = "3", batch: int = 64) -> str:
    return f"""\
- name: ranker
  version: "{version}"
  config: {{max_batch_size: {batch}, instance_count: 2}}
  artifacts: [{{path: "{artifact}", sha256: "{digest}"}}]
"""


def _match(c: Checked, text: str, check: str, key: str) -> float | None:
    return sample_value(text, "inference_manifest_match", check=check, key=key)


def test_each_mismatch_gives_match_0_and_one_event_and_fixing_recovers(api, tmp_path):
    artifact = tmp_path / "model.plan"
    artifact.write_bytes(b"weights v3")
    good = hashlib.sha256(b"weights v3").hexdigest()
    target = target_config(api.url, "triton", _manifest(artifact, good))
    c = Checked(target, tmp_path / "journal")
    text, _ = c.run()
    assert _match(c, text, "version", "version") == 1
    assert _match(c, text, "config", "max_batch_size") == 1
    assert _match(c, text, "config", "instance_count") == 1
    assert _match(c, text, "artifact", str(artifact)) == 1
    assert sample_value(text, "inference_manifest_observed_value", key="max_batch_size") == 64
    assert c.events("manifest_mismatch", "manifest_recovered") == []

    # 1. the server runs another version than declared
    api.v2_server({"ranker": ["4"]})
    api.routes[("GET", "/v2/models/ranker/versions/4/config")] = api.routes[
        ("GET", "/v2/models/ranker/versions/3/config")
    ]
    text, _ = c.run()
    text, _ = c.run()  # a second run with the same mismatch writes no second event
    assert _match(c, text, "version", "version") == 0
    # 2. a config value differs
    api.routes[("GET", "/v2/models/ranker/versions/4/config")] = (
        200,
        {"max_batch_size": 8, "instance_group": [{"count": 2}]},
    )
    # 3. the artifact file changed on the mounted path
    artifact.write_bytes(b"weights tampered")
    text, _ = c.run()
    assert _match(c, text, "config", "max_batch_size") == 0
    assert _match(c, text, "artifact", str(artifact)) == 0
    assert sample_value(text, "inference_manifest_observed_value", key="max_batch_size") == 8
    mismatches = c.events("manifest_mismatch")
    assert sorted((e["details"]["check"], e["details"]["key"]) for e in mismatches) == [
        ("artifact", str(artifact)),
        ("config", "max_batch_size"),
        ("version", "version"),
    ]
    config_event = next(e for e in mismatches if e["details"]["check"] == "config")
    assert (config_event["details"]["expected"], config_event["details"]["observed"]) == ("64", "8")

    # Fixing all three gives one recovery event each.
    api.v2_server({"ranker": ["3"]})
    artifact.write_bytes(b"weights v3")
    text, _ = c.run()
    assert all(
        _match(c, text, ch, k) == 1 for ch, k in (("version", "version"), ("config", "max_batch_size"))
    )
    assert _match(c, text, "artifact", str(artifact)) == 1
    recovered = c.events("manifest_recovered")
    assert sorted(e["details"]["check"] for e in recovered) == ["artifact", "config", "version"]
    assert promtool_check_metrics(text).returncode == 0
    c.close()


def test_a_missing_artifact_is_a_mismatch(api, tmp_path):
    target = target_config(api.url, "triton", _manifest(tmp_path / "absent.bin", "0" * 64))
    c = Checked(target, tmp_path / "journal")
    text, _ = c.run()
    assert _match(c, text, "artifact", str(tmp_path / "absent.bin")) == 0
    (event,) = c.events("manifest_mismatch")
    assert event["details"]["observed"] == "unreadable"
    c.close()


def test_version_change_unload_and_down_are_events_and_series(api, tmp_path):
    c = Checked(target_config(api.url, "mlserver", "- name: ranker\n"), tmp_path)
    text, _ = c.run()
    assert sample_value(text, "inference_server_ready") == 1
    assert sample_value(text, "inference_model_ready", model="ranker", version="3") == 1
    assert sample_value(text, "inference_model_info", model="ranker", version="3") == 1
    assert sample_value(text, "inference_model_loaded_versions", model="ranker") == 1
    first_seen = sample_value(text, "inference_model_version_first_seen_timestamp_seconds", version="3")

    api.v2_server({"ranker": ["4"]})
    text, _ = c.run()
    assert sample_value(text, "inference_model_info", model="ranker", version="4") == 1
    assert sample_value(text, "inference_model_info", model="ranker", version="3") is None
    assert (
        sample_value(text, "inference_model_version_first_seen_timestamp_seconds", version="4") > first_seen
    )
    (changed,) = c.events("version_changed")
    assert changed["details"] == {"old": ["3"], "new": ["4"]} and changed["version"] == "4"

    api.v2_server({})  # unloaded: the index lists nothing
    text, _ = c.run()
    assert sample_value(text, "inference_model_ready", model="ranker") == 0
    assert sample_value(text, "inference_model_loaded_versions", model="ranker") == 0
    (unloaded,) = c.events("model_unloaded")
    assert unloaded["version"] == "4"

    api.close()  # the server is gone
    text, _ = c.run()
    assert sample_value(text, "inference_server_ready") == 0
    assert sample_value(text, "inference_probe_success", probe="ready") == 0
    assert [e["type"] for e in c.events("target_up", "target_down")] == ["target_up", "target_down"]
    c.close()


def test_a_restarted_exporter_keeps_first_seen_and_writes_no_second_loaded_event(api, tmp_path):
    c = Checked(target_config(api.url, "mlserver", "- name: ranker\n"), tmp_path)
    text, _ = c.run()
    first_seen = sample_value(text, "inference_model_version_first_seen_timestamp_seconds", version="3")
    c.close()
    again = Checked(target_config(api.url, "mlserver", "- name: ranker\n"), tmp_path)
    text, _ = again.run()
    assert sample_value(
        text, "inference_model_version_first_seen_timestamp_seconds", version="3"
    ) == pytest.approx(first_seen, abs=0.001)
    assert len(again.events("model_loaded")) == 1
    again.close()


def test_a_sidecar_restarted_with_its_server_reports_the_recovery(api, tmp_path):
    """The demo's `inject.sh down` then `reset` restarts the server and its sidecar: the new exporter
    reads the journal, so the recovery is an event (model_ready, canary_recovered, target_up)."""
    canary = "{id: c1, every: 1ms, kserve_v2: {inputs: [{name: x, shape: [1], datatype: FP32, data: [1]}]}}"
    models = f'- name: ranker\n  version: "3"\n  canaries:\n    - {canary}\n'
    infer = ("POST", "/v2/models/ranker/infer")
    api.routes[infer] = (200, {"outputs": [{"name": "y", "data": [1]}]})
    before = Checked(target_config(api.url, "triton", models), tmp_path)
    before.run()
    api.v2_server({"ranker": ["3"]}, ready=False)
    api.routes[infer] = (503, {"error": "down"})
    before.run()
    failed = ("target_down", "model_not_ready", "canary_failed")
    assert sorted(e["type"] for e in before.events(*failed)) == sorted(failed)
    before.close()  # the sidecar goes with its server
    api.v2_server({"ranker": ["3"]})
    api.routes[infer] = (200, {"outputs": [{"name": "y", "data": [1]}]})
    after = Checked(target_config(api.url, "triton", models), tmp_path)
    after.run()
    after.run()  # a second healthy check: no repeated event
    recovered = ("target_up", "model_ready", "canary_recovered")
    # target_up: at the first start, then now; the others once, now.
    assert [len(after.events(t)) for t in recovered] == [2, 1, 1]
    after.close()


def test_probe_flapping_is_one_event(api, tmp_path):
    target = target_config(api.url, "mlserver", extra="health: {flap_changes: 3, flap_window: 1m}\n")
    c = Checked(target, tmp_path)
    for i in range(8):
        api.routes[("GET", "/v2/health/ready")] = (200 if i % 2 else 503, b"")
        c.run()
    flaps = c.events("probe_flapping")
    assert [e["details"]["probe"] for e in flaps] == ["ready"]
    c.close()


def test_a_hung_probe_times_out_as_a_failure(api, tmp_path):
    api.delay["/v2/health/ready"] = 3.0
    c = Checked(target_config(api.url, "mlserver", extra="health: {timeout: 300ms}\n"), tmp_path)
    started = time.monotonic()
    text, _ = c.run()
    assert time.monotonic() - started < 2.5  # the hung call did not hold up the run
    assert sample_value(text, "inference_probe_success", probe="ready") == 0
    assert 0.3 <= sample_value(text, "inference_probe_duration_seconds", probe="ready") < 1.0
    assert sample_value(text, "inference_probe_success", probe="live") == 1
    c.close()
