"""Generated topologies x faults for the rule pack: what is deployed where, and what goes wrong.

A `Scenario` is one topology (models of some teams on replicas, on servers with their own
bucket layouts, behind exporter pods) with one fault on one timeline. `generate(seed, n)`
draws them with a seeded `random.Random`, so a failing case is rebuilt from its seed and index
(`Scenario.describe()` prints both and the topology).

Topology features (issue 12): 1 to 5 replicas; a canary second version on one replica; two
teams sharing a model name; one model on two server kinds with different bucket layouts; an
HA exporter pair; a fresh Prometheus without history; exporter and server restarts; event
counters that appear at their first event.

Faults: latency, errors, traffic loss, target down, exporter down, GPU lost, XID, model load,
slow memory leak, NVML lost (for the GPU-collector ticket), mass outage across 100 models.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
CONFIG = yaml.safe_load((ROOT / "rules" / "config.yml").read_text())
JOB = "inference-exporter"
HISTORY_MIN = 25 * 60  # a day and an hour: the anomaly bands and the traffic drop need a day

# Model classes: (typical latency of the SLI metric, latency under a latency fault) in seconds.
CLASSES = {
    "ranking": (0.03, 0.4),
    "embedding": (0.1, 1.5),
    "generative": (0.3, 3.0),  # time to first token
    "vision": (0.2, 4.0),  # no class of its own: the default class
}
GENERATIVE_SERVERS = ("vllm", "sglang")
SERVERS = (
    "bentoml",
    "rayserve",
    "vllm",
    "sglang",
    "tgi",
    "tfserving",
    "triton",
    "mlserver",
    "torchserve",
    "kserve",
)


def class_spec(cls: str) -> dict:
    classes = CONFIG["slo"]["classes"]
    return classes.get(cls, classes[CONFIG["slo"]["default_class"]])


def _edges(server: str, metric: str) -> tuple[tuple[float, ...], bool]:
    """(finite bucket edges, has a `_count` series) of `metric` in the adapter's golden output."""
    edges, counted = set(), False
    for line in (ROOT / "tests" / "golden" / f"{server}.prom").read_text().splitlines():
        if line.startswith(metric + "_bucket{"):
            le = line.split('le="', 1)[1].split('"', 1)[0]
            if le != "+Inf":
                edges.add(float(le))
        counted |= line.startswith(metric + "_count")
    return tuple(sorted(edges)), counted


def layout(server: str, metric: str) -> tuple[float, ...] | None:
    """The bucket edges a server's histogram of `metric` has (thinned to the edges that matter
    for the rules: the class thresholds and a few around them), () for sums only, None for none."""
    edges, counted = _edges(server, metric)
    if not edges:
        return () if counted else None
    thresholds = {spec["latency"]["threshold_seconds"] for spec in CONFIG["slo"]["classes"].values()}
    keep = {edges[0], edges[-1]}
    for t in thresholds:
        below = [e for e in edges if e <= t + 1e-12]
        above = [e for e in edges if e > t + 1e-12]
        keep |= set(below[-2:]) | set(above[:1])
    keep |= {e for e in edges if 2 <= e <= 10}
    return tuple(sorted(keep))


def has_sli(server: str, cls: str) -> bool:
    lat = class_spec(cls)["latency"]
    edges = layout(server, lat["metric"]) or ()
    return any(abs(e - lat["threshold_seconds"]) < 1e-12 for e in edges)


def latency_observable(server: str, cls: str) -> bool:
    """Whether any latency alert can see this server's requests at all."""
    return layout(server, "inference_request_duration_seconds") is not None or has_sli(server, cls)


@dataclass(frozen=True)
class Target:
    name: str
    server: str
    instance: str  # the exporter pod (ip:port) that collects it
    version: str
    replica: str = ""  # HA exporter pair: "a" or "b"


@dataclass(frozen=True)
class Model:
    name: str
    team: str
    namespace: str
    cls: str
    targets: tuple[Target, ...]
    rps: float  # requests per second over all replicas

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.namespace, self.team, self.name)

    @property
    def replicas(self) -> int:
        return len({t.name for t in self.targets})


@dataclass(frozen=True)
class Fault:
    kind: str
    start: int  # minute
    end: int
    model: tuple[str, str, str] | None = None  # (namespace, team, name)
    instance: str = ""
    target: str = ""
    models: tuple[tuple[str, str, str], ...] = ()  # mass outage


