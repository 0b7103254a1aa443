"""Rendering and schema validation of the Kubernetes manifests in deploy/kubernetes.

Kubernetes' own kinds are validated with the `kubernetes-validate` package (its JSON schemas
are bundled, so this works offline); the Prometheus Operator kinds with the OpenAPI schemas of
the operator's CRDs, read from ../shared/schemas beside the repository.
"""

from __future__ import annotations

import copy
import functools
import shutil
import subprocess
from pathlib import Path

import jsonschema
import kubernetes_validate
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
KUBERNETES = ROOT / "deploy" / "kubernetes"
CRD_DIR = ROOT.parent / "shared" / "schemas" / "prometheus-operator-v0.93.0"
OPERATOR_GROUP = "monitoring.coreos.com"
EXPORTER = "inference-exporter"  # the sidecar's container name

# Every kustomization that renders on its own (components only render inside one of these).
RENDERED = sorted(
    str(p.parent.relative_to(KUBERNETES))
    for p in KUBERNETES.rglob("kustomization.yaml")
    if yaml.safe_load(p.read_text()).get("kind", "Kustomization") == "Kustomization"
)
# The newest Kubernetes release the installed package has schemas for.
KUBERNETES_VERSION = kubernetes_validate.utils.latest_version()


class _Loader(yaml.SafeLoader):
    """A safe loader that reads a bare `=` (YAML 1.1 tags it as a 'value' node) as a string.

    kubectl prints the AlertmanagerConfig matcher `matchType: =` that way, and the CRDs hold it
    in an enum.
    """


_Loader.add_constructor("tag:yaml.org,2002:value", lambda loader, node: loader.construct_scalar(node))


def load_all(text: str) -> list:
    return [doc for doc in yaml.load_all(text, Loader=_Loader) if doc]  # noqa: S506 - a SafeLoader


def kubectl() -> str:
    path = shutil.which("kubectl")
    if not path:
        pytest.skip("kubectl is not installed: the manifests are rendered with `kubectl kustomize`")
    return path


@functools.cache
def _render(directory: str) -> tuple[dict, ...]:
    result = subprocess.run(
        [kubectl(), "kustomize", str(KUBERNETES / directory)], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, f"kubectl kustomize {directory} failed:\n{result.stderr}"
    return tuple(load_all(result.stdout))


def render(directory: str) -> list[dict]:
    """The objects `kubectl kustomize deploy/kubernetes/<directory>` prints (fresh copies)."""
    return copy.deepcopy(list(_render(directory)))


def find(objects: list[dict], kind: str) -> list[dict]:
    return [o for o in objects if o["kind"] == kind]


def exporter_pods(objects: list[dict]) -> list[tuple[dict, dict]]:
    """(workload, pod spec) for every Deployment or StatefulSet that runs the exporter: as a
    sidecar beside a model server, or on its own (central mode, ``examples/sharded-fleet``)."""
    out = []
    for workload in find(objects, "Deployment") + find(objects, "StatefulSet"):
        spec = workload["spec"]["template"]["spec"]
        if any(c["name"] == EXPORTER for c in spec["containers"]):
            out.append((workload, spec))
    return out


def sidecar_pods(objects: list[dict]) -> list[tuple[dict, dict]]:
    """The exporter pods where it runs beside a model server (more than one container)."""
    return [(w, spec) for w, spec in exporter_pods(objects) if len(spec["containers"]) > 1]


def container(pod_spec: dict, name: str) -> dict:
    return next(c for c in pod_spec["containers"] if c["name"] == name)


# --- Kubernetes kinds --------------------------------------------------------------------


def validate_kubernetes(obj: dict) -> None:
    """Strict validation: unknown fields fail too, as `kubectl apply` (server-side) rejects them."""
    kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)


# --- Prometheus Operator kinds -------------------------------------------------------------


def _closed(schema):
    """The schema with unknown fields rejected wherever the CRD lists an object's fields.

    The API server prunes (and with field validation, rejects) fields a structural schema does
    not list; plain JSON Schema would let a misspelled field through unnoticed.
    """
    if isinstance(schema, list):
        return [_closed(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: _closed(v) for k, v in schema.items()}
    pattern = out.get("pattern")
    if isinstance(pattern, str) and "(?i)" in pattern[1:]:
        # Go RE2 takes an inline flag anywhere (the weekday pattern); Python only at the start.
        out["pattern"] = "(?i)" + pattern.replace("(?i)", "")
    if (
        "properties" in out
        and "additionalProperties" not in out
        and not out.get("x-kubernetes-preserve-unknown-fields")
    ):
        out["additionalProperties"] = False
    return out


@functools.cache
def crd_schemas() -> dict[tuple[str, str], dict]:
    """(apiVersion, kind) -> the closed OpenAPI schema of that CRD version."""
    # ../shared sits beside every clone CI runs: without it the operator objects go unchecked.
    assert CRD_DIR.is_dir(), (
        f"the Prometheus Operator CRDs are not at ../shared/schemas/{CRD_DIR.name} beside the "
        "repository: the operator objects cannot be validated"
    )
    schemas = {}
    for path in sorted(CRD_DIR.glob("*.yaml")):
        (crd,) = load_all(path.read_text())
        group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
        for version in crd["spec"]["versions"]:
            schemas[(f"{group}/{version['name']}", kind)] = _closed(version["schema"]["openAPIV3Schema"])
    return schemas


def validate_operator(obj: dict) -> None:
    schema = crd_schemas().get((obj["apiVersion"], obj["kind"]))
    assert schema is not None, f"no CRD schema for {obj['apiVersion']} {obj['kind']}"
    jsonschema.Draft7Validator(schema).validate(obj)
    # The CRD leaves metadata open; check it as the API server would, as ObjectMeta.
    validate_kubernetes({"apiVersion": "v1", "kind": "ConfigMap", "metadata": obj["metadata"]})
    if obj["kind"] == "AlertmanagerConfig":
        # Sub-routes are schemaless in the CRD (recursive types); the operator checks each one
        # against the route schema when it builds the Alertmanager config, so do the same here.
        route_schema = schema["properties"]["spec"]["properties"]["route"]
        pending = list(obj["spec"].get("route", {}).get("routes", []))
        while pending:
            route = pending.pop()
            jsonschema.Draft7Validator(route_schema).validate(route)
            pending.extend(route.get("routes", []))


def validate(obj: dict) -> None:
    if obj["apiVersion"].startswith(OPERATOR_GROUP + "/"):
        validate_operator(obj)
    else:
        validate_kubernetes(obj)


# --- the Dockerfile ----------------------------------------------------------------------


def dockerfile_stages(path: Path) -> list[list[tuple[str, str]]]:
    """The Dockerfile's instructions per stage, as (INSTRUCTION, arguments) with continuations joined.

    The instructions before the first FROM (global ARGs) form stage 0.
    """
    stages: list[list[tuple[str, str]]] = [[]]
    logical = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not logical and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):  # a comment inside a continued instruction
            continue
        if line.endswith("\\"):
            logical += line[:-1] + " "
            continue
        logical += line
        instruction, _, arguments = logical.partition(" ")
        instruction = instruction.upper()
        if instruction == "FROM":
            stages.append([])
        stages[-1].append((instruction, arguments.strip()))
        logical = ""
    return stages
