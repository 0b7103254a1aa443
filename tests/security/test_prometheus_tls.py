"""A real Prometheus scrapes the exporter over TLS with basic auth and a client certificate,
as the Kubernetes ServiceMonitor/PodMonitor in docs/security.md configures it."""

from __future__ import annotations

import pytest
from campaign import Certificates, ExporterProcess, bcrypt_hash
from fake_targets import FakeTarget
from helpers import read_fixture
from inference_devtools.prom import Prometheus

pytestmark = pytest.mark.prometheus


def test_prometheus_scrapes_over_tls_with_basic_auth_and_a_client_certificate(tmp_path):
    certs = Certificates(tmp_path / "certs")
    target = FakeTarget(read_fixture("vllm/vllm-v1-two-engines.prom"))
    web = tmp_path / "web.yml"
    web.write_text(
        "tls_server_config:\n"
        f"  cert_file: {certs.server}\n  key_file: {certs.server_key}\n"
        f"  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: {certs.ca}\n"
        f"basic_auth_users:\n  prometheus: '{bcrypt_hash('scrape-secret')}'\n"
    )
    (tmp_path / "password").write_text("scrape-secret\n")
    (tmp_path / "wrong").write_text("not-it\n")
    exporter = ExporterProcess(
        tmp_path,
        f"targets:\n  - {{name: llm, kind: vllm, metrics_url: '{target.url}', scrape_interval: 1s}}\n",
        f"--web.config.file={web}",
        scheme="https",
        wait=False,
    )
    job = """
  - job_name: {name}
    scrape_interval: 1s
    scheme: https
    tls_config: {{ca_file: {ca}, cert_file: {cert}, key_file: {key}, server_name: localhost}}
    basic_auth: {{username: prometheus, password_file: {password}}}
    static_configs: [{{targets: ['127.0.0.1:{port}']}}]
"""
    jobs = "".join(
        job.format(
            name=name,
            ca=certs.ca,
            cert=certs.client,
            key=certs.client_key,
            password=tmp_path / pw,
            port=exporter.port,
        )
        for name, pw in (("sidecar", "password"), ("wrong_password", "wrong"))
    )
    prom = Prometheus(tmp_path / "prom", "global: {scrape_interval: 1s}\nscrape_configs:" + jobs)
    try:
        up = prom.wait_for('up{job="sidecar"}', lambda r: r and r[0]["value"][1] == "1", timeout=60)
        assert up
        prom.wait_for(
            'inference_requests_total{job="sidecar", server="vllm"}', lambda r: len(r) > 0, timeout=30
        )
        wrong = prom.wait_for('up{job="wrong_password"}', lambda r: bool(r), timeout=30)
        assert wrong[0]["value"][1] == "0"
    finally:
        prom.close()
        exporter.stop()
        target.close()
