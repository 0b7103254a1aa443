"""Model-level recording rules (`model:<metric>:<operation>`) that dashboards and alerts read.

Every model-level series keeps exactly `model_labels` from the config. GPU series carry
`gpu`/`uuid` and no model; the exporter runs beside the model servers, so GPUs and models
meet on the scrape target (`job`, `instance`): a model gets the utilisation of the GPUs its
exporter sees, and the memory its own target's processes hold (`inference_gpu_process_memory_bytes`
carries `target`), falling back to the whole devices' memory where process attribution is off.
"""

from __future__ import annotations

from . import health
from .common import LAST_KNOWN, Pack, and_scrape, group, record

FAILURE = 'outcome="failure"'
OWNED = 'target!=""'
QUANTILES = (("p99", 0.99),)


def _rate(pack: Pack, series: str, *matchers: str, by: str | None = None, window: str = "5m") -> str:
    counted = pack.once(lambda *ha: f"rate({series}{pack.sel(*matchers, *ha)}[{window}])")
    return f"sum by ({by or pack.by_model}) {counted}"


def _quantile(pack: Pack, metric: str, q: float) -> str:
    """The quantile of the slowest server kind: each kind's buckets are summed on their own,
    since adding counts of different bucket layouts edge by edge makes no histogram."""
    # Histograms with only a +Inf bucket (sums-only servers) and idle models give NaN; `>= 0` drops it.
    inner = f"sum by ({pack.by_model}, server, le) (rate({metric}_bucket{pack.sel()}[5m]))"
    return f"max by ({pack.by_model}) (\n  histogram_quantile({q}, {inner}) >= 0\n)"


def _mean(pack: Pack, metric: str) -> str:
    return f"{_rate(pack, metric + '_sum')}\n/\n({_rate(pack, metric + '_count')} > 0)"


def last_known_models(pack: Pack) -> str:
    """The models each target serves, remembered while the target or its exporter is down.

    A failed scrape drops every series of the exporter at once, and a target the exporter
    cannot reach loses its series after `stale_after`: exactly when the alerts that say so
    need to know which models they concern. The rule reads its own last value and keeps it
    only while `up` or `inference_exporter_target_up` is 0, so the memory lasts as long as
    the outage and no longer; fresh series always win.
    """
    inst = pack.instance_labels
    labels = ", ".join(dict.fromkeys([*inst.split(", "), "target", *pack.model_labels, "version"]))
    return (
        f"max by ({labels}) (inference_model_info{pack.sel()})\n"
        f"or on ({inst}, target)\n"
        f"({LAST_KNOWN} and on ({inst}, target) ({health.target_down(pack)}))\n"
        f"or on ({inst})\n"
        f"(\n{and_scrape(pack, LAST_KNOWN, lambda *m: health.exporter_down(pack, *m))}\n)"
    )


GPU_WORKED = "instance:inference_gpu_collector:worked"


def gpu_collector_worked(pack: Pack) -> str:
    """1 for an exporter whose GPU collector worked since Prometheus has been scraping it.

    Reads its own last value, and keeps it while Prometheus still has the exporter as a
    scrape target (`up` exists, 0 or 1): an exporter that restarts without NVML is still
    known to have had GPUs, for as long as the ticket must stay open.
    """
    inst = pack.instance_labels
    worked = f"max by ({inst}) (inference_gpu_collector_available{pack.sel()} == 1)"
    kept = and_scrape(pack, GPU_WORKED, lambda *m: f"up{pack.sel(*m)}")
    return f"{worked}\nor on ({inst})\n(\n{kept}\n)"


