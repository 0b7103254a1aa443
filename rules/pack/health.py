"""Availability of the exporter and its targets, model readiness, canaries, versions
and the post-deploy regression check."""

from __future__ import annotations

from .common import (
    Pack,
    Runbook,
    alert,
    firing,
    group,
    served_models,
    unless_fired_within,
    with_owner,
    with_scrape_owner,
)
from .slo import versions as running_versions

VERSIONED = 'version!=""'
CHECK_VERSION = 'check="version"'
CHECK_CONFIG = 'check=~"config|artifact"'


def exporter_down(pack: Pack, *matchers: str) -> str:
    """One series per exporter Prometheus cannot scrape."""
    return f"up{pack.sel(*matchers)} == 0"


def target_down(pack: Pack) -> str:
    """One series per target its exporter cannot collect."""
    return f"inference_exporter_target_up{pack.sel()} == 0"


ABSENT_RUNBOOK = Runbook(
    meaning="Prometheus scrapes no exporter target of the configured job: service discovery, the "
    "ServiceMonitor/PodMonitor or the deployment itself is missing, so every model alert is silent. "
    "With a `namespace` label: that namespace had exporters within the exporter memory "
    "(`exporter_memory` in rules/config.yml) and has none now; the alert resolves once they are back, or "
    "when the memory runs out (a namespace taken down on purpose). Without one: no exporter was seen "
    "anywhere within the memory, e.g. a first install that never worked.",
    check="Prometheus' service-discovery page; the ServiceMonitor's selector and namespace; whether the "
    "model deployments still run.",
    fix="Restore the monitor object or the relabelling that sets the job name.",
    rollback="Revert the monitoring or deployment change that removed the targets.",
)


def exporter_absent(pack: Pack) -> list[dict]:
    """Exporters that vanished from service discovery (not down: gone).

    Per namespace, from Prometheus' memory of the (cluster, namespace, team)s that had
    exporters: the alert carries `namespace` and `team`, which the Prometheus Operator's
    namespace matcher and the team routes need. With no memory at all (a fresh Prometheus,
    a first install) only the global `absent()` is left, and it has no namespace.
    """
    cl, ns = pack.label("cluster"), pack.label("namespace")
    present = "namespace:inference_exporter_team:present"
    memory = pack.cfg["exporter_memory"]
    common = dict(
        for_=pack.for_duration("exporter_absent"),
        severity="critical",
        summary="No inference exporter is scraped at all.",
        dashboard="inference-exporter",
        model_scoped=False,
        runbook=ABSENT_RUNBOOK,
    )
    return [
        alert(
            pack,
            "InferenceExporterAbsent",
            f"max_over_time({present}[{memory}])\nunless on ({cl}, {ns})\n{present}",
            labels={"scope": "namespace"},
            description=f"Namespace {{{{ $labels.{ns} }}}} had inference exporters within the last {memory} "
            f"and Prometheus scrapes none there now ({pack.job}): the models of team "
            f"{{{{ $labels.{pack.label('team')} }}}} there are unobserved.",
            **common,
        ),
        alert(
            pack,
            "InferenceExporterAbsent",
            f"absent(up{pack.sel()})\nunless on ()\ncount(max_over_time({present}[{memory}]))",
            labels={"scope": "everywhere"},
            description=f"Prometheus has no scrape target matching {pack.job}, and had none within the "
            f"last {memory}: no model is observed.",
            **common,
        ),
    ]


