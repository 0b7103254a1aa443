"""Reading Linux's /proc: one process's stat, memory and open files, and the boot time.

Shared by the process collector (the model server's processes) and the exporter's own
``process_*`` series (``pid`` may be ``"self"``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
# Errors that mean the process has exited (ESRCH when it exits during the read).
GONE = (FileNotFoundError, ProcessLookupError)


@dataclass(frozen=True, slots=True)
class Stat:
    """The fields of /proc/PID/stat used here (proc(5): ppid 4, utime 14, stime 15, num_threads 20,
    starttime 22)."""

    name: str
    ppid: int
    user: float  # seconds
    system: float
    threads: int
    started: float  # seconds after boot


def read_stat(proc: str, pid: int | str) -> Stat:
    fd = os.open(f"{proc}/{pid}/stat", os.O_RDONLY)
    try:
        data = os.read(fd, 4096)  # one line of about 300 bytes (os.read: no buffered file object)
    finally:
        os.close(fd)
    # The name sits in parentheses and may hold spaces and ")" itself: the fields follow the last ")".
    close = data.rfind(b")")
    fields = data[close + 2 :].split()
    return Stat(
        name=data[data.find(b"(") + 1 : close].decode(errors="replace"),
        ppid=int(fields[1]),
        user=int(fields[11]) / CLOCK_TICKS,
        system=int(fields[12]) / CLOCK_TICKS,
        threads=int(fields[17]),
        started=int(fields[19]) / CLOCK_TICKS,
    )


def read_memory(proc: str, pid: int | str) -> tuple[int, int]:
    """(virtual, resident) bytes from /proc/PID/statm, whose first two fields count pages."""
    fd = os.open(f"{proc}/{pid}/statm", os.O_RDONLY)
    try:
        size, resident = os.read(fd, 256).split()[:2]
    finally:
        os.close(fd)
    return int(size) * PAGE_SIZE, int(resident) * PAGE_SIZE


def count_fds(proc: str, pid: int | str) -> int:
    path = f"{proc}/{pid}/fd"
    # Linux >= 6.2 gives the count as the directory's size; 0 there means an older kernel (or no files).
    return os.stat(path).st_size or len(os.listdir(path))


def read_cmdline(proc: str, pid: int | str) -> str:
    with open(f"{proc}/{pid}/cmdline", "rb") as f:
        data = f.read()
    # Arguments end in NUL; a process that rewrote its title may use spaces. Either way: joined by spaces.
    return data.rstrip(b"\0").replace(b"\0", b" ").decode(errors="replace")


def boot_time(proc: str) -> float:
    with open(f"{proc}/stat", "rb") as f:
        for line in f:
            if line.startswith(b"btime "):
                return float(line.split()[1])
    raise ValueError(f"no btime line in {proc}/stat")
