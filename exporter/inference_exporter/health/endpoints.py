"""Each server kind's health, model-inventory and model-config API, and how to read it.

One :class:`ServerAPI` per kind (an explicit table, like the adapters). ``inventory``
returns the models and versions loaded now; ``config`` returns a model's configuration
flattened to dotted keys (``instance_group.0.count``) plus a few common aliases
(``max_batch_size``, ``instance_count``, ``max_model_len``, ``dtype``) so a manifest can
name either. A kind without an inventory API falls back to the models declared in the
config. Sources (paths and fields as documented or read from the servers' code):

* Triton: triton-inference-server/server docs/protocol/extension_model_repository.md
  (``POST /v2/repository/index``), docs/protocol/extension_model_configuration.md
  (``GET /v2/models/{m}/config``), KServe v2 protocol (``/v2/health/*``, model ready).
  PyTriton restricts the repository API unless ``triton-access-token`` is sent
  (``TritonSecurityConfig.restricted_endpoints``); the inventory then falls back to the
  declared models and ``GET /v2/models/{m}`` (``versions``).
* KServe: kserve python/kserve/kserve/protocol/rest/v1_endpoints.py and v2_endpoints.py
  (``/v1/models``, ``/v2/models/{m}/ready``; ``/v2/repository/index`` is 404).
* MLServer: SeldonIO/MLServer mlserver/rest/endpoints.py (v2 health, repository index
  with ``state`` READY/UNAVAILABLE, ``/v2/models/{m}/versions/{v}/ready``).
* vLLM: vllm/entrypoints/openai/api_server.py (``/health``, ``/v1/models`` with
  ``max_model_len``, ``root``).
* TGI: text-generation-inference router/src/server.rs (``/health``, ``/info`` with
  ``model_id``, ``model_sha``, ``model_dtype``, ``max_*``).
* TorchServe: pytorch/serve docs/inference_api.md (``/ping``), docs/management_api.md
  (``GET /models``, ``GET /models/{m}``: ``modelVersion``, ``batchSize``, ``workers[].status``).
* BentoML: src/bentoml/_internal/server/base_app.py (``/livez``, ``/readyz``); no model API.
* Ray Serve: doc/source/serve/monitoring.md (proxy ``/-/healthz``, ``/-/routes``).
* TF Serving: tensorflow_serving/g3doc/api_rest.md (``/v1/models/{m}``:
  ``model_version_status[].state`` AVAILABLE); no server health endpoint.
* SGLang: python/sglang/srt/entrypoints/http_server.py (``/health``, ``/get_model_info``).
* llama.cpp: tools/server/README.md (``/health`` 503 while loading, ``/v1/models``, ``/props``).
* Ollama: docs/api.md (``/api/version``, ``/api/ps`` with ``digest``, ``details``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

# A call to the server's API: (method, path, json body or None) -> parsed JSON; raises ApiError.
Call = Callable[[str, str, Any], Any]


class ApiError(Exception):
    """The API did not answer usefully; ``status`` is the HTTP status (0: no answer)."""

    def __init__(self, message: str, status: int = 0):
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Loaded:
    """One model version the server reports; ``ready`` None when the API does not say."""

    model: str
    version: str = ""
    ready: bool | None = None


@dataclass(frozen=True)
class ServerAPI:
    live: str = ""  # GET path answering 2xx while the server process is alive
    ready: str = ""  # GET path answering 2xx while it can serve
    model_ready: str = ""  # GET path template with {model} and {version}
    model_ready_unversioned: str = ""  # used when the version is empty
    inventory: Callable[[Call, tuple[str, ...]], list[Loaded]] | None = None
    config: Callable[[Call, str, str], dict[str, Any]] | None = None
    management: bool = False  # inventory/config calls go to health.management_url (TorchServe)


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """{"a": {"b": [1, {"c": 2}]}} -> {"a.b.0": 1, "a.b.1.c": 2}; scalars only."""
    out: dict[str, Any] = {}
    if isinstance(value, dict):
        for k, v in value.items():
            out.update(flatten(v, f"{prefix}{k}."))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out.update(flatten(v, f"{prefix}{i}."))
    elif prefix:
        out[prefix[:-1]] = value
    return out


def _text(v: Any) -> str:
    return "" if v is None else str(v)


# --- KServe v2 protocol (Triton, MLServer, KServe) ------------------------------


def _v2_declared(call: Call, declared: tuple[str, ...]) -> list[Loaded]:
    """GET /v2/models/{m} for each declared model (or KServe's /v1/models list): its versions."""
    if not declared:
        try:
            listing = call("GET", "/v1/models", None)
        except ApiError:
            return []
        declared = tuple(_text(m) for m in (listing or {}).get("models", []) if m)
    out = []
    for m in declared:
        try:
            meta = call("GET", f"/v2/models/{m}", None)
        except ApiError as exc:
            if exc.status in (400, 404):
                continue
            raise
        versions = (meta.get("versions") if isinstance(meta, dict) else None) or [""]
        out.extend(Loaded(m, _text(v)) for v in versions)
    return out


def _v2_inventory(call: Call, declared: tuple[str, ...]) -> list[Loaded]:
    try:
        index = call("POST", "/v2/repository/index", {})
    except ApiError as exc:
        if exc.status in (403, 404, 405):  # KServe has no index; PyTriton may restrict it
            return _v2_declared(call, declared)
        raise
    if not isinstance(index, list):
        raise ApiError("/v2/repository/index did not return a list")
    out = []
    listed = set()
    for entry in index:
        if not isinstance(entry, dict) or not entry.get("name"):
            continue
        listed.add(entry["name"])
        state = _text(entry.get("state")).upper()
        if state and state != "READY":
            continue  # UNAVAILABLE/UNLOADING: in the repository, not loaded
        out.append(Loaded(entry["name"], _text(entry.get("version"))))
    # PyTriton loads models from memory, not a repository folder: its index is [] (verified with
    # nvidia-pytriton 0.7.0), so declared models the index does not list are asked for directly.
    missing = tuple(m for m in declared if m not in listed)
    return out + (_v2_declared(call, missing) if missing else [])


def _triton_config(call: Call, model: str, version: str) -> dict[str, Any]:
    path = f"/v2/models/{model}/versions/{version}/config" if version else f"/v2/models/{model}/config"
    cfg = call("GET", path, None)
    flat = flatten(cfg)
    groups = cfg.get("instance_group") or [] if isinstance(cfg, dict) else []
    flat["instance_count"] = sum(int(g.get("count", 1)) for g in groups if isinstance(g, dict)) or None
    return flat


def _v2_metadata(call: Call, model: str, version: str) -> dict[str, Any]:
    path = f"/v2/models/{model}/versions/{version}" if version else f"/v2/models/{model}"
    return flatten(call("GET", path, None))


# --- OpenAI-style servers ------------------------------------------------------------


def _openai_models(call: Call, declared: tuple[str, ...]) -> list[Loaded]:
    data = call("GET", "/v1/models", None)
    entries = data.get("data", []) if isinstance(data, dict) else []
    return [Loaded(_text(e.get("id"))) for e in entries if isinstance(e, dict) and e.get("id")]


def _openai_model_config(call: Call, model: str, version: str) -> dict[str, Any]:
    data = call("GET", "/v1/models", None)
    for e in data.get("data", []) if isinstance(data, dict) else []:
        if isinstance(e, dict) and e.get("id") == model:
            return flatten(e)
    raise ApiError(f"model {model!r} not in /v1/models")


def _llamacpp_config(call: Call, model: str, version: str) -> dict[str, Any]:
    flat = flatten(call("GET", "/props", None))
    flat.setdefault("n_ctx", flat.get("default_generation_settings.n_ctx"))
    return flat


def _tgi_inventory(call: Call, declared: tuple[str, ...]) -> list[Loaded]:
    info = call("GET", "/info", None)
    if not isinstance(info, dict) or not info.get("model_id"):
        raise ApiError("/info has no model_id")
    return [Loaded(info["model_id"], _text(info.get("model_sha")))]


def _tgi_config(call: Call, model: str, version: str) -> dict[str, Any]:
    flat = flatten(call("GET", "/info", None))
    flat.setdefault("dtype", flat.get("model_dtype"))
    return flat


def _sglang_inventory(call: Call, declared: tuple[str, ...]) -> list[Loaded]:
    info = call("GET", "/get_model_info", None)
    path = _text(info.get("model_path")) if isinstance(info, dict) else ""
    if not path:
        raise ApiError("/get_model_info has no model_path")
    return [Loaded(path)]


def _sglang_config(call: Call, model: str, version: str) -> dict[str, Any]:
    return flatten(call("GET", "/get_model_info", None))


# --- others ------------------------------------------------------------------------------


def _torchserve_inventory(call: Call, declared: tuple[str, ...]) -> list[Loaded]:
    listing = call("GET", "/models", None)
    names = [_text(m.get("modelName")) for m in (listing or {}).get("models", []) if isinstance(m, dict)]
    out = []
    for name in names:
        for desc in call("GET", f"/models/{name}", None) or []:
            workers = desc.get("workers") or []
            ready = any(_text(w.get("status")).upper() == "READY" for w in workers)
            out.append(Loaded(name, _text(desc.get("modelVersion")), ready))
    return out


def _torchserve_config(call: Call, model: str, version: str) -> dict[str, Any]:
    path = f"/models/{model}/{version}" if version else f"/models/{model}"
    described = call("GET", path, None)
    desc = described[0] if isinstance(described, list) and described else {}
    flat = flatten(desc)
    flat["max_batch_size"] = desc.get("batchSize")
    flat["instance_count"] = len(desc.get("workers") or [])
    return flat


def _rayserve_inventory(call: Call, declared: tuple[str, ...]) -> list[Loaded]:
    routes = call("GET", "/-/routes", None)
    return [Loaded(_text(app)) for app in sorted(set((routes or {}).values()))]


def _tfserving_inventory(call: Call, declared: tuple[str, ...]) -> list[Loaded]:
    out = []
    for m in declared:
        try:
            status = call("GET", f"/v1/models/{m}", None)
        except ApiError as exc:
            if exc.status == 404:
                continue
            raise
        for v in status.get("model_version_status", []) if isinstance(status, dict) else []:
            state = _text(v.get("state")).upper()
            if state in ("AVAILABLE", "LOADING", "UNLOADING"):
                out.append(Loaded(m, _text(v.get("version")), state == "AVAILABLE"))
    return out


def _ollama_inventory(call: Call, declared: tuple[str, ...]) -> list[Loaded]:
    ps = call("GET", "/api/ps", None)
    models = ps.get("models", []) if isinstance(ps, dict) else []
    # The digest identifies the weights; its first 12 hex digits are what `ollama ps` shows.
    return [Loaded(_text(m.get("name")), _text(m.get("digest"))[:12], True) for m in models if m.get("name")]


def _ollama_config(call: Call, model: str, version: str) -> dict[str, Any]:
    for m in call("GET", "/api/ps", None).get("models", []):
        if m.get("name") == model:
            return flatten(m)
    raise ApiError(f"model {model!r} not in /api/ps")


_V2 = dict(
    live="/v2/health/live",
    ready="/v2/health/ready",
    model_ready="/v2/models/{model}/versions/{version}/ready",
    model_ready_unversioned="/v2/models/{model}/ready",
    inventory=_v2_inventory,
)

APIS: dict[str, ServerAPI] = {
    "triton": ServerAPI(**_V2, config=_triton_config),
    "mlserver": ServerAPI(**_V2, config=_v2_metadata),
    "kserve": ServerAPI(**_V2, config=_v2_metadata),
    "vllm": ServerAPI(live="/health", ready="/health", inventory=_openai_models, config=_openai_model_config),
    "tgi": ServerAPI(live="/health", ready="/health", inventory=_tgi_inventory, config=_tgi_config),
    "torchserve": ServerAPI(
        live="/ping",
        ready="/ping",
        inventory=_torchserve_inventory,
        config=_torchserve_config,
        management=True,
    ),
    "bentoml": ServerAPI(live="/livez", ready="/readyz"),
    "rayserve": ServerAPI(live="/-/healthz", ready="/-/healthz", inventory=_rayserve_inventory),
    "tfserving": ServerAPI(inventory=_tfserving_inventory),
    "sglang": ServerAPI(live="/health", ready="/health", inventory=_sglang_inventory, config=_sglang_config),
    "llamacpp": ServerAPI(live="/health", ready="/health", inventory=_openai_models, config=_llamacpp_config),
    "ollama": ServerAPI(live="/", ready="/api/version", inventory=_ollama_inventory, config=_ollama_config),
    "generic": ServerAPI(),
}


def for_kind(kind: str) -> ServerAPI:
    return APIS.get(kind, ServerAPI())
