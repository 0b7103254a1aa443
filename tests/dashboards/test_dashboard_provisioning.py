"""Grafana provisioning files: a Prometheus datasource and a file provider for the dashboards."""

from __future__ import annotations

import yaml
from board_walk import ROOT

PROVISIONING = ROOT / "deploy" / "grafana" / "provisioning"


def test_datasource_is_prometheus_from_the_environment():
    doc = yaml.safe_load((PROVISIONING / "datasources" / "inference.yml").read_text())
    assert doc["apiVersion"] == 1
    (ds,) = doc["datasources"]
    assert ds["type"] == "prometheus" and ds["access"] == "proxy"
    assert ds["url"] == "${PROMETHEUS_URL}"
    assert ds["jsonData"]["timeInterval"].endswith("s")  # what $__rate_interval is built from


def test_dashboard_provider_loads_the_generated_folder_read_only():
    doc = yaml.safe_load((PROVISIONING / "dashboards" / "inference.yml").read_text())
    (provider,) = doc["providers"]
    assert provider["type"] == "file"
    assert provider["options"]["path"] == "${INFERENCE_DASHBOARDS_DIR}"
    assert provider["allowUiUpdates"] is False and provider["disableDeletion"] is True


def test_readme_documents_both_variables_and_the_configmap_command():
    text = (ROOT / "deploy" / "grafana" / "README.md").read_text()
    for needle in (
        "PROMETHEUS_URL",
        "INFERENCE_DASHBOARDS_DIR",
        "generate.py --configmaps",
        "grafana_dashboard",
    ):
        assert needle in text, needle
