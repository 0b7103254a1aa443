"""A small real stack for the dashboard queries: model servers under traffic, the exporter,
and Prometheus with the rule pack loaded.

* Triton (PyTriton) and BentoML serve the ranking model (deploy/local/servers/launch.py):
  between them they report every serving figure a CPU-only, non-generative server can
  (Triton: queue, compute, batch size, waiting; BentoML: latency buckets, running).
* One exporter (the real CLI) collects both, with process matching, the container
  collector and the event journal, plus one target where nothing listens (a down target
  and collection errors for the exporter dashboard).
* Prometheus scrapes the exporter every second and evaluates the rendered rule pack
  (rules/*.yml) every two seconds instead of every minute, so recording rules fill fast.
* A traffic thread per server sends searches; ``error_share`` can be raised to inject a
  fault (the model really fails those requests).
"""

from __future__ import annotations

import random
import re
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests
import yaml

from .prom import Prometheus
from .repo import ROOT, use

use("deploy/local/servers")
import launch  # noqa: E402  (the demo's model-server launcher)
import ranking_model  # noqa: E402
import venvs  # noqa: E402

SERVERS = {"triton": r"triton/serve\.py", "bentoml": r"bentoml serve service:Ranker"}
JOB = "inference-exporter"  # the rule pack selects job=~"inference-exporter.*"
STATIC_LABELS = {"team": "search", "model_class": "ranking"}
CLUSTER = "local"


def rule_files_for_test(dest: Path, interval: str) -> list[str]:
    """Copies of rules/*.yml with every group evaluated each INTERVAL."""
    dest.mkdir(parents=True, exist_ok=True)
    out = []
    for path in sorted((ROOT / "rules").glob("*.yml")):
        if path.name == "config.yml":
            continue
        doc = yaml.safe_load(path.read_text())
        for group in doc.get("groups", []):
            group["interval"] = interval
        target = dest / path.name
        target.write_text(yaml.safe_dump(doc, sort_keys=False))
        out.append(str(target))
    return out


class Traffic(threading.Thread):
    """Searches at about RPS per server; ERROR_SHARE of them malformed (the model fails them)."""

    def __init__(self, handle: launch.Handle, rps: float, error_share: float) -> None:
        super().__init__(name=f"traffic-{handle.server}", daemon=True)
        self.handle, self.rps, self.error_share = handle, rps, error_share
        self.rows = (3, 20)  # products ranked per search; larger lists take real compute time
        self.stop_event = threading.Event()
        self.sent = {"ok": 0, "failed": 0}
        self.random = random.Random(7)

    def run(self) -> None:
        while not self.stop_event.is_set():
            bad = self.random.random() < self.error_share
            rows = (
                ranking_model.bad_rows()
                if bad
                else ranking_model.good_rows(n=self.random.randint(*self.rows))
            )
            try:
                status, _ = self.handle.infer(rows)
                self.sent["ok" if status == 200 else "failed"] += 1
            except OSError:
                pass  # a server being stopped; the loop ends with the stop event
            self.stop_event.wait(self.random.expovariate(self.rps))

    def stop(self) -> None:
        self.stop_event.set()
        self.join(timeout=15)


