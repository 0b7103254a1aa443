"""Big targets: CPU per native sample and memory of one target with about 100k native series.

    python bench/big_target.py [--baseline-src DIR] [--cases vllm-1,vllm-330,triton-12,triton-3850]

Each case is an exposition from ``bench/expositions.py``: vLLM with 1 or 330 models (750 and
about 205k samples, 300 and 99k of them read by the vLLM module), Triton with 12 or 3,850 models
(341 and 100,100 samples, all read). For each case and each source tree (this one and, with
``--baseline-src``, an older one unpacked with ``git archive``), a fresh child process measures:

* CPU per native sample of the collection path after the GET (parse, reset tracking,
  translation, rendering of the lines): the best of 5 rounds of steady collections, after 3
  warm-up collections, with the exporter's own runtime settings (``memory.tune_runtime``
  where the tree has it);
* prometheus_client's parser on the same text in the same child (the peer of bench/scrape.py);
* with ``--rss``, the peak RSS of a whole exporter process collecting the target every 2 s for
  30 s (the target served from another child process).

The ratios printed are ours/peer and this tree/baseline, each from the same run.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
CASES = {
    "vllm-1": ("vllm", 1),
    "vllm-330": ("vllm", 330),
    "triton-12": ("triton", 12),
    "triton-3850": ("triton", 3850),
}


def exposition(case: str) -> tuple[str, str]:
    from inference_devtools import repo

    repo.use("bench")
    import expositions

    kind, n = CASES[case]
    if kind == "vllm":
        return kind, expositions.vllm(models=tuple(f"model-{i:04d}" for i in range(n)))
    return kind, expositions.triton(models=n)


def _has_limits(src: str | None) -> bool:
    """Whether the exporter tree under test reads Prometheus' scrape limits (sample_limit)."""
    root = Path(src) if src else Path(__file__).resolve().parents[1] / "exporter"
    return (root / "inference_exporter" / "limits.py").exists()


