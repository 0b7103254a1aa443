"""Real Alertmanagers and the demo's Slack stand-in on loopback, for the alerting tests.

The committed config is used as it is, except what ties it to a machine or a clock: the
Slack webhook secret file holds the stand-in's URL, route timings are seconds (not
minutes) and the ticket quiet hours are dropped, so a test behaves the same at any hour.
"""

from __future__ import annotations

import io
import shutil
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import requests
import yaml
from inference_devtools import repo, slack

REPO = Path(__file__).resolve().parents[2]
CONFIG = REPO / "alertmanager" / "alertmanager.yml"
TEMPLATES = REPO / "alertmanager" / "templates"
repo.use("deploy/local")

import slack_standin  # noqa: E402

TIMINGS = {"group_wait": "1s", "group_interval": "2s", "repeat_interval": "1h"}


def binary(name: str) -> str:
    path = shutil.which(name)
    assert path, f"{name} missing: run 'make test' (it installs the Debian prometheus-alertmanager package)"
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class StandIn:
    """The demo's Slack stand-in, served from a thread; messages land in a JSON-lines file."""

    def __init__(self, workdir: Path):
        self.log = workdir / "slack.jsonl"
        self.server = slack_standin.make_server(slack_standin.Inbox(self.log, out=io.StringIO()), 0)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def messages(self) -> list[dict]:
        return slack.messages(self.log)

    def titles(self) -> list[tuple[str, str, str]]:
        """(status, alertname, model) per alert listed in the Slack messages, in arrival order."""
        return [(a.status, a.alertname, a.model) for a in slack.listed(self.messages())]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def config_for_tests(workdir: Path, slack_url: str) -> Path:
    """The committed config, its Slack secret file holding the stand-in's URL, timings in seconds."""
    config = yaml.safe_load(CONFIG.read_text())
    secret = workdir / "secrets" / "slack-webhook-url"
    secret.parent.mkdir(parents=True, exist_ok=True)
    secret.write_text(f"{slack_url}/slack\n")
    assert "slack_api_url_file" in config["global"]
    config["global"]["slack_api_url_file"] = str(secret)  # read from the file, as in production
    config["templates"] = [str(CONFIG.parent / t) for t in config["templates"]]

    def for_tests(route: dict) -> None:
        route.pop("mute_time_intervals", None)  # same behaviour at any hour
        for key, value in TIMINGS.items():
            if key in route:
                route[key] = value
        for child in route.get("routes") or []:
            for_tests(child)

    config["route"].update(TIMINGS)
    for_tests(config["route"])
    path = workdir / "alertmanager.yml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


class Alertmanager:
    """One ``prometheus-alertmanager`` process; ``peers`` makes it a cluster member."""

    def __init__(self, workdir: Path, config: Path, name: str = "am", cluster_port: int = 0, peers=()):
        self.name = name
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = workdir / f"{name}.log"
        cluster = ["--cluster.listen-address="]
        if cluster_port:
            cluster = [
                f"--cluster.listen-address=127.0.0.1:{cluster_port}",
                f"--cluster.advertise-address=127.0.0.1:{cluster_port}",
                *[f"--cluster.peer=127.0.0.1:{p}" for p in peers],
                # Loopback is fast: gossip often, give up on a dead peer and settle in seconds.
                "--cluster.gossip-interval=100ms",
                "--cluster.pushpull-interval=2s",
                "--cluster.peer-timeout=3s",
                "--cluster.settle-timeout=3s",
                "--cluster.probe-interval=200ms",
                "--cluster.probe-timeout=200ms",
                "--cluster.reconnect-interval=1s",
            ]
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                [
                    binary("prometheus-alertmanager"),
                    f"--config.file={config}",
                    f"--storage.path={workdir / (name + '-data')}",
                    f"--web.listen-address=127.0.0.1:{self.port}",
                    f"--web.external-url=http://127.0.0.1:{self.port}",
                    *cluster,
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        wait_for(f"{name} ready", lambda: self.get("/-/ready").status_code == 200, 30, self.log_tail)

    def get(self, path: str) -> requests.Response:
        return requests.get(self.url + path, timeout=2)

    def post_alerts(self, alerts: list[dict]) -> None:
        r = requests.post(f"{self.url}/api/v2/alerts", json=alerts, timeout=5)
        assert r.status_code == 200, r.text

    def status(self) -> dict:
        return self.get("/api/v2/status").json()

    def log_tail(self, lines: int = 30) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()


def wait_for(what: str, check, timeout: float, details=lambda: ""):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = check()
        except (requests.RequestException, OSError, ValueError) as exc:
            last = repr(exc)
        else:
            if last:
                return last
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what} (last: {last!r})\n{details()}")


def alert(alertname: str, severity: str, **labels: str) -> dict:
    """An alert as the rule pack would send it: labels plus the annotations it always sets."""
    return {
        "labels": {"alertname": alertname, "severity": severity, "cluster": "test", **labels},
        "annotations": {
            "summary": f"{alertname} summary",
            "description": f"{alertname} on {labels.get('model', labels.get('instance', '?'))}",
            "runbook_url": f"https://runbooks.example/{alertname}.md",
            "dashboard_url": "https://grafana.example/d/inference-model",
        },
    }
