"""Every kustomization in deploy/kubernetes renders, and every object it renders is valid."""

import copy

import jsonschema
import kubernetes_validate
import pytest
from inference_exporter.config import loads
from manifests import (
    EXPORTER,
    OPERATOR_GROUP,
    RENDERED,
    container,
    crd_schemas,
    exporter_pods,
    find,
    render,
    validate,
)


def test_every_overlay_is_rendered_here():
    # A new overlay is picked up without touching the tests; these must always be among them.
    assert {
        "base",
        "overlays/dev",
        "overlays/production",
        "examples/team-vllm",
        "examples/sharded-fleet",
    } <= set(RENDERED)


def _validate_all(directory: str, operator: bool) -> int:
    checked = 0
    for obj in render(directory):
        if obj["apiVersion"].startswith(OPERATOR_GROUP + "/") != operator:
            continue
        try:
            validate(obj)
        except jsonschema.ValidationError as exc:
            path = ".".join(str(p) for p in exc.absolute_path)
            pytest.fail(f"{directory}: {obj['kind']}/{obj['metadata']['name']}: {path}: {exc.message}")
        checked += 1
    return checked


@pytest.mark.parametrize("directory", RENDERED)
def test_kubernetes_objects_validate(directory):
    assert _validate_all(directory, operator=False)


@pytest.mark.parametrize("directory", RENDERED)
def test_prometheus_operator_objects_validate(directory):
    crd_schemas()  # skips, with the reason, where the CRDs are not beside the repository
    assert _validate_all(directory, operator=True)


@pytest.mark.parametrize("directory", RENDERED)
def test_each_sidecar_mounts_a_config_the_exporter_accepts(directory):
    objects = render(directory)
    configmaps = {c["metadata"]["name"]: c for c in find(objects, "ConfigMap")}
    pods = exporter_pods(objects)
    assert pods, f"{directory} renders no Deployment or StatefulSet running the {EXPORTER} container"
    for deployment, spec in pods:
        volumes = {v["name"]: v for v in spec["volumes"]}
        mount = next(m for m in container(spec, EXPORTER)["volumeMounts"] if "config" in m["name"])
        name = volumes[mount["name"]]["configMap"]["name"]
        assert name in configmaps, f"{deployment['metadata']['name']} mounts ConfigMap {name}, not rendered"
        config = loads(configmaps[name]["data"]["config.yml"], f"{directory}:{name}")
        assert config.targets or config.target_files, f"{directory}: the exporter config has no targets"
        for entry in config.target_files:
            assert _mounted_target_files(entry, spec, configmaps), f"{directory}: {entry.key} reads no file"


def _mounted_target_files(entry, spec: dict, configmaps: dict) -> int:
    """Targets in the ConfigMap files the exporter container sees under the entry's patterns; each
    file read as the exporter reads it."""
    import fnmatch
    import tempfile
    from pathlib import Path

    from inference_exporter.file_sd import read_file

    volumes = {v["name"]: v for v in spec["volumes"]}
    found = 0
    for mount in container(spec, EXPORTER)["volumeMounts"]:
        source = volumes[mount["name"]].get("configMap")
        if not source:
            continue
        for filename, content in configmaps[source["name"]]["data"].items():
            path = f"{mount['mountPath']}/{filename}"
            if any(fnmatch.fnmatch(path, pattern) for pattern in entry.patterns):
                with tempfile.TemporaryDirectory() as tmp:
                    copy = Path(tmp) / filename
                    copy.write_text(content)
                    targets = read_file(str(copy), entry)
                assert targets, f"{path}: no targets"
                found += len(targets)
    return found


@pytest.mark.parametrize("directory", RENDERED)
def test_the_monitor_scrapes_the_sidecar_port(directory):
    objects = render(directory)
    monitors = find(objects, "PodMonitor") + find(objects, "ServiceMonitor")
    assert len(monitors) == 1, [m["kind"] for m in monitors]
    monitor = monitors[0]
    endpoints = monitor["spec"].get("podMetricsEndpoints") or monitor["spec"]["endpoints"]
    port = endpoints[0]["port"]
    selector = monitor["spec"]["selector"]["matchLabels"]
    for deployment, spec in exporter_pods(objects):
        ports = {p["name"] for p in container(spec, EXPORTER)["ports"]}
        assert port in ports
        if monitor["kind"] == "PodMonitor":
            labels = deployment["spec"]["template"]["metadata"]["labels"]
            assert selector.items() <= labels.items(), f"PodMonitor does not select {labels}"
    for service in find(objects, "Service") if monitor["kind"] == "ServiceMonitor" else []:
        if selector.items() <= service["metadata"].get("labels", {}).items():
            assert port in {p["name"] for p in service["spec"]["ports"]}
    # The rule pack selects the exporter's series by job name.
    relabel = [r for r in endpoints[0].get("relabelings", []) if r.get("targetLabel") == "job"]
    assert [r["replacement"] for r in relabel] == ["inference-exporter"]


