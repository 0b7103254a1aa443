"""The rule pack on a distributed Prometheus fires what it fires on one Prometheus.

Six real exporters (the CLI) collect twelve simulated vLLM targets. Two setups watch the same
exporters at the same time, each with its own real Alertmanager delivering to its own Slack
stand-in:

* one Prometheus scraping every exporter and evaluating the pack (the reference);
* two Prometheus servers in agent mode (``--enable-feature=agent``), each scraping half of the
  exporters (``hashmod`` on the exporter's name: the split ``--shard`` makes, checked here
  against the agents' own choice), remote-writing into a central Prometheus with
  ``--web.enable-remote-write-receiver`` that evaluates the pack.

The agents stamp the ``cluster`` label as external labels, the single Prometheus with a
relabeling, as the production overlay does. The pack runs at 60x speed (deploy/local/
demo_speed.py). After a warm-up with no alert, four faults start at once: a model failing 30%
of its requests, a target that answers 503, an exporter killed, a model slowed down. Once the
reference's firing alerts have settled, the central one must fire exactly the same alerts (names
and labels), both Alertmanagers must hold the same alerts, and both stand-ins must have received
the same firing notifications.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
import yaml
from inference_devtools import repo

ROOT = repo.ROOT
for _folder in ("deploy/local", "tests/alertmanager", "tests/distributed"):
    repo.use(_folder)

import demo_speed  # noqa: E402
from amstack import Alertmanager, StandIn, config_for_tests, free_port, wait_for  # noqa: E402
from fleet_sim import Fleet, SimTarget  # noqa: E402
from inference_exporter.sharding import shard_of  # noqa: E402

pytestmark = pytest.mark.prometheus

SPEED = 60
RULE_FILES = sorted(str(p) for p in (ROOT / "rules").glob("*.yml") if p.name != "config.yml")
CLASSES = ("ranking", "generative", "embedding")
# The faults, and the alert each must fire (others may fire with them, in both setups alike).
ERRORS, DOWN, SLOW = "t-e1-b", "t-e2-a", "t-e0-a"  # embedding, generative, ranking
EXPECTED = {
    "InferenceAvailabilityBudgetBurnCritical",
    "InferenceTargetDown",
    "InferenceExporterDown",
    "InferenceMeanLatencyHigh",
}


def _exporter_names() -> list[str]:
    """Six exporter names, three per agent under hashmod 2."""
    names: dict[int, list[str]] = {0: [], 1: []}
    i = 0
    while min(len(v) for v in names.values()) < 3:
        name = f"exporter-{i}"
        shard = shard_of(name, 2)
        if len(names[shard]) < 3:
            names[shard].append(name)
        i += 1
    return sorted(names[0] + names[1], key=lambda n: int(n.split("-")[1]))


class Proc:
    """A Debian prometheus binary in any mode; stopped by ``stop``."""

    def __init__(self, workdir: Path, name: str, config: dict, *args: str):
        workdir.mkdir(parents=True, exist_ok=True)
        (workdir / "prometheus.yml").write_text(yaml.safe_dump(config, sort_keys=False))
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = workdir / "prometheus.log"
        storage = (
            [f"--storage.agent.path={workdir / 'data'}"]
            if "--enable-feature=agent" in args
            else [f"--storage.tsdb.path={workdir / 'data'}"]
        )
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                [shutil.which("prometheus"), f"--config.file={workdir / 'prometheus.yml'}",
                 f"--web.listen-address=127.0.0.1:{self.port}", *storage, *args],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            )  # fmt: skip
        wait_for(f"{name} ready", lambda: requests.get(self.url + "/-/ready", timeout=2).ok, 30, self.tail)

    def tail(self) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-30:])

    def get(self, path: str, **params):
        body = requests.get(self.url + path, params=params, timeout=10).json()
        assert body.get("status") == "success", body
        return body["data"]

    def firing(self) -> set[tuple]:
        found = set()
        for alert in self.get("/api/v1/alerts")["alerts"]:
            if alert["state"] == "firing":
                found.add(tuple(sorted(alert["labels"].items())))
        return found

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


class Exporter:
    def __init__(self, workdir: Path, name: str, targets: list[SimTarget], fleet: Fleet, classes: list[str]):
        self.name = name
        self.port = free_port()
        lines = ["global: {scrape_interval: 1s, scrape_timeout: 1s}", "targets:"]
        for target, model_class in zip(targets, classes, strict=True):
            lines += [
                f"  - name: {target.name}",
                "    kind: vllm",
                f"    metrics_url: {fleet.url(target.name)}",
                f"    labels: {{team: team-{name.split('-')[1]}, model_class: {model_class}}}",
            ]
        config = workdir / f"{name}.yml"
        config.write_text("\n".join(lines) + "\n")
        with open(workdir / f"{name}.log", "wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "inference_exporter", f"--config.file={config}",
                 f"--web.listen-address=127.0.0.1:{self.port}",
                 f"--journal.path={workdir / (name + '-journal')}",
                 "--no-collector.process", "--no-collector.container", "--no-collector.gpu"],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            )  # fmt: skip

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)


def _scrape_config(exporters: list[Exporter], relabel: list[dict]) -> dict:
    return {
        "job_name": "inference-exporter",
        "static_configs": [
            {"targets": [f"127.0.0.1:{e.port}"], "labels": {"exporter": e.name}} for e in exporters
        ],
        "relabel_configs": relabel,
    }


def _alertmanagers(am: Alertmanager) -> dict:
    return {"alertmanagers": [{"static_configs": [{"targets": [f"127.0.0.1:{am.port}"]}]}]}


def _am_alerts(am: Alertmanager, delivered_only: bool = False) -> set[tuple]:
    """The alerts the Alertmanager holds (inhibited ones too unless ``delivered_only``), by labels."""
    suppressed = str(not delivered_only).lower()
    alerts = am.get(f"/api/v2/alerts?active=true&silenced={suppressed}&inhibited={suppressed}").json()
    return {tuple(sorted(a["labels"].items())) for a in alerts}


def _names(alerts: set[tuple]) -> set[str]:
    return {dict(a)["alertname"] for a in alerts}


def test_pack_fires_the_same_alerts_through_agents_and_a_central_receiver(tmp_path):
    exporters_named = _exporter_names()
    targets = {
        name: [SimTarget(f"t-e{i}-a", f"model-{i}a"), SimTarget(f"t-e{i}-b", f"model-{i}b")]
        for i, name in enumerate(exporters_named)
    }
    fleet = Fleet([t for pair in targets.values() for t in pair])
    started: list = []
    try:
        exporters = []
        for i, (name, pair) in enumerate(targets.items()):
            classes = [CLASSES[i % 3], CLASSES[(i + 1) % 3]]
            exporters.append(Exporter(tmp_path, name, pair, fleet, classes))
        started += exporters
        rules = demo_speed.write(RULE_FILES, tmp_path / "rules", speed=SPEED, min_window_s=4, interval_s=1)
        setups = {}
        for label in ("single", "central"):
            standin = StandIn(tmp_path / label)
            started.append(standin)
            am = Alertmanager(
                tmp_path / label, config_for_tests(tmp_path / label, standin.url), f"am-{label}"
            )
            started.append(am)
            setups[label] = (standin, am)
        cluster = [{"target_label": "cluster", "replacement": "test"}]
        single = Proc(
            tmp_path / "single",
            "single Prometheus",
            {
                "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
                "rule_files": rules,
                "alerting": _alertmanagers(setups["single"][1]),
                "scrape_configs": [_scrape_config(exporters, cluster)],
            },
        )
        started.append(single)
        central = Proc(
            tmp_path / "central",
            "central Prometheus",
            {
                "global": {"evaluation_interval": "1s"},
                "rule_files": rules,
                "alerting": _alertmanagers(setups["central"][1]),
            },
            "--web.enable-remote-write-receiver",
        )
        started.append(central)
        agents = []
        for shard in range(2):
            keep = [{"source_labels": ["exporter"], "modulus": 2, "target_label": "__tmp_shard",
                     "action": "hashmod"},
                    {"source_labels": ["__tmp_shard"], "regex": str(shard), "action": "keep"}]  # fmt: skip
            agent = Proc(
                tmp_path / f"agent-{shard}",
                f"agent {shard}",
                {
                    "global": {"scrape_interval": "1s", "external_labels": {"cluster": "test"}},
                    "scrape_configs": [_scrape_config(exporters, keep)],
                    "remote_write": [
                        {"url": central.url + "/api/v1/write", "queue_config": {"batch_send_deadline": "1s"}}
                    ],
                },
                "--enable-feature=agent",
            )
            started.append(agent)
            agents.append(agent)

        # Each agent scrapes the exporters whose name hashes to it: --shard's split.
        for shard, agent in enumerate(agents):
            active = wait_for(
                f"agent {shard} targets",
                lambda a=agent: [t["labels"]["exporter"] for t in a.get("/api/v1/targets")["activeTargets"]],
                30,
            )
            assert sorted(active) == sorted(n for n in exporters_named if shard_of(n, 2) == shard)

        # Warm-up: every model has a request rate in both, and nothing fires.
        models = {t.model for pair in targets.values() for t in pair}

        def rated(prom: Proc) -> set[str]:
            found = prom.get("/api/v1/query", query="model:inference_requests:rate5m")["result"]
            return {r["metric"]["model"] for r in found}

        for prom in (single, central):
            wait_for("request rates of every model", lambda p=prom: rated(p) >= models, 90, prom.tail)
        time.sleep(10)
        assert single.firing() == set() and central.firing() == set(), (single.firing(), central.firing())

        fleet.fail(ERRORS, 0.3)
        fleet.down(DOWN)
        fleet.slow(SLOW, 0.3)
        exporters[3].kill()

        # The reference settles: every expected alert fires and the set stays the same for 10 s.
        deadline = time.monotonic() + 150
        settled, since = set(), time.monotonic()
        while time.monotonic() < deadline:
            now = single.firing()
            if now != settled:
                settled, since = now, time.monotonic()
            elif _names(now) >= EXPECTED and time.monotonic() - since >= 10:
                break
            time.sleep(1)
        assert _names(settled) >= EXPECTED, sorted(_names(settled))

        # The distributed setup fires exactly the same alerts, labels and all.
        last = set()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            last = central.firing()
            if last == settled:
                break
            time.sleep(1)
        assert last == settled, {
            "only on the single Prometheus": sorted(settled - last),
            "only on the central one": sorted(last - settled),
        }
        # The same alerts reach both Alertmanagers, and the same notifications both stand-ins.
        wait_for(
            "both Alertmanagers to hold the same alerts",
            lambda: _am_alerts(setups["single"][1]) == _am_alerts(setups["central"][1]) != set(),
            60,
        )
        # A warning may reach one stand-in before its critical inhibits it, and an alert that came
        # and went while the faults settled may reach one only (remote write lags a scrape or
        # two): the alerts both Alertmanagers deliver now (active, not inhibited) must reach both.
        held = _names(_am_alerts(setups["single"][1], delivered_only=True))
        assert held == _names(_am_alerts(setups["central"][1], delivered_only=True))

        def notified(label: str) -> set[tuple]:
            return {m[1:] for m in setups[label][0].titles() if m[0] == "FIRING" and m[1] in held}

        wait_for(
            "the same firing notifications",
            lambda: notified("single") == notified("central") != set(),
            90,
            lambda: f"single: {sorted(notified('single'))}\ncentral: {sorted(notified('central'))}",
        )
        delivered = {m[1] for m in setups["central"][0].titles() if m[0] == "FIRING"}
        assert "InferenceTargetDown" in delivered and "InferenceExporterDown" in delivered
    finally:
        for thing in reversed(started):
            thing.stop() if hasattr(thing, "stop") else thing.close()
        fleet.close()
