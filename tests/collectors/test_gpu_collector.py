"""GPU collector against a fake NVML with the real binding's types and error classes."""

from __future__ import annotations

import logging
import time

import pytest
from fakes.fake_pynvml import FakeGpu, FakeMig, FakeNvml
from helpers import promtool_check_metrics
from inference_exporter import exposition, schema
from inference_exporter.builder import Builder
from inference_exporter.collectors.gpu import GpuCollector
from prometheus_client.parser import text_string_to_metric_families

GiB = 1024**3
H100 = {
    "gpu": "0",
    "uuid": "GPU-11111111-2222-3333-4444-555555555555",
    "name": "NVIDIA H100 80GB HBM3",
    "pci_bus_id": "00000000:18:00.0",
}
T4 = {
    "gpu": "1",
    "uuid": "GPU-aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee",
    "name": "Tesla T4",
    "pci_bus_id": "00000000:3B:00.0",
}
A100 = {
    "gpu": "2",
    "uuid": "GPU-99999999-8888-7777-6666-555555555555",
    "name": "NVIDIA A100-SXM4-40GB",
    "pci_bus_id": "00000000:87:00.0",
}
MIG_A = {
    **A100,
    "uuid": "MIG-0a0a0a0a-0000-0000-0000-000000000001",
    "name": "NVIDIA A100-SXM4-40GB MIG 3g.20gb",
    "gpu_instance": "1",
    "compute_instance": "0",
}
MIG_B = {
    **A100,
    "uuid": "MIG-0b0b0b0b-0000-0000-0000-000000000002",
    "name": "NVIDIA A100-SXM4-40GB MIG 2g.10gb",
    "gpu_instance": "5",
    "compute_instance": "0",
}

LLM_PIDS = {4101: "llm", 4102: "llm", 5200: "ranker"}


def make_nvml() -> FakeNvml:
    import pynvml as real

    h100 = FakeGpu(
        uuid=H100["uuid"],
        name=H100["name"],
        bus_id=H100["pci_bus_id"],
        utilization=(87, 42),
        memory=(80 * GiB, 50 * GiB, 30 * GiB),
        temperature=64,
        power_mw=350_123,
        power_limit_mw=700_000,
        energy_mj=123_456_789,
        sm_mhz=1980,
        mem_mhz=2619,
        clock_event_reasons=real.nvmlClocksEventReasonSwPowerCap
        | real.nvmlClocksEventReasonHwThermalSlowdown,
        pcie_replays=3,
        ecc={
            (real.NVML_MEMORY_ERROR_TYPE_CORRECTED, real.NVML_VOLATILE_ECC): 5,
            (real.NVML_MEMORY_ERROR_TYPE_UNCORRECTED, real.NVML_VOLATILE_ECC): 0,
            (real.NVML_MEMORY_ERROR_TYPE_CORRECTED, real.NVML_AGGREGATE_ECC): 12,
            (real.NVML_MEMORY_ERROR_TYPE_UNCORRECTED, real.NVML_AGGREGATE_ECC): 1,
        },
        remapped_rows=(2, 1, 1, 0),
        # two llm workers, an unknown process, and one whose memory the driver does not report
        processes=[(4101, 20 * GiB), (4102, 8 * GiB), (777, 2 * GiB), (778, None)],
        graphics_processes=[(4101, 20 * GiB)],  # same process in both lists: counted once
    )
    t4 = FakeGpu(
        uuid=T4["uuid"],
        name=T4["name"],
        bus_id=T4["pci_bus_id"],
        utilization=(3, 1),
        memory=(15 * GiB, 14 * GiB, 1 * GiB),
        temperature=41,
        power_mw=27_000,
        power_limit_mw=70_000,
        sm_mhz=585,
        mem_mhz=5000,
        unsupported={
            "nvmlDeviceGetTotalEnergyConsumption",
            "nvmlDeviceGetRemappedRows",
            "nvmlDeviceGetPcieReplayCounter",
            "nvmlDeviceGetCurrentClocksEventReasons",
        },
        xid_supported=False,
    )
    a100 = FakeGpu(
        uuid=A100["uuid"],
        name=A100["name"],
        bus_id=A100["pci_bus_id"],
        utilization=(0, 0),
        memory=(40 * GiB, 30 * GiB, 10 * GiB),
        temperature=35,
        power_mw=60_000,
        power_limit_mw=400_000,
        energy_mj=5_000,
        sm_mhz=210,
        mem_mhz=1215,
        remapped_rows=(0, 0, 0, 0),
        unsupported={"nvmlDeviceGetUtilizationRates"},  # NVML answers NotSupported with MIG enabled
        migs=[
            FakeMig(MIG_A["uuid"], MIG_A["name"], 1, 0, (20 * GiB, 14 * GiB, 6 * GiB), [(5200, 6 * GiB)]),
            FakeMig(MIG_B["uuid"], MIG_B["name"], 5, 0, (10 * GiB, 10 * GiB, 0), []),
        ],
    )
    return FakeNvml([h100, t4, a100])


