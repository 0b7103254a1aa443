"""Generated scenarios through a real Prometheus and a real Alertmanager (the routing part).

Time runs `SPEED` times faster than production (the rule pack is compressed with
deploy/local/demo_speed.py, as the demo does): one production minute is one second.

1. The scenarios' history (a day, for the traffic drop's seasonal bands) is backfilled with
   `promtool tsdb create-blocks-from openmetrics`, and the recording rules over it with
   bench/scenario.py's staged range queries. It ends at `t0`, a moment in the near future
   chosen so that the backfill is done by then.
2. From `t0` on, Prometheus scrapes the scenarios' exporter pods, served live from one
   loopback server (`/pod/<instance>`; a pod whose exporter is down answers 503), evaluates
   the compressed rules every second and sends to a real Alertmanager with the committed
   config (routes timed `SPEED` times faster, quiet hours off), which posts to the demo's
   Slack stand-in.
3. The invariants read the stand-in's messages and Alertmanager's own view:
   I1 each fault reaches its owning team's channel in time (or the page of its cause does),
   I2 no alert is held back by a less severe alert or another team's,
   I3 a mass outage is at most `MAX_MESSAGES` messages for its team,
   I7 Prometheus counted no failed rule evaluation.
"""

from __future__ import annotations

import re
import threading
import time
import urllib.parse
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import yaml
from inference_devtools import repo

from .synth import series
from .topology import ROOT, Scenario

for _folder in ("bench", "deploy/local", "tests/alertmanager"):
    repo.use(_folder)

SPEED = 60
MAX_MESSAGES = 5
SEVERITY = {"info": 0, "warning": 1, "critical": 2}
SCRAPE_LABELS = ("job", "instance", "namespace")


class Fleet:
    """Every scenario pod's /metrics at the compressed clock: minute `history + (now - t0) * SPEED / 60`."""

    def __init__(self, scenarios: list[Scenario], t0: float):
        self.t0 = t0
        self.cache: dict[tuple[str, int], str] = {}
        self.pods: dict[str, list] = {}  # instance -> [(scenario, name, labels text, points)]
        self.up: dict[str, tuple[Scenario, list]] = {}
        for sc in scenarios:
            for (name, labels), points in series(sc).items():
                d = dict(labels)
                if name == "up":
                    self.up[d["instance"]] = (sc, points)
                    continue
                text = ",".join(f'{k}="{v}"' for k, v in labels if k not in SCRAPE_LABELS)
                self.pods.setdefault(d["instance"], []).append((sc, name, text, points))
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):  # noqa: N802 - http.server API
                instance = urllib.parse.unquote(self.path.removeprefix("/pod/"))
                body = outer.body(instance)
                data = (body or "exporter down\n").encode()
                self.send_response(200 if body is not None else 503)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.address = f"127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def minute(self, sc: Scenario, at: float | None = None) -> float:
        return sc.history + ((at or time.time()) - self.t0) * SPEED / 60

    def body(self, instance: str) -> str | None:
        sc, up = self.up[instance]
        m = self.minute(sc)
        i = min(int(m), sc.minutes - 1)
        if m < sc.history or up[i] != 1:
            return None  # not yet live, or the exporter is down: the scrape fails
        key = (instance, i)
        if key not in self.cache:  # one production minute per scrape: each is rendered once
            lines = [
                f"{name}{{{text}}} {points[i]:.10g}"
                for _sc, name, text, points in self.pods.get(instance, ())
                if isinstance(points[i], (int, float))
            ]
            self.cache[key] = "\n".join(lines) + "\n"
        return self.cache[key]

    def targets(self) -> list[dict]:
        """Prometheus static_configs: one target per pod, its path and labels set explicitly."""
        out = []
        for instance, (sc, _) in sorted(self.up.items()):
            out.append(
                {
                    "targets": [self.address],
                    "labels": {
                        "__metrics_path__": f"/pod/{instance}",
                        "instance": instance,
                        "namespace": sc.namespace,
                    },
                }
            )
        return out

    def history(self, path: Path) -> int:
        """The minutes before `t0` of every scenario with history, as OpenMetrics; the samples."""
        n = 0
        by_name: dict[str, list[str]] = {}
        for sc in (s for s in {id(s): s for s, _ in self.up.values()}.values() if s.history):
            for (name, labels), points in series(sc).items():
                text = ",".join(f'{k}="{v}"' for k, v in labels)
                rows = by_name.setdefault(name, [])
                for m in range(sc.history):
                    v = points[m]
                    if isinstance(v, (int, float)):
                        ts = self.t0 - (sc.history - m) * 60 / SPEED
                        rows.append(f"{name}{{{text}}} {v:.10g} {ts:.3f}\n")
                        n += 1
        with path.open("w") as f:
            for name in sorted(by_name):
                f.write("".join(by_name[name]))
            f.write("# EOF\n")
        return n

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@dataclass
class Delivery:
    at: float  # seconds after t0 (polled: up to a second late)
    channel: str
    status: str
    count: int  # alerts in the message ([FIRING:n])
    namespace: str
    alerts: list[tuple[str, str]]  # (alertname, model or instance) of the listed alerts
    pretext: str


