"""The image (Dockerfile) and the manifests agree: entrypoint, flags, config path, port, user.

No Docker engine runs here, so the Dockerfile is read, not built; the build context it
relies on is checked by building the same wheel from the files .dockerignore lets through.
"""

import json
import re
import shlex
import shutil
import subprocess
import sys
import tarfile
from importlib.metadata import entry_points
from pathlib import PurePosixPath

import pytest
from inference_exporter import __version__, cli
from inference_exporter.server import parse_listen_address
from manifests import EXPORTER, RENDERED, ROOT, container, dockerfile_stages, exporter_pods, find, render

STAGES = dockerfile_stages(ROOT / "Dockerfile")
FINAL = STAGES[-1]


def _one(stage, instruction: str) -> str:
    values = [args for name, args in stage if name == instruction]
    assert len(values) == 1, f"expected one {instruction} in the final stage, got {values}"
    return values[0]


def _exec_form(stage, instruction: str) -> list[str]:
    value = json.loads(_one(stage, instruction))
    assert isinstance(value, list), f"{instruction} must use the exec (JSON) form, so signals reach Python"
    return value


def _build_args(stage) -> dict[str, str]:
    return dict(args.partition("=")[::2] for name, args in stage if name == "ARG")


def test_entrypoint_is_the_packaged_console_script():
    (script,) = entry_points(group="console_scripts", name="inference-exporter")
    assert _exec_form(FINAL, "ENTRYPOINT") == [script.name]
    assert script.value == "inference_exporter.cli:main"


def test_default_command_parses_and_reads_the_documented_config_path():
    args = cli._run_parser().parse_args(_exec_form(FINAL, "CMD"))
    assert args.config_file == "/etc/inference-exporter/config.yml"
    # The root filesystem is read-only: the journal must go to the folder the image prepares.
    assert args.journal_path == "/var/lib/inference-exporter"
    assert "/var/lib/inference-exporter" in " ".join(a for name, a in FINAL if name == "RUN")


def test_image_user_is_numeric_and_not_root():
    user, _, group = _one(FINAL, "USER").partition(":")
    assert user.isdigit() and int(user) != 0
    assert not group or (group.isdigit() and int(group) != 0)


def test_final_stage_has_no_build_tools():
    assert FINAL[0][1] == STAGES[1][0][1].split(" AS ")[0], "both stages start from the same base image"
    commands = " ".join(args for name, args in FINAL if name == "RUN")
    for tool in ("apt-get", "apk ", "gcc", "build-essential", "make ", "git "):
        assert tool not in commands, tool
    assert "pip uninstall --yes pip" in commands


def test_oci_labels_and_version():
    labels = dict(re.findall(r'(org\.opencontainers\.image\.[a-z]+)="([^"]*)"', _one(FINAL, "LABEL")))
    for key in ("title", "description", "licenses", "version", "revision", "created"):
        assert labels.get(f"org.opencontainers.image.{key}"), key
    assert _build_args(FINAL)["VERSION"] == __version__


def test_healthcheck_probes_the_health_endpoint_on_the_exposed_port():
    healthcheck = _one(FINAL, "HEALTHCHECK")
    command = json.loads(healthcheck[healthcheck.index("CMD") + 3 :])
    assert command[:2] == ["python", "-c"], "the slim image has no curl or wget"
    assert f"http://127.0.0.1:{cli.DEFAULT_PORT}/-/healthy" in command[2]
    assert _one(FINAL, "EXPOSE") == str(cli.DEFAULT_PORT)


