"""Seasonal anomaly bands and the traffic-drop page.

For each signal S (request rate, mean latency, error ratio; 5-minute rates) per model:

- `S_expected` (E): median of the same hour yesterday, the same hour last week and the last
  `recent` minutes (each a median itself). The week estimate falls back to the day before
  yesterday, never to yesterday again. History states, explicitly: no day of history yet, E is
  the recent level alone (the band does not exist yet, so nothing alerts); one day, the mean of
  yesterday and the recent level; two days or more, the median of three.
- `S_residual` (R = S - E), recorded every `residual_interval`: how wrong E has been.
- `S_margin` (M), the band's half-width: `spread_factor` x the larger of the upper and lower
  `tail_quantile` residual over the `residual_history` that ends 23h30m ago, so an anomaly
  never widens its own band the same day. The tails are recorded every `tail_interval` (1h) as
  `S_residual_tail{tail="upper"|"lower"}` and read through `last_over_time`. Floors are
  safety nets, not the usual width: a share of E, and for counts the noise of the model's own
  traffic (a quiet model's rate jitters more); until a week of history exists, a larger share
  of E (the weekly cycle is unknown: a first weekend is no anomaly). No band until
  `min_residual_history` of residuals exists.
- The alerts hold on a share: at least `hold_share` of the last `hold_window` beyond the band on
  one side (so one in-band sample does not reset them), then `for`. Request rate and latency are
  two-sided (a collapse of either is a failure), the error ratio is upper only.

The residual tail is robust to anomalies shorter than (1 - tail_quantile) of the history
(about 100 minutes of a week at 0.99); a longer one widens the band for a week at most. Rules
read only history at least 23h30m old from each other, so they form no cycle. Anomaly alerts
open tickets; only the drop of traffic to near zero, which means users get nothing, pages.
"""

from __future__ import annotations

from .common import (
    SLOW_INTERVAL,
    Pack,
    Runbook,
    alert,
    duration_seconds,
    firing,
    group,
    record,
    unless_fired_within,
)
from .slo import model_versions

SIGNALS = {
    "requests": "model:inference_requests:rate5m",
    "latency": "model:inference_request_duration_seconds:mean_rate5m",
    "errors": "model:inference_request_errors:ratio_rate5m",
}
REQUESTS = SIGNALS["requests"]
RATE_WINDOW_SECONDS = 300  # every signal is a 5-minute rate
# Offsets of the 1-hour windows centred on the same time 1, 2 and 7 days back.
DAY_AGO, TWO_DAYS_AGO, WEEK_AGO = "23h30m", "47h30m", "167h30m"
HISTORY_OFFSET = DAY_AGO  # the residual history ends here


def _tag(expr: str, label: str, value: str) -> str:
    return f'label_replace({expr}, "{label}", "{value}", "", "")'


def expected(pack: Pack, s: str) -> str:
    a = pack.cfg["anomaly"]

    def hour(off: str) -> str:
        return f"quantile_over_time(0.5, {s}[1h] offset {off})"

    estimates = [
        _tag(hour(DAY_AGO), "history", "1d"),
        _tag(f"{hour(WEEK_AGO)} or {hour(TWO_DAYS_AGO)}", "history", "1w"),
        _tag(f"quantile_over_time(0.5, {s}[{a['recent']}])", "history", "recent"),
    ]
    return f"quantile by ({pack.by_model}) (0.5,\n  " + "\n  or\n  ".join(estimates) + "\n)"


def residual(pack: Pack, s: str) -> str:
    # Only a fresh sample: after a gap, a held value against a moving E is no residual.
    return f"last_over_time({s}[90s])\n- on ({pack.by_model})\n{s}_expected"


