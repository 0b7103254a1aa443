"""Pod hardening of every rendered Deployment and StatefulSet: the Pod Security Standards'
"restricted" profile plus read-only root filesystems and resource limits, for the sidecar, the
model server and the central exporter replicas."""

import pytest
from manifests import EXPORTER, RENDERED, container, exporter_pods, find, render, sidecar_pods

# Volume types the "restricted" profile allows (kubernetes.io/docs/concepts/security/pod-security-standards).
RESTRICTED_VOLUMES = {
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "persistentVolumeClaim",
    "projected",
    "secret",
}
GPU_RESOURCE = "nvidia.com/gpu"


def _deployments(directory: str) -> list[dict]:
    objects = render(directory)
    deployments = find(objects, "Deployment") + find(objects, "StatefulSet")
    assert deployments, directory
    return deployments


def _effective(pod_spec: dict, c: dict, key: str):
    """A securityContext field as the kubelet applies it: the container's, else the pod's."""
    value = c.get("securityContext", {}).get(key)
    return pod_spec.get("securityContext", {}).get(key) if value is None else value


@pytest.mark.parametrize("directory", RENDERED)
def test_pods_meet_the_restricted_profile(directory):
    for deployment in _deployments(directory):
        _check_restricted(deployment["spec"]["template"]["spec"])


def _check_restricted(spec: dict) -> None:
    for flag in ("hostNetwork", "hostPID", "hostIPC"):
        assert not spec.get(flag), flag
    for volume in spec.get("volumes", []):
        kinds = set(volume) - {"name"}
        assert kinds <= RESTRICTED_VOLUMES, f"volume {volume['name']}: {kinds}"
    for c in spec["containers"] + spec.get("initContainers", []):
        where = c["name"]
        context = c.get("securityContext", {})
        assert _effective(spec, c, "runAsNonRoot") is True, where
        assert _effective(spec, c, "runAsUser") != 0, where
        assert context.get("allowPrivilegeEscalation") is False, where
        assert not context.get("privileged"), where
        assert context.get("capabilities", {}).get("drop") == ["ALL"], where
        assert not context.get("capabilities", {}).get("add"), where
        assert (_effective(spec, c, "seccompProfile") or {}).get("type") == "RuntimeDefault", where
        assert not any(p.get("hostPort") for p in c.get("ports", [])), where


@pytest.mark.parametrize("directory", RENDERED)
def test_root_filesystems_are_read_only_and_writes_go_to_empty_dirs(directory):
    for deployment in _deployments(directory):
        spec = deployment["spec"]["template"]["spec"]
        volumes = {v["name"]: v for v in spec.get("volumes", [])}
        for c in spec["containers"]:
            assert c["securityContext"].get("readOnlyRootFilesystem") is True, c["name"]
            for mount in c.get("volumeMounts", []):
                if "emptyDir" not in volumes[mount["name"]]:
                    assert mount.get("readOnly") is True, f"{c['name']} writes to {mount['mountPath']}"


@pytest.mark.parametrize("directory", RENDERED)
def test_every_container_has_requests_and_limits(directory):
    for deployment in _deployments(directory):
        for c in deployment["spec"]["template"]["spec"]["containers"]:
            resources = c.get("resources", {})
            for resource in ("cpu", "memory"):
                assert resource in resources.get("requests", {}), (c["name"], resource)
                assert resource in resources.get("limits", {}), (c["name"], resource)


@pytest.mark.parametrize("directory", RENDERED)
def test_sidecar_claims_no_gpu_and_reads_gpus_through_nvml_only(directory):
    objects = render(directory)
    for _, spec in exporter_pods(objects):
        if (_, spec) not in sidecar_pods(objects):
            # A central replica (examples/sharded-fleet) has no GPU of its own to read.
            assert "--no-collector.gpu" in container(spec, EXPORTER)["args"]
    for _, spec in sidecar_pods(objects):
        sidecar = container(spec, EXPORTER)
        resources = sidecar["resources"]
        assert GPU_RESOURCE not in resources.get("requests", {}) | resources.get("limits", {})
        env = {e["name"]: e.get("value") for e in sidecar.get("env", [])}
        assert env.get("NVIDIA_DRIVER_CAPABILITIES") == "utility"  # NVML, not CUDA compute
        assert env.get("NVIDIA_VISIBLE_DEVICES")
        assert spec["shareProcessNamespace"] is True  # the process collector needs it


@pytest.mark.parametrize(
    "weaken",
    [
        lambda c: c["securityContext"].pop("allowPrivilegeEscalation"),
        lambda c: c["securityContext"].update(runAsUser=0),
        lambda c: c["securityContext"]["capabilities"].update(add=["SYS_PTRACE"]),
        lambda c: c["securityContext"].update(privileged=True),
    ],
)
def test_the_profile_check_catches_a_weakened_sidecar(weaken):
    (_, spec) = exporter_pods(render("base"))[0]
    weaken(container(spec, EXPORTER))
    with pytest.raises(AssertionError):
        _check_restricted(spec)
