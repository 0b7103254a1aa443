"""Hostile targets against a real exporter process: huge, endless, slow, gzip bombs, cardinality
explosions, oversized labels, duplicate series, non-finite and negative counters, invalid UTF-8
(defects 7 and 13). Each fails with its scrape limit's name as the reason, visible in the
self-metrics and on the landing page, while the exporter stays small and its page valid."""

from __future__ import annotations

import gzip
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from campaign import ExporterProcess
from helpers import promtool_check_metrics, sample_value

COUNTER = 'vllm:request_success_total{{finished_reason="stop",model_name="{model}"}} {value}\n'
RUNNING = 'vllm:num_requests_running{{model_name="{model}"}} 1\n'


class Hostile:
    """One loopback server; each path is a different hostile target (``url(path)``)."""

    def __init__(self):
        self.calls: dict[str, int] = {}
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):  # noqa: N802
                name = self.path.strip("/").split("/")[0]
                n = outer.calls[name] = outer.calls.get(name, 0) + 1
                try:
                    getattr(outer, name)(self, n)
                except OSError:
                    pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port}/{name}/metrics"

    @staticmethod
    def send(handler, body: bytes, headers: dict | None = None) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "text/plain; version=0.0.4")
        handler.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            handler.send_header(k, v)
        handler.end_headers()
        handler.wfile.write(body)

    # --- the targets ------------------------------------------------------------------
    def huge(self, h, n):  # 30 MiB of valid comments: over the default body_size_limit (20 MiB)
        self.send(h, (b"# " + b"x" * 1022 + b"\n") * 30 * 1024)

    def endless(self, h, n):  # chunked, never ending
        h.send_response(200)
        h.send_header("Transfer-Encoding", "chunked")
        h.end_headers()
        line = COUNTER.format(model="m", value=1).encode() * 100
        while True:
            h.wfile.write(b"%x\r\n%s\r\n" % (len(line), line))

    def slow(self, h, n):  # headers, then a byte every 0.2 s
        h.send_response(200)
        h.send_header("Content-Length", "1000000")
        h.end_headers()
        while True:
            h.wfile.write(b"#")
            h.wfile.flush()
            time.sleep(0.2)

    bomb_body = gzip.compress(b"\n" * (512 << 20), compresslevel=9)  # 512 MiB of newlines, ~0.5 MiB sent

    def bomb(self, h, n):
        self.send(h, self.bomb_body, {"Content-Encoding": "gzip"})

    def bad_gzip(self, h, n):  # says gzip, is not
        self.send(h, b"\x1f\x8b\x08\x00" + b"not gzip at all" * 100, {"Content-Encoding": "gzip"})

    def cardinality(self, h, n):  # 100k series of a family the adapter reads
        self.send(h, "".join(RUNNING.format(model=f"m{i}") for i in range(100_000)).encode())

    def long_value(self, h, n):  # a 1 MB label value
        self.send(h, RUNNING.format(model="m" * (1 << 20)).encode())

    def many_labels(self, h, n):
        labels = ",".join(f'l{i}="v"' for i in range(100))
        self.send(h, f'vllm:num_requests_running{{model_name="m",{labels}}} 1\n'.encode())

    def long_name(self, h, n):
        self.send(h, f'vllm:num_requests_running{{model_name="m",{"n" * 1000}="v"}} 1\n'.encode())

    def duplicates(self, h, n):  # the same series twice with different values; no traffic at all
        typed = "# TYPE vllm:request_success_total counter\n"
        self.send(
            h,
            (
                typed + COUNTER.format(model="dup", value=100) + COUNTER.format(model="dup", value=120)
            ).encode(),
        )

    def non_finite(self, h, n):  # +Inf on the first collection, then a sane, constant count
        value = "+Inf" if n == 1 else "7"
        body = COUNTER.format(model="inf", value=value)
        body += 'vllm:prompt_tokens_total{model_name="inf"} -42\n'
        body += 'vllm:generation_tokens_total{model_name="inf"} -Inf\n'
        self.send(h, body.encode())

    def utf8(self, h, n):
        self.send(h, RUNNING.format(model="bad\xff\xfe").encode("latin-1") + b"\xc3\x28 junk\n")

    def close(self):
        self.server.shutdown()
        self.server.server_close()


LIMIT_REASONS = {
    "huge": "body_size_limit",
    "endless": "body_size_limit",
    "bomb": "body_size_limit",
    "cardinality": "sample_limit",
    "long_value": "label_value_length_limit",
    "many_labels": "label_limit",
    "long_name": "label_name_length_limit",
    "slow": "timeout",
    "bad_gzip": "parse",
}


