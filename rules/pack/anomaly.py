"""Seasonal anomaly bands and the traffic-drop page.

For each signal S (request rate, mean latency, error ratio) per model:

- `S_expected`: median of three estimates: the median of S around the same time
  yesterday (a 1h window centred on t-1d), the same around t-1w, and the median of the
  last 30 minutes (yesterday stands in for last week until a week exists). A fault shows
  in one estimate only, so the median ignores it; the recent level lets the band follow a campaign or a level
  change that history does not know.
- `S_margin`: half-width of the band: `spread_factor` x the robust spread (IQR/1.35)
  of the same historic hours, never below `min_margin_ratio` x expected nor
  `min_margin_abs`. It only exists once a day of history exists (no alerts before).
- `S_clean`: S clipped to the band. The history windows read only `S_clean`, so an
  anomaly shifts tomorrow's baseline by at most one margin (a lasting level change is
  learnt over a few days, a one-off incident leaves no trace beyond that).

Mean latency (exact for every server) is the latency signal, so the bands also cover
servers without histogram buckets. Anomaly alerts open tickets; only the drop of traffic
to near zero, which means users get nothing, pages.
"""

from __future__ import annotations

from .common import Pack, Runbook, alert, group, record
from .slo import model_versions

SIGNALS = {
    "requests": "model:inference_requests:rate5m",
    "latency": "model:inference_request_duration_seconds:mean_rate5m",
    "errors": "model:inference_request_errors:ratio_rate5m",
}
HISTORY = (("1d", "23h30m"), ("1w", "167h30m"))


def _tag(expr: str, src: str) -> str:
    return f'label_replace({expr}, "src", "{src}", "", "")'


def band_rules(pack: Pack, signal: str) -> list[dict]:
    m = pack.by_model
    s = SIGNALS[signal]
    conf = pack.cfg["anomaly"]["signals"][signal]
    k = pack.cfg["anomaly"]["spread_factor"]
    clean = f"{s}_clean"
    day, week = (f"quantile_over_time(0.5, {clean}[1h] offset {off})" for _, off in HISTORY)
    # Until a week of history exists, yesterday counts twice: the recent level alone must not
    # move the median (it would half-absorb a sustained fault).
    estimates = [_tag(day, "1d"), _tag(f"({week} or {day})", "1w")]
    estimates.append(_tag(f"quantile_over_time(0.5, {s}[30m])", "recent"))
    expected = f"quantile by ({m}) (0.5,\n  " + "\n  or ".join(estimates) + "\n)"
    spreads = [
        _tag(
            f"(quantile_over_time(0.75, {clean}[1h] offset {off})\n"
            f"   - quantile_over_time(0.25, {clean}[1h] offset {off})) / 1.35",
            src,
        )
        for src, off in HISTORY
    ]
    spread = f"max by ({m}) (\n  " + "\n  or ".join(spreads) + "\n)"
    relative = f"{conf['min_margin_ratio']:g} * {s}_expected"
    margin = (
        f"clamp_min(\n  ({k:g} * {spread} >= {relative})\n  or on ({m}) ({relative}),\n"
        f"  {conf['min_margin_abs']:g}\n)\nand on ({m})\n{spread}"
    )
    upper, lower = f"({s}_expected + {s}_margin)", f"({s}_expected - {s}_margin)"
    # Winsorised: outside the band S is clipped to the nearer edge, so an anomaly moves the
    # baseline by at most one margin per day while a lasting level change is still learnt.
    clean_expr = (
        f"(\n  ({s} <= {upper} and {s} >= {lower})\n"
        f"  or\n  ({upper} and on ({m}) ({s} > {upper}))\n"
        f"  or\n  ({lower} and on ({m}) ({s} < {lower}))\n"
        f"  or\n  {s}\n)\nand\n{s}"
    )
    return [
        record(f"{s}_expected", expected),
        record(f"{s}_margin", margin),
        record(f"{s}_clean", clean_expr),
    ]


def _min_traffic(pack: Pack) -> str:
    return (
        f"and on ({pack.by_model})\n"
        f"model:inference_requests:rate5m * 3600 >= {pack.cfg['min_requests_per_hour']}"
    )