def floors(pack: Pack, s: str, conf: dict) -> list[tuple[str, str]]:
    """(name, expression) of the band's lower bounds for one signal."""
    m = pack.by_model
    out = [("relative_floor", f"{conf['relative_floor']:g} * abs({s}_expected)")]
    # Until a week of history exists the weekly cycle is unknown (a first weekend is no anomaly).
    first_week = pack.cfg["anomaly"]["first_week_relative_floor"]
    out.append(
        (
            "first_week_floor",
            f"{first_week:g} * abs({s}_expected)"
            f" unless on ({m}) present_over_time({s}[1h] offset {WEEK_AGO})",
        )
    )
    if "counting_floor" in conf:
        c = conf["counting_floor"]
        if s == REQUESTS:
            # Poisson noise of a 5-minute rate: sqrt(rate / window).
            noise = f"sqrt(clamp_min({s}_expected, 0) / {RATE_WINDOW_SECONDS})"
            out.append(("counting_floor", f"{c:g} * {noise}"))
        else:
            # Binomial noise of a ratio over n requests, and never less than c failures' worth.
            n = f"({REQUESTS} * {RATE_WINDOW_SECONDS} > 0)"
            out.append(("counting_floor", f"{c:g} * sqrt((clamp_min({s}_expected, 0) + 1 / {n}) / {n})"))
    return out


def residual_tail(pack: Pack, s: str) -> str:
    """The upper and lower `tail_quantile` residuals of the history (label `tail`), only once
    `min_residual_history` of it exists; recorded every `tail_interval`."""
    a = pack.cfg["anomaly"]
    q = a["tail_quantile"]
    hist = f"{s}_residual[{a['residual_history']}] offset {HISTORY_OFFSET}"
    samples = duration_seconds(a["min_residual_history"]) // duration_seconds(a["residual_interval"])
    tails = [
        _tag(f"quantile_over_time({q:g}, {hist})", "tail", "upper"),
        _tag(f"quantile_over_time({1 - q:.6g}, {hist})", "tail", "lower"),
    ]
    body = "(\n  " + "\n  or\n  ".join(tails) + "\n)"
    return f"{body}\nand on ({pack.by_model})\ncount_over_time({hist}) >= {samples}"


def margin(pack: Pack, s: str, conf: dict) -> str:
    a = pack.cfg["anomaly"]
    m = pack.by_model
    k = a["spread_factor"]
    # The tails' latest value: two intervals (plus slack) back, so a restarted Prometheus, whose
    # first evaluation of the tails may come an interval later, keeps its bands meanwhile.
    lookback = f"{2 * duration_seconds(a['tail_interval']) // 60 + 10}m"
    upper = f'last_over_time({s}_residual_tail{{tail="upper"}}[{lookback}])'
    lower = f'last_over_time({s}_residual_tail{{tail="lower"}}[{lookback}])'
    terms = [
        _tag(f"{k:g} * {upper}", "term", "upper_tail"),
        _tag(f"-{k:g} * {lower}", "term", "lower_tail"),
    ]
    terms += [_tag(expr, "term", name) for name, expr in floors(pack, s, conf)]
    body = f"max by ({m}) (\n  " + "\n  or\n  ".join(terms) + "\n)"
    if "absolute_floor" in conf:
        body = f"clamp_min(\n{body},\n{conf['absolute_floor']:g}\n)"
    return f"{body}\nand on ({m})\n{upper}"


def beyond_band(pack: Pack, s: str, two_sided: bool) -> str:
    """At least `hold_share` of the last `hold_window` on one side beyond the band (the signal's
    quantile against the median of E over the same minutes, so a fast seasonal edge is no lag)."""
    a = pack.cfg["anomaly"]
    m, w, p = pack.by_model, a["hold_window"], a["hold_share"]
    e = f"quantile_over_time(0.5, {s}_expected[{w}])"
    if two_sided and p == 0.5:  # both sides read the median: one distance from E, computed once
        cond = f"abs(\n    quantile_over_time(0.5, {s}[{w}]) - on ({m}) {e}\n  )\n  > on ({m}) {s}_margin"
    else:
        cond = f"quantile_over_time({1 - p:g}, {s}[{w}]) - on ({m}) {e}\n  > on ({m}) {s}_margin"
        if two_sided:
            cond += f"\n  or\n  quantile_over_time({p:g}, {s}[{w}]) - on ({m}) {e}\n  < on ({m}) -{s}_margin"
    # The signal must have existed half the window ago too: right after a gap, a few fresh samples
    # are no evidence either way (this holds at any evaluation interval).
    half = f"{duration_seconds(w) // 120}m"
    return f"{s}\nand on ({m}) (\n  {cond}\n)\nand on ({m})\n{s} offset {half}"


