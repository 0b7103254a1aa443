"""The exporter watching itself: collections, staleness, journal and local collectors."""

from __future__ import annotations

from .common import Pack, Runbook, alert, events, firing, group, unless_fired_within, with_owner
from .recording import GPU_WORKED


def groups(pack: Pack) -> list[dict]:
    inst = pack.instance_labels
    t = pack.cfg["thresholds"]
    wait = pack.for_duration("exporter")
    common = dict(dashboard="inference-exporter", model_scoped=False)
    rules = [
        alert(
            pack,
            "InferenceExporterCollectionFailing",
            with_owner(
                pack,
                f"sum by ({inst}, target) "
                f"(rate(inference_exporter_collection_errors_total{pack.sel()}[10m]))\n"
                f"/ (sum by ({inst}, target) (rate(inference_exporter_collections_total{pack.sel()}[10m])) "
                f"> 0)\n"
                f"> {t['collection_error_ratio']:g}"
                # A target that was down explains its failed collections until they leave the
                # window: without this the ticket outlives InferenceTargetDown, its inhibitor.
                + unless_fired_within(f"{inst}, target", firing("InferenceTargetDown"), "10m"),
                on=inst,
            ),
            for_=wait,
            severity="warning",
            summary="The exporter fails many collections of a target.",
            description=f"{{{{ $labels.target }}}} on {{{{ $labels.instance }}}}: "
            f"{{{{ $value | humanizePercentage }}}} of collections failed in 10 minutes "
            f"(limit {t['collection_error_ratio']:.0%}).",
            runbook=Runbook(
                meaning="Collections of the target fail intermittently (timeouts, parse errors, HTTP "
                "errors): "
                "its series have gaps and rates are unreliable.",
                check="`inference_exporter_collection_errors_total` by reason; the exporter's log and "
                "`/probe?debug=true`; the server's metrics latency.",
                fix="Raise the target timeout, fix auth, or set the target's kind if detection guesses "
                "wrong.",
                rollback="Roll back the exporter or model server version that introduced parse errors.",
            ),
            **common,
        ),
        alert(
            pack,
            "InferenceExporterTargetStale",
            with_owner(
                pack, f"max by ({inst}, target) (inference_exporter_target_stale{pack.sel()}) == 1", on=inst
            ),
            for_=wait,
            severity="warning",
            summary="The exporter serves no data for a target any more.",
            description="{{ $labels.target }} on {{ $labels.instance }}: data older than its staleness "
            "window, "
            "no longer served.",
            runbook=Runbook(
                meaning="The target's last good collection is older than its staleness window, so its series "
                "disappeared: model alerts for it cannot fire.",
                check="InferenceTargetDown for the same target; the collection error reasons.",
                fix="Bring the target back or remove it from the exporter config.",
                rollback="Not a rollback case unless a deploy removed the server.",
            ),
            **common,
        ),
        alert(
            pack,
            "InferenceExporterJournalErrors",
            with_owner(
                pack,
                # Counted by the exporter itself: an event that failed to write is not in the journal.
                f"{events(pack, 'inference_exporter_journal_errors_total', inst, '15m')} > 0",
                on=inst,
            ),
            keep_firing_for=pack.keep("event_ticket"),
            severity="warning",
            summary="The exporter's event journal reports errors.",
            description='{{ $labels.instance }}: {{ $value | printf "%.0f" }} journal errors in 15 minutes.',
            runbook=Runbook(
                meaning="Writing the event journal (probe, canary and deploy events) fails, so the history "
                "incidents are analysed with has holes. The ticket stays open "
                f"{pack.keep('event_ticket')} after the last error, so the ticket quiet hours cannot "
                "swallow it.",
                check="The exporter's log; disk space and permissions of the journal path.",
                fix="Free space or fix the journal path's permissions; restart the sidecar.",
                rollback="Not a rollback case.",
            ),
            **common,
        ),
        alert(
            pack,
            "InferenceExporterCollectorFailing",
            with_owner(
                pack,
                f"min by ({inst}, collector) (inference_exporter_collector_success{pack.sel()}) == 0",
                on=inst,
            ),
            for_=wait,
            severity="warning",
            summary="A local collector of the exporter keeps failing.",
            description="{{ $labels.instance }}: collector {{ $labels.collector }} has failed for 15 "
            "minutes.",
            runbook=Runbook(
                meaning="A local collector (process, container, GPU) fails on every run: its resource series "
                "are missing and their alerts cannot fire.",
                check="The exporter's log; `/proc` and cgroup mounts; NVML access in the container.",
                fix="Grant the missing access (hostPID, cgroup mount, NVIDIA runtime) or disable the "
                "collector.",
                rollback="Roll back the exporter if a new version broke the collector.",
            ),
            **common,
        ),
        alert(
            pack,
            "InferenceExporterGPUCollectorDisabled",
            with_owner(
                pack,
                f"max by ({inst}) (inference_gpu_collector_available{pack.sel()}) == 0\n"
                f"and on ({inst})\n{GPU_WORKED}",
                on=inst,
            ),
            severity="warning",
            summary="The GPU collector stopped although it worked before.",
            description="{{ $labels.instance }}: NVML is no longer available; GPU alerts are blind.",
            runbook=Runbook(
                meaning="The GPU collector worked on this exporter (while Prometheus has been scraping it) "
                "and is now disabled: NVML failed to initialise after a restart (driver update, missing "
                "NVIDIA runtime, device plugin change). It fires for as long as that lasts: every GPU alert "
                "of the pod is blind meanwhile.",
                check="The exporter's start-up log; `nvidia-smi` in the pod; the node's driver version.",
                fix="Restore the NVIDIA runtime or device mounts for the pod; restart the sidecar.",
                rollback="Roll back the node image or driver if it changed.",
            ),
            **common,
        ),
    ]
    return [group("inference.exporter", rules)]
