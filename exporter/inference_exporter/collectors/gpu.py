"""NVIDIA GPUs through NVML (the ``nvidia-ml-py`` distribution, imported as ``pynvml``).

NVML is initialised once, in the constructor, and the device handles and their labels
are kept; each collection is then a dozen cheap NVML calls per GPU. Failure modes
follow the issue: a query the GPU does not support (NotSupported) omits its series, a
GPU that fell off the bus (GpuIsLost) turns into ``inference_gpu_state{state="lost"}``,
and a machine without the driver library disables the collector with one log line.
The NVML call behind each series is the one dcgm-exporter reads for the same field.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from ..builder import Builder
from ..journal import Filter, Journal
from ..snapshot import Snapshot
from . import CollectorContext, Registration
from ._nvml_events import XidWatcher
from .process import pid_owner

log = logging.getLogger(__name__)

PERCENT = 0.01
MILLI = 1e-3  # mW -> W, mJ -> J
MHZ = 1e6

# The current name first; drivers before 535 only have the older "throttle" name.
CLOCK_EVENT_QUERIES = ("nvmlDeviceGetCurrentClocksEventReasons", "nvmlDeviceGetCurrentClocksThrottleReasons")
# Clock-event (throttle) reason bits, nvmlClocksEventReason* in the binding, by series label.
CLOCK_EVENT_REASONS = (
    ("gpu_idle", "nvmlClocksEventReasonGpuIdle"),
    ("applications_clocks_setting", "nvmlClocksEventReasonApplicationsClocksSetting"),
    ("sw_power_cap", "nvmlClocksEventReasonSwPowerCap"),
    ("hw_slowdown", "nvmlClocksEventReasonHwSlowdown"),
    ("sync_boost", "nvmlClocksEventReasonSyncBoost"),
    ("sw_thermal_slowdown", "nvmlClocksEventReasonSwThermalSlowdown"),
    ("hw_thermal_slowdown", "nvmlClocksEventReasonHwThermalSlowdown"),
    ("hw_power_brake_slowdown", "nvmlClocksEventReasonHwPowerBrakeSlowdown"),
    ("display_clock_setting", "nvmlClocksEventReasonDisplayClockSetting"),
)


class _Lost(Exception):
    """The GPU fell off the bus during this collection."""


@dataclass
class _Device:
    handle: object
    labels: dict[str, str]
    migs: list[_Device] = field(default_factory=list)
    lost: bool = False


class GpuCollector:
    """Node-level GPU series (no target labels); ``owner`` maps a pid to the target that owns it."""

    def __init__(
        self,
        nvml=None,
        owner: Callable[[int], str] | None = None,
        xid_events: bool = True,
        event_timeout_ms: int = 500,
        xid_counts: dict[tuple[str, str], float] | None = None,
    ):
        if nvml is None:
            import pynvml as nvml  # nvidia-ml-py; importing it loads no library
        self._nvml = nvml
        self._owner = owner or (lambda pid: "")
        self._devices: list[_Device] = []
        self._xid: XidWatcher | None = None
        # XID counts from before this process started (restored_xid_counts): the counters go on
        # from there, so a first XID after an exporter restart is a rise, never a repeat of 1.
        self._xid_base = dict(xid_counts or {})
        self._logged: set[tuple[str, int]] = set()
        self._initialised = False
        self.available = False
        try:
            nvml.nvmlInit()
            self._initialised = True
            count = nvml.nvmlDeviceGetCount()
        except nvml.NVMLError as e:
            # LibraryNotFound (no driver), DriverNotLoaded, NoPermission...: one line, then stay quiet.
            log.info("GPU collector disabled: NVML unavailable", extra={"err": str(e)})
            self._shutdown()
            return
        for index in range(count):
            self._devices.append(self._open(index))
        self.available = True
        if xid_events:
            handles = [d.handle for d in self._devices if not d.lost]
            self._xid = XidWatcher(nvml, handles, event_timeout_ms)

    # --- discovery ---------------------------------------------------------------
    def _open(self, index: int) -> _Device:
        nvml = self._nvml
        labels = {"gpu": str(index), "uuid": "", "name": "", "pci_bus_id": ""}
        try:
            handle = nvml.nvmlDeviceGetHandleByIndex(index)
        except nvml.NVMLError:
            return _Device(None, labels, lost=True)
        dev = _Device(handle, labels)
        try:
            labels["uuid"] = nvml.nvmlDeviceGetUUID(handle)
            labels["name"] = nvml.nvmlDeviceGetName(handle)
            labels["pci_bus_id"] = nvml.nvmlDeviceGetPciInfo(handle).busId
        except nvml.NVMLError_GpuIsLost:
            dev.lost = True
            return dev
        except nvml.NVMLError as e:
            self._log_once("labels", e)
        dev.migs = self._open_migs(dev)
        return dev

    def _open_migs(self, parent: _Device) -> list[_Device]:
        nvml = self._nvml
        try:
            if nvml.nvmlDeviceGetMigMode(parent.handle)[0] != nvml.NVML_DEVICE_MIG_ENABLE:
                return []
            slots = nvml.nvmlDeviceGetMaxMigDeviceCount(parent.handle)
        except nvml.NVMLError:
            return []  # NotSupported: not a MIG-capable GPU
        migs = []
        for slot in range(slots):
            try:
                handle = nvml.nvmlDeviceGetMigDeviceHandleByIndex(parent.handle, slot)
                labels = dict(parent.labels)
                labels["uuid"] = nvml.nvmlDeviceGetUUID(handle)
                labels["name"] = nvml.nvmlDeviceGetName(handle)
                labels["gpu_instance"] = str(nvml.nvmlDeviceGetGpuInstanceId(handle))
                labels["compute_instance"] = str(nvml.nvmlDeviceGetComputeInstanceId(handle))
            except nvml.NVMLError:
                continue  # NotFound: an empty slot
            migs.append(_Device(handle, labels))
        return migs

    # --- queries -----------------------------------------------------------------
    def _log_once(self, what: str, err: Exception) -> None:
        key = (what, getattr(err, "value", -1))
        if key not in self._logged:
            self._logged.add(key)
            log.info("NVML query failed, its series are skipped", extra={"query": what, "err": str(err)})

    def _query(self, names: str | tuple[str, ...], *args):
        """Call the first NVML function of ``names`` the driver has; None when it cannot answer."""
        nvml = self._nvml
        for name in (names,) if isinstance(names, str) else names:
            fn = getattr(nvml, name, None)
            if fn is None:
                continue
            try:
                return fn(*args)
            except nvml.NVMLError_GpuIsLost:
                raise _Lost() from None
            except nvml.NVMLError_FunctionNotFound:
                continue  # older driver: try the older name
            except nvml.NVMLError_NotSupported:
                return None
            except nvml.NVMLError as e:
                self._log_once(name, e)
                return None
        return None

    def _collect_device(self, out: Builder, dev: _Device) -> None:
        nvml, h, lbl = self._nvml, dev.handle, dev.labels
        util = self._query("nvmlDeviceGetUtilizationRates", h)
        if util is not None:
            out.gauge("inference_gpu_utilization_ratio", util.gpu * PERCENT, **lbl)
            out.gauge("inference_gpu_memory_copy_utilization_ratio", util.memory * PERCENT, **lbl)
        self._memory(out, dev)
        temp = self._query("nvmlDeviceGetTemperature", h, nvml.NVML_TEMPERATURE_GPU)
        if temp is not None:
            out.gauge("inference_gpu_temperature_celsius", temp, **lbl)
        for name, fn, scale in (
            ("inference_gpu_power_usage_watts", "nvmlDeviceGetPowerUsage", MILLI),
            ("inference_gpu_power_limit_watts", "nvmlDeviceGetEnforcedPowerLimit", MILLI),
        ):
            value = self._query(fn, h)
            if value is not None:
                out.gauge(name, value * scale, **lbl)
        energy = self._query("nvmlDeviceGetTotalEnergyConsumption", h)
        if energy is not None:
            out.counter("inference_gpu_energy_joules_total", energy * MILLI, **lbl)
        for name, clock in (
            ("inference_gpu_sm_clock_hertz", nvml.NVML_CLOCK_SM),
            ("inference_gpu_memory_clock_hertz", nvml.NVML_CLOCK_MEM),
        ):
            mhz = self._query("nvmlDeviceGetClockInfo", h, clock)
            if mhz is not None:
                out.gauge(name, mhz * MHZ, **lbl)
        reasons = self._query(CLOCK_EVENT_QUERIES, h)
        if reasons is not None:
            for reason, bit in CLOCK_EVENT_REASONS:
                if reasons & getattr(nvml, bit, 0):
                    out.gauge("inference_gpu_clock_event_reasons", 1, reason=reason, **lbl)
        replays = self._query("nvmlDeviceGetPcieReplayCounter", h)
        if replays is not None:
            out.counter("inference_gpu_pcie_replays_total", replays, **lbl)
        for name, scope in (
            ("inference_gpu_ecc_volatile_errors_total", nvml.NVML_VOLATILE_ECC),
            ("inference_gpu_ecc_aggregate_errors_total", nvml.NVML_AGGREGATE_ECC),
        ):
            for type_, err_type in (
                ("corrected", nvml.NVML_MEMORY_ERROR_TYPE_CORRECTED),
                ("uncorrected", nvml.NVML_MEMORY_ERROR_TYPE_UNCORRECTED),
            ):
                count = self._query("nvmlDeviceGetTotalEccErrors", h, err_type, scope)
                if count is not None:
                    out.counter(name, count, type=type_, **lbl)
        rows = self._query("nvmlDeviceGetRemappedRows", h)
        if rows is not None:
            corrected, uncorrected, pending, failure = rows
            out.gauge("inference_gpu_remapped_rows", corrected, cause="correctable", **lbl)
            out.gauge("inference_gpu_remapped_rows", uncorrected, cause="uncorrectable", **lbl)
            out.gauge("inference_gpu_row_remap_pending", 1 if pending else 0, **lbl)
            out.gauge("inference_gpu_row_remap_failure", 1 if failure else 0, **lbl)
        if dev.migs:
            for mig in dev.migs:  # a MIG instance has its own memory and processes, the rest is the GPU's
                self._memory(out, mig)
                self._processes(out, mig)
        else:
            self._processes(out, dev)

    def _memory(self, out: Builder, dev: _Device) -> None:
        mem = self._query("nvmlDeviceGetMemoryInfo", dev.handle)
        if mem is not None:
            out.gauge("inference_gpu_memory_used_bytes", mem.used, **dev.labels)
            out.gauge("inference_gpu_memory_free_bytes", mem.free, **dev.labels)
            out.gauge("inference_gpu_memory_total_bytes", mem.total, **dev.labels)

    def _processes(self, out: Builder, dev: _Device) -> None:
        # A process using CUDA and graphics shows in both lists: count its memory once.
        used: dict[int, int] = {}
        for fn in ("nvmlDeviceGetComputeRunningProcesses", "nvmlDeviceGetGraphicsRunningProcesses"):
            for proc in self._query(fn, dev.handle) or ():
                if proc.usedGpuMemory is not None:
                    used[proc.pid] = max(used.get(proc.pid, 0), proc.usedGpuMemory)
        by_target: dict[str, int] = {}
        for pid, memory in used.items():
            try:
                target = self._owner(pid)
            except Exception:  # an owner lookup racing a process exit must not cost the GPU series
                target = ""
            by_target[target] = by_target.get(target, 0) + memory
        for target, memory in by_target.items():
            out.gauge("inference_gpu_process_memory_bytes", memory, target=target, **dev.labels)

    # --- collection --------------------------------------------------------------
    def collect(self, out: Builder) -> None:
        out.gauge("inference_gpu_collector_available", 1 if self.available else 0)
        if not self.available:
            return
        for dev in self._devices:
            if not dev.lost:
                try:
                    self._collect_device(out, dev)
                except _Lost:
                    dev.lost = True
                    log.warning("GPU is lost (fell off the bus)", extra={"gpu": dev.labels["gpu"]})
            out.gauge("inference_gpu_state", 0 if dev.lost else 1, state="ok", **dev.labels)
            out.gauge("inference_gpu_state", 1 if dev.lost else 0, state="lost", **dev.labels)
        if self._xid is not None:
            by_uuid = {d.labels["uuid"]: d.labels for d in self._devices}
            counts = {k: v for k, v in self._xid_base.items() if k[0] in by_uuid}
            for (uuid, xid), count in self._xid.counts().items():
                key = (uuid, str(xid))
                counts[key] = counts.get(key, 0) + count
            for (uuid, xid), count in sorted(counts.items()):
                labels = by_uuid.get(uuid, {"uuid": uuid})
                out.counter("inference_gpu_xid_errors_total", count, xid=xid, **labels)

    def _shutdown(self) -> None:
        if self._initialised:
            self._initialised = False
            try:
                self._nvml.nvmlShutdown()
            except self._nvml.NVMLError:
                pass

    def close(self) -> None:
        if self._xid is not None:
            self._xid.close()
            self._xid = None
        self._shutdown()
        self.available = False


class XidEvents:
    """A rise in a GPU's XID count, read from the GPU snapshots, is a ``gpu_xid`` journal event.

    The counts found at the first collection are not news: they happened before."""

    def __init__(self, journal: Journal | None):
        self._journal = journal
        self._seen: dict[tuple[str, str], float] | None = None

    def observe(self, snapshot: Snapshot) -> None:
        counts = {
            (labels.get("uuid", ""), labels.get("xid", "")): value
            for labels, value in snapshot.samples("inference_gpu_xid_errors_total")
        }
        seen, self._seen = self._seen, counts
        if seen is None or self._journal is None:
            return
        for (uuid, xid), count in sorted(counts.items()):
            before = seen.get((uuid, xid), 0)
            if count > before:
                self._journal.emit("gpu_xid", gpu_uuid=uuid, xid=xid, count=count, new=count - before)


def restored_xid_counts(journal: Journal | None) -> dict[tuple[str, str], float]:
    """The last XID count per (GPU uuid, code) in the journal: where the counters stood before
    the exporter restarted."""
    counts: dict[tuple[str, str], float] = {}
    if journal is not None:
        for event in journal.read(Filter(types=frozenset({"gpu_xid"}))):
            details = event.get("details") or {}
            key = (str(details.get("gpu_uuid", "")), str(details.get("xid", "")))
            count = details.get("count")
            if isinstance(count, (int, float)) and count >= counts.get(key, 0):
                counts[key] = count
    return counts


class _Gpus:
    """The GPU collector, opened by its first collection: loading NVML (and finding there is no
    driver) takes 15 ms, which a worker spends instead of the exporter's start."""

    def __init__(self, ctx: CollectorContext):
        self._ctx = ctx
        self._collector: GpuCollector | None = None
        self._labels = ctx.config.labels
        self._xid_events = XidEvents(ctx.journal)

    def collect(self) -> list[Snapshot]:
        if self._collector is None:
            ctx = self._ctx
            self._collector = GpuCollector(
                owner=pid_owner(ctx.process_owners), xid_counts=restored_xid_counts(ctx.journal)
            )
        out = Builder((), self._labels)
        self._collector.collect(out)
        snapshot = out.finish()
        self._xid_events.observe(snapshot)
        return [snapshot]

    def close(self) -> None:
        if self._collector is not None:
            self._collector.close()


COLLECTOR = Registration(
    "gpu", "NVIDIA GPUs through NVML (off by itself when there is no driver)", _Gpus, order=30
)