def samples(text: str) -> dict[tuple[str, frozenset], float]:
    out = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


def render(collector) -> str:
    b = Builder()
    collector.collect(b)
    return exposition.render_snapshots([b.finish()]).text.decode()


def value(all_samples, name, /, **labels):
    return all_samples.get((name, frozenset(labels.items())))


@pytest.fixture
def nvml():
    return make_nvml()


@pytest.fixture
def collector(nvml):
    c = GpuCollector(nvml=nvml, owner=lambda pid: LLM_PIDS.get(pid, ""), event_timeout_ms=20)
    yield c
    c.close()


def test_every_series_of_a_full_featured_gpu_in_base_units(collector):
    s = samples(render(collector))
    assert value(s, "inference_gpu_collector_available") == 1
    assert value(s, "inference_gpu_utilization_ratio", **H100) == 0.87
    assert value(s, "inference_gpu_memory_copy_utilization_ratio", **H100) == 0.42
    assert value(s, "inference_gpu_memory_used_bytes", **H100) == 30 * GiB
    assert value(s, "inference_gpu_memory_free_bytes", **H100) == 50 * GiB
    assert value(s, "inference_gpu_memory_total_bytes", **H100) == 80 * GiB
    assert value(s, "inference_gpu_temperature_celsius", **H100) == 64
    assert value(s, "inference_gpu_power_usage_watts", **H100) == pytest.approx(350.123)
    assert value(s, "inference_gpu_power_limit_watts", **H100) == 700
    assert value(s, "inference_gpu_energy_joules_total", **H100) == pytest.approx(123_456.789)
    assert value(s, "inference_gpu_sm_clock_hertz", **H100) == 1980e6
    assert value(s, "inference_gpu_memory_clock_hertz", **H100) == 2619e6
    assert value(s, "inference_gpu_pcie_replays_total", **H100) == 3
    assert value(s, "inference_gpu_ecc_volatile_errors_total", type="corrected", **H100) == 5
    assert value(s, "inference_gpu_ecc_volatile_errors_total", type="uncorrected", **H100) == 0
    assert value(s, "inference_gpu_ecc_aggregate_errors_total", type="corrected", **H100) == 12
    assert value(s, "inference_gpu_ecc_aggregate_errors_total", type="uncorrected", **H100) == 1
    assert value(s, "inference_gpu_remapped_rows", cause="correctable", **H100) == 2
    assert value(s, "inference_gpu_remapped_rows", cause="uncorrectable", **H100) == 1
    assert value(s, "inference_gpu_row_remap_pending", **H100) == 1
    assert value(s, "inference_gpu_row_remap_failure", **H100) == 0
    assert value(s, "inference_gpu_state", state="ok", **H100) == 1
    assert value(s, "inference_gpu_state", state="lost", **H100) == 0


def test_clock_event_reasons_one_series_per_active_reason(collector):
    s = samples(render(collector))
    reasons = {dict(lbl)["reason"] for name, lbl in s if name == "inference_gpu_clock_event_reasons"}
    assert reasons == {"sw_power_cap", "hw_thermal_slowdown"}
    assert value(s, "inference_gpu_clock_event_reasons", reason="hw_thermal_slowdown", **H100) == 1


def test_process_memory_is_attributed_to_the_owning_target(collector):
    s = samples(render(collector))
    assert value(s, "inference_gpu_process_memory_bytes", target="llm", **H100) == 28 * GiB
    assert value(s, "inference_gpu_process_memory_bytes", **H100) == 2 * GiB  # unowned: empty target
    assert value(s, "inference_gpu_process_memory_bytes", target="ranker", **MIG_A) == 6 * GiB