def measure_cpu(case: str, rounds: int = 5) -> dict:
    """In a child: CPU per native sample of ours and of prometheus_client's parser."""
    from inference_exporter import memory
    from inference_exporter.config import TargetConfig
    from prometheus_client.parser import text_string_to_metric_families

    try:
        from inference_exporter.scrape import TargetScraper
        from inference_exporter.sources import Rendering
    except ImportError:  # trees before the snapshot redesign: collect() renders its lines itself
        from inference_exporter.collection import TargetCollector as TargetScraper

        def Rendering(collect):  # noqa: N802 - stands in for the class
            return collect

    tune = getattr(memory, "tune_runtime", None)
    if tune is not None:
        tune()
    kind, text = exposition(case)
    samples = sum(1 for line in text.splitlines() if line and not line.startswith("#"))
    body = text.encode()

    class Canned:
        def get(self, *_args, **_kwargs):
            return body, "text/plain; version=0.0.4"

        def close(self):
            pass

    extra = {}
    if "limits" in getattr(TargetConfig, "__dataclass_fields__", {}):  # trees with scrape limits
        from inference_exporter.limits import ScrapeLimits

        extra["limits"] = ScrapeLimits(sample_limit=10_000_000, body_size_limit=1 << 30)
    scraper = TargetScraper(
        TargetConfig(name="big", metrics_url="http://127.0.0.1:9/metrics", kind=kind, **extra)
    )
    scraper.fetcher.close()
    scraper.fetcher = Canned()
    collect = Rendering(scraper.collect)
    for _ in range(3):
        result = collect()
        assert result.ok, (result.reason, result.message)
    reps = max(1, int(2.0 / max(1e-4, _time(collect, 1))))
    ours = min(_time(collect, reps) for _ in range(rounds))

    def peer() -> None:
        for family in text_string_to_metric_families(text):
            for _ in family.samples:
                pass

    peer_reps = max(1, int(2.0 / max(1e-4, _time(peer, 1))))
    theirs = min(_time(peer, peer_reps) for _ in range(max(2, rounds // 2)))
    return {
        "samples": samples,
        "read": result.native_samples,
        "series_out": getattr(result, "series", None) or result.rendered.series,
        "us_per_sample": ours / samples * 1e6,
        "peer_us_per_sample": theirs / samples * 1e6,
        "seconds_per_collection": ours,
    }


def _time(work, reps: int) -> float:
    t0 = time.process_time()
    for _ in range(reps):
        work()
    return (time.process_time() - t0) / reps


def measure_rss(case: str, src: str, seconds: float = 30.0) -> dict:
    """Peak RSS of an exporter process collecting the case's exposition every 2 s."""
    import http.server
    import multiprocessing

    import psutil

    _, text = exposition(case)
    body = text.encode()

    def serve(port_out) -> None:
        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):  # noqa: N802
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        port_out.send(server.server_address[1])
        server.serve_forever()

    ctx = multiprocessing.get_context("fork")
    ours, theirs = ctx.Pipe()
    child = ctx.Process(target=serve, args=(theirs,), daemon=True)
    child.start()
    port = ours.recv()
    kind, _ = CASES[case]
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "big.yml"
        config.write_text(
            "targets:\n  - name: big\n"
            f"    kind: {kind}\n    metrics_url: http://127.0.0.1:{port}/metrics\n"
            "    scrape_interval: 2s\n    scrape_timeout: 2s\n    max_response_bytes: 104857600\n"
            + ("    sample_limit: 10000000\n" if _has_limits(src) else "")
        )
        env = {**os.environ, "PYTHONPATH": src} if src else dict(os.environ)
        proc = subprocess.Popen(
            [sys.executable, "-m", "inference_exporter", f"--config.file={config}",
             "--web.listen-address=127.0.0.1:0", f"--journal.path={tmp}/journal", "--log.level=error",
             "--no-collector.process", "--no-collector.container", "--no-collector.gpu"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
        )  # fmt: skip
        ps = psutil.Process(proc.pid)
        peak = 0
        t0 = time.monotonic()
        try:
            while time.monotonic() - t0 < seconds:
                peak = max(peak, ps.memory_info().rss)
                time.sleep(0.1)
            cpu = sum(ps.cpu_times()[:2])
        finally:
            proc.terminate()
            proc.wait(10)
            child.terminate()
    return {"rss_peak_mb": peak / 1e6, "cpu_s": cpu, "seconds": seconds}


def child(case: str, src: str, what: str) -> dict:
    env = {**os.environ, "PYTHONPATH": src} if src else dict(os.environ)
    out = subprocess.run(
        [sys.executable, __file__, "--child", what, case, "--src", src],
        capture_output=True, text=True, env=env, timeout=1800,
    )  # fmt: skip
    if out.returncode != 0:
        raise RuntimeError(f"{case} ({src or 'this tree'}): {out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--cases", default=",".join(CASES))
    p.add_argument("--baseline-src", default="", help="an older tree's exporter/ folder")
    p.add_argument(
        "--rss", action="store_true", help="also measure a whole exporter's peak RSS (30 s per case)"
    )
    p.add_argument("--json", metavar="PATH")
    p.add_argument("--child", help=argparse.SUPPRESS)
    p.add_argument("--src", default="", help=argparse.SUPPRESS)
    p.add_argument("case", nargs="?", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        result = measure_cpu(args.case) if args.child == "cpu" else measure_rss(args.case, args.src)
        print(json.dumps(result))
        return 0
    trees = {"this tree": ""}
    if args.baseline_src:
        trees["baseline"] = args.baseline_src
    results: dict = {"load_average": [os.getloadavg()[0]]}
    print(f"load average {os.getloadavg()[0]:.2f}; CPU figures are the best of 5 rounds", flush=True)
    header = (
        f"{'case':12} {'tree':10} {'samples':>8} {'read':>7} {'us/sample':>10} {'peer us':>8} {'vs peer':>8}"
    )
    print(header + ("  RSS peak MB" if args.rss else ""), flush=True)
    for case in args.cases.split(","):
        results[case] = {}
        for label, src in trees.items():
            r = child(case, src, "cpu")
            if args.rss:
                r.update(child(case, src, "rss"))
            results[case][label] = r
            line = (
                f"{case:12} {label:10} {r['samples']:8d} {r['read']:7d} {r['us_per_sample']:10.2f} "
                f"{r['peer_us_per_sample']:8.2f} {r['us_per_sample'] / r['peer_us_per_sample']:8.3f}"
            )
            print(line + (f"  {r['rss_peak_mb']:11.1f}" if args.rss else ""), flush=True)
        if "baseline" in results[case]:
            now, then = results[case]["this tree"], results[case]["baseline"]
            ratio = now["us_per_sample"] / then["us_per_sample"]
            print(
                f"{'':12} this tree / baseline CPU per sample: {ratio:.3f} (target <= 0.333 at 100k)",
                flush=True,
            )
            results[case]["ratio_to_baseline"] = ratio
    results["load_average"].append(os.getloadavg()[0])
    print(f"load average at the end {os.getloadavg()[0]:.2f}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
