"""A fake NVML layer with the real binding's types: ``FakeNvml`` stands in for the ``pynvml`` module.

Constants, result structures (``c_nvmlMemory_t``, ``c_nvmlUtilization_t``,
``nvmlPciInfo_t``, ``c_nvmlEventData_t``), device handles (``c_nvmlDevice_t``
pointers, compared by address as the C library does) and error classes
(``NVMLError_NotSupported``, ``NVMLError_GpuIsLost``, ...) all come from the installed
nvidia-ml-py, so the collector meets exactly what it meets on a real machine; only the
answers are scripted. Attributes this class does not define fall through to the real
module, so a function the fake forgot fails loudly (no library loaded) instead of
silently returning nothing.
"""

from __future__ import annotations

import ctypes
import queue
from dataclasses import dataclass, field

import pynvml as real


@dataclass
class FakeMig:
    uuid: str
    name: str
    gpu_instance: int
    compute_instance: int
    memory: tuple[int, int, int]  # total, free, used (bytes)
    processes: list[tuple[int, int]] = field(default_factory=list)  # (pid, used bytes)


@dataclass
class FakeGpu:
    uuid: str
    name: str = "NVIDIA H100 80GB HBM3"
    bus_id: str = "00000000:18:00.0"
    utilization: tuple[int, int] = (0, 0)  # gpu %, memory %
    memory: tuple[int, int, int] = (0, 0, 0)  # total, free, used (bytes)
    temperature: int = 30  # degrees C
    power_mw: int = 0
    power_limit_mw: int = 0
    energy_mj: int = 0
    sm_mhz: int = 0
    mem_mhz: int = 0
    clock_event_reasons: int = 0
    pcie_replays: int = 0
    ecc: dict[tuple[int, int], int] = field(default_factory=dict)  # (error type, counter type) -> count
    remapped_rows: tuple[int, int, int, int] = (0, 0, 0, 0)  # corrected, uncorrected, pending, failure
    processes: list[tuple[int, int | None]] = field(default_factory=list)  # compute (pid, used bytes)
    graphics_processes: list[tuple[int, int | None]] = field(default_factory=list)
    migs: list[FakeMig] = field(default_factory=list)
    unsupported: set[str] = field(default_factory=set)  # NVML function names answering NotSupported
    xid_supported: bool = True
    lost: bool = False  # every query raises GpuIsLost


class _DeviceStruct(ctypes.Structure):
    _fields_ = [("index", ctypes.c_uint)]