def test_unsupported_queries_omit_only_their_series(collector):
    s = samples(render(collector))
    t4 = {name for name, lbl in s if dict(lbl).get("uuid") == T4["uuid"]}
    assert t4 == {
        "inference_gpu_state",
        "inference_gpu_utilization_ratio",
        "inference_gpu_memory_copy_utilization_ratio",
        "inference_gpu_memory_used_bytes",
        "inference_gpu_memory_free_bytes",
        "inference_gpu_memory_total_bytes",
        "inference_gpu_temperature_celsius",
        "inference_gpu_power_usage_watts",
        "inference_gpu_power_limit_watts",
        "inference_gpu_sm_clock_hertz",
        "inference_gpu_memory_clock_hertz",
    }
    assert value(s, "inference_gpu_power_usage_watts", **T4) == 27


def test_mig_instances_carry_their_own_labels_and_memory(collector):
    s = samples(render(collector))
    assert value(s, "inference_gpu_memory_used_bytes", **MIG_A) == 6 * GiB
    assert value(s, "inference_gpu_memory_total_bytes", **MIG_B) == 10 * GiB
    assert value(s, "inference_gpu_memory_used_bytes", **A100) == 10 * GiB  # the whole GPU too
    assert value(s, "inference_gpu_utilization_ratio", **A100) is None
    mig_series = {name for name, lbl in s if dict(lbl).get("gpu_instance")}
    assert mig_series == {
        "inference_gpu_memory_used_bytes",
        "inference_gpu_memory_free_bytes",
        "inference_gpu_memory_total_bytes",
        "inference_gpu_process_memory_bytes",
    }


def test_every_gpu_series_is_in_the_schema_with_its_declared_labels(collector):
    s = samples(render(collector))
    for name, lbl in s:
        family = name[: -len("_total")] if name.endswith("_total") else name
        metric = schema.BY_NAME.get(name) or schema.BY_NAME[family + "_total"]
        assert set(dict(lbl)) <= set(metric.labels), (name, dict(lbl))


def test_gpu_lost_becomes_a_state_not_a_crash(nvml, collector, caplog):
    render(collector)
    nvml.gpus[0].lost = True
    with caplog.at_level(logging.WARNING):
        s = samples(render(collector))
        render(collector)
    assert value(s, "inference_gpu_state", state="lost", **H100) == 1
    assert value(s, "inference_gpu_state", state="ok", **H100) == 0
    assert value(s, "inference_gpu_memory_used_bytes", **H100) is None
    assert value(s, "inference_gpu_memory_used_bytes", **T4) == 1 * GiB  # the other GPUs carry on
    assert len([r for r in caplog.records if "lost" in r.getMessage()]) == 1


def test_gpu_lost_at_startup(nvml):
    nvml.gpus[1].lost = True
    c = GpuCollector(nvml=nvml, event_timeout_ms=20)
    try:
        s = samples(render(c))
    finally:
        c.close()
    assert value(s, "inference_gpu_state", state="lost", gpu="1") == 1
    assert value(s, "inference_gpu_state", state="ok", **H100) == 1


def test_xid_event_counted_by_code(nvml, collector):
    assert nvml.registered == [0, 2]  # the T4 reports no XID events
    nvml.raise_xid(0, 79)
    nvml.raise_xid(0, 79)
    nvml.raise_xid(2, 48)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        s = samples(render(collector))
        if value(s, "inference_gpu_xid_errors_total", xid="48", **A100) == 1:
            break
        time.sleep(0.01)
    assert value(s, "inference_gpu_xid_errors_total", xid="79", **H100) == 2
    assert value(s, "inference_gpu_xid_errors_total", xid="48", **A100) == 1


