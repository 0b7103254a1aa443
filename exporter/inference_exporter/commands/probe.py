"""`inference-exporter probe URL`: scrape once, name the server, show unified metrics per model.

What an SRE runs first when wiring up a new server: it answers "is this the kind I
think, does it expose what the dashboards need, and what do the numbers say now".
A dash means the server does not report that figure; nothing is estimated.
"""

from __future__ import annotations

import json
import re
import sys

from .. import servers
from ..config import ConfigError, loads
from ..exposition import render_snapshots
from ..scrape import TargetScraper
from ..snapshot import Snapshot
from . import ArgumentParser


def _quantile(buckets: list[tuple[float, float]], q: float) -> float | None:
    """Prometheus-style histogram_quantile over cumulative buckets; None without finite buckets."""
    finite = sorted((le, c) for le, c in buckets if le != float("inf"))
    total = max((c for _, c in buckets), default=0.0)
    if not finite or total <= 0:
        return None
    rank = q * total
    prev_le, prev_c = 0.0, 0.0
    for le, c in finite:
        if c >= rank:
            if c == prev_c:
                return le
            return prev_le + (le - prev_le) * (rank - prev_c) / (c - prev_c)
        prev_le, prev_c = le, c
    return finite[-1][0]


def _dur(v: float | None) -> str:
    if v is None:
        return "-"
    if v < 1:
        return f"{v * 1000:.2f}ms"
    return f"{v:.2f}s"


def _num(v: float | None, fmt: str = "{:g}") -> str:
    return "-" if v is None else fmt.format(v)


class _Model:
    def __init__(self) -> None:
        self.values: dict[str, float] = {}
        self.hists: dict[str, dict] = {}


def summarize(snap: Snapshot) -> dict[tuple[str, str], _Model]:
    """Per (model, version): request counts, gauges and counters summed, histograms merged."""
    models: dict[tuple[str, str], _Model] = {mv: _Model() for mv in snap.models}
    for name, series in snap.values.items():
        for (model, version, extra), value in series.items():
            m = models.setdefault((model, version), _Model())
            if name == "inference_requests_total":
                key = "failed" if dict(extra).get("outcome") == "failure" else "ok"
            else:
                key = name
            m.values[key] = m.values.get(key, 0.0) + value
    for name, hists in snap.histograms.items():
        for (model, version, _), h in hists.items():
            m = models.setdefault((model, version), _Model())
            merged = m.hists.setdefault(name, {"buckets": {}, "sum": 0.0, "count": 0.0})
            for le, c in h.buckets.items():
                merged["buckets"][le] = merged["buckets"].get(le, 0.0) + c
            merged["sum"] += h.sum
            merged["count"] += h.count
    return models


def _mean(m: _Model, name: str) -> float | None:
    h = m.hists.get(name)
    if not h or not h["count"]:
        return None
    return h["sum"] / h["count"]


def _percentile(m: _Model, name: str, q: float) -> float | None:
    h = m.hists.get(name)
    return None if not h else _quantile(list(h["buckets"].items()), q)


def _table(rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows)


