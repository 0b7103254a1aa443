"""Child processes of the demo: each in its own process group, stopped as a group.

Every process the demo starts goes through ``start()``, so ``stop()`` can end its
whole tree (servers and Prometheus spawn helpers) and ``alive()`` can prove, by
process group, that nothing is left behind.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import requests


def port_is_free(port: int) -> bool:
    with socket.socket() as s:
        # As the servers bind: connections of an earlier run in TIME_WAIT do not block the port.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def pick_port(preferred: int, taken: set[int]) -> int:
    """``preferred`` if it is free on loopback, else any free port; never one in ``taken``."""
    if preferred not in taken and port_is_free(preferred):
        taken.add(preferred)
        return preferred
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in taken:
            taken.add(port)
            return port


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else (pid reused)
        return True
    return True


def stop_group(pgid: int, grace: float = 10.0, reap=lambda: None) -> None:
    """SIGTERM the group, then SIGKILL whatever is still there after ``grace`` seconds.

    ``reap`` lets the caller collect its own exited child, which would otherwise
    linger as a zombie and keep the group "alive".
    """
    try:
        os.killpg(pgid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        reap()
        if not group_alive(pgid):
            return
        time.sleep(0.05)
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        pass


class Proc:
    """One started command: its own session (= process group), output in a log file."""

    def __init__(
        self, name: str, cmd: list[str], log: Path, env: dict | None = None, cwd: Path | None = None
    ):
        self.name = name
        self.log_path = log
        log.parent.mkdir(parents=True, exist_ok=True)
        with open(log, "ab") as out:
            self.popen = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=cwd,
                start_new_session=True,
            )
        self.pid = self.popen.pid

    def running(self) -> bool:
        return self.popen.poll() is None

    def log_tail(self, lines: int = 20) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self, grace: float = 10.0) -> None:
        stop_group(self.pid, grace, reap=self.popen.poll)
        self.popen.wait()

    def wait_http(self, url: str, timeout: float) -> None:
        """Until ``url`` answers 200; raises RuntimeError with the log tail if it dies or times out."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.running():
                raise RuntimeError(f"{self.name} exited with {self.popen.returncode}:\n{self.log_tail()}")
            try:
                if requests.get(url, timeout=1).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.25)
        raise RuntimeError(f"{self.name} did not answer {url} within {timeout:.0f} s:\n{self.log_tail()}")


def marked_pids(marker: str) -> list[int]:
    """Live processes (zombies aside) whose environment holds ``marker`` (``NAME=value``), this one excepted.

    Catches what left its process group (a daemonising child calling setsid).
    """
    needle = marker.encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            stat = (entry / "stat").read_text()
            if stat[stat.rindex(")") + 2] != "Z" and needle in (entry / "environ").read_bytes():
                found.append(int(entry.name))
        except (OSError, ValueError):
            continue  # gone meanwhile, or not ours to read
    return found


def sweep(marker: str) -> list[int]:
    """SIGKILL every process carrying ``marker``; returns their pids."""
    left = marked_pids(marker)
    for pid in left:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return left
