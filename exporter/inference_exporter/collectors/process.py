"""Resource use of one target's model-server processes, read with psutil.

The processes are found per collection by one of three rules (:class:`ProcessMatcher`):
a pid file, a regular expression on the process name or command line, or "every
process in this container except the exporter" for a sidecar that shares the pod's
process namespace. The oldest matching process without a matching parent is the
main process; its descendants (worker processes) are summed into the same series.
Between rescans (see ``RESCAN_SECONDS``) only the known processes and their children are
read, so a steady collection costs a few /proc reads per process, not a scan of them all.
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import psutil

from ..builder import Builder

log = logging.getLogger(__name__)

# (pid, create_time): a pid alone is reused by the kernel, the pair is not.
ProcKey = tuple[int, float]
# Pattern and all-except-self matching re-read every process's command line this often (and whenever a
# matched process is gone); in between, only the known processes and their children are read.
RESCAN_SECONDS = 60.0


def _alive(key: ProcKey) -> bool:
    try:
        return psutil.Process(key[0]).create_time() == key[1]
    except psutil.Error:
        return False


@dataclass(frozen=True)
class ProcessMatcher:
    """How to find a target's processes; set exactly one of the three."""

    pid_file: str = ""
    pattern: str = ""  # searched in the process name and in the joined command line
    all_except_self: bool = False

    def __post_init__(self) -> None:
        chosen = sum((bool(self.pid_file), bool(self.pattern), self.all_except_self))
        if chosen != 1:
            raise ValueError("set exactly one of pid_file, pattern, all_except_self")
        if self.pattern:
            re.compile(self.pattern)


@dataclass
class ProcInfo:
    ppid: int
    create_time: float
    name: str = ""
    cmdline: str = ""


def _descendants(roots: Iterable[int], children: dict[int, list[int]]) -> set[int]:
    found: set[int] = set()
    stack = list(roots)
    while stack:
        pid = stack.pop()
        if pid in found:
            continue
        found.add(pid)
        stack.extend(children.get(pid, ()))
    return found


def select(table: dict[int, ProcInfo], self_pid: int, regex: re.Pattern | None) -> list[int]:
    """Pids of a target's processes in a process table, main process first; [] when none.

    With a regex: processes whose name or command line matches, plus their descendants.
    Without: every process but the exporter's own (in a pod sharing its process namespace,
    the server and its workers).
    """
    children: dict[int, list[int]] = {}
    for pid, info in table.items():
        children.setdefault(info.ppid, []).append(pid)
    # The exporter, its descendants and its ancestors (a wrapper shell, the pod's pause process) are
    # never the model server, even when their command line matches.
    mine = _descendants([self_pid], children)
    pid = table[self_pid].ppid if self_pid in table else 0
    while pid in table and pid not in mine:
        mine.add(pid)
        pid = table[pid].ppid
    if regex:
        matched = {pid for pid, i in table.items() if regex.search(i.name) or regex.search(i.cmdline)} - mine
    else:
        matched = set(table) - mine
    roots = [pid for pid in matched if table[pid].ppid not in matched]
    if not roots:
        return []
    main = min(roots, key=lambda pid: (table[pid].create_time, pid))
    return [main] + sorted(_descendants(roots, children) - mine - {main})