@pytest.mark.parametrize("directory", RENDERED)
def test_manifests_run_the_image_as_built(directory):
    """The sidecar keeps the image's entrypoint, passes flags the CLI knows, and mounts the
    config file where --config.file points; port, user and image tag agree with the image."""
    objects = render(directory)
    configmaps = {c["metadata"]["name"]: c for c in find(objects, "ConfigMap")}
    image_user = int(_one(FINAL, "USER").partition(":")[0])
    for _, spec in exporter_pods(objects):
        sidecar = container(spec, EXPORTER)
        assert "command" not in sidecar, "keep the image's ENTRYPOINT"
        args = cli._run_parser().parse_args(sidecar.get("args", _exec_form(FINAL, "CMD")))
        image_args = cli._run_parser().parse_args(_exec_form(FINAL, "CMD"))
        assert (args.config_file, args.journal_path) == (image_args.config_file, image_args.journal_path)

        config = PurePosixPath(args.config_file)
        mount = next(m for m in sidecar["volumeMounts"] if m["mountPath"] == str(config.parent))
        volume = next(v for v in spec["volumes"] if v["name"] == mount["name"])
        assert config.name in configmaps[volume["configMap"]["name"]]["data"]
        assert mount.get("readOnly") is True

        journal = next(m for m in sidecar["volumeMounts"] if m["mountPath"] == args.journal_path.rstrip("/"))
        assert "emptyDir" in next(v for v in spec["volumes"] if v["name"] == journal["name"])

        _, port, _ = parse_listen_address(args.listen_address)
        assert [p["containerPort"] for p in sidecar["ports"]] == [port]
        assert sidecar["securityContext"]["runAsUser"] == image_user
        assert sidecar["image"].rpartition(":")[2] == __version__


# --- the build context -----------------------------------------------------------------------


def _dockerignore_patterns() -> list[tuple[bool, re.Pattern]]:
    """(is_exception, regex) per .dockerignore line, with Docker's `*`, `?` and `**` meanings."""
    out = []
    for line in (ROOT / ".dockerignore").read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        exception = line.startswith("!")
        pattern = line.lstrip("!").strip("/")
        regex = ""
        i = 0
        while i < len(pattern):
            if pattern.startswith("**/", i):
                regex, i = regex + "(?:.*/)?", i + 3
            elif pattern.startswith("**", i):
                regex, i = regex + ".*", i + 2
            elif pattern[i] == "*":
                regex, i = regex + "[^/]*", i + 1
            elif pattern[i] == "?":
                regex, i = regex + "[^/]", i + 1
            else:
                regex, i = regex + re.escape(pattern[i]), i + 1
        out.append((exception, re.compile(regex + r"\Z")))
    return out


def _in_context(relative: str, patterns) -> bool:
    """Docker's rule: the last pattern matching the path or one of its parent folders decides."""
    parts = relative.split("/")
    prefixes = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    included = True
    for exception, regex in patterns:
        if any(regex.match(p) for p in prefixes):
            included = exception
    return included


def _context_files() -> list[str]:
    tracked = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    patterns = _dockerignore_patterns()
    return sorted(f for f in tracked if (ROOT / f).is_file() and _in_context(f, patterns))


def test_build_context_holds_what_the_build_stage_copies_and_nothing_else():
    context = _context_files()
    build = STAGES[1]
    for name, args in build:
        if name == "COPY" and not args.startswith("--from"):
            for source in shlex.split(args)[:-1]:
                assert any(f == source or f.startswith(source + "/") for f in context), source
    assert "exporter/inference_exporter/cli.py" in context
    assert not [f for f in context if f.startswith(("tests/", "deploy/", "bench/", ".venv/"))]


def test_package_builds_from_the_build_context(tmp_path):
    """setuptools reads the project from only the files .dockerignore lets through.

    The build stage runs `pip wheel .` with a fresh setuptools from the package index; offline,
    the same project configuration is read here by building a source distribution with this
    virtualenv's setuptools (a wheel would need the separate `wheel` package on older ones).
    """
    pytest.importorskip("setuptools", reason="the local package build uses this virtualenv's setuptools")
    source = tmp_path / "context"
    for name in _context_files():
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, source / name)
    build = "import sys; from setuptools import build_meta; print(build_meta.build_sdist(sys.argv[1]))"
    result = subprocess.run(
        [sys.executable, "-c", build, str(tmp_path / "dist")],
        cwd=source,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    with tarfile.open(tmp_path / "dist" / result.stdout.split()[-1]) as archive:
        names = {
            PurePosixPath(n).relative_to(PurePosixPath(n).parts[0]).as_posix() for n in archive.getnames()
        }
        entry_points = next(m for m in archive.getmembers() if m.name.endswith(".egg-info/entry_points.txt"))
        assert (
            "inference-exporter = inference_exporter.cli:main"
            in archive.extractfile(entry_points).read().decode()
        )
    package = {
        f.removeprefix("exporter/") for f in _context_files() if f.startswith("exporter/inference_exporter/")
    }
    missing = {f"exporter/{name}" for name in package} - names
    assert not missing, f"left out of the package: {sorted(missing)}"