def availability(pack: Pack) -> list[dict]:
    inst = pack.instance_labels
    return [
        alert(
            pack,
            "InferenceExporterDown",
            with_scrape_owner(pack, lambda *m: exporter_down(pack, *m)),
            for_=pack.for_duration("target_down"),
            severity="critical",
            summary="Prometheus cannot scrape an inference exporter.",
            description="{{ $labels.instance }} ({{ $labels.job }}) has not answered scrapes for "
            f"{pack.spelled_for('target_down')}; "
            + served_models(
                pack, inst, "its models (", ") are unobserved.", otherwise="its models are unobserved."
            ),
            dashboard="inference-exporter",
            model_scoped=False,
            runbook=Runbook(
                meaning="The exporter sidecar does not answer Prometheus. Either the pod is gone or "
                "crashing, or "
                "the network path is broken. Every alert of its models is blind meanwhile.",
                check="`kubectl get pod` for the instance, the exporter's logs, Prometheus' target page "
                "error.",
                fix="Restart the sidecar, fix its config (`inference-exporter --config.check`), fix the "
                "NetworkPolicy or ServiceMonitor.",
                rollback="Roll back the exporter if a new exporter version or config started the failures.",
            ),
        ),
        *exporter_absent(pack),
        alert(
            pack,
            "InferenceTargetDown",
            with_owner(pack, target_down(pack), on=inst),
            for_=pack.for_duration("target_down"),
            severity="critical",
            summary="The exporter cannot collect a model server's metrics.",
            description="{{ $labels.target }} ({{ $labels.server }}) on {{ $labels.instance }} has failed "
            f"every collection for {pack.spelled_for('target_down')}."
            + served_models(
                pack, f"{inst}, target", " It serves ", ".", otherwise=" Its models are unknown."
            ),
            dashboard="inference-exporter",
            model_scoped=False,
            runbook=Runbook(
                meaning="The model server's metrics endpoint does not answer the sidecar: the server is "
                "down, "
                "restarting, or its metrics port changed.",
                check="The server container's status and logs; `inference_exporter_collection_errors_total` "
                "by "
                "reason; the server's readiness.",
                fix="Restart the model server; fix the target URL in the exporter config.",
                rollback="Roll back the model server if it stopped answering after a deploy.",
            ),
        ),
        alert(
            pack,
            "InferenceModelNotReady",
            f"min by ({pack.by_model}, version, target) (inference_model_ready{pack.sel()}) == 0",
            for_=pack.for_duration("model_not_ready"),
            severity="warning",
            summary="A model version reports not ready.",
            description="{{ $labels.model }} version {{ $labels.version }} on {{ $labels.target }} has been "
            f"not ready for {pack.spelled_for('model_not_ready')}.",
            dashboard="inference-model",
            runbook=Runbook(
                meaning="The server says the model version cannot serve: still loading, failed to load, or "
                "unloaded.",
                check="Server logs around the load; model repository access; GPU memory at load time.",
                fix="Fix the artifact or config and reload; free GPU memory.",
                rollback="Roll back to the last version that loaded.",
            ),
        ),
    ]


# The whole model down (every target it was last seen on): inhibition.py's alert, as ALERTS has it.
DOWN_EVERYWHERE = firing(
    "InferenceModelAffected", 'scope="model", cause=~"InferenceTargetDown|InferenceExporterDown"'
)