def band_rules(pack: Pack, signal: str) -> tuple[list[dict], dict]:
    s = SIGNALS[signal]
    conf = pack.cfg["anomaly"]["signals"][signal]
    bands = [record(f"{s}_expected", expected(pack, s)), record(f"{s}_margin", margin(pack, s, conf))]
    return bands, record(f"{s}_residual", residual(pack, s))


def _min_traffic(pack: Pack) -> str:
    return f"\nand on ({pack.by_model})\n{REQUESTS} * 3600 >= {pack.cfg['min_requests_per_hour']}"


NOUNS = {"requests": "request rate", "latency": "mean latency", "errors": "error ratio"}
# What each anomaly alert's drop or rise usually means, and where to look first.
CAUSES = {
    "requests": (
        "Up: a campaign, a new client, or a retry storm (a caller retrying its own failures). Down: an "
        "upstream (front end, gateway, DNS, the caller's deploy) sends less; when it nearly stops, "
        "InferenceTrafficDrop pages as well. Compare with the other models of the same caller.",
        "Scale out or rate-limit a retry storm at its source; restore the upstream path when traffic fell.",
    ),
    "latency": (
        "Up: each request costs more (longer inputs or outputs, a slower version, a batch size change, "
        "CPU throttling, a busy GPU: see the model and resources dashboards). Down, far below normal: "
        "requests fail fast or end early (check the error ratio and the failure reasons), or a cache or a "
        "cheaper path now answers them.",
        "Treat a rise like a latency SLO burn before it becomes one (scale out, revert the change that "
        "made requests heavier); treat a fall like an error burst.",
    ),
    "errors": (
        "Failures by reason and by version on the model dashboard: a new version, a changed input format "
        "from a client, an exhausted dependency. Only a rise alerts; errors stopping is no anomaly.",
        "Treat it like an availability SLO burn before it becomes one.",
    ),
}


def runbook(pack: Pack, signal: str) -> Runbook:
    a = pack.cfg["anomaly"]
    sides = "above or below" if a["signals"][signal]["two_sided"] else "above"
    causes, fix = CAUSES[signal]
    return Runbook(
        meaning=f"For at least {a['hold_share']:.0%} of the last {a['hold_window']} the {NOUNS[signal]} "
        f"was {sides} its band, and that lasted {a['for']} more. The band is centred on the median of "
        "the same hour yesterday, the same hour last week (the day before yesterday until a week of "
        f"history exists) and the last {a['recent']}. Its half-width is {a['spread_factor']:g} x how "
        f"wrong that expectation has been: the {a['tail_quantile']:g} quantile of the residual "
        f"(observed - expected) over the {a['residual_history']} before the last day, never under a "
        f"floor ({a['first_week_relative_floor']:.0%} of the expectation until a week of history "
        "exists). A new model gets a band after about 30 hours. It is a ticket: something changed that "
        "the SLO alerts do not (yet) consider harmful.",
        check=f"Open the anomalies dashboard ({NOUNS[signal]}, expected value, band) and ask whether a "
        f"campaign, a client release, a new version or an upstream change explains it. {causes}",
        fix="Nothing to fix when the change is expected (campaign, planned migration): a lasting level "
        f"change becomes the expectation within two days. Otherwise: {fix[0].lower()}{fix[1:]}",
        rollback="Roll back when the change started with a model version or config change.",
    )


