"""The series an exporter fleet serves for a `Scenario`, minute by minute.

What the exporter really does is what is synthesised: counters are born at their first event
(a failure reason, an XID code), a dead target's series go stale `STALE_AFTER` minutes after
its last collection, a failed scrape marks every series of the exporter stale at once, each
server kind has its own bucket layout (sums only for Triton, TorchServe and MLServer, none for
KServe), a server restart resets its counters, and the two exporters of an HA pair serve the
same server's values under their own `instance` and replica label.

`series(scenario)` returns `{(name, labels): [value per minute]}` with None for "not served"
and "stale" for a staleness marker; `inputs(scenario)` the same as promtool input series.
"""

from __future__ import annotations

from collections import defaultdict

from .promprobe import values
from .topology import CLASSES, CONFIG, GENERATIVE_SERVERS, JOB, Model, Scenario, Target, layout

STALE_AFTER = 2  # minutes the exporter keeps serving a dead target's last values
REPLICA = CONFIG.get("ha_pair", {}).get("replica_label", "exporter_replica")
GPU_TOTAL = 80e9
CANARY_PER_MIN = 4
Key = tuple[str, tuple[tuple[str, str], ...]]


def _labels(**kv: str) -> tuple[tuple[str, str], ...]:
    return tuple(kv.items())


class _Timeline:
    """Which fault or restart touches what, minute by minute."""

    def __init__(self, sc: Scenario):
        self.sc, self.f = sc, sc.fault

    def active(self, i: int) -> bool:
        return self.f.start <= i < self.f.end

    def touches(self, model: Model, target: Target) -> bool:
        """Whether the fault concerns this target of this model."""
        if self.f.kind == "mass_outage":
            return model.key in self.f.models
        if model.key != self.f.model:
            return False
        return self.f.target == "*" or target.name == self.f.target

    def server_down(self, model: Model, t: Target, i: int) -> bool:
        if any(k == "server" and w == t.name and m == i for k, w, m in self.sc.restarts):
            return True
        return self.f.kind == "target_down" and self.active(i) and self.touches(model, t)

    def exporter_down(self, instance: str, i: int) -> bool:
        if any(k == "exporter" and w == instance and m == i for k, w, m in self.sc.restarts):
            return True
        if self.f.kind == "nvml_lost" and i == self.f.start and instance == self.f.instance:
            return True  # restarted, and came back without NVML
        if self.f.kind != "exporter_down" or not self.active(i):
            return False
        if self.f.instance == "*":
            return any(t.instance == instance for t in self.sc.model(self.f.model).targets)
        return instance == self.f.instance

    def model_faulty(self, model: Model, kind: str, i: int) -> bool:
        if self.f.kind != kind or not self.active(i):
            return False
        if kind == "mass_outage":
            return model.key in self.f.models
        return model.key == self.f.model

    def gpu_lost(self, instance: str, i: int) -> bool:
        return self.f.kind == "gpu_lost" and instance == self.f.instance and i >= self.f.start

    def loading(self, model: Model, t: Target, i: int) -> bool:
        return self.f.kind == "model_load" and self.touches(model, t) and self.f.start <= i < self.f.start + 3


def _visible(down: list[bool], exporter_down: list[bool]) -> list:
    """Per minute: True (served), "stale" (marked stale) or None (not served)."""
    out: list = []
    last_up = None
    for i, (d, e) in enumerate(zip(down, exporter_down, strict=True)):
        if not d:
            last_up = i
        if e:
            out.append("stale" if i == 0 or out[-1] is True else None)
        elif d and (last_up is None or i - last_up > STALE_AFTER):
            out.append("stale" if i and out[-1] is True else None)
        else:
            out.append(True)
    return out


def _counter(per_minute: list[float], shown: list, resets: set[int], born: bool = False) -> list:
    """Cumulative samples where shown; a reset restarts from 0; `born`: absent until the first event."""
    out, total, seen = [], 0.0, not born
    for i, (inc, s) in enumerate(zip(per_minute, shown, strict=True)):
        if i in resets:
            total = 0.0
            seen = not born  # an exporter-counted event counter is gone until its next event
        total += inc
        seen = seen or total > 0
        out.append(total if s is True and seen else ("stale" if s == "stale" and seen else None))
    return out


