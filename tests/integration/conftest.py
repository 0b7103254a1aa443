"""Fixtures that start real model servers (cached venvs) and the real exporter CLI."""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from inference_devtools import repo

REPO = Path(__file__).resolve().parents[2]
repo.use("deploy/local/servers")

import launch  # noqa: E402
import venvs  # noqa: E402

SERVERS = ("triton", "mlserver", "bentoml", "kserve")


def http_get(url: str, timeout: float = 5.0) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(errors="replace")


@pytest.fixture(scope="session", autouse=True)
def server_venvs():
    """Build missing server venvs side by side before the first server starts (downloads overlap)."""
    with ThreadPoolExecutor(max_workers=len(SERVERS)) as pool:
        list(pool.map(venvs.ensure, SERVERS))


@pytest.fixture(scope="module", params=SERVERS)
def server(request, tmp_path_factory):
    """One real server per module and kind, started once; nothing of it survives teardown."""
    name = request.param
    try:
        handle = launch.start(name, tmp_path_factory.mktemp(name))
    except launch.ServerStartError as e:
        pytest.fail(str(e), pytrace=False)
    print(f"\n{name} ({handle.package} {handle.version}) ready in {handle.start_seconds:.1f} s")
    yield handle
    handle.stop()
    assert handle.alive_pids() == [], f"{name}: processes left after stop()"


class Exporter:
    """The exporter CLI running as a subprocess against one target."""

    def __init__(self, handle: launch.Handle, workdir: Path, target: str) -> None:
        self.target = target
        self.port = launch.free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = workdir / "exporter.yml"
        config.write_text(
            "global: {scrape_interval: 1s, scrape_timeout: 1s}\n"
            "targets:\n"
            f"  - name: {target}\n"
            f"    kind: {handle.server}\n"
            f"    metrics_url: {handle.metrics_url}\n"
            f"    api_url: {handle.api_url}\n"
            "    labels: {team: search}\n"
        )
        self.log_path = workdir / "exporter.log"
        cli = Path(sys.executable).with_name("inference-exporter")
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                [
                    str(cli),
                    f"--config.file={config}",
                    f"--web.listen-address=127.0.0.1:{self.port}",
                    f"--journal.path={workdir / 'journal'}",  # not the default folder in the cwd
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )

    def log_tail(self, lines: int = 30) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(
                    f"exporter exited with {self.process.returncode}:\n{self.log_tail()}", pytrace=False
                )
            try:
                if http_get(f"{self.url}/-/ready", timeout=2.0)[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        pytest.fail(f"exporter not ready after {timeout:.0f} s:\n{self.log_tail()}", pytrace=False)

    def metrics(self) -> str:
        status, text = http_get(f"{self.url}/metrics")
        assert status == 200, f"exporter /metrics answered {status}:\n{self.log_tail()}"
        return text

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)


@pytest.fixture(scope="module")
def exporter(server, tmp_path_factory):
    exp = Exporter(server, tmp_path_factory.mktemp(f"exporter-{server.server}"), f"ranker-{server.server}")
    try:
        exp.wait_ready()
        yield exp
    finally:
        exp.stop()
        assert exp.process.poll() is not None, "exporter still running"
