"""Invariants over what the shipped rules did in a generated scenario (promtool part).

I1  each fault yields an alert for the owning team within its documented time
I4  no page without the history its rule needs, and no page a fault does not explain
I5  alerts resolve only after their condition clears: no gaps while firing, and an alert a
    lasting fault raised fires until the fault ends
I6  every model with traffic has a latency SLI or the no-SLI signal (per server kind)
I7  zero rule-evaluation errors (many-to-many matching, duplicate series)
I8  an HA exporter pair is counted once: each model's recorded request rate is its real rate

I2 and I3 (inhibitions never cross severity or team; a mass outage is a few messages per
team) are about what Alertmanager delivers: `routing.py` checks them with a real one.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from .promprobe import Case, Probe, RunResult
from .synth import inputs
from .topology import Scenario, class_spec, has_sli, latency_observable

ROUTED_NOWHERE = {"InferenceModelAffected"}
# Minutes of data an alert needs before it may fire: the seasonal bands read the same hour
# yesterday (their margin exists from 23h30m on); a post-deploy regression compares with 2h ago.
NEEDS_HISTORY = {
    "InferenceTrafficDrop": 23 * 60 + 30,
    "InferenceRequestRateAnomaly": 23 * 60 + 30,
    "InferenceLatencyAnomaly": 23 * 60 + 30,
    "InferenceErrorRatioAnomaly": 23 * 60 + 30,
    "InferencePostDeployRegression": 120,
}
RECOVERY_MIN = 20  # after a fault ends, its alerts may take this long to clear (5m/30m windows)


@dataclass(frozen=True)
class Expectation:
    alerts: tuple[str, ...]  # any of these, for the owner
    deadline: int  # minutes after the fault starts (at the production 1-minute evaluation)
    lasting: bool  # the condition holds until the fault ends


# Documented times (docs/alert-quality.md): the alert that tells the owning team, per fault.
EXPECTED = {
    "latency": Expectation(
        (
            "InferenceLatencyBudgetBurnCritical",
            "InferenceMeanLatencyHigh",
            "InferenceLatencyBudgetBurnWarning",
        ),
        25,
        True,
    ),
    "errors": Expectation(("InferenceAvailabilityBudgetBurnCritical",), 12, True),
    "traffic_loss": Expectation(("InferenceTrafficDrop",), 8, True),
    "mass_outage": Expectation(("InferenceTrafficDrop",), 8, True),
    "target_down": Expectation(("InferenceTargetDown",), 9, True),
    "exporter_down": Expectation(("InferenceExporterDown",), 9, True),
    "gpu_lost": Expectation(("InferenceGPULost",), 3, True),
    "xid": Expectation(("InferenceGPUXidCritical",), 3, False),
    "memory_leak": Expectation(("InferenceGPUMemoryFillingUp", "InferenceGPUMemoryNearFull"), 180, True),
    "nvml_lost": Expectation(("InferenceExporterGPUCollectorDisabled",), 10, True),
}


@dataclass
class Firing:
    alertname: str
    labels: dict
    first: float  # minutes
    last: float
    count: int

    @property
    def severity(self) -> str:
        return self.labels.get("severity", "")


def batch(name: str, scenarios: list[Scenario]) -> Case:
    """One promtool test group for several scenarios on one timeline: each has its own
    namespace and pods, so they cannot meet in any rule, and the rules are evaluated once
    per minute for all of them (promtool's cost is mostly per evaluation, not per series)."""
    assert len({sc.namespace for sc in scenarios}) == len(scenarios), "scenario namespaces must differ"
    assert len({sc.evaluation_interval for sc in scenarios}) == 1, "one evaluation interval per batch"
    minutes = max(sc.minutes for sc in scenarios)
    # Every scenario runs to the batch's end (healthy after its fault): a scenario whose
    # exporters vanished early would be a fault of its own (InferenceExporterAbsent).
    scenarios = [replace(sc, minutes=minutes) for sc in scenarios]
    end = (minutes - 1) * 60
    step = f"{scenarios[0].evaluation_interval}m"
    probes = []
    for sc in scenarios:
        before = max(sc.fault.start - 1, 1) * 60
        ns = f'namespace="{sc.namespace}"'
        # The whole timeline, and from the fault on (restarts before it may raise and clear
        # alerts of their own).
        since = end - (sc.fault.start - 1) * 60
        mine = f'ALERTS{{alertstate="firing", {ns}}}'
        probes += [
            Probe(f"{sc.index}.all_first", f"min_over_time(timestamp({mine})[{end}s:{step}])", f"{end}s"),
            Probe(f"{sc.index}.all_last", f"max_over_time(timestamp({mine})[{end}s:{step}])", f"{end}s"),
            Probe(f"{sc.index}.all_count", f"count_over_time({mine}[{end}s])", f"{end}s"),
            Probe(f"{sc.index}.first", f"min_over_time(timestamp({mine})[{since}s:{step}])", f"{end}s"),
            Probe(f"{sc.index}.last", f"max_over_time(timestamp({mine})[{since}s:{step}])", f"{end}s"),
            Probe(f"{sc.index}.count", f"count_over_time({mine}[{since}s])", f"{end}s"),
        ]
        probes += [
            Probe(
                f"{sc.index}.signal", f'ALERTS{{alertname="InferenceLatencySLIMissing", {ns}}}', f"{before}s"
            ),
            Probe(f"{sc.index}.sli", f"model:inference_latency_sli_requests:rate5m{{{ns}}}", f"{before}s"),
            Probe(f"{sc.index}.rate", f"model:inference_requests:rate5m{{{ns}}}", f"{before}s"),
        ]
    return Case(name, [row for sc in scenarios for row in inputs(sc)], probes)


def firings(result: RunResult, batch_name: str, sc: Scenario, since_fault: bool = False) -> list[Firing]:
    """The scenario's alerts that fired: over the whole timeline, or from its fault on."""

    def key(labels: dict) -> tuple:
        return tuple(sorted((k, v) for k, v in labels.items() if k not in ("__name__", "alertstate")))

    def mine(probe: str) -> dict:
        name = f"{sc.index}.{probe}" if since_fault else f"{sc.index}.all_{probe}"
        return {key(lb): v for lb, v in result.get(batch_name, name) if lb.get("namespace") == sc.namespace}

    first, last, count = mine("first"), mine("last"), mine("count")
    out = []
    for k, t0 in first.items():
        labels = dict(k)
        out.append(Firing(labels["alertname"], labels, t0 / 60, last.get(k, t0) / 60, int(count.get(k, 0))))
    return out


def _owner_models(sc: Scenario) -> list:
    if sc.fault.kind == "mass_outage":
        return [sc.model(k) for k in sc.fault.models]
    return [sc.model(sc.fault.model)] if sc.fault.model else []


def _concerns(sc: Scenario, f: Firing) -> bool:
    """Whether an alert is about what the fault touched (its model(s), targets or pods)."""
    models = _owner_models(sc)
    labels = f.labels
    if any((labels.get("namespace"), labels.get("team"), labels.get("model")) == m.key for m in models):
        return True
    fault, targets = sc.fault, [t for m in models for t in m.targets]
    if fault.instance == "*" or fault.kind in ("latency", "errors", "traffic_loss", "mass_outage"):
        instances = {t.instance for t in targets}
    elif fault.kind == "target_down":  # every exporter that collects it (an HA pair: both)
        instances = {t.instance for t in targets if t.name == fault.target}
    else:
        instances = {fault.instance}
    return labels.get("instance") in instances and labels.get("team") in {m.team for m in models}


def check(sc: Scenario, result: RunResult, batch_name: str) -> list[str]:
    """The violated invariants of one scenario, each a readable line (empty: all hold)."""
    problems = [f"I7 rule evaluation error: {e}" for e in result.errors if e.startswith(batch_name)]
    fired = firings(result, batch_name, sc)
    since_fault = firings(result, batch_name, sc, since_fault=True)
    step = sc.evaluation_interval
    f = sc.fault
    # I1: the owning team hears of the fault in time.
    expected = EXPECTED.get(f.kind)
    if expected and not (f.kind == "traffic_loss" and not sc.history):
        for model in (
            _owner_models(sc) if f.kind in ("latency", "errors", "traffic_loss", "mass_outage") else [None]
        ):
            if (
                model
                and f.kind == "latency"
                and not any(latency_observable(t.server, model.cls) for t in model.targets)
            ):
                continue  # no latency series at all (KServe): only I6's signal can say so
            hits = [
                x
                for x in since_fault
                if x.alertname in expected.alerts
                and _concerns(sc, x)
                and (model is None or x.labels.get("model") == model.name)
                and f.start <= x.first <= f.start + expected.deadline + 2 * (step - 1)
            ]
            if not hits:
                owner = f"{model.namespace}/{model.team}/{model.name}" if model else f.instance
                late = [
                    (x.alertname, round(x.first - f.start)) for x in fired if x.alertname in expected.alerts
                ]
                problems.append(
                    f"I1 {f.kind} on {owner}: none of {expected.alerts} within {expected.deadline} min "
                    f"(fired: {late or 'nothing'})"
                )
            # I5: an alert a lasting fault raised holds until the fault ends.
            for x in hits if expected.lasting else []:
                if x.last < f.end - 1 - step:
                    problems.append(
                        f"I5 {x.alertname} {_who(x)} resolved at minute {x.last:.0f}, while the {f.kind} "
                        f"lasted until {f.end}"
                    )
    for x in since_fault:
        # I5: no alert flaps (a gap between its first and last firing evaluation).
        if x.count < round((x.last - x.first) / step) + 1:
            problems.append(
                f"I5 {x.alertname} {_who(x)} flapped: fired {x.count} evaluations between minutes "
                f"{x.first:.0f} and {x.last:.0f}"
            )
    for x in fired:
        # I4: no page from missing history, none that the fault does not explain.
        if x.first < NEEDS_HISTORY.get(x.alertname, 0):
            problems.append(f"I4 {x.alertname} {_who(x)} fired at minute {x.first:.0f} without the history")
        if x.severity == "critical" and x.alertname not in ROUTED_NOWHERE:
            explained = _concerns(sc, x) and f.start <= x.first <= f.end + RECOVERY_MIN
            if not explained:
                problems.append(f"I4 unexplained page {x.alertname} {_who(x)} at minute {x.first:.0f}")
        if f.kind == "model_load" and x.alertname == "InferenceGPUMemoryFillingUp":
            problems.append(f"I4 a model load raised InferenceGPUMemoryFillingUp {_who(x)}")
    problems += _coverage(
        sc, result.get(batch_name, f"{sc.index}.signal"), result.get(batch_name, f"{sc.index}.sli")
    )
    problems += _rates(sc, result.get(batch_name, f"{sc.index}.rate"))
    return problems


def _who(x: Firing) -> str:
    keys = ("namespace", "team", "model", "target", "instance", "xid")
    return "{" + ", ".join(f"{k}={x.labels[k]}" for k in keys if k in x.labels) + "}"


def _coverage(sc: Scenario, signal_samples: list, sli_samples: list) -> list[str]:
    """I6 at the minute before the fault: SLI or signal, per model and server kind."""
    signal = {
        (lb.get("namespace"), lb.get("team"), lb.get("model"), lb.get("server")) for lb, _ in signal_samples
    }
    sli = {(lb.get("namespace"), lb.get("team"), lb.get("model")) for lb, _ in sli_samples}
    problems = []
    for m in sc.models:
        for server in sorted({t.server for t in m.targets}):
            covered = has_sli(server, m.cls)
            if covered and m.key not in sli:
                problems.append(f"I6 {'/'.join(m.key)} on {server}: has the threshold bucket but no SLI")
            if covered and (*m.key, server) in signal:
                problems.append(f"I6 {'/'.join(m.key)} on {server}: SLI and the no-SLI signal at once")
            if not covered and (*m.key, server) not in signal:
                threshold = class_spec(m.cls)["latency"]["threshold_seconds"]
                problems.append(f"I6 {'/'.join(m.key)} on {server}: no SLI at {threshold}s and no signal")
    return problems


def _rates(sc: Scenario, samples: list) -> list[str]:
    """I8 before the fault: the recorded rate is the served rate (HA copies counted once)."""
    before = sc.fault.start - 1
    if any(before - 7 <= minute <= before for _, _, minute in sc.restarts):
        return []
    got = {(lb.get("namespace"), lb.get("team"), lb.get("model")): v for lb, v in samples}
    problems = []
    for m in sc.models:
        if m.key not in got or abs(got[m.key] - m.rps) > 0.1 * m.rps:
            problems.append(f"I8 {'/'.join(m.key)}: recorded {got.get(m.key)} requests/s, served {m.rps}")
    return problems
