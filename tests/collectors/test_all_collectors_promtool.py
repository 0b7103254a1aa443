"""promtool accepts the exposition with every resource collector on, next to an adapter's series."""

from __future__ import annotations

import os
import time

from fakes.fake_pynvml import FakeGpu, FakeNvml
from helpers import FIXTURES, promtool_check_metrics, read_fixture, sample_value
from inference_exporter import exposition, parser, servers
from inference_exporter.builder import Builder
from inference_exporter.collectors.container import ContainerCollector
from inference_exporter.collectors.gpu import GpuCollector
from inference_exporter.collectors.process import ProcessCollector, ProcessMatcher, pid_owner


def test_promtool_accepts_every_collector_together(tmp_path):
    # The target "triton" is this test process itself: found by pid file, it also owns GPU memory.
    pid_path = tmp_path / "triton.pid"
    pid_path.write_text(str(os.getpid()))
    process = ProcessCollector("triton", ProcessMatcher(pid_file=str(pid_path)))
    target = Builder((("target", "triton"), ("server", "triton")), static=(("cluster", "c1"),))
    module = servers.get("triton")
    exp = parser.parse(
        read_fixture("triton/pytriton-0.7.0-tritonserver-2.51.prom"), resets=parser.ResetTracker()
    )
    module.translate(exp, target)
    process.collect(target)

    node = Builder(static=(("cluster", "c1"),))
    tree = FIXTURES / "cgroup/v1/throttled_oom"
    ContainerCollector(tree / "sys/fs/cgroup", tree / "proc").collect(node)
    nvml = FakeNvml(
        [FakeGpu(uuid="GPU-1", memory=(80, 50, 30), power_mw=1000, processes=[(os.getpid(), 30), (1, 5)])]
    )
    gpu = GpuCollector(nvml=nvml, owner=pid_owner([process]), event_timeout_ms=20)
    try:
        nvml.raise_xid(0, 13)
        deadline = time.monotonic() + 5
        while not gpu._xid.counts() and time.monotonic() < deadline:
            time.sleep(0.01)
        gpu.collect(node)
    finally:
        gpu.close()

    text = exposition.render_snapshots([target.finish(), node.finish()]).text.decode()
    assert sample_value(text, "inference_process_pids", target="triton", cluster="c1") >= 1
    assert sample_value(text, "inference_container_oom_kills_total", cluster="c1") == 1
    assert sample_value(text, "inference_gpu_process_memory_bytes", target="triton", uuid="GPU-1") == 30
    assert sample_value(text, "inference_gpu_xid_errors_total", xid="13", uuid="GPU-1") == 1
    assert (
        sample_value(text, "inference_requests_total", target="triton", model="ranker", outcome="success")
        == 6
    )
    result = promtool_check_metrics(text)
    assert result.returncode == 0 and not result.stdout.strip(), result.stdout + result.stderr
