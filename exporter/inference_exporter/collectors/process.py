"""Resource use of one target's model-server processes, read from Linux's /proc.

The processes are found per collection by one of three rules (:class:`ProcessMatcher`):
a pid file, a regular expression on the process name or command line, or "every
process in this container except the exporter" for a sidecar that shares the pod's
process namespace. The oldest matching process without a matching parent is the
main process; its descendants (worker processes) are summed into the same series.

A collection runs every scrape interval beside the server, so it reads little: per process,
/proc/PID/stat (CPU time, threads, start time), /proc/PID/statm (memory: stat has it too, but
since Linux 6.2 only as a per-CPU estimate that can be off by megabytes) and the size of
/proc/PID/fd (the open-file count since Linux 6.2; older kernels list the directory).
New workers are found by listing /proc and reading the parent of the pids that were not there
at the previous listing; every process's stat is read only when a known process is gone, and
every command line only at a rescan of a pattern or all-except-self rule (``RESCAN_SECONDS``, or
when a root process is gone or replaced).
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from ..builder import Builder
from ..config import TargetConfig
from ..snapshot import Snapshot
from . import CollectorContext, Registration
from ._procfs import GONE, Stat, boot_time, count_fds, read_cmdline, read_memory, read_stat

log = logging.getLogger(__name__)

# (pid, start time in seconds after boot): a pid alone is reused by the kernel, the pair is not. Seconds
# after boot rather than since the epoch, so that a step of the wall clock is not a restart.
ProcKey = tuple[int, float]
# Pattern and all-except-self matching re-read every process's command line this often (and whenever a
# root process is gone or replaced); in between, only the known processes and the new pids are read.
RESCAN_SECONDS = 60.0
# stat holds the first 15 bytes of the name; the command line's first word has all of it.
NAME_LIMIT = 15
# Bounds the walk up a parent chain (a guard: process trees are a few levels deep).
MAX_ANCESTORS = 256


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


def _children(table: dict[int, ProcInfo]) -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for pid, info in table.items():
        children.setdefault(info.ppid, []).append(pid)
    return children


def select(table: dict[int, ProcInfo], self_pid: int, regex: re.Pattern | None) -> list[int]:
    """Pids of a target's processes in a process table, main process first; [] when none.

    With a regex: processes whose name or command line matches, plus their descendants.
    Without: every process but the exporter's own (in a pod sharing its process namespace,
    the server and its workers).
    """
    children = _children(table)
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

    def __init__(
        self, target: str, matcher: ProcessMatcher, self_pid: int | None = None, proc_root: str = "/proc"
    ):
        self.target = target
        self.matcher = matcher
        self._proc = str(proc_root).rstrip("/")
        self._self_pid = os.getpid() if self_pid is None else self_pid
        self._regex = re.compile(matcher.pattern) if matcher.pattern else None
        self._main: ProcKey | None = None
        self._main_started_at = 0.0  # its start time since the epoch
        self._boot_time: float | None = None
        self._restarts = 0
        self._pids: frozenset[int] = frozenset()
        self._cpu_seen: dict[ProcKey, tuple[float, float]] = {}
        self._cpu_gone = [0.0, 0.0]  # user, system of processes that have exited
        self._cpu_served = [0.0, 0.0]  # last values served: the counter never goes below them
        self._warned: set[str] = set()
        self.rescan_seconds = RESCAN_SECONDS
        self._roots: list[ProcKey] = []  # matched processes without a matched parent, main first
        self._scanned = 0.0
        # The process tree as last seen: /proc's pids, and the target's processes grown from _tree_roots.
        self._listed: set[int] = set()
        self._tree_roots: list[int] = []
        self._members: list[int] = []  # main first
        self._tree_stale = False  # a known pid now names another process: read the whole tree again

    # --- finding the processes ------------------------------------------------
    def _list(self) -> set[int]:
        return {int(entry) for entry in os.listdir(self._proc) if entry.isdigit()}

    def _table(self, pids: Iterable[int], with_names: bool) -> dict[int, ProcInfo]:
        table: dict[int, ProcInfo] = {}
        for pid in pids:
            try:
                stat = read_stat(self._proc, pid)
            except (OSError, ValueError, IndexError):
                continue  # exited, or hidden from us
            name = cmdline = ""
            if with_names:
                name = stat.name
                try:
                    cmdline = read_cmdline(self._proc, pid)
                except OSError:
                    pass
                # As psutil names it: the full name when stat's is cut short.
                if len(name) >= NAME_LIMIT and cmdline:
                    full = os.path.basename(cmdline.split(" ", 1)[0])
                    name = full if full.startswith(name) else name
            table[pid] = ProcInfo(stat.ppid, stat.started, name, cmdline)
        return table

    def _find(self) -> list[int]:
        """Pids of the target's processes, main process first; [] when none."""
        try:
            listed = self._list()
        except OSError:
            return []
        new, self._listed = listed - self._listed, listed
        if self.matcher.pid_file:
            try:
                roots = [int(Path(self.matcher.pid_file).read_text().split()[0])]
            except (OSError, ValueError, IndexError):
                roots = []
            if not roots or roots[0] not in listed:
                self._tree_roots, self._members = [], []
                return []
        else:
            roots = self._known_roots(listed)
            if not roots:
                return self._rescan(listed)
        known = self._members and roots == self._tree_roots and not self._tree_stale
        if known and listed.issuperset(self._members):
            self._grow(new)  # the tree is as it was: only new pids can join it
        else:
            self._build(roots, self._table(listed, with_names=False))
        return self._members

    def _known_roots(self, listed: set[int]) -> list[int]:
        """The roots of the last rescan while they all run and no rescan is due; [] otherwise."""
        # Scanning every process's name and command line is the expensive part: do it only when a
        # root process is gone or replaced, or once in a while to notice new ones.
        if not self._roots or time.monotonic() - self._scanned >= self.rescan_seconds:
            return []
        for pid, started in self._roots:
            try:
                if pid not in listed or read_stat(self._proc, pid).started != started:
                    return []
            except (OSError, ValueError, IndexError):
                return []
        return [pid for pid, _ in self._roots]

    def _rescan(self, listed: set[int]) -> list[int]:
        table = self._table(listed, with_names=bool(self._regex))
        members = select(table, self._self_pid, self._regex)
        self._roots = [(pid, table[pid].create_time) for pid in members if table[pid].ppid not in members]
        self._scanned = time.monotonic()
        self._tree_roots, self._members, self._tree_stale = [pid for pid, _ in self._roots], members, False
        return members

    def _build(self, roots: list[int], table: dict[int, ProcInfo]) -> None:
        """The roots and their descendants in a full process table; the exporter's subtree left out."""
        if self._self_pid not in roots:  # a pid file may name the exporter itself
            table.pop(self._self_pid, None)
        members = _descendants([pid for pid in roots if pid in table], _children(table))
        main = roots[0]
        self._tree_roots, self._tree_stale = roots, False
        self._members = [main] + sorted(members - {main}) if main in members else []

    def _grow(self, new: set[int]) -> None:
        """Adds the new pids whose parent is one of the target's processes (or becomes one)."""
        if not new:
            return
        parents = self._table(sorted(new), with_names=False)
        members = set(self._members)
        grown = True
        while grown:
            grown = False
            for pid, info in parents.items():
                if pid not in members and pid != self._self_pid and info.ppid in members:
                    members.add(pid)
                    grown = True
        if len(members) > len(self._members):
            main = self._members[0]
            self._members = [main] + sorted(members - {main})

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
        for _ in range(MAX_ANCESTORS):
            try:
                pid = read_stat(self._proc, pid).ppid
            except (OSError, ValueError, IndexError):
                return False
            if pid == self._main[0]:
                return True
            if pid <= 0:
                return False
        return False

    # --- collection --------------------------------------------------------------
    def _warn_once(self, group: str, err: Exception) -> None:
        if group not in self._warned:
            self._warned.add(group)
            log.info("process metrics unavailable", extra={"target": self.target, "group": group, "err": err})

    def _start_time(self, key: ProcKey) -> float:
        # Boot time is read once, as prometheus_client does: a start time must not move with the clock.
        if self._boot_time is None:
            try:
                self._boot_time = boot_time(self._proc)
            except (OSError, ValueError) as e:
                self._warn_once("boot time", e)
                return 0.0
        return self._boot_time + key[1]

    def _read_stats(self, pids: list[int]) -> list[tuple[int, Stat]]:
        stats = []
        started_before = {pid: started for pid, started in self._cpu_seen}
        for pid in pids:
            try:
                stat = read_stat(self._proc, pid)
            except GONE:
                continue  # exited between listing and reading
            except (OSError, ValueError, IndexError) as e:
                self._warn_once("process", e)
                continue
            if started_before.get(pid, stat.started) != stat.started:
                self._tree_stale = True  # the pid was reused: who descends from whom is out of date
            stats.append((pid, stat))
        return stats

    def collect(self, out: Builder) -> None:
        pids = self._find()
        stats = self._read_stats(pids)
        if self._tree_stale:
            pids = self._find()
            stats = self._read_stats(pids)
        seen_cpu: dict[ProcKey, tuple[float, float]] = {}
        rss = vms = threads = fds = 0
        have_memory = have_fds = False
        main_key: ProcKey | None = None
        alive = []
        for pid, stat in stats:
            key = (pid, stat.started)
            if pid == pids[0]:
                main_key = key
            alive.append(pid)
            seen_cpu[key] = (stat.user, stat.system)
            threads += stat.threads
            try:
                size, resident = read_memory(self._proc, pid)
                vms += size
                rss += resident
                have_memory = True
            except GONE:
                pass
            except (OSError, ValueError) as e:
                self._warn_once("memory", e)
            try:
                fds += count_fds(self._proc, pid)
                have_fds = True
            except GONE:
                pass
            except OSError as e:  # listing another user's files needs ptrace rights
                self._warn_once("fds", e)

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
            if main_key != self._main:
                self._main_started_at = self._start_time(main_key)
            self._main = main_key

        out.gauge("inference_process_pids", len(alive))
        out.counter("inference_process_restarts_total", self._restarts)
        if seen_cpu or any(self._cpu_gone):
            # max(): summing in another order (or a process unreadable this time) must not look like a reset
            user = max(self._cpu_served[0], self._cpu_gone[0] + sum(u for u, _ in seen_cpu.values()))
            system = max(self._cpu_served[1], self._cpu_gone[1] + sum(s for _, s in seen_cpu.values()))
            self._cpu_served = [user, system]
            out.counter("inference_process_cpu_seconds_total", user, mode="user")
            out.counter("inference_process_cpu_seconds_total", system, mode="system")
        if have_memory:
            out.gauge("inference_process_resident_memory_bytes", rss)
            out.gauge("inference_process_virtual_memory_bytes", vms)
        if alive:
            out.gauge("inference_process_threads", threads)
        if have_fds:
            out.gauge("inference_process_open_fds", fds)
        if main_key is not None:
            out.gauge("inference_process_start_time_seconds", self._main_started_at)


