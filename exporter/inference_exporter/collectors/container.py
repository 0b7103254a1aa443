"""CPU and memory of the exporter's own container, read from its cgroup (v2, v1 fallback).

A sidecar shares the pod's cgroup limits with nothing, but it does share the node's
view of the pod: the files read here are world-readable and need no privileges.
File formats: the kernel's Documentation/admin-guide/cgroup-v2.rst ("cpu" and
"memory" interface files) and cgroup-v1/cpuacct.rst, cgroup-v1/memory.rst and
scheduler/sched-bwc.rst (cfs_quota_us, cfs_period_us, cpu.stat) for v1.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import partial
from pathlib import Path

from ..builder import Builder
from ..snapshot import Snapshot
from . import CollectorContext, Registration

log = logging.getLogger(__name__)

USEC = 1e-6
NSEC = 1e-9
# cgroup v1 reports "no memory limit" as PAGE_COUNTER_MAX pages in bytes (about 2**63); anything
# this large is no limit.
V1_UNLIMITED = 2**62


def _read(path: Path) -> str:
    return path.read_text().strip()


def _flat_keyed(path: Path) -> dict[str, int]:
    """A "flat keyed" file (cpu.stat, memory.stat, memory.events): one ``key value`` per line."""
    out = {}
    for line in path.read_text().splitlines():
        parts = line.split()
        if len(parts) == 2:
            out[parts[0]] = int(parts[1])
    return out


def _own_cgroups(proc_root: Path) -> list[tuple[str, list[str], str]]:
    """(hierarchy id, controllers, path) per line of /proc/self/cgroup."""
    lines = []
    for line in _read(proc_root / "self" / "cgroup").splitlines():
        hid, controllers, path = line.split(":", 2)
        lines.append((hid, [c for c in controllers.split(",") if c], path))
    return lines


def _under(base: Path, path: str) -> Path:
    # Without a cgroup namespace the path names the host's hierarchy, while the container sees its own
    # cgroup mounted at the root: use the root then.
    candidate = base / path.lstrip("/")
    return candidate if path not in ("", "/") and candidate.is_dir() else base


class ContainerCollector:
    """Node-level series (no target labels) for the container the exporter runs in."""

    def __init__(self, cgroup_root: str | Path = "/sys/fs/cgroup", proc_root: str | Path = "/proc"):
        self.cgroup_root = Path(cgroup_root)
        self.proc_root = Path(proc_root)
        self._dirs: dict[str, Path] | None = None  # controller ("v2", "cpu", "cpuacct", "memory") -> dir
        self.version = 0
        self._reported: set[str] = set()

    def _resolve(self) -> dict[str, Path]:
        try:
            own = _own_cgroups(self.proc_root)
        except (OSError, ValueError):
            own = []
        if (self.cgroup_root / "cgroup.controllers").exists():
            self.version = 2
            path = next((p for hid, ctl, p in own if hid == "0" and not ctl), "/")
            return {"v2": _under(self.cgroup_root, path)}
        dirs = {}
        for name in ("cpu", "cpuacct", "memory"):
            for _, ctl, path in own:
                if name not in ctl:
                    continue
                for base in (self.cgroup_root / ",".join(ctl), self.cgroup_root / name):
                    if base.is_dir():
                        dirs[name] = _under(base, path)
                        break
            if name not in dirs and (self.cgroup_root / name).is_dir():
                dirs[name] = self.cgroup_root / name
        self.version = 1 if dirs else 0
        return dirs

    def collect(self, out: Builder) -> None:
        if self._dirs is None:
            self._dirs = self._resolve()
        missing: list[str] = []
        groups = self._v2_groups() if self.version == 2 else self._v1_groups()
        if not groups:
            missing.append("cgroup")
        for name, read in groups:
            try:
                read(out)
            except (OSError, ValueError, KeyError):
                missing.append(name)
        new = [m for m in missing if m not in self._reported]
        if new:
            self._reported.update(new)
            log.info(
                "cgroup files unavailable, their container series are skipped",
                extra={"missing": ",".join(new), "cgroup_version": self.version},
            )

    # --- cgroup v2 (Documentation/admin-guide/cgroup-v2.rst) -----------------------
    def _v2_groups(self) -> list[tuple[str, Callable[[Builder], None]]]:
        d = self._dirs["v2"]
        return [
            ("cpu.stat", partial(_v2_cpu_stat, d)),
            ("cpu.max", partial(_v2_cpu_max, d)),
            ("memory", partial(_v2_memory, d)),
            ("memory.max", partial(_v2_memory_max, d)),
            ("memory.events", partial(_v2_oom, d)),
        ]

    # --- cgroup v1 (Documentation/admin-guide/cgroup-v1/) ---------------------------
    def _v1_groups(self) -> list[tuple[str, Callable[[Builder], None]]]:
        groups = []
        if "cpuacct" in self._dirs:
            groups.append(("cpuacct.usage", partial(_v1_cpuacct, self._dirs["cpuacct"])))
        if "cpu" in self._dirs:
            d = self._dirs["cpu"]
            groups += [("cpu.cfs_quota_us", partial(_v1_quota, d)), ("cpu.stat", partial(_v1_cpu_stat, d))]
        if "memory" in self._dirs:
            d = self._dirs["memory"]
            groups += [
                ("memory", partial(_v1_memory, d)),
                ("memory.limit_in_bytes", partial(_v1_memory_limit, d)),
                ("memory.oom_control", partial(_v1_oom, d)),
            ]
        return groups


def _v2_cpu_stat(d: Path, out: Builder) -> None:
    stat = _flat_keyed(d / "cpu.stat")
    out.counter("inference_container_cpu_usage_seconds_total", stat["usage_usec"] * USEC)
    if "nr_periods" in stat:  # present only where the cpu controller is enabled
        out.counter("inference_container_cpu_periods_total", stat["nr_periods"])
        out.counter("inference_container_cpu_throttled_periods_total", stat["nr_throttled"])
        out.counter("inference_container_cpu_throttled_seconds_total", stat["throttled_usec"] * USEC)


def _v2_cpu_max(d: Path, out: Builder) -> None:
    quota, period = _read(d / "cpu.max").split()
    if quota != "max":
        out.gauge("inference_container_cpu_quota_cores", int(quota) / int(period))


def _v2_memory(d: Path, out: Builder) -> None:
    usage = int(_read(d / "memory.current"))
    out.gauge("inference_container_memory_usage_bytes", usage)
    inactive = _flat_keyed(d / "memory.stat")["inactive_file"]
    out.gauge("inference_container_memory_working_set_bytes", max(0, usage - inactive))


def _v2_memory_max(d: Path, out: Builder) -> None:
    limit = _read(d / "memory.max")
    if limit != "max":
        out.gauge("inference_container_memory_limit_bytes", int(limit))


def _v2_oom(d: Path, out: Builder) -> None:
    out.counter("inference_container_oom_kills_total", _flat_keyed(d / "memory.events")["oom_kill"])


def _v1_cpuacct(d: Path, out: Builder) -> None:
    out.counter("inference_container_cpu_usage_seconds_total", int(_read(d / "cpuacct.usage")) * NSEC)


def _v1_quota(d: Path, out: Builder) -> None:
    quota = int(_read(d / "cpu.cfs_quota_us"))
    if quota > 0:  # -1: no quota
        out.gauge("inference_container_cpu_quota_cores", quota / int(_read(d / "cpu.cfs_period_us")))


def _v1_cpu_stat(d: Path, out: Builder) -> None:
    stat = _flat_keyed(d / "cpu.stat")
    out.counter("inference_container_cpu_periods_total", stat["nr_periods"])
    out.counter("inference_container_cpu_throttled_periods_total", stat["nr_throttled"])
    out.counter("inference_container_cpu_throttled_seconds_total", stat["throttled_time"] * NSEC)


def _v1_memory(d: Path, out: Builder) -> None:
    usage = int(_read(d / "memory.usage_in_bytes"))
    out.gauge("inference_container_memory_usage_bytes", usage)
    stat = _flat_keyed(d / "memory.stat")
    # total_ includes descendant cgroups, as usage_in_bytes does
    inactive = stat["total_inactive_file"] if "total_inactive_file" in stat else stat["inactive_file"]
    out.gauge("inference_container_memory_working_set_bytes", max(0, usage - inactive))


def _v1_memory_limit(d: Path, out: Builder) -> None:
    limit = int(_read(d / "memory.limit_in_bytes"))
    if limit < V1_UNLIMITED:
        out.gauge("inference_container_memory_limit_bytes", limit)


def _v1_oom(d: Path, out: Builder) -> None:
    # oom_kill appeared in memory.oom_control with Linux 4.13
    out.counter("inference_container_oom_kills_total", _flat_keyed(d / "memory.oom_control")["oom_kill"])


class _Container:
    def __init__(self, ctx: CollectorContext):
        self._collector = ContainerCollector(ctx.cgroup_root, ctx.proc_root)
        self._labels = ctx.config.labels

    def collect(self) -> list[Snapshot]:
        out = Builder((), self._labels)
        self._collector.collect(out)
        return [out.finish()]

    def close(self) -> None:
        pass


COLLECTOR = Registration("container", "this container's cgroup CPU and memory", _Container, order=20)
