"""Targets from files in Prometheus' file_sd format; a reload applies only the difference."""

import json
import logging
import os
import time

import pytest
from inference_exporter.config import ConfigError, loads
from inference_exporter.exporter import Exporter
from inference_exporter.file_sd import FileDiscovery


def write(path, groups):
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(groups) if path.suffix == ".json" else groups)
    os.replace(tmp, path)


def config(tmp_path, body: str = "    kind: vllm\n"):
    path = tmp_path / "exporter.yml"
    path.write_text(
        "global: {scrape_interval: 15s, labels: {cluster: c1}}\n"
        "target_files:\n  - files: [targets/*.json, targets/*.yml]\n" + body
    )
    return loads(path.read_text(), str(path))


def test_groups_become_targets_with_the_entry_settings(tmp_path):
    (tmp_path / "targets").mkdir()
    write(
        tmp_path / "targets" / "a.json",
        [
            {"targets": ["10.0.0.1:8000", "10.0.0.2:8000"], "labels": {"team": "search"}},
            {
                "targets": ["10.0.0.3:9000"],
                "labels": {"__scheme__": "https", "__metrics_path__": "/m", "__target_name__": "ranker-0",
                           "__meta_kubernetes_pod_name": "dropped"},
            },
        ],
    )  # fmt: skip
    (tmp_path / "targets" / "b.yml").write_text(
        "- targets: ['10.0.1.1:8000']\n  labels: {__kind__: triton}\n"
    )
    targets = {t.name: t for t in FileDiscovery(config(tmp_path).target_files).targets()}
    assert set(targets) == {"10.0.0.1:8000", "10.0.0.2:8000", "ranker-0", "10.0.1.1:8000"}
    one = targets["10.0.0.1:8000"]
    assert one.metrics_url == "http://10.0.0.1:8000/metrics" and one.kind == "vllm"
    assert dict(one.labels) == {"cluster": "c1", "team": "search"}
    assert one.scrape_interval == 15.0
    ranker = targets["ranker-0"]
    assert ranker.metrics_url == "https://10.0.0.3:9000/m" and dict(ranker.labels) == {"cluster": "c1"}
    assert targets["10.0.1.1:8000"].kind == "triton"


def test_a_broken_file_keeps_its_last_good_targets_and_a_removed_file_drops_them(tmp_path, caplog):
    (tmp_path / "targets").mkdir()
    path = tmp_path / "targets" / "a.json"
    write(path, [{"targets": ["10.0.0.1:8000"]}])
    discovery = FileDiscovery(config(tmp_path).target_files)
    assert [t.name for t in discovery.targets()] == ["10.0.0.1:8000"]
    path.write_text("[{not json")
    with caplog.at_level(logging.ERROR):
        assert discovery.refresh()
    assert [t.name for t in discovery.targets()] == ["10.0.0.1:8000"]
    assert "invalid JSON" in discovery.errors[str(path)]
    path.unlink()
    assert discovery.refresh()
    assert discovery.targets() == []


def test_wrong_groups_are_skipped_and_the_rest_is_used(tmp_path, caplog):
    (tmp_path / "targets").mkdir()
    write(
        tmp_path / "targets" / "a.json",
        [
            {"targets": ["10.0.0.1:8000"], "labels": {"job": "reserved"}},
            {"targets": ["10.0.0.2:8000"], "labels": {"__scheme__": "ftp"}},
            {"targets": ["10.0.0.3:8000", "10.0.0.4:8000"], "labels": {"__target_name__": "one"}},
            {"targets": ["http://10.0.0.5:8000"]},
            {"targets": ["10.0.0.6:8000"]},
            {"targets": ["10.0.0.6:8000"]},
        ],
    )
    with caplog.at_level(logging.ERROR):
        discovery = FileDiscovery(config(tmp_path).target_files)
        assert [t.name for t in discovery.targets()] == ["10.0.0.6:8000"]
    assert len([r for r in caplog.records if r.getMessage() == "target group skipped"]) == 4
    assert "listed twice" in next(iter(discovery.errors.values()))


def test_the_entry_settings_are_checked_like_a_target(tmp_path):
    with pytest.raises(ConfigError, match=r"target_files\[0\]\.scrape_timeout"):
        config(tmp_path, "    scrape_interval: 5s\n    scrape_timeout: 10s\n")
    with pytest.raises(ConfigError, match=r"target_files\[0\]\.metrics_url: unknown key"):
        config(tmp_path, "    metrics_url: http://x/metrics\n")


def test_reload_adds_and_removes_without_touching_the_others(tmp_path):
    (tmp_path / "targets").mkdir()
    path = tmp_path / "targets" / "fleet.json"

    def fleet(indices):
        write(path, [{"targets": [f"10.0.{i // 200}.{i % 200}:8000"]} for i in indices])

    fleet(range(2000))
    exporter = Exporter(config(tmp_path))
    before = {s.source.name: s for s in exporter.scheduler.states}
    assert len(before) == 2000
    fleet(range(500, 3000))  # 500 gone, 1000 new, 1500 kept
    t0 = time.monotonic()
    assert exporter.reload() == (True, "reloaded")
    took = time.monotonic() - t0
    after = {s.source.name: s for s in exporter.scheduler.states}
    assert len(after) == 2500
    kept = set(before) & set(after)
    assert len(kept) == 1500
    assert all(after[n] is before[n] for n in kept), "a kept target keeps its state and schedule"
    assert exporter.reload() == (True, "unchanged")
    print(f"reload of 2000 -> 2500 targets (1000 added, 500 removed): {took:.2f} s")


def test_body_size_limit_raises_the_limit_for_a_big_target(tmp_path):
    """A 120k-series page is over the default 20 MiB limit; body_size_limit (Prometheus' key and
    units) lets that one target through."""
    from fake_targets import FakeTarget
    from inference_exporter.scrape import TargetScraper

    line = 'vllm:num_requests_running{engine="0",model_name="model-%06d"} 1\n'
    page = "# TYPE vllm:num_requests_running gauge\n" + "".join(line % i for i in range(340_000))
    assert len(page) > 20 * 2**20
    target = FakeTarget(page)
    try:
        for extra, ok in (("", False), ("    body_size_limit: 64MB\n    sample_limit: 400000\n", True)):
            cfg = loads(f"targets:\n  - name: big\n    kind: vllm\n    metrics_url: {target.url}\n" + extra)
            assert cfg.targets[0].limits.body_size_limit == (64 * 2**20 if ok else 20 * 2**20)
            result = TargetScraper(cfg.targets[0]).collect()
            assert result.ok is ok, (result.reason, result.message)
            if not ok:
                assert result.reason == "body_size_limit"
    finally:
        target.close()
    with pytest.raises(ConfigError, match="body_size_limit"):
        loads("targets:\n  - name: t\n    metrics_url: http://x/metrics\n    body_size_limit: 64 parsecs\n")
    with pytest.raises(ConfigError, match="old name of body_size_limit"):
        loads(
            "targets:\n  - name: t\n    metrics_url: http://x/metrics\n"
            "    body_size_limit: 64MB\n    max_response_bytes: 4096\n"
        )
