"""Alerts that exist for Alertmanager's inhibitions (alertmanager/alertmanager.yml).

A down exporter or target, a lost GPU and a critical XID are alerts about a pod or a
device, so they carry no `model` label, while the symptoms they explain (latency, errors,
anomalies, canaries) are alerts about a model. An inhibition can only compare labels the
two alerts share, so `InferenceModelAffected` names, for every model such a cause
concerns, the model and the cause, and whether the cause explains the whole model
(`scope="model"`: every target the model was last seen on) or one target of it. It has its
causes' severity (critical) and is routed nowhere: never delivered, but visible in
Alertmanager and on the dashboards' alert tables, next to the alerts it holds back.

It fires while the cause's condition holds, without the cause's `for`: the symptoms are
held back from the first failed scrape, so the page that arrives is the cause's own.
"""

from __future__ import annotations

from . import health, resources
from .common import LAST_KNOWN, Pack, Runbook, alert, and_scrape, group, record


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


AFFECTED = "target:inference_model_affected:info"
SHARE = "model:inference_targets_affected:ratio"


def affected(pack: Pack) -> str:
    """One series per (exporter, target, model, cause) a cause concerns."""
    labels = ", ".join(dict.fromkeys([*pack.instance_labels.split(", "), "target", *pack.model_labels]))
    models = f"max by ({labels}) ({LAST_KNOWN})"
    branches = [
        f'label_replace(\n  {scoped(models)},\n  "cause", "{cause}", "", ""\n)'
        for cause, scoped in causes(pack)
    ]
    return "\nor\n".join(branches)


def affected_share(pack: Pack) -> str:
    """Share of a model's last-known targets that some cause concerns (1: the whole model)."""
    m = pack.by_model
    targets = ", ".join(dict.fromkeys([*pack.instance_labels.split(", "), "target", *pack.model_labels]))
    return (
        f"count by ({m}) (max by ({targets}) ({AFFECTED}))\n/\n"
        f"(count by ({m}) (max by ({targets}) ({LAST_KNOWN})) > 0)"
    )


def inhibitors(pack: Pack) -> list[dict]:
    m = pack.by_model
    names = ", ".join(c for c, _ in causes(pack))
    whole = f"{SHARE} == 1"
    expr = (
        f'label_replace(\n  {AFFECTED}\n  and on ({m})\n  ({whole}),\n  "scope", "model", "", ""\n)\nor\n'
        f'label_replace(\n  {AFFECTED}\n  unless on ({m})\n  ({whole}),\n  "scope", "target", "", ""\n)'
    )
    return [
        alert(
            pack,
            "InferenceModelAffected",
            expr,
            # As severe as its causes (all of them pages), so it may hold back pages; routed nowhere.
            severity="critical",
            # It outlives the canary page's own hold, so a canary that failed because its server
            # was down resolves behind it instead of paging once the server is back.
            keep_firing_for=pack.keep("canary"),
            summary="A model is affected by a down exporter or target, or by a failing GPU.",
            description="{{ $labels.model }} ({{ $labels.target }} on {{ $labels.instance }}) is affected by "
            '{{ $labels.cause }}{{ if eq $labels.scope "model" }}, as is every target it was last seen on: '
            "Alertmanager holds back the model's symptom alerts while this lasts"
            "{{ else }}; its other targets still serve, so only this target's alerts are held back{{ end }}.",
            dashboard="inference-model",
            runbook=Runbook(
                meaning=f"Not a problem of its own: one of {names} concerns this model on this target. This "
                "alert tells Alertmanager which model it is. With `scope=model` the cause concerns every "
                "target the model was last seen on (all its replicas), so the model's latency, error, "
                "anomaly and canary alerts (latency only, for a GPU) are inhibited and the page that "
                "arrives is the cause's. With `scope=target` other replicas still serve: only alerts about "
                "this target (its not-ready ticket) wait, and the model's own pages still arrive. It has "
                "its causes' severity, so it never hides a more severe alert, and it is routed nowhere.",
                check="The alert named in `cause`, for the same instance (and target).",
                fix="Fix the cause; this alert resolves with it, after the canary's keep_firing_for.",
                rollback="Not a rollback case.",
            ),
        )
    ]


def recording(pack: Pack) -> list[dict]:
    return [record(AFFECTED, affected(pack)), record(SHARE, affected_share(pack))]


def groups(pack: Pack) -> list[dict]:
    return [
        group("inference.inhibition.recording", recording(pack)),
        group("inference.inhibition", inhibitors(pack)),
    ]