@dataclass
class Scenario:
    seed: int
    index: int
    models: list[Model]
    fault: Fault
    minutes: int  # length of the timeline (1-minute samples)
    history: int = 0  # minutes before the fault Prometheus already has (0: fresh)
    features: tuple[str, ...] = ()
    restarts: tuple[tuple[str, str, int], ...] = ()  # (kind "server"|"exporter", target|instance, minute)
    events_before: tuple[tuple[str, int], ...] = ()  # (instance, minute): an XID born earlier
    evaluation_interval: int = 1  # minutes
    gpus: bool = True  # the exporter pods have GPU collectors

    @property
    def id(self) -> str:
        return f"s{self.seed}-{self.index:03d}-{self.fault.kind}"

    @property
    def namespace(self) -> str:
        return self.models[0].namespace

    def instances(self) -> list[str]:
        return sorted({t.instance for m in self.models for t in m.targets})

    def model(self, key: tuple[str, str, str]) -> Model:
        return next(m for m in self.models if m.key == key)

    def describe(self) -> str:
        lines = [
            f"scenario {self.id}: seed {self.seed}, index {self.index} "
            f"(rebuild: topology.generate({self.seed}, {self.index + 1})[{self.index}])",
            f"  fault {self.fault.kind} minutes {self.fault.start}-{self.fault.end}"
            + (f" on {'/'.join(self.fault.model)}" if self.fault.model else "")
            + (f" instance {self.fault.instance}" if self.fault.instance else "")
            + (f" target {self.fault.target}" if self.fault.target else "")
            + (f" ({len(self.fault.models)} models)" if self.fault.models else ""),
            f"  {self.minutes} minutes, history {self.history} min, "
            f"features {', '.join(self.features) or '-'}",
        ]
        for m in self.models[:12]:
            where = ", ".join(
                f"{t.name}@{t.instance}/{t.server}/v{t.version}{'/' + t.replica if t.replica else ''}"
                for t in m.targets
            )
            lines.append(f"  model {m.namespace}/{m.team}/{m.name} ({m.cls}, {m.rps:g}/s): {where}")
        if len(self.models) > 12:
            lines.append(f"  ... and {len(self.models) - 12} more models")
        for kind, what, minute in self.restarts:
            lines.append(f"  {kind} restart of {what} at minute {minute}")
        return "\n".join(lines)


FAULTS = (
    "latency",
    "errors",
    "traffic_loss",
    "target_down",
    "exporter_down",
    "gpu_lost",
    "xid",
    "model_load",
    "memory_leak",
    "nvml_lost",
    "mass_outage",
)
# Generated cases per fault kind out of every `len(WEIGHTS)` (long cases are rarer).
WEIGHTS = {
    "latency": 5,
    "errors": 5,
    "traffic_loss": 2,
    "target_down": 4,
    "exporter_down": 4,
    "gpu_lost": 3,
    "xid": 3,
    "model_load": 3,
    "memory_leak": 2,
    "nvml_lost": 1,
    "mass_outage": 0,  # one per generated batch, added by `generate`
}


class _Builder:
    """Draws one topology with a seeded random source. Each scenario has its own namespace
    and pod addresses, so many scenarios can share one Prometheus (or promtool test group)."""

    def __init__(self, rnd: random.Random, index: int):
        self.rnd = rnd
        self.pods = 0
        self.namespace = f"shop-{index:03d}"
        self.net = f"10.{index // 250}.{index % 250}"

    def pod(self) -> str:
        self.pods += 1
        assert self.pods < 255, "too many pods for one scenario"
        return f"{self.net}.{self.pods}:9400"

    def server_for(self, cls: str) -> str:
        if cls == "generative":
            return self.rnd.choice(GENERATIVE_SERVERS + ("tgi",))
        return self.rnd.choice(SERVERS)

    def model(self, name: str, team: str, namespace: str, cls: str, replicas: int, features: set) -> Model:
        server = self.server_for(cls)
        second = server
        if "two_layouts" in features:
            # One model on two server kinds with different bucket layouts.
            choices = [
                s for s in (GENERATIVE_SERVERS + ("tgi",) if cls == "generative" else SERVERS) if s != server
            ]
            second = self.rnd.choice(choices)
            replicas = max(replicas, 2)
        version = str(self.rnd.randint(1, 9))
        targets = []
        for i in range(replicas):
            kind = server if i % 2 == 0 else second
            v = str(int(version) + 1) if "canary_version" in features and i == replicas - 1 else version
            name_i = f"{name}-{i}"
            if "ha_pair" in features and i == 0:
                # One server collected by two central exporters (replica label a and b).
                targets.append(Target(name_i, kind, self.pod(), v, "a"))
                targets.append(Target(name_i, kind, self.pod(), v, "b"))
            else:
                targets.append(Target(name_i, kind, self.pod(), v))
        rps = round(self.rnd.choice((2, 5, 10, 20)) * replicas / 2, 1)
        return Model(name, team, namespace, cls, tuple(targets), rps)