def base_rules(pack: Pack) -> list[dict]:
    m = pack.by_model
    inst = pack.instance_labels
    requests = _rate(pack, "inference_requests_total")
    rules = [
        record("model:inference_requests:rate5m", requests),
        # A model that never failed has no failure series: report 0 errors while it has traffic.
        record(
            "model:inference_request_errors:rate5m",
            f"{_rate(pack, 'inference_requests_total', FAILURE)}\nor\n{requests} * 0",
        ),
        record(
            "model:inference_request_errors:ratio_rate5m",
            "model:inference_request_errors:rate5m\n/\n(model:inference_requests:rate5m > 0)",
        ),
    ]
    for tag, q in QUANTILES:
        rules.append(
            record(
                f"model:inference_request_duration_seconds:{tag}_rate5m",
                _quantile(pack, "inference_request_duration_seconds", q),
            )
        )
    rules += [
        record(
            "model:inference_time_to_first_token_seconds:p99_rate5m",
            _quantile(pack, "inference_time_to_first_token_seconds", 0.99),
        ),
        # Exact for every server, including those that report only sums.
        record(
            "model:inference_request_duration_seconds:mean_rate5m",
            _mean(pack, "inference_request_duration_seconds"),
        ),
        record(
            "model:inference_request_queue_share:ratio_rate5m",
            f"{_rate(pack, 'inference_request_queue_duration_seconds_sum')}\n/\n"
            f"({_rate(pack, 'inference_request_duration_seconds_sum')} > 0)",
        ),
        record("model:inference_batch_size:mean_rate5m", _mean(pack, "inference_batch_size")),
        record("model:inference_input_tokens:rate5m", _rate(pack, "inference_input_tokens_total")),
        record("model:inference_output_tokens:rate5m", _rate(pack, "inference_output_tokens_total")),
        record(
            "model:inference_requests_waiting:sum",
            f"sum by ({m}) {pack.once(lambda *ha: f'inference_requests_waiting{pack.sel(*ha)}')}",
        ),
        record(LAST_KNOWN, last_known_models(pack)),
        # One series per exporter instance naming the team/class of a model it serves, so that
        # instance-level (container, GPU, exporter down) alerts can be routed like model alerts.
        record(
            "instance:inference_owner:info",
            f"topk by ({inst}) (1, max by ({inst}, {pack.owner_labels}) ({LAST_KNOWN}))",
        ),
        # The (cluster, namespace, team)s with exporters: InferenceExporterAbsent remembers them.
        record(
            "namespace:inference_exporter_team:present",
            f"group by ({pack.label('cluster')}, {pack.label('namespace')}, {pack.label('team')}) "
            "(instance:inference_owner:info)",
        ),
        record(GPU_WORKED, gpu_collector_worked(pack)),
        record(
            "instance:inference_gpu_memory_used:ratio",
            f"sum by ({inst}) (inference_gpu_memory_used_bytes{pack.sel()})\n/\n"
            f"(sum by ({inst}) (inference_gpu_memory_total_bytes{pack.sel()}) > 0)",
        ),
        record(
            "target:inference_gpu_memory_used:ratio",
            f"sum by ({inst}, target) (inference_gpu_process_memory_bytes{pack.sel(OWNED)})\n"
            f"/ on ({inst}) group_left ()\n"
            f"(sum by ({inst}) (inference_gpu_memory_total_bytes{pack.sel()}) > 0)",
        ),
        record(
            "model:inference_gpu_utilization:ratio",
            f"avg by ({m}) (\n  avg by ({inst}) (inference_gpu_utilization_ratio{pack.sel()})\n"
            f"  * on ({inst}) group_right\n  max by ({inst}, {m}) (inference_model_info{pack.sel()})\n)",
        ),
        record(
            "model:inference_gpu_memory_used:ratio",
            f"max by ({m}) (\n  target:inference_gpu_memory_used:ratio\n"
            f"  * on ({inst}, target) group_right\n  max by ({inst}, target, {m}) "
            f"(inference_model_info{pack.sel()})\n)\n"
            f"or\nmax by ({m}) (\n  instance:inference_gpu_memory_used:ratio\n"
            f"  * on ({inst}) group_right\n  max by ({inst}, {m}) (inference_model_info{pack.sel()})\n)",
        ),
    ]
    return rules


def groups(pack: Pack) -> list[dict]:
    return [group("inference.recording.model", base_rules(pack))]