RUNBOOK_ANOMALY = Runbook(
    meaning="The signal left the band learnt from the same hour yesterday, the same hour last week and the "
    "last half hour, for longer than the anomaly `for`. It is a ticket: something changed that the SLO "
    "alerts do not (yet) consider harmful.",
    check="Open the anomalies dashboard: expected value, band and the signal. Ask whether a campaign, a "
    "client release, a new version or an upstream change explains it; compare with other models of the "
    "same team.",
    fix="Nothing to fix when the change is expected (campaign, planned migration): the band adapts within "
    "a day. Otherwise treat it like the matching SLO alert before it becomes one.",
    rollback="Roll back when the change started with a model version or config change.",
)


def alerts(pack: Pack) -> list[dict]:
    a = pack.cfg["anomaly"]
    m = pack.by_model
    rps, lat, err = SIGNALS["requests"], SIGNALS["latency"], SIGNALS["errors"]
    common = dict(
        severity=a["severity"], for_=a["for"], dashboard="inference-anomalies", runbook=RUNBOOK_ANOMALY
    )
    drop = a["traffic_drop"]
    return [
        alert(
            pack,
            "InferenceRequestRateAnomaly",
            f"(\n  {rps} > on ({m}) ({rps}_expected + {rps}_margin)\n  or\n"
            f"  {rps} < on ({m}) ({rps}_expected - {rps}_margin)\n)",
            summary="Model's request rate is outside its seasonal band.",
            description=model_versions(pack) + ": "
            "{{ $value | humanize }} requests/s, outside the band expected "
            "from yesterday, last week and the last half hour.",
            **common,
        ),
        alert(
            pack,
            "InferenceLatencyAnomaly",
            f"{lat} > on ({m}) ({lat}_expected + {lat}_margin)\n{_min_traffic(pack)}",
            summary="Model's mean latency is above its seasonal band.",
            description=model_versions(pack) + ": "
            "mean latency {{ $value | humanizeDuration }}, above the band "
            "expected from yesterday, last week and the last half hour.",
            **common,
        ),
        alert(
            pack,
            "InferenceErrorRatioAnomaly",
            f"{err} > on ({m}) ({err}_expected + {err}_margin)\n{_min_traffic(pack)}",
            summary="Model's error ratio is above its seasonal band.",
            description=model_versions(pack) + ": "
            "{{ $value | humanizePercentage }} of requests fail, above the "
            "band expected from yesterday, last week and the last half hour.",
            **common,
        ),
        alert(
            pack,
            "InferenceTrafficDrop",
            f"sum by ({m}) (rate(inference_requests_total{pack.sel()}[{drop['rate_window']}]))\n"
            f"< on ({m}) ({drop['ratio']:g} * {rps}_expected)\n"
            f"and on ({m})\n{rps}_expected > {drop['min_expected_rps']:g}\n"
            # A day of history first (the margin exists only then): without it the expectation
            # is the last half hour alone, and a new model that stops after 40 minutes pages.
            f"and on ({m})\n{rps}_margin",
            severity=drop["severity"],
            for_=drop["for"],
            summary="Model's traffic dropped to near zero.",
            description=model_versions(pack) + ": "
            f"{{{{ $value | humanize }}}} requests/s, less than "
            f"{drop['ratio']:.0%} of what this hour normally brings.",
            dashboard="inference-anomalies",
            runbook=Runbook(
                meaning="Requests nearly stopped while the seasonal baseline expects real traffic. The model "
                "itself may be healthy: usually an upstream (front end, gateway, DNS, a bad deploy of the "
                "caller) stopped sending.",
                check="Compare with other models of the same caller; check the gateway/ingress request rates "
                "and recent deploys of the calling service; confirm the model answers a direct request.",
                fix="Restore the upstream path (revert the caller's deploy, fix routing or DNS).",
                rollback="Roll back the caller (or the model, if its deploy coincides and it rejects "
                "requests "
                "before they are counted).",
            ),
        ),
    ]


def groups(pack: Pack) -> list[dict]:
    bands = []
    for signal in SIGNALS:
        bands += band_rules(pack, signal)
    return [group("inference.anomaly.bands", bands), group("inference.anomaly.alerts", alerts(pack))]