class ProcessCollector:
    """Per-target process series on the target's Builder (identity ``target``/``server``)."""

    def __init__(self, target: str, matcher: ProcessMatcher, self_pid: int | None = None):
        self.target = target
        self.matcher = matcher
        self._self_pid = os.getpid() if self_pid is None else self_pid
        self._regex = re.compile(matcher.pattern) if matcher.pattern else None
        self._main: ProcKey | None = None
        self._restarts = 0
        self._pids: frozenset[int] = frozenset()
        self._cpu_seen: dict[ProcKey, tuple[float, float]] = {}
        self._cpu_gone = [0.0, 0.0]  # user, system of processes that have exited
        self._cpu_served = [0.0, 0.0]  # last values served: the counter never goes below them
        self._warned: set[str] = set()
        self.rescan_seconds = RESCAN_SECONDS
        self._roots: list[ProcKey] = []  # matched processes without a matched parent, main first
        self._scanned = 0.0

    # --- finding the processes ------------------------------------------------
    def _table(self, with_cmdline: bool) -> dict[int, ProcInfo]:
        attrs = ["ppid", "create_time", "name"] + (["cmdline"] if with_cmdline else [])
        table: dict[int, ProcInfo] = {}
        for p in psutil.process_iter(attrs):
            info = p.info
            if info.get("create_time") is None:
                continue
            name, cmdline = info.get("name") or "", " ".join(info.get("cmdline") or ())
            table[p.pid] = ProcInfo(info.get("ppid") or 0, info["create_time"], name, cmdline)
        return table

    def _find(self) -> list[int]:
        """Pids of the target's processes, main process first; [] when none."""
        if self.matcher.pid_file:
            try:
                return self._with_descendants([int(Path(self.matcher.pid_file).read_text().split()[0])])
            except (OSError, ValueError, IndexError):
                return []
        # Scanning every process's name and command line is the expensive part: do it only when a
        # root process is gone or replaced, or once in a while to notice new ones.
        now = time.monotonic()
        if self._roots and now - self._scanned < self.rescan_seconds and all(map(_alive, self._roots)):
            return self._with_descendants([pid for pid, _ in self._roots])
        table = self._table(with_cmdline=bool(self._regex))
        members = select(table, self._self_pid, self._regex)
        self._roots = [(pid, table[pid].create_time) for pid in members if table[pid].ppid not in members]
        self._scanned = now
        return members

    def _with_descendants(self, roots: list[int]) -> list[int]:
        pids: list[int] = []
        for pid in roots:
            try:
                children = psutil.Process(pid).children(recursive=True)
            except psutil.Error:
                continue
            pids.append(pid)
            pids.extend(c.pid for c in children if c.pid != self._self_pid)
        return pids

    # --- ownership, for the GPU collector ----------------------------------------
    def pids(self) -> frozenset[int]:
        """Pids found at the last collection."""
        return self._pids

    def owns(self, pid: int) -> bool:
        """Whether pid is one of the target's processes (a worker started since the last collection too)."""
        if pid in self._pids:
            return True
        if self._main is None:
            return False
        try:
            return any(parent.pid == self._main[0] for parent in psutil.Process(pid).parents())
        except psutil.Error:
            return False

    # --- collection --------------------------------------------------------------
    def _warn_once(self, group: str, err: Exception) -> None:
        if group not in self._warned:
            self._warned.add(group)
            log.info("process metrics unavailable", extra={"target": self.target, "group": group, "err": err})

    def collect(self, out: Builder) -> None:
        pids = self._find()
        seen_cpu: dict[ProcKey, tuple[float, float]] = {}
        rss = vms = threads = fds = 0
        have = set()
        main_key: ProcKey | None = None
        alive = []
        for pid in pids:
            try:
                proc = psutil.Process(pid)
                with proc.oneshot():
                    key = (pid, proc.create_time())
                    if pid == pids[0]:
                        main_key = key
                    alive.append(pid)
                    try:
                        cpu = proc.cpu_times()
                        seen_cpu[key] = (cpu.user, cpu.system)
                        have.add("cpu")
                    except psutil.AccessDenied as e:
                        self._warn_once("cpu", e)
                    try:
                        mem = proc.memory_info()
                        rss += mem.rss
                        vms += mem.vms
                        have.add("memory")
                    except psutil.AccessDenied as e:
                        self._warn_once("memory", e)
                    try:
                        threads += proc.num_threads()
                        have.add("threads")
                    except psutil.AccessDenied as e:
                        self._warn_once("threads", e)
                    try:
                        fds += proc.num_fds()
                        have.add("fds")
                    except psutil.AccessDenied as e:
                        self._warn_once("fds", e)
            except psutil.NoSuchProcess:
                continue  # exited between listing and reading
            except psutil.AccessDenied as e:
                self._warn_once("process", e)

        # Keep the CPU time of workers that exited so the counter never goes backwards.
        for key, (user, system) in self._cpu_seen.items():
            if key not in seen_cpu:
                self._cpu_gone[0] += user
                self._cpu_gone[1] += system
        self._cpu_seen = seen_cpu
        self._pids = frozenset(alive)

        if main_key is not None:
            if self._main is not None and main_key != self._main:
                self._restarts += 1
            self._main = main_key

        out.gauge("inference_process_pids", len(alive))
        out.counter("inference_process_restarts_total", self._restarts)
        if "cpu" in have or any(self._cpu_gone):
            # max(): summing in another order (or a process unreadable this time) must not look like a reset
            user = max(self._cpu_served[0], self._cpu_gone[0] + sum(u for u, _ in seen_cpu.values()))
            system = max(self._cpu_served[1], self._cpu_gone[1] + sum(s for _, s in seen_cpu.values()))
            self._cpu_served = [user, system]
            out.counter("inference_process_cpu_seconds_total", user, mode="user")
            out.counter("inference_process_cpu_seconds_total", system, mode="system")
        if "memory" in have:
            out.gauge("inference_process_resident_memory_bytes", rss)
            out.gauge("inference_process_virtual_memory_bytes", vms)
        if "threads" in have:
            out.gauge("inference_process_threads", threads)
        if "fds" in have:
            out.gauge("inference_process_open_fds", fds)
        if main_key is not None:
            out.gauge("inference_process_start_time_seconds", main_key[1])


def pid_owner(collectors: Iterable[ProcessCollector]) -> Callable[[int], str]:
    """pid -> name of the target whose processes include it ("" for none), for the GPU collector."""
    collectors = list(collectors)

    def owner(pid: int) -> str:
        for c in collectors:
            if c.owns(pid):
                return c.target
        return ""

    return owner
