"""Start a real local model server serving the ranking model, and stop it completely.

    handle = launch.start("mlserver", workdir)      # builds/reuses its venv, waits until ready
    launch.start("kserve", workdir, model="embedder")   # the embedding model instead (KServe only)
    handle.send(ok=5, failed=2)                      # real inference requests
    handle.metrics_url, handle.api_url
    handle.stop()                                    # kills every process it started

Each server runs in its own process group, and every process it spawns inherits a
marker environment variable, so ``stop()`` also finds children that left the group.

What a *failing* request is, for every server: a product row one feature short
(``ranking_model.bad_rows``). The request is well-formed for the server; the model
itself raises (scikit-learn ``ValueError``) and the server answers 500 and counts it:

* triton   -> ``nv_inference_request_failure{reason="BACKEND"}``
* mlserver -> ``model_infer_request_failure_total`` (and ``rest_server_requests_total{status_code="500"}``)
* bentoml  -> ``bentoml_service_request_total{http_response_code="500"}``
* kserve   -> no failure counter: observed in ``request_predict_seconds`` but not in
  ``request_postprocess_seconds`` (so failures = predict count - postprocess count)

The embedding model fails the same way for an input that is not a string
(``embedding_model.bad_texts``).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sysconfig
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import embedding_model
import ranking_model
import venvs

SERVERS_DIR = venvs.SERVERS_DIR
MARKER_ENV = "INFERENCE_EXPORTER_LOCAL_SERVER"
HOST = "127.0.0.1"
# Which servers serve which model: (good inputs, inputs the model rejects).
MODELS = {
    ranking_model.MODEL_NAME: (ranking_model.good_rows, ranking_model.bad_rows),
    embedding_model.MODEL_NAME: (embedding_model.good_texts, embedding_model.bad_texts),
}
MODEL_SERVERS = {ranking_model.MODEL_NAME: venvs.SERVERS, embedding_model.MODEL_NAME: ("kserve",)}


class ServerStartError(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def _http(method: str, url: str, body: dict | None = None, timeout: float = 10.0) -> tuple[int, bytes]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")  # KServe v1 rejects anything else
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


@dataclass
class _Spec:
    command: list[str]
    env: dict[str, str]
    api_url: str
    metrics_url: str
    ready_url: str
    package: str
    version: str


def _package_version(venv: Path, package: str) -> str:
    out = subprocess.run(
        [
            str(venv / "bin" / "python"),
            "-c",
            f"import importlib.metadata as m; print(m.version({package!r}))",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.strip()


def _spec(server: str, venv: Path, workdir: Path, m: str) -> _Spec:
    py = str(venv / "bin" / "python")
    http = free_port()
    api = f"http://{HOST}:{http}"
    if server == "triton":
        grpc, metrics = free_port(), free_port()
        # The Python backend stub links libpython: make it load the one this venv's interpreter uses.
        libdir = sysconfig.get_config_var("LIBDIR")
        ld = os.pathsep.join(p for p in (libdir, os.environ.get("LD_LIBRARY_PATH", "")) if p)
        return _Spec(
            [
                py,
                str(SERVERS_DIR / "triton" / "serve.py"),
                "--http-port",
                str(http),
                "--grpc-port",
                str(grpc),
                "--metrics-port",
                str(metrics),
                "--workdir",
                str(workdir),
            ],
            {"LD_LIBRARY_PATH": ld},
            api,
            f"http://{HOST}:{metrics}/metrics",
            f"{api}/v2/models/{m}/ready",
            "nvidia-pytriton",
            _package_version(venv, "nvidia-pytriton"),
        )
    if server == "mlserver":
        grpc, metrics = free_port(), free_port()
        return _Spec(
            [
                py,
                str(SERVERS_DIR / "mlserver" / "serve.py"),
                "--http-port",
                str(http),
                "--grpc-port",
                str(grpc),
                "--metrics-port",
                str(metrics),
                "--workdir",
                str(workdir),
            ],
            {},
            api,
            f"http://{HOST}:{metrics}/metrics",
            f"{api}/v2/models/{m}/ready",
            "mlserver",
            _package_version(venv, "mlserver"),
        )
    if server == "bentoml":
        return _Spec(
            [
                str(venv / "bin" / "bentoml"),
                "serve",
                "service:Ranker",
                "--working-dir",
                str(SERVERS_DIR / "bentoml"),
                "--host",
                HOST,
                "--port",
                str(http),
            ],
            {"BENTOML_DO_NOT_TRACK": "True", "BENTOML_HOME": str(workdir / "bentoml-home")},
            api,
            f"{api}/metrics",
            f"{api}/readyz",
            "bentoml",
            _package_version(venv, "bentoml"),
        )
    if server == "kserve":
        return _Spec(
            [
                py,
                str(SERVERS_DIR / "kserve" / "serve.py"),
                "--http-port",
                str(http),
                "--workdir",
                str(workdir),
                "--model",
                m,
            ],
            {},
            api,
            f"{api}/metrics",
            f"{api}/v1/models/{m}",
            "kserve",
            _package_version(venv, "kserve"),
        )
    raise ValueError(f"unknown server {server!r}; known: {', '.join(venvs.SERVERS)}")


def _inference_request(server: str, api_url: str, m: str, rows: list) -> tuple[str, dict]:
    if server in ("triton", "mlserver"):
        flat = [x for row in rows for x in row]
        body: dict = {
            "inputs": [
                {"name": "features", "datatype": "FP32", "shape": [len(rows), len(rows[0])], "data": flat}
            ]
        }
        if server == "mlserver":
            body["outputs"] = [{"name": "predict_proba"}]  # scores, not class labels
        return f"{api_url}/v2/models/{m}/infer", body
    if server == "bentoml":
        return f"{api_url}/rank", {"features": rows}
    return f"{api_url}/v1/models/{m}:predict", {"instances": rows}


def _group_pids(pgid: int, marker: str) -> list[int]:
    """Live processes in the group or carrying the marker (children that called setsid)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            fields = stat[stat.rindex(")") + 2 :].split()
            if fields[0] == "Z":
                continue
            if (
                int(fields[2]) == pgid
                or f"{MARKER_ENV}={marker}".encode() in (entry / "environ").read_bytes()
            ):
                found.append(int(entry.name))
        except (OSError, ValueError):
            continue  # gone meanwhile, or not ours to read
    return found


