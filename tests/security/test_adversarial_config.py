"""Adversarial configs: every failure of check-config and of a reload is one line and exit 2 (or
a failed reload), whatever the exception (defects 9, 10, 11); ``tls.server_name`` is applied
(defect 12); a client refusing gzip gets none (defect 13)."""

from __future__ import annotations

import http.server
import resource
import signal
import ssl
import subprocess
import sys
import threading
import time

import pytest
from campaign import Certificates, ExporterProcess
from helpers import sample_value

CANARY = """targets:
  - name: t
    kind: triton
    metrics_url: http://127.0.0.1:9/metrics
    models:
      - name: m
        canaries:
          - id: c
            path: /v2/models/m/infer
            body: {body}
"""
# 650 bytes of nested aliases: 10^9 leaves once expanded.
LAUGHS = "\n".join(
    ["a: &a [x, x, x, x, x, x, x, x, x, x]"]
    + [f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 10)}]" for i in range(8)]
)


def _limited_memory():
    resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))  # a runaway read fails fast


def check_config(path, timeout: float = 30.0) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "inference_exporter", "check-config", str(path)],
        capture_output=True, text=True, timeout=timeout, preexec_fn=_limited_memory,
    )  # fmt: skip


ADVERSARIAL = {
    "unclosed IPv6 bracket": ("targets:\n  - {name: t, metrics_url: 'http://[::1/m'}\n", "not a valid URL"),
    "10k-deep nesting": ("targets: " + "[" * 10000 + "]" * 10000 + "\n", "nested too deeply"),
    "reference_file is /dev/zero": (
        CANARY.format(body="{inputs: []}").replace(
            "body: {inputs: []}",
            "body: {inputs: []}\n            expect: {embedding: {path: x, reference_file: /dev/zero}}",
        ),
        "not a regular file",
    ),
    "alias bomb in a canary body": (
        LAUGHS + "\n" + CANARY.format(body="*i"),
        "aliases",
    ),
    "NaN interval": ("global: {scrape_interval: .nan}\ntargets: []\n", "scrape_interval"),
    "infinite interval": ("global: {scrape_interval: .inf}\ntargets: []\n", "scrape_interval"),
    "astronomic interval": ("global: {scrape_interval: 99999999999999h}\ntargets: []\n", "scrape_interval"),
    "astronomic number": ("global: {scrape_interval: 1e300}\ntargets: []\n", "scrape_interval"),
    "microsecond interval": (
        "global: {scrape_interval: 0.000001s}\ntargets: []\n",
        "shorter than the minimum",
    ),
    "microsecond timeout": (
        "targets:\n  - {name: t, metrics_url: 'http://h/m', scrape_timeout: 0.000001}\n",
        "shorter than the minimum",
    ),
    "microsecond health interval": (
        "targets:\n  - {name: t, metrics_url: 'http://h/m', health: {interval: 0.000001s}}\n",
        "health.interval",
    ),
    "config is a directory": (None, "is a directory"),
    "body_size_limit of zero": (
        "targets:\n  - {name: t, metrics_url: 'http://h/m', body_size_limit: 0}\n",
        "body_size_limit",
    ),
    "both size limit names": (
        "targets:\n  - {name: t, metrics_url: 'http://h/m', body_size_limit: 1MB,\n"
        "      max_response_bytes: 4096}\n",
        "old name of body_size_limit",
    ),
    "binary garbage": ("\x00\x01\x02 ]]] {{{ \x7f\n", "invalid YAML"),
}


@pytest.mark.parametrize("case", sorted(ADVERSARIAL))
def test_check_config_answers_one_line_and_exit_2(tmp_path, case):
    text, words = ADVERSARIAL[case]
    path = tmp_path / "c.yml"
    if text is None:
        path.mkdir()
    else:
        path.write_text(text)
    t0 = time.monotonic()
    out = check_config(path)
    assert out.returncode == 2, f"{case}: exit {out.returncode}\n{out.stderr[-2000:]}"
    assert out.stderr.count("\n") == 1 and words in out.stderr, f"{case}: {out.stderr[-2000:]}"
    assert time.monotonic() - t0 < 20, case


