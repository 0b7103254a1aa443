"""``make demo``: real model servers, exporter sidecars, Prometheus and Alertmanager on loopback.

    python deploy/local/demo.py                       # until Ctrl-C (or `make demo-stop`)
    python deploy/local/demo.py --duration 60         # exits by itself after 60 s of traffic
    python deploy/local/demo.py --stop                # stops a demo running in another shell

Every process it starts runs in its own process group and carries a run marker in its
environment; on exit the demo stops the groups, then ends any marked process that
escaped them, so nothing is left behind. State, configs and logs go to ``.demo/``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from inference_devtools import repo

HERE = Path(__file__).resolve().parent
REPO = repo.ROOT
repo.use("deploy/local/servers")  # the model-server launcher and models, shared with the tests

import control  # noqa: E402
import demo_speed  # noqa: E402
import embedding_model  # noqa: E402
import launch  # noqa: E402
import procs  # noqa: E402
import ranking_model  # noqa: E402
import requests  # noqa: E402
import stack_config  # noqa: E402
import traffic  # noqa: E402
import venvs  # noqa: E402

RUN_MARKER_ENV = "INFERENCE_DEMO_RUN"


@dataclass(frozen=True)
class Deployment:
    """One model on one server process, with its own sidecar and the static labels alerts route by."""

    server: str  # the server kind (deploy/local/servers/<server>/)
    model: str
    team: str
    model_class: str  # selects the SLO class of the rule pack (rules/config.yml)


RANKER = ranking_model.MODEL_NAME
# Named as `--servers` and `inject.sh down` name them.
DEPLOYMENTS = {
    "triton": Deployment("triton", RANKER, "search", "ranking"),
    "mlserver": Deployment("mlserver", RANKER, "recommendation", "ranking"),
    "bentoml": Deployment("bentoml", RANKER, "search", "ranking"),
    "kserve": Deployment("kserve", RANKER, "recommendation", "ranking"),
    "embedder": Deployment("kserve", embedding_model.MODEL_NAME, "search", "embedding"),
}
DEFAULT_STACK = "triton,mlserver,embedder"
# Servers whose ranking model reports the control file's `model_version` (the others stay at theirs).
VERSIONED = ("triton", "mlserver")
# The rule pack runs 30x faster (--rule-speed): its 10-minute canary window lasts 20 s. A canary
# every 2 s gives that window the ten runs a production canary (every minute) gives its own;
# every 15 s, it held one or two, and the failing-canary page swung with each run.
CANARY_EVERY = "2s"
DEFAULT_PORTS = {"prometheus": 9090, "alertmanager": 9093, "slack": 9095, "sidecar": 9072, "grafana": 3300}
QUERIES = {
    "request rate by model": "sum by (model, server) (rate(inference_requests_total[1m]))",
    "error share": 'sum by (model, server) (rate(inference_requests_total{outcome="failure"}[1m])) '
    "/ sum by (model, server) (rate(inference_requests_total[1m]))",
    "mean latency (s)": "sum by (model, server) (rate(inference_request_duration_seconds_sum[1m])) "
    "/ sum by (model, server) (rate(inference_request_duration_seconds_count[1m]))",
}


class Stop(BaseException):  # not an Exception: no `except Exception` may swallow it
    """Raised by the signal handler: Ctrl-C, `make demo-stop`, or SIGTERM."""


def say(msg: str) -> None:
    print(f"demo {time.strftime('%H:%M:%S')} | {msg}", flush=True)


def grafana_binary() -> str:
    return shutil.which("grafana-server") or shutil.which("grafana") or ""


def rel(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


class Demo:
    def __init__(self, args: argparse.Namespace):
        self.args = args
        self.state = args.state_dir.resolve()
        self.control_file = self.state / "control.json"
        self.taken: set[int] = set()
        self.procs: dict[str, procs.Proc] = {}
        self.servers: dict[str, launch.Handle | None] = {}  # None: stopped through the control file
        self.sidecars: dict[str, str] = {}  # kind -> host:port
        self.traffic: traffic.Traffic | None = None
        self.started_pids: list[int] = []
        self.record_lock = threading.Lock()
        self.server_dirs: list[Path] = []  # temporary; their logs are kept in the state folder
        self.run_id = uuid.uuid4().hex
        self.model_version = control.DEFAULTS["model_version"]
        self.grafana = ""  # its URL when a Grafana binary is installed
        self.grafana_port = 0  # picked before Prometheus starts, so the rules can link to it

    # --- bookkeeping ------------------------------------------------------------

    def _record(self, *pids: int) -> None:
        """Every pid started, for the tests' proof that none outlives the demo."""
        with self.record_lock:  # servers start in parallel threads
            self.started_pids.extend(p for p in pids if p not in self.started_pids)
            record = {"demo": os.getpid(), "run_id": self.run_id, "started": self.started_pids}
            (self.state / "pids.json").write_text(json.dumps(record))

    def _start(self, name: str, cmd: list[str], ready_url: str, timeout: float = 60) -> procs.Proc:
        proc = procs.Proc(name, cmd, self.state / "logs" / f"{name}.log")
        self.procs[name] = proc
        self._record(proc.pid)
        proc.wait_http(ready_url, timeout)
        return proc

    # --- start-up ---------------------------------------------------------------

    def prepare(self) -> None:
        self.state.mkdir(parents=True, exist_ok=True)
        pid_file = self.state / "demo.pid"
        if pid_file.exists():
            old = int(pid_file.read_text().strip() or 0)
            if old and _is_demo(old):
                raise SystemExit(f"demo: already running (pid {old}); stop it with `make demo-stop`")
        pid_file.write_text(f"{os.getpid()}\n")
        for stale in ("prometheus", "alertmanager", "pids.json", "stack.json"):
            path = self.state / stale
            shutil.rmtree(path) if path.is_dir() else path.unlink(missing_ok=True)
        control.write(self.control_file, dict(control.DEFAULTS))
        # Inherited by every child (launch passes the environment on): the sweep finds them by it,
        # and the servers' ranking model finds the control file by it.
        os.environ[RUN_MARKER_ENV] = self.run_id
        os.environ[control.ENV_VAR] = str(self.control_file)

    def build_venvs(self) -> None:
        kinds = sorted({DEPLOYMENTS[name].server for name in self.args.servers})
        missing = [s for s in kinds if not (venvs.venv_path(s) / venvs.MARKER).is_file()]
        cached = [s for s in kinds if s not in missing]
        if cached:
            say(f"server virtualenvs cached: {', '.join(cached)} ({rel(venvs.CACHE)}/)")
        if missing:
            say(
                f"building server virtualenvs for {', '.join(missing)}: the first time this downloads and "
                "installs a few hundred MB per server and takes several minutes; later runs reuse them"
            )
            with ThreadPoolExecutor(len(missing)) as pool:
                list(pool.map(venvs.ensure, missing))

    def start_alerting(self) -> None:
        slack_port = procs.pick_port(DEFAULT_PORTS["slack"], self.taken)
        self.slack_url = f"http://127.0.0.1:{slack_port}"
        self.slack_log = self.state / "slack.jsonl"
        say(f"starting the Slack stand-in on {self.slack_url} (messages go to {rel(self.slack_log)})")
        self._start(
            "slack-standin",
            [
                sys.executable,
                "-u",
                str(HERE / "slack_standin.py"),
                "--port",
                str(slack_port),
                "--log",
                str(self.slack_log),
            ],
            self.slack_url,
        )

        am_port = procs.pick_port(DEFAULT_PORTS["alertmanager"], self.taken)
        self.alertmanager = f"127.0.0.1:{am_port}"
        repo_config = REPO / "alertmanager" / "alertmanager.yml"
        config = self.state / "alertmanager.yml"
        if repo_config.is_file():
            # The committed routing, inhibitions and Slack templates, posting to the stand-in;
            # groups flush in seconds so what you inject shows up now.
            config.write_text(
                demo_speed.fast_routes(
                    stack_config.repository_alertmanager_config(repo_config, self.slack_url)
                )
            )
            wait = demo_speed.ROUTE_TIMINGS["group_wait"]
            source = f"{rel(repo_config)}, Slack posts to the stand-in, quiet hours off, group_wait {wait}"
        else:
            config.write_text(stack_config.minimal_alertmanager_config(self.slack_url))
            source = "minimal: every alert to the stand-in"
        say(f"starting Alertmanager on http://{self.alertmanager} (config: {source})")
        self._start(
            "alertmanager",
            [
                shutil.which("prometheus-alertmanager") or "/usr/bin/prometheus-alertmanager",
                f"--config.file={config}",
                f"--storage.path={self.state / 'alertmanager'}",
                f"--web.listen-address={self.alertmanager}",
                f"--web.external-url=http://{self.alertmanager}",  # silence links in messages
                "--cluster.listen-address=",
            ],
            f"http://{self.alertmanager}/-/ready",
        )

    def start_servers(self) -> None:
        say(
            f"starting model servers {', '.join(self.args.servers)}: each trains its model (ranking: "
            "generated product features; embedding: generated product titles), then serves it "
            "(tens of seconds)"
        )

        with ThreadPoolExecutor(len(self.args.servers)) as pool:
            futures = {kind: pool.submit(self.launch, kind) for kind in self.args.servers}
            errors = []
            for kind, future in futures.items():
                try:
                    future.result()
                except Exception as exc:  # wait for the others: all are stopped at exit
                    errors.append(f"{kind}: {exc}")
            if errors:
                raise RuntimeError("model server(s) failed to start:\n" + "\n".join(errors))
        self.servers = {
            kind: self.servers[kind] for kind in self.args.servers
        }  # listed as asked, not as ready
        for kind, handle in self.servers.items():
            say(
                f"  {kind} ({handle.model} on {handle.package} {handle.version}) ready in "
                f"{handle.start_seconds:.0f} s: "
                f"API {handle.api_url}, native metrics {handle.metrics_url}, log {handle.log_path}"
            )

    def launch(self, kind: str) -> launch.Handle:
        # A short path: Triton's Python backend puts unix sockets in its workspace (108-byte limit).
        workdir = Path(tempfile.mkdtemp(prefix=f"demo-{kind}-"))
        self.server_dirs.append(workdir)
        deployment = DEPLOYMENTS[kind]
        handle = launch.start(deployment.server, workdir, model=deployment.model, name=kind)
        self._record(handle.process.pid, *handle.alive_pids())
        self.servers[kind] = handle  # at once: a Ctrl-C meanwhile must still stop it
        return handle

    def start_sidecar(self, kind: str) -> None:
        handle = self.servers[kind]
        if kind not in self.sidecars:
            port = procs.pick_port(DEFAULT_PORTS["sidecar"] + len(self.sidecars), self.taken)
            self.sidecars[kind] = f"127.0.0.1:{port}"
        config = self.state / f"exporter-{kind}.yml"
        deployment = DEPLOYMENTS[kind]
        labels = {"team": deployment.team, "model_class": deployment.model_class}
        models = []
        every = self.args.canary_every
        if deployment.model == embedding_model.MODEL_NAME:
            models = [stack_config.embedding_canary(embedding_model, every)]
        elif deployment.server in stack_config.RANKING_CANARY_SERVERS:
            models = [stack_config.ranking_canary(ranking_model, deployment.server, every)]
        config.write_text(
            stack_config.exporter_config(
                f"{deployment.model}-{deployment.server}",
                deployment.server,
                handle.metrics_url,
                handle.api_url,
                labels,
                self.args.scrape_interval,
                models,
            )
        )
        self._start(
            f"exporter-{kind}",
            [
                str(Path(sys.executable).with_name("inference-exporter")),
                f"--config.file={config}",
                f"--web.listen-address={self.sidecars[kind]}",
                # One journal per sidecar: two exporters on one folder mix their events.
                f"--journal.path={self.journal(kind)}",
            ],
            f"http://{self.sidecars[kind]}/-/ready",
        )

    def journal(self, kind: str) -> Path:
        return self.state / "journal" / kind

    def start_prometheus(self) -> None:
        port = procs.pick_port(DEFAULT_PORTS["prometheus"], self.taken)
        self.prometheus = f"127.0.0.1:{port}"
        rules_dir = REPO / "rules"
        rule_files, skipped = stack_config.rule_files(rules_dir) if rules_dir.is_dir() else ([], [])
        for why in skipped:
            say(f"WARNING: skipping rule file {why}")
        speed = self.args.rule_speed
        # Alerts link the demo's own Grafana, or no dashboard at all when none runs.
        grafana = self.plan_grafana()
        if rule_files:
            # Windows of a few scrapes at least, evaluated every scrape.
            every = self.args.scrape_interval
            rule_files = demo_speed.write(
                rule_files, self.state / "rules", speed, 4 * every, every, grafana=grafana
            )
            say(f"alert dashboard links: {grafana or 'none (no Grafana here)'}")
        if rule_files and speed != 1:
            say(
                f"rule pack at {speed:g}x speed in {rel(self.state / 'rules')}/: 5m windows become "
                f"{demo_speed.scaled('5m', speed, 4 * every)}, "
                f"for: 15m becomes {demo_speed.scaled('15m', speed)}"
            )
        config = self.state / "prometheus.yml"
        config.write_text(
            stack_config.prometheus_config(
                self.sidecars, self.alertmanager, self.prometheus, self.args.scrape_interval, rule_files
            )
        )
        rules = f"{len(rule_files)} rule file(s) from rules/" if rule_files else "no alert rules yet"
        every = f"scrape every {self.args.scrape_interval:g} s"
        say(f"starting Prometheus on http://{self.prometheus} ({every}, {rules})")
        self._start(
            "prometheus",
            [
                shutil.which("prometheus") or "/usr/bin/prometheus",
                f"--config.file={config}",
                f"--storage.tsdb.path={self.state / 'prometheus'}",
                f"--web.listen-address={self.prometheus}",
                "--storage.tsdb.retention.time=1d",
                "--enable-feature=exemplar-storage",  # the canary runs' ids on the model dashboard
            ],
            f"http://{self.prometheus}/-/ready",
        )

    def plan_grafana(self) -> str:
        """The URL Grafana will have (its port is picked now, so the rules can link to it), or ""."""
        if not grafana_binary():
            return ""
        self.grafana_port = procs.pick_port(DEFAULT_PORTS["grafana"], self.taken)
        return f"http://127.0.0.1:{self.grafana_port}"

    def start_grafana(self) -> None:
        """Grafana with the repository's provisioning, when a Grafana binary is installed.

        Debian ships no Grafana package, so most machines have none: the summary then says
        how to point an existing Grafana at this Prometheus instead.
        """
        binary = grafana_binary()
        if not binary or not self.grafana_port:
            return
        port = self.grafana_port
        home = next(
            (p for p in ("/usr/share/grafana", "/usr/local/share/grafana") if Path(p, "conf").is_dir()), ""
        )
        env = {
            "PROMETHEUS_URL": f"http://{self.prometheus}",
            "INFERENCE_DASHBOARDS_DIR": str(REPO / "grafana-dashboards"),
            "GF_PATHS_PROVISIONING": str(REPO / "deploy" / "grafana" / "provisioning"),
            "GF_PATHS_DATA": str(self.state / "grafana"),
            "GF_SERVER_HTTP_ADDR": "127.0.0.1",
            "GF_SERVER_HTTP_PORT": str(port),
            "GF_AUTH_ANONYMOUS_ENABLED": "true",
            "GF_AUTH_ANONYMOUS_ORG_ROLE": "Viewer",
            "GF_ANALYTICS_REPORTING_ENABLED": "false",
            "GF_ANALYTICS_CHECK_FOR_UPDATES": "false",
        }
        cmd = [binary] if binary.endswith("grafana-server") else [binary, "server"]
        if home:
            cmd.append(f"--homepath={home}")
        say(f"starting Grafana on http://127.0.0.1:{port} with the provisioning in deploy/grafana/")
        os.environ.update(env)
        try:
            self._start("grafana", cmd, f"http://127.0.0.1:{port}/api/health", timeout=90)
        finally:
            for key in env:
                os.environ.pop(key, None)
        self.grafana = f"http://127.0.0.1:{port}"

    def grafana_lines(self) -> list[str]:
        if self.grafana:
            return [f"  Grafana      {self.grafana}/dashboards   (folder Inference; anonymous viewer)"]
        dashboards = REPO / "grafana-dashboards"
        provisioning = REPO / "deploy" / "grafana" / "provisioning"
        return [
            "  Grafana: none installed here; to see the dashboards, point an existing Grafana at this stack:",
            f"    PROMETHEUS_URL=http://{self.prometheus} INFERENCE_DASHBOARDS_DIR={dashboards} \\",
            f"    GF_PATHS_PROVISIONING={provisioning} grafana-server",
            "    or import grafana-dashboards/*.json by hand (see deploy/grafana/README.md)",
        ]

    def start(self) -> None:
        say(f"state, configs and logs in {rel(self.state)}/")
        self.build_venvs()
        self.start_alerting()
        self.start_servers()
        for kind in self.servers:
            say(f"starting exporter sidecar for {kind} (its event journal: {rel(self.journal(kind))}/)")
            self.start_sidecar(kind)
        self.start_prometheus()
        self.start_grafana()
        shape = traffic.Shape(day_seconds=self.args.day_seconds)
        self.traffic = traffic.Traffic(list(self.servers.values()), self.control_file, shape).start()
        say(
            f"traffic started: one search 'day' every {shape.day_seconds:g} s, "
            f"{shape.night_rps:g} to {shape.peak_rps:g} searches/s per server, bursts, "
            f"{control.DEFAULTS['error_share']:.2%} failing"
        )
        self.write_stack_file()
        self.print_summary()

    # --- running ----------------------------------------------------------------

    def write_stack_file(self) -> None:
        stack = {
            "servers": {
                k: {"api": h.api_url, "metrics": h.metrics_url} for k, h in self.servers.items() if h
            },
            "sidecars": {k: f"http://{a}" for k, a in self.sidecars.items()},
            "journals": {k: str(self.journal(k)) for k in self.sidecars},
            "models": {k: DEPLOYMENTS[k].model for k in self.sidecars},
            "prometheus": f"http://{self.prometheus}",
            "alertmanager": f"http://{self.alertmanager}",
            "grafana": self.grafana,
            "slack_standin": self.slack_url,
            "slack_log": str(self.slack_log),
            "control_file": str(self.control_file),
        }
        (self.state / "stack.json").write_text(json.dumps(stack, indent=2) + "\n")

    def print_summary(self) -> None:
        prom = f"http://{self.prometheus}"
        lines = ["", "The demo is running. Where to look:", "", "  Model servers:"]
        for kind, h in self.servers.items():
            lines.append(f"    {kind:<9} {h.model:<9} API {h.api_url}   native metrics {h.metrics_url}")
        lines += ["", "  Exporter sidecars (unified inference_* metrics):"]
        for kind, address in self.sidecars.items():
            lines.append(f"    {kind:<9} http://{address}/metrics   landing page http://{address}/")
        every = self.args.canary_every
        if embedding_model.MODEL_NAME in {h.model for h in self.servers.values()}:
            lines += [
                f"    canary: the embedder's sidecar embeds a golden query every {every},",
                "    compared by cosine with a stored vector: inference_canary_success, ..._quality_score",
            ]
        ranked = [k for k in self.sidecars if DEPLOYMENTS[k].server in stack_config.RANKING_CANARY_SERVERS]
        ranked = [k for k in ranked if DEPLOYMENTS[k].model == RANKER]
        if ranked:
            lines += [
                f"    canary: the {', '.join(ranked)} sidecar(s) rank a golden page of "
                f"{ranking_model.CANARY_PAGE} products every {every};",
                "    its 3 most relevant products must come first (top_k check)",
            ]
        lines += ["", "  Event journals, one per sidecar (probes, versions, canary runs):"]
        exporter = rel(Path(sys.executable).with_name("inference-exporter"))
        for kind in self.sidecars:
            lines.append(f"    {kind:<9} {exporter} events --journal.path {rel(self.journal(kind))}")
        lines += ["", f"  Prometheus   {prom}   (alerts: {prom}/alerts)"]
        for title, expr in QUERIES.items():
            link = (
                requests.Request("GET", f"{prom}/graph", params={"g0.expr": expr, "g0.tab": "0"})
                .prepare()
                .url
            )
            lines.append(f"    {title}: {link}")
        lines += [
            *self.grafana_lines(),
            f"  Alertmanager http://{self.alertmanager}",
            f"  Slack stand-in log: {rel(self.slack_log)}   (process logs: {rel(self.state / 'logs')}/)",
            f"  Slack stand-in {self.slack_url}   (what on-call would read; also printed in its log)",
            "",
            "  Inject a fault (another shell; `reset` removes them all):",
            f"    {rel(HERE / 'inject.sh')} latency 0.3   slow ranking model -> InferenceMeanLatencyHigh",
            f"    {rel(HERE / 'inject.sh')} errors 0.3    30% failing requests -> availability burn rate",
            f"    {rel(HERE / 'inject.sh')} down triton   kill a server -> one InferenceTargetDown page; "
            "its model's canary and readiness alerts wait behind it (`down embedder`: the embedding model)",
            f"    {rel(HERE / 'inject.sh')} version       deploy the next ranker version; with latency or "
            "errors too -> InferencePostDeployRegression (roll back)",
            f"    {rel(HERE / 'inject.sh')} reset",
            "",
            "  Stop: Ctrl-C here, or `make demo-stop` from another shell."
            + (f" Exits by itself after {self.args.duration:g} s." if self.args.duration else ""),
            "",
        ]
        print("\n".join(lines), flush=True)

    def run(self) -> None:
        began = time.monotonic()
        last_report = began
        warned: set[str] = set()
        while not self.args.duration or time.monotonic() - began < self.args.duration:
            time.sleep(1)
            settings = control.read(self.control_file)
            self.apply_down(set(settings["down"]))
            self.apply_version(int(settings["model_version"]))
            for name, proc in self.procs.items():
                if not proc.running() and name not in warned:
                    warned.add(name)
                    say(f"WARNING: {name} exited ({proc.popen.returncode}); log tail:\n{proc.log_tail(10)}")
            if time.monotonic() - last_report >= self.args.report_every:
                last_report = time.monotonic()
                say(f"traffic so far: {self.traffic.summary()}")
        say(f"--duration {self.args.duration:g} s reached")

    def apply_down(self, down: set[str]) -> None:
        """Stop servers listed under ``down`` in the control file; start them again when unlisted."""
        for kind in list(self.servers):
            if kind in down and self.servers[kind] is not None:
                say(f"control: killing {kind} (its sidecar stays up and reports it unreachable)")
                # A crash, not a shutdown: a server draining for seconds would still answer its
                # metrics with no traffic, which is a traffic drop, not a dead target.
                self.servers[kind].stop(grace=0)
                self.servers[kind] = None
        for kind in self.args.servers:
            if kind not in down and self.servers.get(kind) is None:
                say(f"control: starting {kind} again")
                self.restart(kind)

    def apply_version(self, version: int) -> None:
        """A new ``model_version`` in the control file: redeploy the servers that label versions."""
        if version == self.model_version:
            return
        self.model_version = version
        for kind in VERSIONED:
            old = self.servers.get(kind)
            if old is not None:
                # Like a rolling deploy: the old version serves until the new one is ready.
                say(f"control: deploying ranker version {version} on {kind}")
                self.restart(kind)
                old.stop()

    def restart(self, kind: str) -> None:
        handle = self.launch(kind)
        self.procs.pop(f"exporter-{kind}").stop()
        self.start_sidecar(kind)  # same sidecar port, new server ports
        self.traffic.servers = [h for h in self.servers.values() if h is not None]
        self.write_stack_file()
        say(f"  {kind} is back: API {handle.api_url}, native metrics {handle.metrics_url}")

    # --- shutdown -----------------------------------------------------------------

    def shutdown(self) -> None:
        say("stopping everything the demo started")
        if self.traffic:
            self.traffic.stop()
            say(f"traffic total: {self.traffic.summary()}")
        for name in ("prometheus", *[n for n in self.procs if n.startswith("exporter-")]):
            if name in self.procs:
                self.procs[name].stop()
        for kind, handle in self.servers.items():
            if handle is not None:
                try:
                    handle.stop()
                except RuntimeError as exc:
                    say(f"WARNING: {kind}: {exc}")
        for proc in self.procs.values():
            proc.stop()
        self._keep_server_logs()
        marker = f"{RUN_MARKER_ENV}={self.run_id}"
        left = procs.sweep(marker)
        if left:
            say(f"ended {len(left)} stray process(es) of this run: {left}")
        (self.state / "demo.pid").unlink(missing_ok=True)
        time.sleep(0.2)  # SIGKILL is asynchronous
        remaining = procs.marked_pids(marker)
        say(f"WARNING: still alive: {remaining}" if remaining else "stopped: no process of the demo is left")

    def _keep_server_logs(self) -> None:
        """Copy the servers' logs into the state folder, then remove their temporary workdirs."""
        (self.state / "logs").mkdir(parents=True, exist_ok=True)
        for workdir in self.server_dirs:
            for log in workdir.glob("*.log"):
                kept, n = self.state / "logs" / log.name, 1
                while kept.exists():  # a server restarted through the control file has several
                    n += 1
                    kept = kept.with_name(f"{log.stem}-{n}.log")
                shutil.copy(log, kept)
            shutil.rmtree(workdir, ignore_errors=True)


