"""The health API of model servers: the types every server kind declares, and the readers
that several kinds share (the KServe v2 protocol, the OpenAI-compatible model list).

A kind's :class:`ServerAPI` names its liveness and readiness paths, its per-model
readiness path and two readers: ``inventory`` returns the models and versions loaded now;
``config`` returns a model's configuration flattened to dotted keys
(``instance_group.0.count``) plus a few common aliases (``max_batch_size``,
``instance_count``, ``max_model_len``, ``dtype``) so a manifest can name either. A kind
without an inventory API falls back to the models declared in the config. Each kind's
module cites where its paths and fields come from; for the shared ones:

* KServe v2 (Triton, MLServer, KServe): kserve docs/predict-api/v2/required_api.md
  (``/v2/health/*``, ``/v2/models/{m}[/versions/{v}]/ready``, ``GET /v2/models/{m}``
  with ``versions``), triton-inference-server/server
  docs/protocol/extension_model_repository.md (``POST /v2/repository/index``; MLServer
  adds ``state`` READY/UNAVAILABLE; KServe answers 404). PyTriton restricts the
  repository API unless ``triton-access-token`` is sent
  (``TritonSecurityConfig.restricted_endpoints``); the inventory then falls back to the
  declared models and ``GET /v2/models/{m}``.
* OpenAI-compatible (vLLM, llama.cpp): ``GET /v1/models`` (``data[].id``, vLLM adds
  ``max_model_len`` and ``root``).
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
    """How to ask one kind of server whether it is alive and ready, and what it has loaded."""

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


def as_text(v: Any) -> str:
    return "" if v is None else str(v)


# --- KServe v2 protocol (Triton, MLServer, KServe) ------------------------------


def _v2_declared(call: Call, declared: tuple[str, ...]) -> list[Loaded]:
    """GET /v2/models/{m} for each declared model (or KServe's /v1/models list): its versions."""
    if not declared:
        try:
            listing = call("GET", "/v1/models", None)
        except ApiError:
            return []
        declared = tuple(as_text(m) for m in (listing or {}).get("models", []) if m)
    out = []
    for m in declared:
        try:
            meta = call("GET", f"/v2/models/{m}", None)
        except ApiError as exc:
            if exc.status in (400, 404):
                continue
            raise
        versions = (meta.get("versions") if isinstance(meta, dict) else None) or [""]
        out.extend(Loaded(m, as_text(v)) for v in versions)
    return out


def v2_inventory(call: Call, declared: tuple[str, ...]) -> list[Loaded]:
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
        state = as_text(entry.get("state")).upper()
        if state and state != "READY":
            continue  # UNAVAILABLE/UNLOADING: in the repository, not loaded
        out.append(Loaded(entry["name"], as_text(entry.get("version"))))
    # PyTriton loads models from memory, not a repository folder: its index is [] (verified with
    # nvidia-pytriton 0.7.0), so declared models the index does not list are asked for directly.
    missing = tuple(m for m in declared if m not in listed)
    return out + (_v2_declared(call, missing) if missing else [])


def v2_metadata(call: Call, model: str, version: str) -> dict[str, Any]:
    path = f"/v2/models/{model}/versions/{version}" if version else f"/v2/models/{model}"
    return flatten(call("GET", path, None))


KSERVE_V2 = dict(
    live="/v2/health/live",
    ready="/v2/health/ready",
    model_ready="/v2/models/{model}/versions/{version}/ready",
    model_ready_unversioned="/v2/models/{model}/ready",
    inventory=v2_inventory,
)


# --- OpenAI-compatible servers (vLLM, llama.cpp) ------------------------------------


def openai_models(call: Call, declared: tuple[str, ...]) -> list[Loaded]:
    data = call("GET", "/v1/models", None)
    entries = data.get("data", []) if isinstance(data, dict) else []
    return [Loaded(as_text(e.get("id"))) for e in entries if isinstance(e, dict) and e.get("id")]


def openai_model_config(call: Call, model: str, version: str) -> dict[str, Any]:
    data = call("GET", "/v1/models", None)
    for e in data.get("data", []) if isinstance(data, dict) else []:
        if isinstance(e, dict) and e.get("id") == model:
            return flatten(e)
    raise ApiError(f"model {model!r} not in /v1/models")