def test_a_compatible_max_response_bytes_still_reads(tmp_path):
    path = tmp_path / "c.yml"
    path.write_text("targets:\n  - {name: t, metrics_url: 'http://h/m', max_response_bytes: 1048576}\n")
    assert check_config(path).returncode == 0
    from inference_exporter.config import load

    assert load(str(path)).targets[0].limits.body_size_limit == 1 << 20


def test_a_reload_that_crashes_the_loader_keeps_running_and_reports(tmp_path):
    """Defect 9: on a non-config exception the reload thread died with a traceback, the reload
    gauge stayed 1 and no event was written. Reloaded by SIGHUP, which always works."""
    proc = ExporterProcess(tmp_path, "targets: []\n")
    try:
        for bad in ("targets: " + "[" * 10000 + "]" * 10000 + "\n", LAUGHS + "\n" + CANARY.format(body="*i")):
            proc.config.write_text(bad)
            proc.proc.send_signal(signal.SIGHUP)
            deadline = time.monotonic() + 20
            while True:
                text = proc.get("/metrics").text
                if sample_value(text, "inference_exporter_config_last_reload_successful") == 0:
                    break
                assert time.monotonic() < deadline, proc.log()
                time.sleep(0.2)
            t0 = time.monotonic()
            assert proc.get("/metrics", timeout=5).status_code == 200
            assert time.monotonic() - t0 < 1.0
            proc.config.write_text("targets: []\n")
            proc.proc.send_signal(signal.SIGHUP)
            time.sleep(0.5)
        events = proc.get("/events?type=config_reload_failed").json()["events"]
        assert len(events) == 2
        assert "Traceback" not in proc.log()
    finally:
        proc.stop()


class _TLSTarget:
    """An HTTPS target whose certificate names only ``model.internal``; records the SNI it got."""

    def __init__(self, certs: Certificates):
        self.crt, self.key = certs._issue("named", "subjectAltName=DNS:model.internal")
        self.sni: list[str | None] = []
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(str(self.crt), str(self.key))
        ctx.sni_callback = lambda sock, name, _ctx: self.sni.append(name)

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):  # noqa: N802
                body = b'nv_inference_request_success{model="m",version="1"} 3\n'
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.socket = ctx.wrap_socket(self.server.socket, server_side=True)
        self.url = f"https://127.0.0.1:{self.server.server_address[1]}/metrics"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def test_tls_server_name_is_sent_and_verified(tmp_path):
    """Defect 12: ``tls.server_name`` was validated and then ignored."""
    certs = Certificates(tmp_path / "certs")
    target = _TLSTarget(certs)
    config = "targets:\n" + "".join(
        f"  - {{name: {name}, kind: triton, metrics_url: '{target.url}', scrape_interval: 0.5s,"
        f" tls: {{ca_file: {certs.ca}, server_name: {server}}}}}\n"
        for name, server in (("right", "model.internal"), ("wrong", "other.internal"))
    )
    proc = ExporterProcess(tmp_path, config)
    try:
        deadline = time.monotonic() + 20
        while True:
            text = proc.get("/metrics").text
            tried = sample_value(text, "inference_exporter_collections_total", target="wrong")
            if tried and sample_value(text, "inference_exporter_target_up", target="right") == 1:
                break
            assert time.monotonic() < deadline, text[-3000:] + proc.log()
            time.sleep(0.2)
        assert sample_value(text, "inference_exporter_target_up", target="wrong") == 0
        assert (
            sample_value(text, "inference_exporter_collection_errors_total", target="wrong", reason="tls")
            >= 1
        )
        assert "model.internal" in target.sni
    finally:
        proc.stop()
        target.close()


def test_a_client_refusing_gzip_gets_none(tmp_path):
    """Defect 13: ``Accept-Encoding: gzip;q=0`` was answered with gzip anyway."""
    proc = ExporterProcess(tmp_path, "targets: []\n")
    try:
        for refusal in ("gzip;q=0", "gzip; q=0.0, identity", "identity, gzip;q=0"):
            resp = proc.get("/metrics", headers={"Accept-Encoding": refusal})
            assert "Content-Encoding" not in resp.headers, refusal
        assert (
            proc.get("/metrics", headers={"Accept-Encoding": "gzip;q=0.5"}).headers["Content-Encoding"]
            == "gzip"
        )
    finally:
        proc.stop()