def canaries(pack: Pack) -> list[dict]:
    m, t = pack.by_model, pack.cfg["thresholds"]
    by = f"{m}, version, canary"
    failure = 'outcome="failure"'
    failures = f"rate(inference_canary_requests_total{pack.sel(failure)}[10m])"
    ratio = (
        f"sum by ({by}) ({failures})\n/ (sum by ({by}) "
        f"(rate(inference_canary_requests_total{pack.sel()}[10m])) > 0)"
    )
    # Hysteresis: once firing, the page holds until the ratio is clearly below its threshold.
    held = firing("InferenceCanaryFailing")
    return [
        alert(
            pack,
            "InferenceCanaryFailing",
            f"(\n(\n{ratio}\n) > {t['canary_failure_ratio']:g}\nor\n"
            f"(\n  (\n{ratio}\n  ) > {t['canary_failure_clear_ratio']:g}\n"
            f"  and on ({by})\n  {held}\n)\n)" + unless_fired_within(m, DOWN_EVERYWHERE, "10m"),
            # Canary requests that failed while the whole model was down stay in the 10m window
            # after InferenceModelAffected, their inhibitor, ended: the outage explains them.
            for_=pack.for_duration("canary"),
            keep_firing_for=pack.keep("canary"),
            severity="critical",
            summary="Golden canary requests fail.",
            description="{{ $labels.model }} version {{ $labels.version }}: canary {{ $labels.canary }} "
            "failed "
            "{{ $value | humanizePercentage }} of its requests in 10 minutes.",
            dashboard="inference-model",
            runbook=Runbook(
                meaning="Requests with a known good answer fail or return the wrong answer: real users very "
                f"likely get the same. It fires above {t['canary_failure_ratio']:.0%} failures over 10 "
                "minutes "
                f"and holds until they fall under {t['canary_failure_clear_ratio']:.0%} (and "
                f"{pack.keep('canary')} after that), so a canary swinging around its limit pages once. "
                "Failures from a time the whole model was down (InferenceTargetDown or "
                "InferenceExporterDown on every target) page through those alerts, not this one, "
                "until they leave the 10-minute window.",
                check="The canary's failure `reason`, the last canary exemplar's request id in the server "
                "logs, the model's error ratio.",
                fix="Fix the serving path the canary exercises (pre/post-processing, tokenizer, model "
                "files).",
                rollback="Roll back when the failures start with a version or config change.",
            ),
        ),
        alert(
            pack,
            "InferenceCanaryQualityLow",
            f"min by ({by}, check) (inference_canary_quality_score{pack.sel()}) < "
            f"{t['canary_quality_score']:g}",
            for_=pack.for_duration("canary_quality"),
            severity="warning",
            summary="Canary answer quality is below its threshold.",
            description=f"{{{{ $labels.model }}}} version {{{{ $labels.version }}}}: canary "
            f'{{{{ $labels.canary }}}} scores {{{{ $value | printf "%.2f" }}}} on {{{{ $labels.check }}}} '
            f"(threshold {t['canary_quality_score']:g}).",
            dashboard="inference-model",
            runbook=Runbook(
                meaning="The model answers, but the golden request's answer drifted from the expected one "
                "(top-K overlap, cosine similarity or regex check).",
                check="Which version serves; the canary's expected answer; feature or index freshness.",
                fix="Refresh features or indexes; retrain or fix preprocessing.",
                rollback="Roll back when the drop starts with a new version.",
            ),
        ),
    ]


