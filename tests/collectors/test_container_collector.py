"""Container collector against fixture trees of real cgroup layouts and this machine's own cgroup."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from helpers import FIXTURES, promtool_check_metrics, sample_value
from inference_exporter import exposition
from inference_exporter.builder import Builder
from inference_exporter.collectors.container import ContainerCollector

CGROUPS = FIXTURES / "cgroup"
GiB = 1024**3


def collector_for(tree: str) -> ContainerCollector:
    root = CGROUPS / tree
    return ContainerCollector(cgroup_root=root / "sys/fs/cgroup", proc_root=root / "proc")


def render(collector: ContainerCollector) -> str:
    b = Builder()
    collector.collect(b)
    return exposition.render_snapshots([b.finish()]).text.decode()


def test_v2_throttled_pod_without_cgroup_namespace():
    text = render(collector_for("v2/throttled"))
    assert sample_value(text, "inference_container_cpu_usage_seconds_total") == pytest.approx(8123.456789)
    assert sample_value(text, "inference_container_cpu_quota_cores") == 2
    assert sample_value(text, "inference_container_cpu_periods_total") == 120000
    assert sample_value(text, "inference_container_cpu_throttled_periods_total") == 45000
    assert sample_value(text, "inference_container_cpu_throttled_seconds_total") == pytest.approx(987.654321)
    assert sample_value(text, "inference_container_memory_usage_bytes") == 6 * GiB
    assert sample_value(text, "inference_container_memory_limit_bytes") == 8 * GiB
    assert (
        sample_value(text, "inference_container_memory_working_set_bytes") == 5 * GiB
    )  # minus inactive_file
    assert sample_value(text, "inference_container_oom_kills_total") == 0


def test_v2_oom_killed_container_with_cgroup_namespace():
    text = render(collector_for("v2/oom_killed"))
    assert sample_value(text, "inference_container_oom_kills_total") == 2
    assert sample_value(text, "inference_container_memory_limit_bytes") == 512 * 1024**2
    assert sample_value(text, "inference_container_cpu_quota_cores") is None  # cpu.max "max"
    assert sample_value(text, "inference_container_cpu_usage_seconds_total") == 52


def test_v2_nested_cgroup_is_read_not_the_root():
    text = render(collector_for("v2/systemd_service"))
    assert sample_value(text, "inference_container_cpu_usage_seconds_total") == 4.5
    assert sample_value(text, "inference_container_cpu_quota_cores") == 0.5
    assert sample_value(text, "inference_container_memory_limit_bytes") is None  # memory.max "max"
    assert sample_value(text, "inference_container_memory_working_set_bytes") == 100 * 1024**2 - 10 * 1024**2


def test_v1_throttled_and_oom_killed_docker_container():
    collector = collector_for("v1/throttled_oom")
    text = render(collector)
    assert collector.version == 1
    assert sample_value(text, "inference_container_cpu_usage_seconds_total") == pytest.approx(734.567890123)
    assert sample_value(text, "inference_container_cpu_quota_cores") == 1.5
    assert sample_value(text, "inference_container_cpu_periods_total") == 86400
    assert sample_value(text, "inference_container_cpu_throttled_periods_total") == 12000
    assert sample_value(text, "inference_container_cpu_throttled_seconds_total") == pytest.approx(
        345.678901234
    )
    assert sample_value(text, "inference_container_memory_usage_bytes") == 2 * GiB
    assert sample_value(text, "inference_container_memory_limit_bytes") == 4 * GiB
    assert sample_value(text, "inference_container_memory_working_set_bytes") == 1.5 * GiB
    assert sample_value(text, "inference_container_oom_kills_total") == 1


def test_v1_unlimited_gives_no_limit_series():
    text = render(collector_for("v1/unlimited"))
    assert sample_value(text, "inference_container_memory_limit_bytes") is None
    assert sample_value(text, "inference_container_cpu_quota_cores") is None
    # hierarchical total_inactive_file, not the cgroup's own inactive_file
    assert sample_value(text, "inference_container_memory_working_set_bytes") == 888365056 - 428826624


def test_missing_files_give_no_series_and_one_log_line(caplog):
    collector = collector_for("v2/host_root")
    with caplog.at_level(logging.INFO, logger="inference_exporter"):
        texts = [render(collector) for _ in range(3)]
    assert texts[0] == texts[2]
    assert [line for line in texts[0].splitlines() if not line.startswith("#")] == [
        "inference_container_cpu_usage_seconds_total 912345.678901"
    ]
    assert len(caplog.records) == 1
    assert caplog.records[0].missing == "cpu.max,memory,memory.max,memory.events"


def test_not_in_any_cgroup_gives_nothing_and_one_log_line(tmp_path, caplog):
    collector = ContainerCollector(cgroup_root=tmp_path / "sys/fs/cgroup", proc_root=tmp_path / "proc")
    with caplog.at_level(logging.INFO, logger="inference_exporter"):
        texts = [render(collector) for _ in range(3)]
    assert texts == ["", "", ""]
    assert len(caplog.records) == 1


def real_cgroup_files() -> bool:
    return Path("/proc/self/cgroup").exists() and Path("/sys/fs/cgroup").is_dir()


@pytest.mark.skipif(not real_cgroup_files(), reason="this machine has no cgroup filesystem")
def test_this_machines_cgroup():
    collector = ContainerCollector()
    first = render(collector)
    second = render(collector)
    usage = sample_value(first, "inference_container_cpu_usage_seconds_total")
    assert usage is not None and usage > 0
    assert sample_value(second, "inference_container_cpu_usage_seconds_total") >= usage
    memory = sample_value(first, "inference_container_memory_usage_bytes")
    if memory is not None:
        working_set = sample_value(first, "inference_container_memory_working_set_bytes")
        assert 0 <= working_set <= memory
        limit = sample_value(first, "inference_container_memory_limit_bytes")
        assert limit is None or limit > 0


@pytest.mark.parametrize(
    "tree", ["v2/throttled", "v2/oom_killed", "v2/systemd_service", "v2/host_root", "v1/throttled_oom"]
)
def test_promtool_accepts_container_output(tree):
    result = promtool_check_metrics(render(collector_for(tree)))
    assert result.returncode == 0 and not result.stdout.strip(), result.stdout + result.stderr