@dataclass
class RoutingRun:
    scenarios: list[Scenario]
    deliveries: list[Delivery] = field(default_factory=list)
    inhibited: list[tuple[dict, list[dict]]] = field(default_factory=list)  # (alert, its inhibitors)
    rule_failures: dict[str, float] = field(default_factory=dict)  # rule group -> failed evaluations
    seconds: float = 0.0


HEADING = re.compile(r"^_(Inference\w+)_")
ITEM = re.compile(r"^• \*([^*]+)\*")


def parse(entry: dict, t0: float) -> Delivery:
    att = entry["payload"]["attachments"][0]
    alerts, name = [], ""
    for line in att.get("text", "").splitlines():
        if m := HEADING.match(line):
            name = m.group(1)
        elif m := ITEM.match(line):
            alerts.append((name, m.group(1)))
    silence = next(a["url"] for a in att.get("actions", []) if a.get("text") == "Silence")
    matchers = urllib.parse.parse_qs(urllib.parse.urlsplit(silence).fragment.split("?", 1)[1])["filter"][0]
    namespace = dict(re.findall(r'(\w+)="([^"]*)"', matchers)).get("namespace", "")
    title = re.match(r"^\[(FIRING|RESOLVED):(\d+)\]", att.get("title", ""))
    return Delivery(
        entry["at"] - t0,
        entry["payload"]["channel"],
        title.group(1),
        int(title.group(2)),
        namespace,
        alerts,
        att.get("pretext") or "",
    )


def alertmanager_config(workdir: Path, slack_url: str) -> Path:
    """The committed config for the stand-in, with every route timing `SPEED` times shorter."""
    from amstack import config_for_tests

    path = config_for_tests(workdir, slack_url)
    config = yaml.safe_load(path.read_text())
    committed = yaml.safe_load((ROOT / "alertmanager" / "alertmanager.yml").read_text())

    def seconds(text: str) -> float:
        units = {"s": 1, "m": 60, "h": 3600}
        return sum(float(n) * units[u] for n, u in re.findall(r"(\d+)([smh])", text))

    def scale(route: dict, source: dict) -> None:
        for key in ("group_wait", "group_interval", "repeat_interval"):
            if key in source:
                route[key] = f"{max(100, round(seconds(source[key]) * 1000 / SPEED))}ms"
        for child, original in zip(route.get("routes") or [], source.get("routes") or [], strict=True):
            scale(child, original)

    scale(config["route"], committed["route"])
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def run(scenarios: list[Scenario], workdir: Path, log=lambda m: None) -> RoutingRun:
    """Backfill, go live, collect deliveries and inhibitions until every scenario is over.

    Everything in one Prometheus must keep up with an evaluation every second: a day of 100
    models is about what a loaded 2-core machine manages, so run heavy scenarios on their own.
    The backfill must be over before live time begins (the history ends at t0): its lead is
    estimated from the samples, and doubled once if that was too short.
    """
    # Every scenario lives until the run ends (healthy after its fault): frozen counters after
    # a short scenario's end would be a traffic drop of their own.
    live = max(sc.minutes - sc.history for sc in scenarios)
    scenarios = [replace(sc, minutes=sc.history + live) for sc in scenarios]
    samples = sum(
        sum(isinstance(v, (int, float)) for v in points[: sc.history])
        for sc in scenarios
        if sc.history
        for points in series(sc).values()
    )
    lead_s = 15 + samples / 25000
    for attempt in (1, 2):
        try:
            return _run(scenarios, workdir / f"attempt{attempt}", lead_s, log)
        except BackfillTooSlow as late:
            log(f"{late}; again with twice the lead")
            lead_s *= 2
    raise AssertionError("the backfill never finished within its lead")