def test_production_stamps_the_cluster_label():
    (monitor,) = find(render("overlays/production"), "PodMonitor")
    relabelings = monitor["spec"]["podMetricsEndpoints"][0]["relabelings"]
    targets = {r["targetLabel"]: r.get("replacement") for r in relabelings}
    assert targets.get("cluster"), relabelings
    assert targets.get("job") == "inference-exporter"


def test_sharded_fleet_gives_each_replica_its_ordinal_and_the_replica_count():
    """Every replica runs --shard=<its pod name>/<replicas>: the pod name comes from the downward
    API, the count from spec.replicas (a kustomize replacement keeps them equal)."""
    from inference_exporter import cli

    (workload, spec) = exporter_pods(render("examples/sharded-fleet"))[0]
    assert workload["kind"] == "StatefulSet" and workload["spec"]["podManagementPolicy"] == "Parallel"
    exporter = container(spec, EXPORTER)
    args = cli._run_parser().parse_args(exporter["args"])
    index, _, count = args.shard.partition("/")
    assert index == "$(POD_NAME)" and int(count) == workload["spec"]["replicas"]
    env = {e["name"]: e for e in exporter["env"]}
    assert env["POD_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    # A central replica reports no local resources of its own.
    assert not (args.collector_process or args.collector_container or args.collector_gpu)
    # Each replica, named as Kubernetes names them, takes its own ordinal.
    from inference_exporter.sharding import parse_shard

    name = workload["metadata"]["name"]
    shards = {parse_shard(f"{name}-{i}/{count}") for i in range(int(count))}
    assert sorted(s.index for s in shards) == list(range(int(count)))


def test_team_example_gets_the_sidecar_without_copying_it():
    """The team's Deployment names one container; the component adds the exporter after it."""
    (deployment,) = find(render("examples/team-vllm"), "Deployment")
    spec = deployment["spec"]["template"]["spec"]
    assert [c["name"] for c in spec["containers"]] == ["vllm", EXPORTER]
    assert spec["shareProcessNamespace"] is True
    assert deployment["metadata"]["namespace"] == "assistant"


# The validators must reject what the API server would; otherwise the tests above prove nothing.


def test_kubernetes_validation_rejects_a_misspelled_field():
    (deployment,) = find(render("base"), "Deployment")
    broken = copy.deepcopy(deployment)
    container(broken["spec"]["template"]["spec"], EXPORTER)["securityContxt"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        validate(broken)


@pytest.mark.parametrize(
    "kind, mutate",
    [
        ("PodMonitor", lambda o: o["spec"].update(podMetricEndpoints=o["spec"].pop("podMetricsEndpoints"))),
        ("PodMonitor", lambda o: o["spec"]["podMetricsEndpoints"][0].update(scheme="ftp")),
        (
            "AlertmanagerConfig",
            lambda o: o["spec"]["route"]["routes"][0]["matchers"][0].update(matchType="=="),
        ),
        ("AlertmanagerConfig", lambda o: o["spec"]["receivers"][1]["slackConfigs"][0]["apiURL"].pop("key")),
        ("AlertmanagerConfig", lambda o: o["metadata"].update(labels={"team": 1})),
    ],
)
def test_operator_validation_rejects_broken_objects(kind, mutate):
    (obj,) = find(render("base"), kind)
    broken = copy.deepcopy(obj)
    mutate(broken)
    with pytest.raises(jsonschema.ValidationError):
        validate(broken)


def test_the_secure_overlay_serves_tls_with_basic_auth_and_prometheus_uses_both():
    """components/web-tls: the sidecar reads a web config from a Secret and answers the kubelet's
    probes over HTTPS; the PodMonitor scrapes over TLS with basic auth (docs/security.md)."""
    objects = render("overlays/secure")
    for _deployment, spec in exporter_pods(objects):
        sidecar = container(spec, EXPORTER)
        assert "--web.config.file=/etc/inference-exporter-web/web.yml" in sidecar["args"]
        assert sidecar["livenessProbe"]["httpGet"]["scheme"] == "HTTPS"
        assert sidecar["readinessProbe"]["httpGet"]["scheme"] == "HTTPS"
        mounts = {m["name"]: m for m in sidecar["volumeMounts"]}
        secrets = {v["name"]: v["secret"]["secretName"] for v in spec["volumes"] if "secret" in v}
        for name in ("inference-exporter-tls", "inference-exporter-web"):
            assert mounts[name]["readOnly"] and secrets[name] == name
    (monitor,) = find(objects, "PodMonitor")
    (endpoint,) = monitor["spec"]["podMetricsEndpoints"]
    assert endpoint["scheme"] == "https"
    assert endpoint["tlsConfig"]["serverName"] == "inference-exporter"
    assert endpoint["tlsConfig"]["ca"]["secret"] == {"name": "inference-exporter-tls", "key": "ca.crt"}
    assert endpoint["basicAuth"]["password"] == {"name": "inference-exporter-web", "key": "password"}
