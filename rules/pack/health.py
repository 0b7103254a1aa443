"""Availability of the exporter and its targets, model readiness, canaries, versions
and the post-deploy regression check."""

from __future__ import annotations

from .common import (
    Pack,
    Runbook,
    alert,
    duration_seconds,
    group,
    served_models,
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


def availability(pack: Pack) -> list[dict]:
    inst = pack.instance_labels
    return [
        alert(
            pack,
            "InferenceExporterDown",
            with_scrape_owner(pack, lambda *m: exporter_down(pack, *m)),
            for_=pack.forr("target_down"),
            severity="critical",
            summary="Prometheus cannot scrape an inference exporter.",
            description="{{ $labels.instance }} ({{ $labels.job }}) has not answered scrapes for 5 minutes; "
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
        alert(
            pack,
            "InferenceExporterAbsent",
            f"absent(up{pack.sel()})",
            for_=pack.forr("exporter_absent"),
            severity="critical",
            summary="No inference exporter is scraped at all.",
            description=f"Prometheus has no scrape target matching {pack.job}: no model is observed.",
            dashboard="inference-exporter",
            model_scoped=False,
            runbook=Runbook(
                meaning="Not a single exporter target exists for the configured job: service discovery, the "
                "ServiceMonitor/PodMonitor or the deployment itself is missing, so every model alert is "
                "silent.",
                check="Prometheus' service-discovery page; the ServiceMonitor's selector and namespace; "
                "whether "
                "the model deployments still run.",
                fix="Restore the monitor object or the relabelling that sets the job name.",
                rollback="Revert the monitoring or deployment change that removed the targets.",
            ),
        ),
        alert(
            pack,
            "InferenceTargetDown",
            with_owner(pack, target_down(pack), on=inst),
            for_=pack.forr("target_down"),
            severity="critical",
            summary="The exporter cannot collect a model server's metrics.",
            description="{{ $labels.target }} ({{ $labels.server }}) on {{ $labels.instance }} has failed "
            "every collection for 5 minutes." + served_models(pack, f"{inst}, target", " It serves ", "."),
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
            for_=pack.forr("model_not_ready"),
            severity="warning",
            summary="A model version reports not ready.",
            description="{{ $labels.model }} version {{ $labels.version }} on {{ $labels.target }} has been "
            "not ready for 10 minutes.",
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


def canaries(pack: Pack) -> list[dict]:
    m, t = pack.by_model, pack.cfg["thresholds"]
    by = f"{m}, version, canary"
    failure = 'outcome="failure"'
    failures = f"rate(inference_canary_requests_total{pack.sel(failure)}[10m])"
    return [
        alert(
            pack,
            "InferenceCanaryFailing",
            f"sum by ({by}) ({failures})\n/ (sum by ({by}) "
            f"(rate(inference_canary_requests_total{pack.sel()}[10m])) > 0)\n"
            f"> {t['canary_failure_ratio']:g}",
            for_=pack.forr("canary"),
            severity="critical",
            summary="Golden canary requests fail.",
            description="{{ $labels.model }} version {{ $labels.version }}: canary {{ $labels.canary }} "
            "failed "
            "{{ $value | humanizePercentage }} of its requests in 10 minutes.",
            dashboard="inference-model",
            runbook=Runbook(
                meaning="Requests with a known good answer fail or return the wrong answer: real users very "
                "likely get the same.",
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
            for_=pack.forr("canary_quality"),
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
    new = (
        f"time() - max by ({mv}) (inference_model_version_first_seen_timestamp_seconds{pack.sel()})"
        f" < {duration_seconds(win)}"
    )
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
            for_=pack.forr("version_skew"),
            severity="warning",
            summary="Replicas of one model run different versions for longer than a rollout.",
            description=f"{{{{ $labels.model }}}} runs {{{{ $value }}}} versions at once "
            f"({running_versions(pack)}) "
            f"for more than {pack.forr('version_skew')}.",
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
            for_=pack.forr("manifest_mismatch"),
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
            for_=pack.forr("manifest_mismatch"),
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
            "{{ $labels.signal }} is now {{ $value | humanize }} (seconds for latency, a ratio for errors), "
            "clearly worse than before the deploy. Recommended action: roll back to the previous version.",
            dashboard="inference-model",
            runbook=Runbook(
                meaning=f"In the {win} after a version first appeared, its mean latency is more than "
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