@dataclass
class Handle:
    server: str
    package: str
    version: str
    api_url: str
    metrics_url: str
    workdir: Path
    log_path: Path
    start_seconds: float
    process: subprocess.Popen = field(repr=False)
    marker: str = field(repr=False)
    model: str = ranking_model.MODEL_NAME
    name: str = ""  # what the demo calls it (its traffic counts, `inject.sh down`); default: server

    def __post_init__(self) -> None:
        self.name = self.name or self.server

    def alive_pids(self) -> list[int]:
        return _group_pids(self.process.pid, self.marker)

    def log_tail(self, lines: int = 40) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def infer(self, inputs: list) -> tuple[int, bytes]:
        """One request: product rows for the ranker, texts for the embedder."""
        url, body = _inference_request(self.server, self.api_url, self.model, inputs)
        return _http("POST", url, body)

    def send(self, ok: int, failed: int) -> dict[str, int]:
        """Send OK good and FAILED bad requests; raise if any is not answered as expected."""
        good, bad = MODELS[self.model]
        for _ in range(ok):
            status, body = self.infer(good())
            if status != 200:
                raise AssertionError(f"{self.server}: good request answered {status}: {body[:300]!r}")
        for _ in range(failed):
            status, body = self.infer(bad())
            if status < 400:
                raise AssertionError(f"{self.server}: bad request answered {status}: {body[:300]!r}")
        return {"ok": ok, "failed": failed}

    def stop(self, grace: float = 10.0) -> None:
        """Terminate every process of the server; SIGKILL whatever outlives the grace period."""
        for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
            pids = self.alive_pids()
            if not pids:
                break
            for pid in pids:
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    pass
            deadline = time.monotonic() + wait
            while time.monotonic() < deadline and self.alive_pids():
                self.process.poll()  # reap the leader so it does not linger as a zombie
                time.sleep(0.1)
        self.process.poll()  # reap the leader
        left = self.alive_pids()
        if left:
            raise RuntimeError(f"{self.server}: processes still alive after SIGKILL: {left}")


def start(
    server: str, workdir: Path, timeout: float = 180.0, model: str = ranking_model.MODEL_NAME, name: str = ""
) -> Handle:
    """Start SERVER (building its venv if needed) and return once its model answers as ready."""
    if server not in MODEL_SERVERS.get(model, ()):
        raise ValueError(f"{server} does not serve {model!r} here; models per server: {MODEL_SERVERS}")
    venv = venvs.ensure(server)
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    spec = _spec(server, venv, workdir, model)
    marker = uuid.uuid4().hex
    # Temporary files (pytriton copies model code there) stay in the workdir, deleted with it.
    tmp = workdir / "tmp"
    tmp.mkdir(exist_ok=True)
    env = {**os.environ, **spec.env, MARKER_ENV: marker, "PYTHONUNBUFFERED": "1", "TMPDIR": str(tmp)}
    # The server scripts import the shared models (ranking_model, embedding_model) from this folder.
    env["PYTHONPATH"] = str(SERVERS_DIR)  # the shared models here, and nothing of the caller's path
    log_path = workdir / f"{name or server}.log"
    began = time.monotonic()
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            spec.command,
            cwd=workdir,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    handle = Handle(
        server,
        spec.package,
        spec.version,
        spec.api_url,
        spec.metrics_url,
        workdir,
        log_path,
        0.0,
        proc,
        marker,
        model,
        name,
    )
    deadline = began + timeout
    last = "no answer yet"
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            handle.stop()
            raise ServerStartError(
                f"{server} exited with code {proc.returncode} before it was ready; "
                f"log tail ({log_path}):\n{handle.log_tail()}"
            )
        try:
            status, _ = _http("GET", spec.ready_url, timeout=2.0)
            last = f"HTTP {status}"
            if status == 200 and _http("GET", spec.metrics_url, timeout=2.0)[0] == 200:
                handle.start_seconds = time.monotonic() - began
                return handle
        except (OSError, urllib.error.URLError) as e:
            last = repr(e)
        time.sleep(0.5)
    handle.stop()
    raise ServerStartError(
        f"{server} not ready after {timeout:.0f} s ({spec.ready_url}: {last}); "
        f"log tail ({log_path}):\n{handle.log_tail()}"
    )