@pytest.fixture(scope="module")
def campaign(tmp_path_factory):
    hostile = Hostile()
    names = [*LIMIT_REASONS, "duplicates", "non_finite", "utf8"]
    config = "targets:\n" + "".join(
        f"  - {{name: {n}, kind: vllm, metrics_url: '{hostile.url(n)}',\n"
        "      scrape_interval: 2s, scrape_timeout: 1.5s}\n"
        for n in names
    )
    proc = ExporterProcess(tmp_path_factory.mktemp("targets"), config)
    yield proc, hostile
    proc.stop()
    hostile.close()


def _wait(proc: ExporterProcess, predicate, timeout: float = 30.0) -> str:
    deadline = time.monotonic() + timeout
    text = ""
    while time.monotonic() < deadline:
        text = proc.get("/metrics").text
        if predicate(text):
            return text
        time.sleep(0.3)
    raise AssertionError(f"condition not met; last /metrics:\n{text[-4000:]}")


def _peak_rss(pid: int) -> int:
    with open(f"/proc/{pid}/status") as fh:
        return next(int(line.split()[1]) * 1024 for line in fh if line.startswith("VmHWM:"))


def test_each_target_over_a_limit_fails_with_the_limits_name(campaign):
    """Defect 13: no limits on what a target may send (100k series: a 19 MB page, 10.7 s)."""
    proc, _ = campaign

    def all_failed(text: str) -> bool:
        return all(
            (sample_value(text, "inference_exporter_collection_errors_total", target=t, reason=r) or 0) >= 1
            for t, r in LIMIT_REASONS.items()
        )

    text = _wait(proc, all_failed, timeout=60)
    for target in LIMIT_REASONS:
        assert sample_value(text, "inference_exporter_target_up", target=target) == 0, target
    landing = proc.get("/").text
    for target, reason in LIMIT_REASONS.items():
        row = next(line for line in landing.splitlines() if f"<td>{target}</td>" in line)
        assert f"{reason}:" in row, row
    assert "m" * 5000 not in text + landing  # the 1 MB label value is served nowhere
    assert len(text) < 200_000  # the 100k series are not on the page
    assert _peak_rss(proc.proc.pid) < 200 << 20, "a gzip bomb or a huge body was held in memory"
    result = promtool_check_metrics(text)
    assert result.returncode == 0, result.stderr


def test_duplicate_series_never_inflate_a_counter(campaign):
    """Defect 7: two samples of one series (100, 120) counted as a reset on every collection:
    240, 440 ... 1640 in 8 s with no traffic."""
    proc, hostile = campaign
    first = _wait(
        proc, lambda t: sample_value(t, "inference_requests_total", target="duplicates") is not None
    )
    start_calls = hostile.calls["duplicates"]
    later = _wait(proc, lambda t: hostile.calls["duplicates"] >= start_calls + 3)
    values = {sample_value(x, "inference_requests_total", target="duplicates") for x in (first, later)}
    assert values == {100.0}, values
    dropped = sample_value(
        later, "inference_exporter_dropped_samples_total", target="duplicates", reason="duplicate"
    )
    assert dropped >= 3


def test_non_finite_and_negative_counter_samples_are_dropped(campaign):
    """Defect 7: a counter that was +Inf once stayed +Inf; -42 and -Inf were served as counts."""
    proc, hostile = campaign
    text = _wait(proc, lambda t: hostile.calls.get("non_finite", 0) >= 3 and "non_finite" in t)
    text = _wait(proc, lambda t: sample_value(t, "inference_requests_total", target="non_finite") == 7.0)
    assert sample_value(text, "inference_input_tokens_total", target="non_finite") is None
    assert sample_value(text, "inference_output_tokens_total", target="non_finite") is None
    for reason, least in (("non_finite", 2), ("negative", 1)):
        got = sample_value(
            text, "inference_exporter_dropped_samples_total", target="non_finite", reason=reason
        )
        assert got >= least, (reason, got)


def test_invalid_utf8_still_gives_a_valid_page(campaign):
    proc, _ = campaign
    text = _wait(proc, lambda t: sample_value(t, "inference_exporter_target_up", target="utf8") == 1)
    assert proc.get("/metrics").content.decode("utf-8")  # the page itself is valid UTF-8
    result = promtool_check_metrics(text)
    assert result.returncode == 0, result.stderr


def test_the_exporter_stays_responsive_under_the_whole_campaign(campaign):
    proc, _ = campaign
    for _ in range(20):
        t0 = time.monotonic()
        assert proc.get("/metrics", timeout=5).status_code == 200
        assert time.monotonic() - t0 < 1.0
    with socket.create_connection(("127.0.0.1", proc.port), timeout=5):
        pass