def pid_owner(collectors: list[ProcessCollector]) -> Callable[[int], str]:
    """pid -> name of the target whose processes include it ("" for none), for the GPU collector.

    Reads ``collectors`` at each call, so collectors added later are found too."""

    def owner(pid: int) -> str:
        for c in collectors:
            if c.owns(pid):
                return c.target
        return ""

    return owner


class TargetProcesses:
    """The process collector as the exporter runs it: one ProcessCollector per target with a
    ``process:`` block, each serving under its target's identity."""

    def __init__(self, parts: list[tuple[TargetConfig, ProcessCollector]], kind_of: Callable[[str], str]):
        self._parts = parts
        self._kind_of = kind_of

    def collect(self) -> list[Snapshot]:
        snapshots = []
        for target, collector in self._parts:
            out = Builder((("target", target.name), ("server", self._kind_of(target.name))), target.labels)
            collector.collect(out)
            snapshots.append(out.finish())
        return snapshots

    def close(self) -> None:
        pass


def _build(ctx: CollectorContext) -> TargetProcesses | None:
    parts = []
    for target in ctx.config.targets:
        if target.process is not None:
            p = target.process
            matcher = ProcessMatcher(pid_file=p.pid_file, pattern=p.match, all_except_self=p.container)
            collector = ProcessCollector(target.name, matcher, proc_root=ctx.proc_root)
            parts.append((target, collector))
            ctx.process_owners.append(collector)
    return TargetProcesses(parts, ctx.kind_of) if parts else None


COLLECTOR = Registration(
    "process", "the model server's processes (targets with a process: block)", _build, order=10
)
