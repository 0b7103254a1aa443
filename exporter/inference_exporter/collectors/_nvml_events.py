"""XID errors from an NVML event set, counted by a background thread.

XIDs are events, not values: a poll would miss them, so a thread blocks in
``nvmlEventSetWait_v2`` with a short timeout (so that :meth:`XidWatcher.close`
returns promptly) and counts each event by GPU and XID code.
"""

from __future__ import annotations

import logging
import threading

log = logging.getLogger(__name__)


class XidWatcher:
    """Counts XID critical-error events of the given devices until :meth:`close`."""

    def __init__(self, nvml, handles: list, timeout_ms: int = 500):
        self._nvml = nvml
        self._timeout_ms = timeout_ms
        self._counts: dict[tuple[str, int], int] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._event_set = None
        self.registered = 0
        xid = nvml.nvmlEventTypeXidCriticalError
        try:
            self._event_set = nvml.nvmlEventSetCreate()
        except nvml.NVMLError as e:
            log.info("NVML event set unavailable, XID errors are not counted", extra={"err": str(e)})
            return
        for handle in handles:
            try:
                if nvml.nvmlDeviceGetSupportedEventTypes(handle) & xid:
                    nvml.nvmlDeviceRegisterEvents(handle, xid, self._event_set)
                    self.registered += 1
            except nvml.NVMLError:
                continue  # this GPU reports no XID events (NotSupported) or is lost: count the others
        if self.registered:
            self._thread = threading.Thread(target=self._run, name="nvml-xid-events", daemon=True)
            self._thread.start()
        else:
            self._free()

    def _uuid(self, device) -> str:
        try:
            return self._nvml.nvmlDeviceGetUUID(device)
        except self._nvml.NVMLError:
            return ""

    def _run(self) -> None:
        nvml = self._nvml
        logged_error = False
        while not self._stop.is_set():
            try:
                data = nvml.nvmlEventSetWait_v2(self._event_set, self._timeout_ms)
            except nvml.NVMLError_Timeout:
                continue
            except nvml.NVMLError as e:
                if not logged_error:
                    logged_error = True
                    log.info("waiting for NVML events failed, retrying", extra={"err": str(e)})
                self._stop.wait(self._timeout_ms / 1000)
                continue
            if data.eventType & nvml.nvmlEventTypeXidCriticalError:
                key = (self._uuid(data.device), int(data.eventData))
                with self._lock:
                    self._counts[key] = self._counts.get(key, 0) + 1

    def counts(self) -> dict[tuple[str, int], int]:
        """(GPU uuid, XID code) -> events seen so far."""
        with self._lock:
            return dict(self._counts)

    def _free(self) -> None:
        if self._event_set is not None:
            try:
                self._nvml.nvmlEventSetFree(self._event_set)
            except self._nvml.NVMLError:
                pass
            self._event_set = None

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self._timeout_ms / 1000 + 5)
            if self._thread.is_alive():
                log.warning("NVML event thread did not stop; leaving the event set allocated")
                return
            self._thread = None
        self._free()