class BackfillTooSlow(Exception):
    pass


def _run(scenarios: list[Scenario], workdir: Path, lead_s: float, log) -> RoutingRun:
    import demo_speed
    import scenario as backfill
    from amstack import Alertmanager, StandIn
    from inference_devtools.prom import Prometheus

    began = time.time()
    t0 = began + lead_s
    fleet = Fleet(scenarios, t0)
    rule_files = [p for p in backfill.rule_files()]
    fast_rules = [
        Path(p) for p in demo_speed.write([str(p) for p in rule_files], workdir / "rules", SPEED, 4, 1)
    ]
    data = workdir / "prometheus" / "data"
    data.mkdir(parents=True)
    history = workdir / "history.om"
    samples = fleet.history(history)
    if samples:
        import subprocess

        subprocess.run(
            [
                "promtool",
                "tsdb",
                "create-blocks-from",
                "openmetrics",
                "--max-block-duration=24h",
                str(history),
                str(data),
            ],
            check=True,
            capture_output=True,
        )
        replay = backfill.Replay(workdir / "prometheus")
        replay.start()
        try:
            start = int(t0 - max(sc.history for sc in scenarios) * 60 / SPEED)
            backfill.backfill_recordings(replay, fast_rules, start, int(t0) - 1, step=1, speed=SPEED, log=log)
        finally:
            replay.stop()
    log(f"history backfilled: {samples} samples ({time.time() - began:.0f}s; live at +{lead_s:.0f}s)")
    if time.time() > t0:
        fleet.close()
        raise BackfillTooSlow(
            f"the backfill took {time.time() - began:.0f}s, more than its lead of {lead_s:.0f}s"
        )
    standin = StandIn(workdir)
    am = Alertmanager(workdir, alertmanager_config(workdir, standin.url))
    out = RoutingRun(scenarios)
    prometheus = None
    try:
        time.sleep(max(0.0, t0 - time.time()))
        config = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s", "scrape_timeout": "1s"},
            "rule_files": [str(p) for p in fast_rules],
            "alerting": {
                "alertmanagers": [{"static_configs": [{"targets": [am.url.removeprefix("http://")]}]}]
            },
            "scrape_configs": [{"job_name": "inference-exporter", "static_configs": fleet.targets()}],
        }
        prometheus = Prometheus(
            workdir / "prometheus",
            yaml.safe_dump(config, sort_keys=False),
            # A firing alert stays valid in Alertmanager for 4 resend delays. 1s would match
            # production's 1m, but a loaded machine's pauses are seconds, not compressed: 3s
            # keeps an alert Prometheus still holds from expiring between two sends.
            ("--rules.alert.resend-delay=3s", "--storage.tsdb.retention.time=100y"),
        )
        end = t0 + max(sc.minutes - sc.history for sc in scenarios) * 60 / SPEED
        log(f"live: Prometheus and Alertmanager running for {end - time.time():.0f}s")
        arrived: list[float] = []  # when each message was first seen (polled every second)
        while time.time() < end + 3:
            _inhibitions(am, out)
            arrived += [time.time()] * (len(standin.messages()) - len(arrived))
            time.sleep(1)
        for entry, at in zip(standin.messages(), arrived, strict=False):
            out.deliveries.append(parse({**entry, "at": at}, t0))
        out.rule_failures = _rule_failures(prometheus.url)
    finally:
        if prometheus:
            prometheus.close()
        am.stop()
        standin.close()
        fleet.close()
    out.seconds = time.time() - began
    return out