class LiveStack:
    def __init__(self, workdir: Path, rps: float = 4.0, error_share: float = 0.05) -> None:
        self.workdir = Path(workdir)
        self.rps, self.error_share = rps, error_share
        self.handles: list[launch.Handle] = []
        self.traffic: list[Traffic] = []
        self.exporter: subprocess.Popen | None = None
        self.exporter_url = ""
        self.prometheus: Prometheus | None = None

    # --- lifecycle ---------------------------------------------------------------------------
    def start(self) -> LiveStack:
        try:
            with ThreadPoolExecutor(max_workers=len(SERVERS)) as pool:
                list(pool.map(venvs.ensure, SERVERS))
            for server in SERVERS:
                self.handles.append(launch.start(server, self.workdir / server))
            for h in self.handles:
                t = Traffic(h, self.rps, self.error_share)
                t.start()
                self.traffic.append(t)
            self._start_exporter()
            self._start_prometheus()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        for t in self.traffic:
            t.stop()
        if self.prometheus is not None:
            self.prometheus.close()
        if self.exporter is not None:
            self.exporter.terminate()
            try:
                self.exporter.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.exporter.kill()
                self.exporter.wait(timeout=5)
        for h in self.handles:
            h.stop()

    def set_error_share(self, share: float) -> None:
        for t in self.traffic:
            t.error_share = share

    def set_rows(self, low: int, high: int) -> None:
        for t in self.traffic:
            t.rows = (low, high)

    # --- parts ---------------------------------------------------------------------------------
    def exporter_config(self) -> str:
        targets = [
            {
                "name": f"ranker-{h.server}",
                "kind": h.server,
                "metrics_url": h.metrics_url,
                "api_url": h.api_url,
                "labels": STATIC_LABELS,
                "process": {"match": SERVERS[h.server]},
            }
            for h in self.handles
        ]
        # Nothing listens here: a target that is down, for the exporter dashboard.
        targets.append(
            {
                "name": "ranker-gone",
                "kind": "triton",
                "metrics_url": f"http://127.0.0.1:{launch.free_port()}/metrics",
                "labels": STATIC_LABELS,
            }
        )
        config = {
            "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "labels": {"cluster": CLUSTER}},
            "targets": targets,
        }
        return yaml.safe_dump(config, sort_keys=False)

    def _start_exporter(self) -> None:
        config = self.workdir / "exporter.yml"
        config.write_text(self.exporter_config())
        port = launch.free_port()
        self.exporter_url = f"http://127.0.0.1:{port}"
        cli = Path(sys.executable).with_name("inference-exporter")
        log = open(self.workdir / "exporter.log", "wb")  # noqa: SIM115 - the process owns it
        self.exporter = subprocess.Popen(
            [
                str(cli),
                f"--config.file={config}",
                f"--web.listen-address=127.0.0.1:{port}",
                f"--journal.path={self.workdir / 'journal'}",
                "--journal.fsync=never",
                "--collector.container",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.exporter.poll() is not None:
                raise RuntimeError(f"exporter exited:\n{self.exporter_log()}")
            try:
                if requests.get(f"{self.exporter_url}/-/ready", timeout=1).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"exporter not ready:\n{self.exporter_log()}")

    def reload_exporter(self) -> None:
        """An edited config and SIGHUP, as an operator reloads: a config_reload event in the journal."""
        config = self.workdir / "exporter.yml"
        config.write_text(config.read_text() + f"# edited at {time.time():.0f}\n")
        self.exporter.send_signal(signal.SIGHUP)

    def exporter_log(self) -> str:
        return (self.workdir / "exporter.log").read_text(errors="replace")[-3000:]

    def exporter_metrics(self) -> str:
        return requests.get(f"{self.exporter_url}/metrics", timeout=5).text

    def _start_prometheus(self) -> None:
        rules = rule_files_for_test(self.workdir / "rules", "2s")
        address = self.exporter_url.removeprefix("http://")
        config = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "2s"},
            "rule_files": rules,
            "scrape_configs": [{"job_name": JOB, "static_configs": [{"targets": [address]}]}],
        }
        self.prometheus = Prometheus(self.workdir / "prometheus", yaml.safe_dump(config, sort_keys=False))


def substitute(expr: str, rate_interval: str = "1m", time_range: str = "1h") -> str:
    """A dashboard expression as Grafana sends it with every variable at All (`.*`)."""
    text = expr.replace("$__rate_interval", rate_interval).replace("$__range", time_range)
    text = re.sub(r"\$\{?(\w+)\}?", ".*", text)
    assert "$" not in text, text
    return text
