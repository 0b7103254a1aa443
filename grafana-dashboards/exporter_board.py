"""The exporter's own health dashboard: targets, collections, local collectors, journal."""

from __future__ import annotations

from board import Layout, dashboard, dashboard_links, variables
from panels import Column, Query, stat, state_timeline, table, timeseries
from promql import SCOPE, agg, ratio, sum_increase, sum_rate

GPU = "gpu, gpu_name"  # a GPU's legend: index and product name; MIG adds gpu_instance
GPU_LEGEND = "{{instance}} GPU {{gpu}} {{gpu_instance}}"


def exporter() -> dict:
    collections = sum_rate(SCOPE, "inference_exporter_collections_total", "instance, target")
    errors = sum_rate(SCOPE, "inference_exporter_collection_errors_total", "instance, target")
    lay = Layout()
    lay.row("Targets")
    lay.add(
        stat(
            "Targets up",
            "Targets whose last collection succeeded.",
            "none",
            [Query(f"sum({SCOPE('inference_exporter_target_up')})")],
        ),
        stat(
            "Targets down",
            "Targets whose last collection failed.",
            "none",
            [Query(f"count({SCOPE('inference_exporter_target_up')} == 0) or vector(0)")],
            thresholds=[(None, "green"), (1, "red")],
        ),
        stat(
            "Stale targets",
            "Targets whose data is older than their staleness window and no longer served.",
            "none",
            [Query(f"sum({SCOPE('inference_exporter_target_stale')})")],
            thresholds=[(None, "green"), (1, "orange")],
        ),
        stat(
            "Local collectors failing",
            "Process, container and GPU collectors whose last run failed (no data is not a failure).",
            "none",
            [Query(f"count({SCOPE('inference_exporter_collector_success')} == 0) or vector(0)")],
            thresholds=[(None, "green"), (1, "orange")],
        ),
        stat(
            "Exporters",
            "Exporter processes scraped, from their build info.",
            "none",
            [Query(f"count({SCOPE('inference_exporter_build_info')})")],
        ),
        stat(
            "Render duration",
            "Slowest rendering of the exposition served at /metrics.",
            "s",
            [Query(f"max({SCOPE('inference_exporter_render_duration_seconds')})")],
        ),
        state_timeline(
            "Target up",
            "1 while the target's collections succeed.",
            [
                Query(
                    agg("min", "instance, target", SCOPE, "inference_exporter_target_up"),
                    "{{instance}} {{target}}",
                )
            ],
            [(0, "down", "red"), (1, "up", "green")],
            width=24,
            height=6,
        ),
    )
    lay.row("Collections")
    lay.add(
        timeseries(
            "Collection duration",
            "Duration of each target's last collection (fetch, parse and translate).",
            "s",
            [
                Query(
                    agg("max", "instance, target", SCOPE, "inference_exporter_collection_duration_seconds"),
                    "{{target}}",
                )
            ],
            width=8,
        ),
        timeseries(
            "Collection error ratio",
            "Share of collections that failed, per target.",
            "percentunit",
            [
                Query(
                    ratio(
                        f"{errors} or 0 * {collections}",
                        collections,
                    ),
                    "{{target}}",
                )
            ],
            width=8,
            guarded=True,
        ),
        timeseries(
            "Collection errors by reason",
            "Failed collections per second by reason (timeout, connection, http_status, parse, ...).",
            "short",
            [
                Query(
                    sum_rate(SCOPE, "inference_exporter_collection_errors_total", "target, reason"),
                    "{{target}} {{reason}}",
                )
            ],
            width=8,
        ),
        timeseries(
            "Data age",
            "Age of each target's data being served now.",
            "s",
            [
                Query(
                    agg("max", "instance, target", SCOPE, "inference_exporter_data_age_seconds"),
                    "{{target}}",
                )
            ],
            width=8,
        ),
        timeseries(
            "Series and samples",
            "Unified series served per target, native samples read, and lines that could not be parsed.",
            "short",
            [
                Query(agg("sum", "target", SCOPE, "inference_exporter_series"), "{{target}} unified series"),
                Query(
                    agg("sum", "target", SCOPE, "inference_exporter_native_samples"),
                    "{{target}} native samples",
                ),
                Query(
                    agg("sum", "target", SCOPE, "inference_exporter_invalid_lines"),
                    "{{target}} invalid lines",
                ),
            ],
            width=8,
        ),
        timeseries(
            "Local collectors",
            "Duration of the process, container and GPU collectors' last run.",
            "s",
            [
                Query(
                    agg("max", "instance, collector", SCOPE, "inference_exporter_collector_duration_seconds"),
                    "{{instance}} {{collector}}",
                )
            ],
            width=8,
        ),
    )
    lay.row("Events")
    lay.add(
        timeseries(
            "Events per type",
            "Events written to the exporter's journal within the rate window, by type.",
            "short",
            [
                Query(
                    sum_increase(SCOPE, "inference_events_total", "type"),
                    "{{type}}",
                )
            ],
            width=12,
        ),
        table(
            "Exporter versions",
            "Exporter version and Python of every scraped exporter.",
            ["instance", "version", "python_version"],
            [
                Column(
                    "Exporters",
                    agg("count", "instance, version, python_version", SCOPE, "inference_exporter_build_info"),
                    "none",
                )
            ],
            width=12,
            height=8,
        ),
    )
    return dashboard(
        "inference-exporter",
        "Inference / Exporter health",
        "The exporter's own health: targets up and stale, collection duration and errors, local collectors, "
        "journal events.",
        lay,
        variables("inference_exporter_target_up", with_models=False),
        [],
        dashboard_links(),
    )