def _scenario(seed: int, index: int, kind: str) -> Scenario:
    rnd = random.Random(f"{seed}/{index}")
    b = _Builder(rnd, index)
    features: set[str] = set()
    for feature, p in (
        ("canary_version", 0.25),
        ("two_layouts", 0.3),
        ("ha_pair", 0.2),
        ("shared_name", 0.3),
    ):
        if rnd.random() < p:
            features.add(feature)
    if kind in ("gpu_lost", "xid", "memory_leak", "nvml_lost", "model_load"):
        features.discard("ha_pair")  # central HA exporters run without GPU collectors
    replicas = rnd.randint(1, 5)
    cls = rnd.choice(tuple(CLASSES))
    ns = b.namespace
    main = b.model("ranker" if cls == "ranking" else f"{cls[:5]}-m", "search", ns, cls, replicas, features)
    models = [main]
    if "shared_name" in features:
        # Another team serves a model of the same name (other pods, its own server and version).
        other = b.model(main.name, "recommendation", ns, rnd.choice(tuple(CLASSES)), rnd.randint(1, 2), set())
        models.append(other)
    models.append(b.model("embedder", "search", ns, "embedding", 1, set()))
    # Only the traffic drop reads a day of history; the other faults start on a Prometheus that
    # has seen the exporters for half an hour. A third of the traffic losses happen on a fresh
    # one: they must not page (no expectation to fall short of).
    history = HISTORY_MIN if kind == "traffic_loss" and rnd.random() >= 0.3 else 0
    if history == 0:
        features.add("fresh_prometheus")
    start = history + rnd.randint(20, 40)
    length = {"memory_leak": 200, "nvml_lost": 26 * 60, "xid": 20, "model_load": 30}.get(
        kind, rnd.randint(25, 45)
    )
    end = start + length
    minutes = end + 30
    restarts: list[tuple[str, str, int]] = []
    if rnd.random() < 0.3:
        t = rnd.choice(main.targets)
        restarts.append(("server", t.name, rnd.randint(5, start - 5)))
        features.add("server_restart")
    if rnd.random() < 0.3:
        restarts.append(("exporter", rnd.choice(main.targets).instance, rnd.randint(5, start - 5)))
        features.add("exporter_restart")
    events_before = ()
    if kind == "xid" and rnd.random() < 0.5:
        # An old XID the exporter had counted before Prometheus first scraped it: it must not
        # page, the new one must.
        events_before = ((main.targets[0].instance, 0),)
        features.add("old_xid")
    target = rnd.choice(main.targets)
    fault = Fault(kind, start, end, model=main.key, instance=target.instance, target=target.name)
    if kind == "target_down" and rnd.random() < 0.5:
        fault = Fault(kind, start, end, model=main.key, instance="*", target="*")  # every replica
    if kind == "exporter_down" and rnd.random() < 0.5:
        fault = Fault(kind, start, end, model=main.key, instance="*", target="*")
    # A day of history is replayed with an evaluation every 5 minutes (a fifth of the cost).
    evaluation = 5 if kind == "nvml_lost" or history else 1
    return Scenario(
        seed,
        index,
        models,
        fault,
        minutes,
        history,
        tuple(sorted(features | {"events_born_at_first_event"} if kind == "xid" else features)),
        tuple(restarts),
        events_before,
        evaluation,
    )


def mass_outage(seed: int, index: int, models: int = 100) -> Scenario:
    """100 models of one team lose their traffic at once (a day of history first).

    Lean on purpose (KServe: no latency histogram; no GPUs): a day of 100 models is the most
    expensive scenario to replay, and the traffic is what it is about."""
    rnd = random.Random(f"{seed}/{index}/mass")
    b = _Builder(rnd, index)
    pods = [b.pod() for _ in range(max(1, models // 10))]  # ten models per exporter pod
    fleet = [
        Model(
            f"m{i:03d}",
            "search",
            b.namespace,
            "ranking",
            (Target(f"m{i:03d}-0", "kserve", pods[i * len(pods) // models], "1"),),
            2.0,
        )
        for i in range(models)
    ]
    other = b.model("embedder", "recommendation", b.namespace, "embedding", 1, set())
    start = HISTORY_MIN + rnd.randint(20, 40)
    fault = Fault("mass_outage", start, start + 30, models=tuple(m.key for m in fleet))
    return Scenario(
        seed, index, [*fleet, other], fault, start + 60, HISTORY_MIN, ("mass_outage",), (), (), 5, gpus=False
    )


def generate(seed: int, n: int) -> list[Scenario]:
    """`n` scenarios: fault kinds in proportion to WEIGHTS, plus one mass outage."""
    kinds = [k for k, w in WEIGHTS.items() for _ in range(w)]
    out = [mass_outage(seed, 0)]
    for index in range(1, n):
        out.append(_scenario(seed, index, kinds[(index - 1) % len(kinds)]))
    return out