def series(sc: Scenario) -> dict[Key, list]:
    tl = _Timeline(sc)
    n = sc.minutes
    out: dict[Key, list] = {}
    pods: dict[str, dict] = {}
    for model in sc.models:
        distinct = len({t.name for t in model.targets})
        for t in model.targets:
            pod = pods.setdefault(
                t.instance, {"namespace": model.namespace, "targets": [], "ha": bool(t.replica)}
            )
            pod["targets"].append((model, t))
            exp_down = [tl.exporter_down(t.instance, i) for i in range(n)]
            srv_down = [tl.server_down(model, t, i) for i in range(n)]
            shown = _visible(srv_down, exp_down)
            resets = {m for k, w, m in sc.restarts if k == "server" and w == t.name}
            version = [t.version] * n
            if sc.fault.kind == "model_load" and tl.touches(model, t):
                version = [str(int(t.version) + 1) if i >= sc.fault.start else t.version for i in range(n)]
            _serving(out, sc, tl, model, t, distinct, shown, resets, version)
    for instance, pod in pods.items():
        _pod(out, sc, tl, instance, pod)
    return out


def _serving(out, sc, tl, model: Model, t: Target, distinct: int, shown, resets, version: list[str]) -> None:
    n = sc.minutes
    healthy, slow = CLASSES[model.cls]
    for v in dict.fromkeys(version):
        mask = [x == v for x in version]
        vis = [
            s if m else (None if not (i and mask[i - 1] and s is True) else "stale")
            for i, (s, m) in enumerate(zip(shown, mask, strict=True))
        ]
        labels = dict(
            job=JOB,
            instance=t.instance,
            namespace=model.namespace,
            team=model.team,
            model_class=model.cls,
            model=model.name,
            target=t.name,
            server=t.server,
            version=v,
        )
        if t.replica:
            labels[REPLICA] = t.replica
        per_min, failed, latency = [], [], []
        for i in range(n):
            rate = model.rps * 60 / distinct
            if tl.model_faulty(model, "traffic_loss", i) or tl.model_faulty(model, "mass_outage", i):
                rate *= 0.02
            if tl.server_down(model, t, i) or tl.loading(model, t, i) or not mask[i]:
                rate = 0.0
            err = 0.3 if tl.model_faulty(model, "errors", i) else 0.0
            if tl.gpu_lost(t.instance, i):
                err = 1.0
            per_min.append(rate)
            failed.append(rate * err)
            latency.append(slow if tl.model_faulty(model, "latency", i) else healthy)
        ok = [r - f for r, f in zip(per_min, failed, strict=True)]

        def key(name: str, labels: dict = labels, **extra: str) -> Key:
            return (name, _labels(**labels, **extra))

        out[key("inference_model_info")] = [1 if s is True else s for s in vis]
        out[key("inference_requests_total", outcome="success")] = _counter(ok, vis, resets)
        out[key("inference_requests_total", outcome="failure", reason="internal")] = _counter(
            failed, vis, resets, born=True
        )
        ready = [0 if tl.loading(model, t, i) else 1 for i in range(n)]
        out[key("inference_model_ready")] = [r if s is True else s for r, s in zip(ready, vis, strict=True)]
        metrics = [("inference_request_duration_seconds", 10 if model.cls == "generative" else 1)]
        if model.cls == "generative" and t.server in GENERATIVE_SERVERS:
            metrics.append(("inference_time_to_first_token_seconds", 1))
        for metric, scale in metrics:
            edges = layout(t.server, metric)
            if edges is None:
                continue
            count = _counter(per_min, vis, resets)
            out[key(f"{metric}_count")] = count
            out[key(f"{metric}_sum")] = _counter(
                [r * lat * scale for r, lat in zip(per_min, latency, strict=True)], vis, resets
            )
            out[key(f"{metric}_bucket", le="+Inf")] = count
            for edge in edges:
                under = [r if lat * scale <= edge else 0.0 for r, lat in zip(per_min, latency, strict=True)]
                out[key(f"{metric}_bucket", le=repr(float(edge)))] = _counter(under, vis, resets)
        # The sidecar's golden canary on the main model: it fails while the server is gone.
        if model.key == (sc.fault.model or ()) and not t.replica:
            exp_up = [not tl.exporter_down(t.instance, i) for i in range(n)]
            canary_shown = [
                True if u else ("stale" if i and exp_up[i - 1] else None) for i, u in enumerate(exp_up)
            ]
            bad = [
                float(CANARY_PER_MIN)
                if (tl.server_down(model, t, i) or tl.gpu_lost(t.instance, i)) and mask[i]
                else 0.0
                for i in range(n)
            ]
            good = [(CANARY_PER_MIN - b) if mask[i] else 0.0 for i, b in enumerate(bad)]
            canary = dict(labels, canary="golden")
            out[("inference_canary_requests_total", _labels(**canary, outcome="success", reason=""))] = (
                _counter(good, canary_shown, set())
            )
            out[
                ("inference_canary_requests_total", _labels(**canary, outcome="failure", reason="connection"))
            ] = _counter(bad, canary_shown, set(), born=True)