def _rule_failures(url: str) -> dict[str, float]:
    """Prometheus' own count of failed rule evaluations, per group (I7)."""
    from inference_devtools.prom import own_metrics

    counts = own_metrics(url, "prometheus_rule_evaluation_failures_total{", timeout=10)
    return {key.split('rule_group="', 1)[1].split('"', 1)[0]: v for key, v in counts.items() if v}


def _inhibitions(am, out: RoutingRun) -> None:
    alerts = am.get("/api/v2/alerts").json()
    by_fp = {a["fingerprint"]: a["labels"] for a in alerts}
    for a in alerts:
        held_by = [by_fp[fp] for fp in a["status"]["inhibitedBy"] if fp in by_fp]
        if held_by:
            out.inhibited.append((a["labels"], held_by))


CAUSES = {"InferenceTargetDown", "InferenceExporterDown", "InferenceGPULost", "InferenceGPUXidCritical"}
CHANNELS = {
    "search": ("#search-oncall", "#search-alerts"),
    "recommendation": ("#recommendation-oncall", "#recommendation-alerts"),
}


def check(result: RoutingRun) -> dict[str, list[str]]:
    """Violations of I1 (delivered to the owner in time), I2 and I3, per scenario id."""
    from .invariants import EXPECTED
    from .topology import latency_observable

    problems: dict[str, list[str]] = {sc.id: [] for sc in result.scenarios}
    for group, count in result.rule_failures.items():
        for sc in result.scenarios:
            problems[sc.id].append(f"I7 {count:.0f} failed evaluations of rule group {group}")
    for alert, held_by in result.inhibited:
        for source in held_by:
            if SEVERITY.get(source.get("severity"), 0) < SEVERITY.get(alert.get("severity"), 0):
                _blame(
                    result,
                    problems,
                    alert,
                    f"I2 {alert['alertname']} held back by a less severe {source['alertname']}",
                )
            if source.get("team") != alert.get("team"):
                _blame(
                    result, problems, alert,
                    f"I2 {alert['alertname']} of team {alert.get('team')} held back by team "
                    f"{source.get('team')}'s {source['alertname']}",
                )  # fmt: skip
    for sc in result.scenarios:
        f, expected = sc.fault, EXPECTED.get(sc.fault.kind)
        mine = [d for d in result.deliveries if d.namespace == sc.namespace]
        if f.kind == "mass_outage":
            messages = [d for d in mine if d.channel in CHANNELS["search"]]
            if len(messages) > MAX_MESSAGES:
                summary = [
                    (round(d.at), d.status, d.count, sorted({n for n, _ in d.alerts})) for d in messages
                ]
                problems[sc.id].append(
                    f"I3 mass outage of {len(f.models)} models: {len(messages)} messages to team search "
                    f"(at most {MAX_MESSAGES}): {summary}"
                )
            paged = max((d.count for d in messages if d.status == "FIRING" and d.channel.endswith("oncall")),
                        default=0)  # fmt: skip
            if paged < len(f.models):
                problems[sc.id].append(f"I1 mass outage: the page lists {paged} of {len(f.models)} models")
        if not expected or (f.kind == "traffic_loss" and not sc.history):
            continue
        model = sc.model(f.model) if f.model else None
        if (
            model
            and f.kind == "latency"
            and not any(latency_observable(t.server, model.cls) for t in model.targets)
        ):
            continue
        team = model.team if model else "search"
        deadline = (f.start - sc.history + expected.deadline + 2) * 60 / SPEED + 2
        told = [
            d for d in mine
            if d.status == "FIRING" and d.channel in CHANNELS.get(team, ())
            and any(name in expected.alerts or name in CAUSES for name, _ in d.alerts) and d.at <= deadline
        ]  # fmt: skip
        if not told:
            got = [(round(d.at), d.channel, d.alerts[:3]) for d in mine]
            problems[sc.id].append(
                f"I1 {f.kind}: nothing of {expected.alerts} (or its cause's page) reached team {team} "
                f"within {deadline:.0f}s; deliveries: {got}"
            )
    return problems


def _blame(result: RoutingRun, problems: dict, alert: dict, text: str) -> None:
    for sc in result.scenarios:
        if alert.get("namespace") == sc.namespace and text not in problems[sc.id]:
            problems[sc.id].append(text)
