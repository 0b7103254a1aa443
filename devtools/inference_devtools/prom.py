"""A real Prometheus (the Debian package's binary) and promtool, for tests and benchmarks."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

import requests


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def binary(name: str) -> str:
    """The path of a tool `make test` installs (prometheus, promtool, amtool, ...)."""
    path = shutil.which(name)
    if not path:
        raise AssertionError(f"{name} missing: run 'make test' (it installs the Debian packages)")
    return path


def own_metrics(url: str, prefixes: str | tuple[str, ...], timeout: float = 30) -> dict[str, float]:
    """A Prometheus' own /metrics (it does not scrape itself in these setups), as
    {series text: value}, for the series whose text starts with one of ``prefixes``."""
    out = {}
    for line in requests.get(url + "/metrics", timeout=timeout).text.splitlines():
        if line.startswith(prefixes):
            key, _, value = line.rpartition(" ")
            out[key] = float(value)
    return out


def promtool(*args: str, stdin: str | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [binary("promtool"), *args], input=stdin, text=True, capture_output=True, timeout=timeout
    )


def check_metrics(text: str) -> subprocess.CompletedProcess:
    """``promtool check metrics`` over an exposition (returncode 0 and no output: clean)."""
    return promtool("check", "metrics", stdin=text)


class Prometheus:
    def __init__(self, workdir: Path, config: str, extra_args: tuple[str, ...] = ()):
        workdir.mkdir(parents=True, exist_ok=True)
        (workdir / "prometheus.yml").write_text(config)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = open(workdir / "prometheus.log", "w")  # noqa: SIM115 - closed in close()
        self.proc = subprocess.Popen(
            [
                binary("prometheus"),
                f"--config.file={workdir / 'prometheus.yml'}",
                f"--storage.tsdb.path={workdir / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                *extra_args,
            ],
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        self.workdir = workdir
        deadline = time.monotonic() + 30
        while True:
            try:
                if requests.get(self.url + "/-/ready", timeout=1).status_code == 200:
                    break
            except requests.RequestException:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError("prometheus did not start:\n" + self.log_tail())
            time.sleep(0.2)

    def log_tail(self, lines: int = 30) -> str:
        return "\n".join((self.workdir / "prometheus.log").read_text().splitlines()[-lines:])

    def query(self, expr: str) -> list[dict]:
        r = requests.get(self.url + "/api/v1/query", params={"query": expr}, timeout=10)
        body = r.json()
        assert body.get("status") == "success", body
        return body["data"]["result"]

    def wait_for(self, expr: str, predicate, timeout: float = 30.0) -> list[dict]:
        deadline = time.monotonic() + timeout
        result: list[dict] = []
        while time.monotonic() < deadline:
            result = self.query(expr)
            if predicate(result):
                return result
            time.sleep(0.5)
        raise AssertionError(f"{expr} never satisfied the condition; last result {result}\n{self.log_tail()}")

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()
