"""Who may do what: lifecycle endpoints, cross-origin requests, TLS, client certificates, basic
auth and the web config's reload (defect 3), against a real exporter process and real TLS clients."""

from __future__ import annotations

import json
import signal
import socket
import ssl
import subprocess
import sys
import time

import pytest
from campaign import Certificates, ExporterProcess, bcrypt_hash, raw_request, statuses

CONFIG = "targets: []\n"


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    return Certificates(tmp_path_factory.mktemp("certs"))


def test_reload_is_off_by_default_and_sighup_still_reloads(tmp_path):
    """Defect 3: ``POST /-/reload`` worked for any client on any interface."""
    proc = ExporterProcess(tmp_path, CONFIG)
    try:
        resp = proc.post("/-/reload")
        assert resp.status_code == 403 and "not enabled" in resp.text
        proc.config.write_text("targets:\n  - {name: added, metrics_url: 'http://127.0.0.1:9/metrics'}\n")
        proc.proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 10
        while "added" not in proc.get("/config").text:
            assert time.monotonic() < deadline, proc.log()
            time.sleep(0.1)
    finally:
        proc.stop()


def test_lifecycle_reload_refuses_cross_origin_requests(tmp_path):
    """Defect 3: a web page (``Origin: http://evil.example``, ``text/plain``) could reload."""
    proc = ExporterProcess(tmp_path, CONFIG, "--web.enable-lifecycle")
    try:
        evil = proc.post(
            "/-/reload", data="x", headers={"Origin": "http://evil.example", "Content-Type": "text/plain"}
        )
        assert evil.status_code == 403
        fetch = proc.post("/-/reload", headers={"Sec-Fetch-Site": "cross-site"})
        assert fetch.status_code == 403
        same = proc.post("/-/reload", headers={"Origin": proc.url})
        assert same.status_code == 200 and same.json() == {"status": "success", "result": "unchanged"}
        assert proc.post("/-/reload").status_code == 200  # curl, Prometheus' tooling: no Origin
    finally:
        proc.stop()


def test_a_failed_reload_is_a_500_with_a_one_line_json_body(tmp_path):
    proc = ExporterProcess(tmp_path, CONFIG, "--web.enable-lifecycle")
    try:
        proc.config.write_text("targets:\n  - {name: x, metrics_url: 'http://[::1/m'}\n")
        resp = proc.post("/-/reload")
        assert resp.status_code == 500
        assert resp.text.count("\n") == 1 and json.loads(resp.text)["status"] == "error"
        assert "metrics_url: not a valid URL" in resp.json()["error"]
    finally:
        proc.stop()


def _web(tmp_path, text: str) -> str:
    path = tmp_path / "web.yml"
    path.write_text(text)
    return f"--web.config.file={path}"


