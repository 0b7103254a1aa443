"""Each server kind's model API answer, as its docs or code give it, read into models and config.

The answers are shaped as in docs/health.md's sources (Triton, MLServer and KServe
are also exercised live in test_health_real_servers.py).
"""

from __future__ import annotations

import pytest
from inference_exporter import servers
from inference_exporter.servers import ApiError, Loaded


def api(answers: dict):
    """A Call answering from {(method, path): json}; anything else is a 404."""

    def call(method, path, payload):
        try:
            return answers[(method, path)]
        except KeyError:
            raise ApiError(f"{method} {path}: HTTP 404", 404) from None

    return call


def test_every_kind_declares_its_api_and_an_unknown_kind_has_none():
    for kind, server in servers.all_kinds().items():
        assert servers.api_for(kind) is server.api
    assert servers.api_for("auto") == servers.ServerAPI()


def test_triton_index_and_config():
    call = api(
        {
            ("POST", "/v2/repository/index"): [
                {"name": "ranker", "version": "3", "state": "READY"},
                {"name": "ranker", "version": "2", "state": "UNAVAILABLE", "reason": "unloaded"},
            ],
            ("GET", "/v2/models/ranker/versions/3/config"): {
                "max_batch_size": 64,
                "instance_group": [{"count": 2, "kind": "KIND_GPU"}, {"count": 1, "kind": "KIND_CPU"}],
                "dynamic_batching": {"max_queue_delay_microseconds": 500},
            },
        }
    )
    triton = servers.api_for("triton")
    assert triton.inventory(call, ()) == [Loaded("ranker", "3")]
    cfg = triton.config(call, "ranker", "3")
    assert cfg["max_batch_size"] == 64 and cfg["instance_count"] == 3
    assert cfg["dynamic_batching.max_queue_delay_microseconds"] == 500
    assert cfg["instance_group.0.kind"] == "KIND_GPU"


def test_kserve_without_index_lists_v1_models():
    call = api(
        {
            ("GET", "/v1/models"): {"models": ["ranker"]},
            ("GET", "/v2/models/ranker"): {"name": "ranker", "versions": None, "platform": ""},
        }
    )
    assert servers.api_for("kserve").inventory(call, ()) == [Loaded("ranker", "")]


def test_vllm_models_and_max_model_len():
    answer = {"data": [{"id": "llama-3-8b", "root": "meta-llama/Meta-Llama-3-8B", "max_model_len": 8192}]}
    call = api({("GET", "/v1/models"): answer})
    vllm = servers.api_for("vllm")
    assert vllm.inventory(call, ()) == [Loaded("llama-3-8b")]
    assert vllm.config(call, "llama-3-8b", "")["max_model_len"] == 8192
    with pytest.raises(ApiError):
        vllm.config(call, "other", "")


def test_tgi_info():
    info = {
        "model_id": "mistralai/Ministral-8B-Instruct-2410",
        "model_sha": "4847e87e5975a573a2a190399ca62cd266c899ad",
        "max_input_tokens": 32767,
        "max_total_tokens": 32768,
        "version": "3.2.1",
    }
    call = api({("GET", "/info"): info})
    tgi = servers.api_for("tgi")
    assert tgi.inventory(call, ()) == [Loaded(info["model_id"], info["model_sha"])]
    assert tgi.config(call, info["model_id"], "")["max_total_tokens"] == 32768


def test_torchserve_management_api():
    call = api(
        {
            ("GET", "/models"): {"models": [{"modelName": "ranker", "modelUrl": "ranker.mar"}]},
            ("GET", "/models/ranker"): [
                {
                    "modelName": "ranker",
                    "modelVersion": "1.0",
                    "batchSize": 8,
                    "maxBatchDelay": 50,
                    "workers": [{"id": "9000", "status": "READY"}, {"id": "9001", "status": "UNLOADING"}],
                }
            ],
        }
    )
    ts = servers.api_for("torchserve")
    assert ts.management
    assert ts.inventory(call, ()) == [Loaded("ranker", "1.0", True)]
    cfg = ts.config(
        api({("GET", "/models/ranker/1.0"): call("GET", "/models/ranker", None)}), "ranker", "1.0"
    )
    assert cfg["max_batch_size"] == 8 and cfg["instance_count"] == 2 and cfg["maxBatchDelay"] == 50


def test_tfserving_version_status():
    status = {
        "model_version_status": [
            {"version": "2", "state": "AVAILABLE", "status": {"error_code": "OK"}},
            {"version": "1", "state": "END", "status": {"error_code": "OK"}},
        ]
    }
    call = api({("GET", "/v1/models/ranker"): status})
    assert servers.api_for("tfserving").inventory(call, ("ranker", "absent")) == [Loaded("ranker", "2", True)]


def test_ollama_ps():
    ps = {
        "models": [
            {
                "name": "llama3:8b",
                "digest": "365c0bd3c000a25d28ddbf732fe1c6add414de7275464c4e4d1c3b5fcb5d8ad1",
                "details": {"quantization_level": "Q4_0", "parameter_size": "8.0B"},
                "size_vram": 5137025024,
            }
        ]
    }
    call = api({("GET", "/api/ps"): ps})
    ollama = servers.api_for("ollama")
    assert ollama.inventory(call, ()) == [Loaded("llama3:8b", "365c0bd3c000", True)]
    assert ollama.config(call, "llama3:8b", "")["details.quantization_level"] == "Q4_0"


def test_rayserve_routes_sglang_and_llamacpp():
    assert servers.api_for("rayserve").inventory(
        api({("GET", "/-/routes"): {"/rank": "ranker_app"}}), ()
    ) == [Loaded("ranker_app")]
    sglang = api({("GET", "/get_model_info"): {"model_path": "Qwen/Qwen2.5-7B", "is_generation": True}})
    assert servers.api_for("sglang").inventory(sglang, ()) == [Loaded("Qwen/Qwen2.5-7B")]
    props = {"default_generation_settings": {"n_ctx": 4096}, "total_slots": 4}
    cfg = servers.api_for("llamacpp").config(api({("GET", "/props"): props}), "m", "")
    assert cfg["n_ctx"] == 4096 and cfg["total_slots"] == 4