def _pod(out, sc: Scenario, tl: _Timeline, instance: str, pod: dict) -> None:
    n = sc.minutes
    base = dict(job=JOB, instance=instance, namespace=pod["namespace"])
    down = [tl.exporter_down(instance, i) for i in range(n)]
    shown = [True if not d else ("stale" if i and not down[i - 1] else None) for i, d in enumerate(down)]
    restarts = {m for k, w, m in sc.restarts if k == "exporter" and w == instance}
    if sc.fault.kind == "nvml_lost" and instance == sc.fault.instance:
        restarts.add(sc.fault.start)
    out[("up", _labels(**base))] = [0 if d else 1 for d in down]
    out[("inference_exporter_build_info", _labels(**base, version="0.1.0"))] = [
        1 if s is True else s for s in shown
    ]
    for model, t in pod["targets"]:
        target_up = [0 if tl.server_down(model, t, i) else 1 for i in range(n)]
        key = ("inference_exporter_target_up", _labels(**base, target=t.name, server=t.server))
        out[key] = [u if s is True else s for u, s in zip(target_up, shown, strict=True)]
    if pod["ha"] or not sc.gpus:
        return  # central exporters run without GPU collectors
    nvml = [
        not (sc.fault.kind == "nvml_lost" and instance == sc.fault.instance and i >= sc.fault.start)
        for i in range(n)
    ]
    out[("inference_gpu_collector_available", _labels(**base))] = [
        (1 if ok else 0) if s is True else s for ok, s in zip(nvml, shown, strict=True)
    ]
    gpu_shown = [
        s if ok else (None if not (i and nvml[i - 1]) else "stale")
        for i, (s, ok) in enumerate(zip(shown, nvml, strict=True))
    ]
    gpu = dict(
        base, gpu="0", uuid=f"GPU-{instance.split(':')[0]}", name="NVIDIA H100", pci_bus_id="00000000:01:00.0"
    )
    used = []
    for i in range(n):
        u = 20e9 + 8e9 * len(pod["targets"])
        if sc.fault.kind == "model_load" and instance == sc.fault.instance and i >= sc.fault.start:
            u += 20e9
        if sc.fault.kind == "memory_leak" and instance == sc.fault.instance and i >= sc.fault.start:
            u += min(0.25e9 * (i - sc.fault.start), 45e9)
        used.append(min(u, GPU_TOTAL * 0.97))
    out[("inference_gpu_memory_used_bytes", _labels(**gpu))] = [
        u if s is True else s for u, s in zip(used, gpu_shown, strict=True)
    ]
    out[("inference_gpu_memory_total_bytes", _labels(**gpu))] = [
        GPU_TOTAL if s is True else s for s in gpu_shown
    ]
    lost = [tl.gpu_lost(instance, i) for i in range(n)]
    out[("inference_gpu_state", _labels(**gpu, state="ok"))] = [
        (0 if x else 1) if s is True else s for x, s in zip(lost, gpu_shown, strict=True)
    ]
    out[("inference_gpu_state", _labels(**gpu, state="lost"))] = [
        (1 if x else 0) if s is True else s for x, s in zip(lost, gpu_shown, strict=True)
    ]
    events = defaultdict(float)
    for inst, minute in sc.events_before:
        if inst == instance:
            events[minute] += 1
    if sc.fault.kind == "xid" and instance == sc.fault.instance:
        events[sc.fault.start] += 1
    if events:
        per_minute = [events.get(i, 0.0) for i in range(n)]
        # The exporter restores its XID counts from the journal: a restart does not reset them.
        out[("inference_gpu_xid_errors_total", _labels(**gpu, xid="79"))] = _counter(
            per_minute, gpu_shown, set(), born=True
        )


def inputs(sc: Scenario) -> list[dict]:
    """promtool `input_series` for the scenario (1-minute samples)."""
    rows = []
    for (name, labels), points in series(sc).items():
        if all(p is None for p in points):
            continue
        text = ",".join(f'{k}="{v}"' for k, v in labels)
        rows.append({"series": f"{name}{{{text}}}", "values": values(points)})
    return rows