class FakeNvml:
    """Scripted NVML: ``gpus`` answer the device queries; ``library_missing`` fails nvmlInit."""

    def __init__(self, gpus: list[FakeGpu], library_missing: bool = False):
        self.gpus = gpus
        self.library_missing = library_missing
        self.init_calls = 0
        self.shutdown_calls = 0
        self.handle_lookups = 0
        self.events: queue.Queue = queue.Queue()
        self.event_sets_freed = 0
        self.registered: list[int] = []
        self._structs: list[_DeviceStruct] = []
        self._devices: dict[int, FakeGpu | FakeMig] = {}  # struct address -> device
        self._parents: dict[int, int] = {}  # MIG struct address -> GPU index
        self._handles = [self._new_handle(g) for g in gpus]

    def __getattr__(self, name):
        return getattr(real, name)

    # --- handles --------------------------------------------------------------
    def _new_handle(self, device) -> real.c_nvmlDevice_t:
        struct = _DeviceStruct(len(self._structs))
        self._structs.append(struct)
        self._devices[ctypes.addressof(struct)] = device
        return ctypes.cast(ctypes.pointer(struct), real.c_nvmlDevice_t)

    def _device(self, handle, function: str):
        dev = self._devices[ctypes.cast(handle, ctypes.c_void_p).value]
        gpu = dev if isinstance(dev, FakeGpu) else self.gpus[self._parents[id(dev)]]
        if gpu.lost:
            raise real.NVMLError(real.NVML_ERROR_GPU_IS_LOST)
        if function in getattr(dev, "unsupported", ()):
            raise real.NVMLError(real.NVML_ERROR_NOT_SUPPORTED)
        return dev

    def _gpu(self, handle, function: str) -> FakeGpu:
        dev = self._device(handle, function)
        if not isinstance(dev, FakeGpu):
            raise real.NVMLError(real.NVML_ERROR_NOT_SUPPORTED)  # device-wide query on a MIG handle
        return dev

    # --- init --------------------------------------------------------------------
    def nvmlInit(self):
        if self.library_missing:
            raise real.NVMLError(real.NVML_ERROR_LIBRARY_NOT_FOUND)
        self.init_calls += 1

    def nvmlShutdown(self):
        self.shutdown_calls += 1

    def nvmlDeviceGetCount(self) -> int:
        return len(self.gpus)

    def nvmlDeviceGetHandleByIndex(self, index: int):
        self.handle_lookups += 1
        if index >= len(self.gpus):
            raise real.NVMLError(real.NVML_ERROR_INVALID_ARGUMENT)
        return self._handles[index]

    # --- identity ----------------------------------------------------------------
    def nvmlDeviceGetUUID(self, handle) -> str:
        return self._device(handle, "nvmlDeviceGetUUID").uuid

    def nvmlDeviceGetName(self, handle) -> str:
        return self._device(handle, "nvmlDeviceGetName").name

    def nvmlDeviceGetPciInfo(self, handle) -> real.nvmlPciInfo_t:
        gpu = self._gpu(handle, "nvmlDeviceGetPciInfo")
        info = real.nvmlPciInfo_t()
        info.busId = gpu.bus_id
        info.busIdLegacy = gpu.bus_id
        return info

    def nvmlDeviceGetMigMode(self, handle) -> list[int]:
        gpu = self._gpu(handle, "nvmlDeviceGetMigMode")
        if not gpu.migs:
            raise real.NVMLError(real.NVML_ERROR_NOT_SUPPORTED)
        return [real.NVML_DEVICE_MIG_ENABLE, real.NVML_DEVICE_MIG_ENABLE]

    def nvmlDeviceGetMaxMigDeviceCount(self, handle) -> int:
        return 7 if self._gpu(handle, "nvmlDeviceGetMaxMigDeviceCount").migs else 0

    def nvmlDeviceGetMigDeviceHandleByIndex(self, handle, index: int):
        gpu = self._gpu(handle, "nvmlDeviceGetMigDeviceHandleByIndex")
        if index >= len(gpu.migs):
            raise real.NVMLError(real.NVML_ERROR_NOT_FOUND)
        mig = gpu.migs[index]
        self._parents[id(mig)] = self.gpus.index(gpu)
        return self._new_handle(mig)

    def nvmlDeviceGetGpuInstanceId(self, handle) -> int:
        return self._device(handle, "nvmlDeviceGetGpuInstanceId").gpu_instance

    def nvmlDeviceGetComputeInstanceId(self, handle) -> int:
        return self._device(handle, "nvmlDeviceGetComputeInstanceId").compute_instance

    # --- values ------------------------------------------------------------------
    def nvmlDeviceGetUtilizationRates(self, handle) -> real.c_nvmlUtilization_t:
        gpu = self._gpu(handle, "nvmlDeviceGetUtilizationRates")
        util = real.c_nvmlUtilization_t()
        util.gpu, util.memory = gpu.utilization
        return util

    def nvmlDeviceGetMemoryInfo(self, handle, version=None) -> real.c_nvmlMemory_t:
        dev = self._device(handle, "nvmlDeviceGetMemoryInfo")
        mem = real.c_nvmlMemory_t()
        mem.total, mem.free, mem.used = dev.memory
        return mem

    def nvmlDeviceGetTemperature(self, handle, sensor: int) -> int:
        assert sensor == real.NVML_TEMPERATURE_GPU
        return self._gpu(handle, "nvmlDeviceGetTemperature").temperature

    def nvmlDeviceGetPowerUsage(self, handle) -> int:
        return self._gpu(handle, "nvmlDeviceGetPowerUsage").power_mw

    def nvmlDeviceGetEnforcedPowerLimit(self, handle) -> int:
        return self._gpu(handle, "nvmlDeviceGetEnforcedPowerLimit").power_limit_mw

    def nvmlDeviceGetTotalEnergyConsumption(self, handle) -> int:
        return self._gpu(handle, "nvmlDeviceGetTotalEnergyConsumption").energy_mj

    def nvmlDeviceGetClockInfo(self, handle, clock: int) -> int:
        gpu = self._gpu(handle, "nvmlDeviceGetClockInfo")
        return {real.NVML_CLOCK_SM: gpu.sm_mhz, real.NVML_CLOCK_MEM: gpu.mem_mhz}[clock]

    def nvmlDeviceGetCurrentClocksEventReasons(self, handle) -> int:
        return self._gpu(handle, "nvmlDeviceGetCurrentClocksEventReasons").clock_event_reasons

    def nvmlDeviceGetPcieReplayCounter(self, handle) -> int:
        return self._gpu(handle, "nvmlDeviceGetPcieReplayCounter").pcie_replays

    def nvmlDeviceGetTotalEccErrors(self, handle, error_type: int, counter_type: int) -> int:
        gpu = self._gpu(handle, "nvmlDeviceGetTotalEccErrors")
        if (error_type, counter_type) not in gpu.ecc:
            raise real.NVMLError(real.NVML_ERROR_NOT_SUPPORTED)  # what a GPU with ECC off answers
        return gpu.ecc[(error_type, counter_type)]

    def nvmlDeviceGetRemappedRows(self, handle) -> tuple[int, int, int, int]:
        return self._gpu(handle, "nvmlDeviceGetRemappedRows").remapped_rows

    def _processes(self, entries) -> list:
        # The binding returns nvmlFriendlyObject copies of c_nvmlProcessInfo_t, usedGpuMemory None
        # where the driver gives NVML_VALUE_NOT_AVAILABLE.
        out = []
        for pid, used in entries:
            info = real.c_nvmlProcessInfo_t()
            info.pid = pid
            info.usedGpuMemory = real.NVML_VALUE_NOT_AVAILABLE_ulonglong.value if used is None else used
            obj = real.nvmlStructToFriendlyObject(info)
            if obj.usedGpuMemory == real.NVML_VALUE_NOT_AVAILABLE_ulonglong.value:
                obj.usedGpuMemory = None
            out.append(obj)
        return out

    def nvmlDeviceGetComputeRunningProcesses(self, handle) -> list:
        return self._processes(self._device(handle, "nvmlDeviceGetComputeRunningProcesses").processes)

    def nvmlDeviceGetGraphicsRunningProcesses(self, handle) -> list:
        dev = self._device(handle, "nvmlDeviceGetGraphicsRunningProcesses")
        return self._processes(getattr(dev, "graphics_processes", []))

    # --- events ------------------------------------------------------------------
    def nvmlEventSetCreate(self):
        return real.c_nvmlEventSet_t()

    def nvmlDeviceGetSupportedEventTypes(self, handle) -> int:
        gpu = self._gpu(handle, "nvmlDeviceGetSupportedEventTypes")
        return real.nvmlEventTypeAll if gpu.xid_supported else real.nvmlEventTypeSingleBitEccError

    def nvmlDeviceRegisterEvents(self, handle, _event_types: int, _event_set) -> None:
        self.registered.append(self.gpus.index(self._gpu(handle, "nvmlDeviceRegisterEvents")))

    def nvmlEventSetWait_v2(self, _event_set, timeout_ms: int) -> real.c_nvmlEventData_t:
        try:
            index, xid = self.events.get(timeout=timeout_ms / 1000)
        except queue.Empty:
            raise real.NVMLError(real.NVML_ERROR_TIMEOUT) from None
        data = real.c_nvmlEventData_t()
        # A new pointer to the same device, as the C library fills in: equal address, different object.
        data.device = ctypes.cast(ctypes.cast(self._handles[index], ctypes.c_void_p), real.c_nvmlDevice_t)
        data.eventType = real.nvmlEventTypeXidCriticalError
        data.eventData = xid
        return data

    def nvmlEventSetFree(self, _event_set) -> None:
        self.event_sets_freed += 1

    # --- test controls -----------------------------------------------------------
    def raise_xid(self, gpu_index: int, xid: int) -> None:
        """Deliver an XID critical-error event for a GPU to the next nvmlEventSetWait_v2."""
        self.events.put((gpu_index, xid))
