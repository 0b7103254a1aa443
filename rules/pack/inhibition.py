"""Alerts that exist for Alertmanager's inhibitions (alertmanager/alertmanager.yml).

A down exporter or target, a lost GPU and a critical XID are alerts about a pod or a
device, so they carry no `model` label, while the symptoms they explain (latency, errors,
anomalies, canaries) are alerts about a model. An inhibition can only compare labels the
two alerts share, so `InferenceModelAffected` names, for every model such a cause
concerns, the model and the cause. It is `info`: never delivered, but visible in
Alertmanager and on the dashboards' alert tables, next to the alerts it holds back.

It fires while the cause's condition holds, without the cause's `for`: the symptoms are
held back from the first failed scrape, so the page that arrives is the cause's own.
"""

from __future__ import annotations

from . import health, resources
from .common import LAST_KNOWN, Pack, Runbook, alert, and_scrape, group


def causes(pack: Pack) -> list[tuple[str, object]]:
    """(cause alert, `scoped(left)`: the series of `left` in that cause's scope) per cause."""
    inst = pack.instance_labels

    def within(on: str, condition: str):
        return lambda left: f"{left}\n  and on ({on})\n  ({condition})"

    return [
        (
            "InferenceExporterDown",
            lambda left: and_scrape(pack, left, lambda *m: health.exporter_down(pack, *m)),
        ),
        ("InferenceTargetDown", within(f"{inst}, target", health.target_down(pack))),
        ("InferenceGPULost", within(inst, resources.gpu_lost(pack))),
        ("InferenceGPUXidCritical", within(inst, resources.gpu_xid_critical(pack))),
    ]


def affected(pack: Pack) -> str:
    labels = ", ".join(dict.fromkeys([*pack.instance_labels.split(", "), "target", *pack.model_labels]))
    models = f"max by ({labels}) ({LAST_KNOWN})"
    branches = [
        f'label_replace(\n  {scoped(models)},\n  "cause", "{cause}", "", ""\n)'
        for cause, scoped in causes(pack)
    ]
    return "\nor\n".join(branches)


def inhibitors(pack: Pack) -> list[dict]:
    names = ", ".join(c for c, _ in causes(pack))
    return [
        alert(
            pack,
            "InferenceModelAffected",
            affected(pack),
            severity="info",
            summary="A model is affected by a down exporter or target, or by a failing GPU.",
            description="{{ $labels.model }} ({{ $labels.target }} on {{ $labels.instance }}) is affected by "
            "{{ $labels.cause }}: Alertmanager holds back its symptom alerts while this lasts.",
            dashboard="inference-model",
            runbook=Runbook(
                meaning=f"Not a problem of its own: one of {names} concerns this model. This alert tells "
                "Alertmanager which model it is, so that the model's latency, error, anomaly and canary "
                "alerts (latency only, for a GPU) are inhibited and the page that arrives is the cause's. "
                "It is `info` and routed nowhere.",
                check="The alert named in `cause`, for the same instance (and target).",
                fix="Fix the cause; this alert resolves with it.",
                rollback="Not a rollback case.",
            ),
        )
    ]


def groups(pack: Pack) -> list[dict]:
    return [group("inference.inhibition", inhibitors(pack))]