def versions(pack: Pack) -> list[dict]:
    m = pack.by_model
    post = pack.cfg["post_deploy"]
    win = post["window"]
    rph = pack.cfg["min_requests_per_hour"]
    mv = f"{m}, version"
    lat_v = (
        f"sum by ({mv}) (rate(inference_request_duration_seconds_sum{pack.sel()}[10m]))\n"
        f"/ (sum by ({mv}) (rate(inference_request_duration_seconds_count{pack.sel()}[10m])) > 0)"
    )
    requests_v = f"sum by ({mv}) (rate(inference_requests_total{pack.sel()}[10m]))"
    failure = 'outcome="failure"'
    err_v = f"sum by ({mv}) (rate(inference_requests_total{pack.sel(failure)}[10m]))\n/ ({requests_v} > 0)"
    lat_before = (
        f"quantile_over_time(0.5, model:inference_request_duration_seconds:mean_rate5m[30m] offset {win})"
    )
    err_before = f"quantile_over_time(0.5, model:inference_request_errors:ratio_rate5m[30m] offset {win})"
    # Both branches keep the new version's own value, so the description can quote it.
    latency = (
        f"(\n  {lat_v}\n) > on ({m}) group_left ()\n({post['latency_factor']:g} * {lat_before})\n"
        f"and\n(\n  {lat_v}\n) > on ({m}) group_left ()\n"
        f"({lat_before} + {post['latency_min_increase_seconds']:g})"
    )
    errors = f"(\n  {err_v}\n) > on ({m}) group_left ()\n({err_before} + {post['error_ratio_increase']:g})"
    # New: served now, not `window` ago. Read from Prometheus' history (never a timestamp compared
    # with a number of seconds), so the window scales with the demo's time compression; on a
    # fresh Prometheus every version looks new, but then there is no "before" value either.
    served = f"inference_model_info{pack.sel(VERSIONED)}"
    new = f"max by ({mv}) ({served})\nunless on ({mv})\nmax by ({mv}) ({served} offset {win})"
    regression = (
        f'(\n  label_replace({latency}, "signal", "latency", "", "")\n  or\n'
        f'  label_replace({errors}, "signal", "errors", "", "")\n)\n'
        f"and on ({mv})\n({new})\nand on ({mv})\n({requests_v} * 3600 >= {rph})"
    )
    return [
        alert(
            pack,
            "InferenceVersionSkew",
            f"count by ({m}) (count by ({mv}) (inference_model_info{pack.sel(VERSIONED)})) > 1",
            for_=pack.for_duration("version_skew"),
            severity="warning",
            summary="Replicas of one model run different versions for longer than a rollout.",
            description=f"{{{{ $labels.model }}}} runs {{{{ $value }}}} versions at once "
            f"({running_versions(pack)}) "
            f"for more than {pack.for_duration('version_skew')}.",
            dashboard="inference-fleet",
            runbook=Runbook(
                meaning="Replicas disagree on the model version for longer than any rollout takes: a stuck "
                "rollout, a replica that failed to update, or a canary left behind.",
                check="Versions per target on the fleet dashboard; the deployment's rollout status.",
                fix="Finish or restart the rollout; delete the stale replica.",
                rollback="Roll the stragglers back if the new version is the one failing to load.",
            ),
        ),
        alert(
            pack,
            "InferenceVersionMismatch",
            f"min by ({mv}, target) (inference_manifest_match{pack.sel(CHECK_VERSION)}) == 0",
            for_=pack.for_duration("manifest_mismatch"),
            severity="warning",
            summary="The running model version differs from the manifest.",
            description="{{ $labels.model }} on {{ $labels.target }} runs version {{ $labels.version }}, not "
            "the version its manifest declares.",
            dashboard="inference-fleet",
            runbook=Runbook(
                meaning="What the server runs is not what the deployment manifest declares: a manual load, a "
                "failed rollout or a manifest not applied.",
                check="The manifest's declared version; the server's model API (`/v2/models/<m>`).",
                fix="Re-apply the manifest or load the declared version.",
                rollback="Load the declared version if the running one is newer and untested.",
            ),
        ),
        alert(
            pack,
            "InferenceConfigMismatch",
            f"min by ({mv}, target, check, key) (inference_manifest_match{pack.sel(CHECK_CONFIG)}) == 0",
            for_=pack.for_duration("manifest_mismatch"),
            severity="warning",
            summary="Model configuration or artifact differs from the manifest.",
            description="{{ $labels.model }} version {{ $labels.version }} on {{ $labels.target }}: "
            "{{ $labels.check }} {{ $labels.key }} differs from the manifest.",
            dashboard="inference-fleet",
            runbook=Runbook(
                meaning="A configuration value (e.g. max_batch_size) or an artifact checksum on the server "
                "differs from the declared manifest: the model may behave unlike the tested one.",
                check="`inference_manifest_observed_value` for the key; the artifact checksum in the "
                "repository.",
                fix="Redeploy from the manifest.",
                rollback="Redeploy the last matching artifact.",
            ),
        ),
        alert(
            pack,
            "InferencePostDeployRegression",
            regression,
            for_=post["for"],
            severity=post["severity"],
            summary="A newly deployed model version is worse than the previous one: roll back.",
            description=f"{{{{ $labels.model }}}} version {{{{ $labels.version }}}}, deployed within {win}: "
            '{{ if eq $labels.signal "errors" }}{{ $value | humanizePercentage }} of its requests fail'
            "{{ else }}its mean latency is {{ $value | humanizeDuration }}{{ end }}, "
            "clearly worse than before the deploy. Recommended action: roll back to the previous version.",
            dashboard="inference-model",
            runbook=Runbook(
                meaning=f"In the {win} after a version first appeared (it is served now and was not {win} "
                "ago, in Prometheus' own history), its mean latency is more than "
                f"{post['latency_factor']:g}x (and {post['latency_min_increase_seconds']:g}s) above the "
                f"model's "
                f"value before the deploy, or its error ratio is {post['error_ratio_increase']:.0%} points "
                "higher. The pre-deploy value is read from the recorded model series "
                f"{win} back, i.e. from the previous version.",
                check="Compare the version's latency/errors with the other versions still serving (canary "
                "split); check the deploy's change log and config.",
                fix="Roll back first, investigate after.",
                rollback="Yes: this alert exists to recommend it. Roll back unless the regression is "
                "understood and accepted (e.g. a larger, slower model by design; then silence it).",
            ),
        ),
    ]


def groups(pack: Pack) -> list[dict]:
    return [group("inference.health", availability(pack) + canaries(pack) + versions(pack))]