def _is_demo(pid: int) -> bool:
    """Whether ``pid`` is alive and a demo (not a pid reused since by something else)."""
    return pid != os.getpid() and b"demo.py" in _cmdline(pid)


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def stop_running(state_dir: Path, timeout: float = 90) -> int:
    pid_file = state_dir / "demo.pid"
    if not pid_file.exists():
        print("demo: not running (no pid file in " + rel(state_dir) + ")")
        return 0
    pid = int(pid_file.read_text().strip() or 0)
    if not pid or not _is_demo(pid):
        print(f"demo: not running (stale pid file, pid {pid})")
        pid_file.unlink(missing_ok=True)
        return 0
    print(f"demo: asking the demo (pid {pid}) to stop everything ...", flush=True)
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not Path(f"/proc/{pid}").exists():
            print("demo: stopped")
            return 0
        time.sleep(0.5)
    print(f"demo: pid {pid} still running after {timeout:.0f} s; see its terminal", file=sys.stderr)
    return 1


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description="Run the local inference-exporter demo stack.")
    ap.add_argument(
        "--servers",
        default=DEFAULT_STACK,
        help=f"comma-separated model servers (%(default)s; from {', '.join(DEPLOYMENTS)}; "
        "'embedder' is the embedding model on KServe, the others serve the ranking model)",
    )
    ap.add_argument(
        "--duration", type=float, default=0, help="exit after this many seconds (0: until stopped)"
    )
    ap.add_argument(
        "--scrape-interval", type=float, default=5, help="Prometheus and sidecar interval, seconds"
    )
    ap.add_argument("--day-seconds", type=float, default=600, help="length of one traffic 'day', seconds")
    ap.add_argument(
        "--rule-speed",
        type=float,
        default=30,
        help="divide every duration of the rule pack by this (%(default)s; 1: production timing)",
    )
    ap.add_argument("--report-every", type=float, default=60, help="traffic report interval, seconds")
    ap.add_argument(
        "--canary-every", default=CANARY_EVERY, help="interval of the sidecars' golden requests (%(default)s)"
    )
    ap.add_argument("--state-dir", type=Path, default=REPO / ".demo", help="state folder (%(default)s)")
    ap.add_argument("--stop", action="store_true", help="stop the demo running in another shell")
    args = ap.parse_args(argv)
    if not re.fullmatch(r"\d+(ms|s|m|h)", args.canary_every):
        ap.error(f"--canary-every: a duration such as 15s or 1m, not {args.canary_every!r}")
    args.servers = [s.strip() for s in args.servers.split(",") if s.strip()]
    unknown = set(args.servers) - set(DEPLOYMENTS)
    if unknown or not args.servers:
        ap.error(f"--servers: choose from {', '.join(DEPLOYMENTS)}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.stop:
        return stop_running(args.state_dir)

    def _stop(signum, _frame):
        # Ignore further signals: the shutdown that follows must run to its end.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        raise Stop(signal.Signals(signum).name)

    demo = Demo(args)
    demo.prepare()  # outside the try: a refusal (already running) has nothing to clean up
    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    code = 0
    try:
        demo.start()
        demo.run()
    except Stop as sig:
        print(flush=True)
        say(f"{sig} received")
    except (RuntimeError, launch.ServerStartError) as exc:
        say(f"ERROR: {exc}")
        code = 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        demo.shutdown()
    return code


if __name__ == "__main__":
    sys.exit(main())
