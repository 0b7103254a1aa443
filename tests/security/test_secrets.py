"""No secret on any surface (defect 2): marker secrets planted in every secret-bearing config
field, then every surface grepped for them: the landing page, /config, /events, /metrics, the
log at debug level, the journal files, check-config's and the reload's error output."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from campaign import Certificates, ExporterProcess

MARKERS = {
    "token_inner_newline": "TOKENPART-7f3a9",  # a bearer token file with a line break inside
    "token_file": "BEARERMARK-51c2e",
    "password_file": "PASSWORDMARK-0d8b4",
    "metrics_query": "QUERYMARK-ae77f",
    "api_query": "APIQUERYMARK-3b1d0",
    "management_query": "MGMTMARK-c09e2",
    "canary_body": "CANARYMARK-5e6f1",
    "shadow_file": "SHADOWHASH-92ad3",  # a file that is not a token at all, e.g. /etc/shadow
}


class _Api:
    """Answers 401 to the metrics and API calls, so every credential is exercised and fails."""

    def __init__(self):
        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _answer(self):
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                self.send_response(401)
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_GET = do_POST = _answer  # noqa: N815

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def _planted(tmp_path, api: _Api) -> str:
    (tmp_path / "newline-token").write_text(f"first-line\n{MARKERS['token_inner_newline']}\n")
    (tmp_path / "token").write_text(MARKERS["token_file"] + "\n")
    (tmp_path / "password").write_text(MARKERS["password_file"] + "\n")
    (tmp_path / "shadow").write_text(
        f"root:$6$salt${MARKERS['shadow_file']}:19000:0:99999:7:::\nbin:*:1:0:::\n"
    )
    closed = "http://127.0.0.1:9"  # nothing listens: connection errors quote the URL
    return f"""
global: {{scrape_interval: 0.5s, scrape_timeout: 0.4s}}
targets:
  - name: newline
    metrics_url: {api.base}/metrics
    bearer_token_file: newline-token
  - name: shadow
    metrics_url: {api.base}/metrics
    bearer_token_file: shadow
  - name: query
    metrics_url: "{closed}/metrics?token={MARKERS["metrics_query"]}"
  - name: full
    kind: triton
    metrics_url: {api.base}/metrics
    api_url: "{api.base}/?key={MARKERS["api_query"]}"
    basic_auth: {{username: scraper, password_file: password}}
    health:
      interval: 0.5s
      timeout: 0.4s
      management_url: "{api.base}/?m={MARKERS["management_query"]}"
    models:
      - name: ranker
        canaries:
          - id: c1
            path: /v2/models/ranker/infer
            every: 1ms
            secret: true
            body: {{inputs: [{{name: q, data: ["{MARKERS["canary_body"]}"]}}]}}
  - name: tokened
    metrics_url: {api.base}/metrics
    bearer_token_file: token
"""


def _leaks(text: str) -> list[str]:
    return [name for name, marker in MARKERS.items() if marker in text]


def test_no_marker_secret_appears_on_any_surface(tmp_path):
    api = _Api()
    config = _planted(tmp_path, api)
    proc = ExporterProcess(tmp_path, config, "--log.level=debug")
    try:
        time.sleep(3)  # several failed collections, probes and canary runs
        surfaces = {path: proc.get(path).text for path in ("/", "/config", "/events", "/metrics")}
        assert "<td>newline</td>" in surfaces["/"] and "auth" in surfaces["/"]
        # A reload that fails on a mapping file that is a shadow file, and one that succeeds.
        bad = config + f"  - {{name: g, kind: generic, metrics_url: '{api.base}/m', mapping_file: shadow}}\n"
        proc.config.write_text(bad)
        proc.proc.send_signal(signal.SIGHUP)
        time.sleep(1)
        proc.config.write_text(config)
        proc.proc.send_signal(signal.SIGHUP)
        time.sleep(1)
        surfaces["/events after reloads"] = proc.get("/events").text
        check = subprocess.run(
            [sys.executable, "-m", "inference_exporter", "check-config", str(proc.config)],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        (tmp_path / "bad.yml").write_text(bad)
        bad_check = subprocess.run(
            [sys.executable, "-m", "inference_exporter", "check-config", str(tmp_path / "bad.yml")],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert bad_check.returncode == 2 and "mapping_file" in bad_check.stderr
        surfaces["check-config"] = check.stdout + check.stderr + bad_check.stdout + bad_check.stderr
        proc.stop()
        surfaces["log"] = proc.log()
        surfaces["journal"] = "".join(p.read_text() for p in sorted(proc.journal.glob("events-*.jsonl")))
        assert "config_reload_failed" in surfaces["journal"]
        for name, text in surfaces.items():
            assert not _leaks(text), f"{name} shows {_leaks(text)}"
        assert "<redacted>" in surfaces["/config"]
    finally:
        proc.stop()
        api.close()


def test_a_failed_reload_answer_never_quotes_a_file(tmp_path):
    (tmp_path / "shadow").write_text(f"root:$6$salt${MARKERS['shadow_file']}:19000:0:99999:7:::\n")
    proc = ExporterProcess(tmp_path, "targets: []\n", "--web.enable-lifecycle")
    try:
        proc.config.write_text(
            "targets:\n  - {name: g, kind: generic, metrics_url: 'http://h/m', mapping_file: shadow}\n"
        )
        answer = proc.post("/-/reload")
        assert answer.status_code == 500 and "mapping_file" in answer.json()["error"]
        assert not _leaks(answer.text + proc.get("/events").text + proc.log())
    finally:
        proc.stop()


def test_tls_private_keys_never_appear(tmp_path):
    """A key file given where a certificate belongs, or a CA file that is a key: no message quotes it."""
    certs = Certificates(tmp_path / "certs")
    key_text = certs.server_key.read_text()
    body_line = key_text.splitlines()[3]
    web = tmp_path / "web.yml"
    web.write_text(f"tls_server_config: {{cert_file: {certs.server_key}, key_file: {certs.server_key}}}\n")
    config = tmp_path / "c.yml"
    config.write_text(
        "targets:\n  - {name: t, metrics_url: 'https://127.0.0.1:9/m',\n"
        f"      tls: {{ca_file: {certs.server_key}}}}}\n"
    )
    out = subprocess.run(
        [sys.executable, "-m", "inference_exporter", "check-config", str(config), f"--web.config.file={web}"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert out.returncode == 2 and "cert_file" in out.stderr
    assert body_line not in out.stderr and "PRIVATE KEY" not in out.stderr


@pytest.mark.parametrize("field", ["bearer_token_file", "password_file"])
def test_a_secret_file_that_is_a_directory_or_device_says_so(tmp_path, field):
    """Defect 13: a directory or /dev/zero was reported as "file does not exist"."""
    for path, words in ((tmp_path, "is a directory"), ("/dev/zero", "not a regular file")):
        auth = (
            f"bearer_token_file: {path}"
            if field == "bearer_token_file"
            else f"basic_auth: {{username: u, password_file: {path}}}"
        )
        (tmp_path / "c.yml").write_text(f"targets:\n  - {{name: t, metrics_url: 'http://h/m', {auth}}}\n")
        out = subprocess.run(
            [sys.executable, "-m", "inference_exporter", "check-config", str(tmp_path / "c.yml")],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert out.returncode == 2 and words in out.stderr, out.stderr
        assert json.dumps(out.stderr).count("\\n") == 1