def test_xid_counts_go_on_from_the_journal_after_an_exporter_restart(nvml, tmp_path):
    """Issue 12 (found by the scenario generator, seed 3, case s3-058-xid): the counter is born
    again at 1 after a restart, which `increase()` cannot tell from the 1 before it, so the
    first XID after a restart paged only once the old sample left the window. The counts now
    continue from the journal's last gpu_xid events: the restart shows the old count, the next
    XID a rise."""
    from inference_exporter.collectors.gpu import XidEvents, restored_xid_counts
    from inference_exporter.journal import Journal

    journal = Journal(str(tmp_path / "journal"))
    first = GpuCollector(nvml=nvml, event_timeout_ms=20)
    events = XidEvents(journal)
    try:
        events.observe(render_snapshot(first))
        nvml.raise_xid(0, 79)
        assert wait_for_xid(first, "79", H100, 1)
        events.observe(render_snapshot(first))
    finally:
        first.close()
    restored = restored_xid_counts(journal)
    assert restored == {(H100["uuid"], "79"): 1}
    again = GpuCollector(nvml=make_nvml(), event_timeout_ms=20, xid_counts=restored)
    try:
        assert value(samples(render(again)), "inference_gpu_xid_errors_total", xid="79", **H100) == 1
        again._nvml.raise_xid(0, 79)
        assert wait_for_xid(again, "79", H100, 2)
    finally:
        again.close()
        journal.close()


def render_snapshot(collector: GpuCollector):
    out = Builder()
    collector.collect(out)
    return out.finish()


def wait_for_xid(collector: GpuCollector, xid: str, gpu: dict, count: float) -> bool:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        if value(samples(render(collector)), "inference_gpu_xid_errors_total", xid=xid, **gpu) == count:
            return True
        time.sleep(0.01)
    return False


def test_close_stops_the_event_thread_and_shuts_nvml_down(nvml):
    c = GpuCollector(nvml=nvml, event_timeout_ms=20)
    thread = c._xid._thread
    assert thread.is_alive()
    started = time.monotonic()
    c.close()
    assert time.monotonic() - started < 1
    assert not thread.is_alive()
    assert nvml.event_sets_freed == 1 and nvml.shutdown_calls == 1
    c.close()  # idempotent
    assert nvml.shutdown_calls == 1


def test_nvml_initialised_once_and_handles_reused(nvml, collector):
    for _ in range(3):
        render(collector)
    assert nvml.init_calls == 1
    assert nvml.handle_lookups == len(nvml.gpus)


def test_no_driver_disables_the_collector_with_one_log_line(caplog):
    nvml = FakeNvml([], library_missing=True)
    with caplog.at_level(logging.INFO, logger="inference_exporter"):
        c = GpuCollector(nvml=nvml)
        texts = [render(c) for _ in range(3)]
        c.close()
    assert texts[0] == texts[2]
    assert samples(texts[0]) == {("inference_gpu_collector_available", frozenset()): 0}
    assert len(caplog.records) == 1 and "NVML Shared Library Not Found" in caplog.records[0].err


def test_real_binding_on_this_machine_never_raises():
    c = GpuCollector(event_timeout_ms=20)  # the installed nvidia-ml-py, whatever driver this machine has
    try:
        available = c.available
        s = samples(render(c))
    finally:
        c.close()
    assert value(s, "inference_gpu_collector_available") == (1 if available else 0)
    gpu_states = [name for name, _ in s if name == "inference_gpu_state"]
    assert bool(gpu_states) == available


def test_promtool_accepts_gpu_output(collector):
    result = promtool_check_metrics(render(collector))
    assert result.returncode == 0 and not result.stdout.strip(), result.stdout + result.stderr


def test_the_registered_collector_opens_nvml_at_its_first_collection(monkeypatch, tmp_path):
    """Building the exporter's GPU source loads nothing (NVML's import and init took 15 ms of a
    sidecar's start); its first collection opens NVML once, later ones reuse it."""
    import inference_exporter.collectors.gpu as gpu
    from inference_exporter.collectors import CollectorContext
    from inference_exporter.config import loads

    nvml = make_nvml()
    opened = []

    def collector(**kwargs):
        opened.append(kwargs)
        return GpuCollector(nvml=nvml, event_timeout_ms=20, **kwargs)

    monkeypatch.setattr(gpu, "GpuCollector", collector)
    source = gpu.COLLECTOR.build(CollectorContext(loads("targets: []\n")))
    assert opened == [] and nvml.init_calls == 0
    try:
        first = source.collect()
        source.collect()
    finally:
        source.close()
    assert len(opened) == 1 and nvml.init_calls == 1 and nvml.shutdown_calls == 1
    assert list(first[0].samples("inference_gpu_state")), "the first collection reads the GPUs"