def alerts(pack: Pack) -> list[dict]:
    a = pack.cfg["anomaly"]
    m = pack.by_model
    rps, lat, err = SIGNALS["requests"], SIGNALS["latency"], SIGNALS["errors"]
    sides = {name: conf["two_sided"] for name, conf in a["signals"].items()}
    common = dict(severity=a["severity"], for_=a["for"], dashboard="inference-anomalies")
    drop = a["traffic_drop"]
    window = drop["rate_window"]
    min_rate = drop["min_expected_requests"] / duration_seconds(window)
    return [
        alert(
            pack,
            "InferenceRequestRateAnomaly",
            beyond_band(pack, rps, sides["requests"])
            # While traffic is lost the page says it all, and for `recent` after it the expectation
            # still holds the outage's zeros (most of all with one day of history), so the
            # traffic's return is its recovery, not a surge.
            + unless_fired_within(m, firing("InferenceTrafficDrop"), a["recent"]),
            summary="Model's request rate is outside its seasonal band.",
            runbook=runbook(pack, "requests"),
            description=model_versions(pack) + ": "
            "{{ $value | humanize }} requests/s, outside the band expected "
            "from yesterday, last week and the last half hour.",
            **common,
        ),
        alert(
            pack,
            "InferenceLatencyAnomaly",
            beyond_band(pack, lat, sides["latency"]) + _min_traffic(pack),
            summary="Model's mean latency is outside its seasonal band.",
            runbook=runbook(pack, "latency"),
            description=model_versions(pack) + ": "
            "mean latency {{ $value | humanizeDuration }}, outside the band "
            "expected from yesterday, last week and the last half hour.",
            **common,
        ),
        alert(
            pack,
            "InferenceErrorRatioAnomaly",
            beyond_band(pack, err, sides["errors"]) + _min_traffic(pack),
            summary="Model's error ratio is above its seasonal band.",
            runbook=runbook(pack, "errors"),
            description=model_versions(pack) + ": "
            "{{ $value | humanizePercentage }} of requests fail, above the "
            "band expected from yesterday, last week and the last half hour.",
            **common,
        ),
        alert(
            pack,
            "InferenceTrafficDrop",
            f"sum by ({m}) (rate(inference_requests_total{pack.sel()}[{window}]))\n"
            f"< on ({m}) ({drop['ratio']:g} * {rps}_expected)\n"
            f"and on ({m})\n{rps}_expected > {min_rate:.6g}\n"
            # A day of history first: without it the expectation is the last half hour alone,
            # and a new model that stops after 40 minutes would page.
            f"and on ({m})\npresent_over_time({rps}[1h] offset {DAY_AGO})",
            severity=drop["severity"],
            for_=drop["for"],
            summary="Model's traffic dropped to near zero.",
            description=model_versions(pack) + ": "
            f"{{{{ $value | humanize }}}} requests/s, less than "
            f"{drop['ratio']:.0%} of what this hour normally brings.",
            dashboard="inference-anomalies",
            runbook=Runbook(
                meaning="Requests nearly stopped while the seasonal expectation says real traffic should "
                f"arrive (at least {drop['min_expected_requests']} requests per {window}, so a quiet "
                "model's lull never pages). The model itself may be healthy: usually an upstream (front "
                "end, gateway, DNS, a bad deploy of the caller) stopped sending.",
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
    expected, margins, residuals, tails = [], [], [], []
    for signal in SIGNALS:
        (e, m), r = band_rules(pack, signal)
        expected.append(e)
        margins.append(m)
        residuals.append(r)
        tails.append(record(f"{SIGNALS[signal]}_residual_tail", residual_tail(pack, SIGNALS[signal])))
    a = pack.cfg["anomaly"]
    return [
        group("inference.anomaly.bands", expected),
        group("inference.anomaly.residuals", residuals, interval=a["residual_interval"]),
        group("inference.anomaly.tails", tails, interval=a["tail_interval"]),
        # The floors follow the expected value; the tails they are read with change hourly.
        group("inference.anomaly.margins", margins, interval=SLOW_INTERVAL),
        group("inference.anomaly.alerts", alerts(pack)),
    ]