def test_tls_with_basic_auth_and_headers(tmp_path, certs):
    web = _web(
        tmp_path,
        f"tls_server_config: {{cert_file: {certs.server}, key_file: {certs.server_key}}}\n"
        f"basic_auth_users: {{prometheus: '{bcrypt_hash('scrape-pass')}'}}\n"
        "http_server_config:\n"
        "  headers: {X-Frame-Options: deny, Strict-Transport-Security: max-age=63072000}\n",
    )
    proc = ExporterProcess(tmp_path, CONFIG, web, scheme="https", ready_kwargs={"verify": str(certs.ca)})
    try:
        ok = proc.get("/metrics", verify=str(certs.ca), auth=("prometheus", "scrape-pass"))
        assert ok.status_code == 200 and "inference_exporter_build_info" in ok.text
        assert (
            ok.headers["X-Frame-Options"] == "deny" and "max-age" in ok.headers["Strict-Transport-Security"]
        )
        for auth in (None, ("prometheus", "wrong"), ("nobody", "scrape-pass")):
            denied = proc.get("/config", verify=str(certs.ca), auth=auth)
            assert denied.status_code == 401 and denied.headers["WWW-Authenticate"].startswith("Basic")
            assert "targets" not in denied.text
        # Every endpoint but the probes is behind auth, and plain HTTP on the TLS port gets nowhere.
        for path in ("/", "/events", "/metrics", "/-/reload"):
            assert proc.get(path, verify=str(certs.ca)).status_code == 401
        assert proc.get("/-/healthy", verify=str(certs.ca)).text == "Healthy.\n"
        assert statuses(raw_request(proc.port, b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", timeout=3)) == []
        assert (
            proc.get("/metrics", verify=str(certs.ca), auth=("prometheus", "scrape-pass")).status_code == 200
        )
    finally:
        proc.stop()


def test_client_certificates_and_minimum_tls_version(tmp_path, certs):
    web = _web(
        tmp_path,
        f"tls_server_config:\n  cert_file: {certs.server}\n  key_file: {certs.server_key}\n"
        f"  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: {certs.ca}\n"
        "  min_version: TLS13\n",
    )
    proc = ExporterProcess(tmp_path, CONFIG, web, scheme="https", wait=False)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                with (
                    socket.create_connection(("127.0.0.1", proc.port), timeout=5) as raw,
                    certs.client_context().wrap_socket(raw, server_hostname="127.0.0.1") as tls,
                ):
                    tls.sendall(b"GET /-/healthy HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                    assert tls.recv(100).startswith(b"HTTP/1.1 200")
                    assert tls.version() == "TLSv1.3"
                break
            except ConnectionRefusedError:
                assert time.monotonic() < deadline and proc.proc.poll() is None, proc.log()
                time.sleep(0.2)
        # No client certificate: the handshake (or the first read) fails.
        anonymous = certs.client_context(with_cert=False)
        with (
            pytest.raises((ssl.SSLError, ConnectionResetError, BrokenPipeError)),
            socket.create_connection(("127.0.0.1", proc.port), timeout=5) as raw,
            anonymous.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
        ):
            tls.sendall(b"GET /-/healthy HTTP/1.1\r\nHost: x\r\n\r\n")
            if not tls.recv(100):
                raise ConnectionResetError
        # A client that stops at TLS 1.2 is refused.
        old = certs.client_context()
        old.maximum_version = ssl.TLSVersion.TLSv1_2
        with (
            pytest.raises(ssl.SSLError),
            socket.create_connection(("127.0.0.1", proc.port), timeout=5) as raw,
        ):
            old.wrap_socket(raw, server_hostname="127.0.0.1")
    finally:
        proc.stop()


def test_a_silent_tls_client_stalls_nobody(tmp_path, certs):
    """A client that connects and never sends a ClientHello must not delay other handshakes."""
    web = _web(tmp_path, f"tls_server_config: {{cert_file: {certs.server}, key_file: {certs.server_key}}}\n")
    proc = ExporterProcess(tmp_path, CONFIG, web, scheme="https", ready_kwargs={"verify": str(certs.ca)})
    silent = [socket.create_connection(("127.0.0.1", proc.port)) for _ in range(20)]
    try:
        t0 = time.monotonic()
        assert proc.get("/-/healthy", verify=str(certs.ca), timeout=5).status_code == 200
        assert time.monotonic() - t0 < 1.0
    finally:
        for s in silent:
            s.close()
        proc.stop()


def test_the_web_config_is_reloaded_on_sighup_and_a_bad_one_is_refused(tmp_path, certs):
    web_file = tmp_path / "web.yml"
    web_file.write_text(f"basic_auth_users: {{admin: '{bcrypt_hash('first')}'}}\n")
    proc = ExporterProcess(tmp_path, CONFIG, f"--web.config.file={web_file}", "--web.enable-lifecycle")
    try:
        assert proc.get("/metrics", auth=("admin", "first")).status_code == 200
        web_file.write_text(f"basic_auth_users: {{admin: '{bcrypt_hash('second')}'}}\n")
        proc.proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 10
        while proc.get("/metrics", auth=("admin", "second")).status_code != 200:
            assert time.monotonic() < deadline, proc.log()
            time.sleep(0.1)
        assert proc.get("/metrics", auth=("admin", "first")).status_code == 401
        # A bad web config at reload keeps the running one and fails the reload.
        web_file.write_text("basic_auth_users: {admin: plain-text-password}\n")
        resp = proc.post("/-/reload", auth=("admin", "second"))
        assert resp.status_code == 500 and "bcrypt" in resp.json()["error"]
        assert "plain-text-password" not in resp.text + proc.log()
        assert proc.get("/metrics", auth=("admin", "second")).status_code == 200
        # The page shows the failed reload on its next render (at most a render beat later).
        deadline = time.monotonic() + 10
        while "inference_exporter_config_last_reload_successful 0" not in (
            proc.get("/metrics", auth=("admin", "second")).text
        ):
            assert time.monotonic() < deadline, proc.log()
            time.sleep(0.1)
    finally:
        proc.stop()


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("tls_server_config: {cert_file: /nope.crt, key_file: /nope.key}\n", "does not exist"),
        ("tls_server_config: {cipher_suites: [TLS_AES_128_GCM_SHA256]}\n", "not supported"),
        (
            "tls_server_config: {cert_file: C, key_file: K, client_auth_type: RequireAnyClientCert}\n",
            "not supported",
        ),
        (
            "tls_server_config: {cert_file: C, key_file: K, client_auth_type: RequireAndVerifyClientCert}\n",
            "client_ca_file",
        ),
        ("tls_server_config: {cert_file: C, key_file: K, min_version: TLS14}\n", "min_version"),
        ("http_server_config: {headers: {Set-Cookie: a=b}}\n", "not settable"),
        ("basic_auth_users: {u: hunter2}\n", "bcrypt"),
        ("colour: red\n", "unknown key"),
    ],
)
def test_a_bad_web_config_stops_start_up_with_one_line(tmp_path, certs, text, problem):
    text = text.replace("cert_file: C", f"cert_file: {certs.server}").replace(
        "key_file: K", f"key_file: {certs.server_key}"
    )
    web = _web(tmp_path, text)
    (tmp_path / "c.yml").write_text(CONFIG)
    run = subprocess.run(
        [sys.executable, "-m", "inference_exporter", "check-config", str(tmp_path / "c.yml"), web],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert run.returncode == 2 and problem in run.stderr and run.stderr.count("\n") == 1, run.stderr
    assert "hunter2" not in run.stderr
    start = subprocess.run(
        [sys.executable, "-m", "inference_exporter", f"--config.file={tmp_path / 'c.yml'}", web,
         "--web.listen-address=127.0.0.1:0", f"--journal.path={tmp_path / 'j'}"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert start.returncode == 2 and problem in start.stderr and "Traceback" not in start.stderr