def render_table(models: dict[tuple[str, str], _Model]) -> str:
    serving = [
        [
            "MODEL",
            "VERSION",
            "OK",
            "FAILED",
            "ERR%",
            "MEAN",
            "P50",
            "P99",
            "QUEUE",
            "COMPUTE",
            "BATCH",
            "RUNNING",
            "WAITING",
        ]
    ]
    generative = [
        ["MODEL", "VERSION", "TTFT MEAN", "TTFT P99", "TPOT MEAN", "IN TOKENS", "OUT TOKENS", "KV CACHE"]
    ]
    for (model, version), m in sorted(models.items()):
        if not model and not m.values and not m.hists:
            continue
        ok, failed = m.values.get("ok"), m.values.get("failed")
        total = (ok or 0) + (failed or 0)
        err = None if ok is None and failed is None else (100.0 * (failed or 0) / total if total else 0.0)
        d = "inference_request_duration_seconds"
        serving.append(
            [
                model or "(none)",
                version or "-",
                _num(ok),
                _num(failed),
                _num(err, "{:.1f}%"),
                _dur(_mean(m, d)),
                _dur(_percentile(m, d, 0.5)),
                _dur(_percentile(m, d, 0.99)),
                _dur(_mean(m, "inference_request_queue_duration_seconds")),
                _dur(_mean(m, "inference_request_compute_duration_seconds")),
                _num(_mean(m, "inference_batch_size"), "{:.2f}"),
                _num(m.values.get("inference_requests_running")),
                _num(m.values.get("inference_requests_waiting")),
            ]
        )
        gen_names = ("inference_time_to_first_token_seconds", "inference_time_per_output_token_seconds")
        if any(n in m.hists for n in gen_names) or "inference_output_tokens_total" in m.values:
            kv = m.values.get("inference_kv_cache_usage_ratio")
            generative.append(
                [
                    model or "(none)",
                    version or "-",
                    _dur(_mean(m, gen_names[0])),
                    _dur(_percentile(m, gen_names[0], 0.99)),
                    _dur(_mean(m, gen_names[1])),
                    _num(m.values.get("inference_input_tokens_total")),
                    _num(m.values.get("inference_output_tokens_total")),
                    "-" if kv is None else f"{kv * 100:.1f}%",
                ]
            )
    out = _table(serving) if len(serving) > 1 else "No model series found."
    if len(generative) > 1:
        out += "\n\nGenerative\n" + _table(generative)
    return out


def run_probe(url: str, kind: str, timeout: str, mapping_file: str, raw: bool) -> int:
    doc = {
        "targets": [
            {
                "name": "probe",
                "kind": kind,
                "metrics_url": url,
                "scrape_interval": timeout,
                "scrape_timeout": timeout,
            }
        ]
    }
    if mapping_file:
        doc["targets"][0]["mapping_file"] = mapping_file
    try:
        config = loads(json.dumps(doc), "<probe arguments>")
    except ConfigError as exc:
        message = re.sub(r"^<probe arguments>:(\d+:)? (targets\[0\]\.)?", "", str(exc))
        sys.stderr.write(f"inference-exporter probe: {message}\n")
        return 2
    target = config.targets[0]
    scraper = TargetScraper(target)
    try:
        result = scraper.collect()
    finally:
        scraper.close()
    if not result.ok:
        sys.stderr.write(f"inference-exporter probe: {url}: {result.reason}: {result.message}\n")
        return 1
    if raw:
        sys.stdout.write(render_snapshots(result.snapshots).text.decode())
        return 0
    how = "given" if kind != "auto" else "detected"
    print(f"Target   {url}")
    print(f"Kind     {result.kind} ({how})")
    print(
        f"Native   {result.native_samples} samples read, {result.invalid_lines} invalid lines skipped, "
        f"{result.duration * 1000:.0f} ms"
    )
    print(f"Unified  {sum(s.series for s in result.snapshots)} series\n")
    print(render_table(summarize(result.snapshots[0])))
    return 0


def main(argv: list[str]) -> int:
    p = ArgumentParser(
        prog="inference-exporter probe",
        description="Scrape one server once and print its kind and unified metrics per model.",
    )
    p.add_argument("url", help="the server's native metrics URL (for Ollama: its API base URL)")
    p.add_argument("--kind", default="auto", choices=servers.config_kinds())
    p.add_argument("--timeout", default="10s", help="scrape timeout (default: %(default)s)")
    p.add_argument("--mapping-file", default="", help="mapping file for --kind generic")
    p.add_argument("--raw", action="store_true", help="print the unified exposition instead of a table")
    args = p.parse_args(argv)
    return run_probe(args.url, args.kind, args.timeout, args.mapping_file, args.raw)
