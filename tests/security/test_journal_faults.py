"""The journal under faults: failed rotations, full disks, kill -9 (defects 1 and 8)."""

from __future__ import annotations

import contextlib
import errno
import io
import json
import os
import random
import signal
import socket
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from campaign import ExporterProcess
from inference_exporter import journal as journal_module
from inference_exporter import log as logsetup
from inference_exporter.journal import Journal, segments


def _lines(folder: Path) -> list[bytes]:
    return [line for seg in segments(folder) for line in seg.read_bytes().split(b"\n") if line]


def _complete_json(folder: Path) -> list[dict]:
    """Every terminated line, each a whole JSON event (a kill may tear only the unterminated tail)."""
    events = []
    for seg in segments(folder):
        data = seg.read_bytes()
        events += [json.loads(line) for line in data[: data.rfind(b"\n") + 1].split(b"\n") if line]
    return events


def _all_json(folder: Path) -> list[dict]:
    """Every line of every segment, each of which must be a whole JSON event."""
    events = []
    for line in _lines(folder):
        events.append(json.loads(line))  # a corrupt line fails here
    return events


def test_failed_rotation_never_writes_into_another_descriptor(tmp_path, monkeypatch):
    """Defect 1: the rotation closed its descriptor before opening the next segment; when the
    open failed, events went to whatever socket reused the number."""
    journal = Journal(tmp_path / "j", max_bytes=4096, max_files=3, fsync="never")
    real_open = os.open

    def no_inodes(path, *args, **kwargs):
        if "events-" in str(path):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(journal_module.os, "open", no_inodes)
    for i in range(40):  # ~200 bytes each: the segment is full after ~20, rotation fails from then on
        journal.emit("target_down", target=f"t{i}", reason="connection")
    monkeypatch.setattr(journal_module.os, "open", real_open)
    # A target connection opened now gets the lowest free descriptor number.
    left, right = socket.socketpair()
    right.setblocking(False)
    try:
        for i in range(20):
            journal.emit("target_up", target=f"after{i}")
        with pytest.raises(BlockingIOError):
            right.recv(65536)  # nothing arrived on the socket
    finally:
        left.close()
        right.close()
    events = _all_json(tmp_path / "j")
    assert [e["target"] for e in events if e["type"] == "target_up"] == [f"after{i}" for i in range(20)]
    assert journal.errors > 0
    journal.close()


@contextlib.contextmanager
def small_filesystem(folder: Path, size_kib: int = 48):
    """A tmpfs of ``size_kib`` at ``folder`` (root can mount one); yields its mode."""
    folder.mkdir(parents=True, exist_ok=True)
    mounted = (
        os.geteuid() == 0
        and not os.environ.get("CAMPAIGN_SIMULATED_DISK")  # set to check the fallback
        and subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size_kib}k", "tmpfs", str(folder)], capture_output=True
        ).returncode
        == 0
    )
    try:
        yield "tmpfs" if mounted else "simulated"
    finally:
        if mounted:
            subprocess.run(["umount", "-l", str(folder)], capture_output=True)


class _SimulatedDisk:
    """ENOSPC at the os layer for the journal's segments once ``free`` bytes are used: a write
    that does not fit is cut short first, as the kernel does."""

    def __init__(self, monkeypatch, free: int):
        self.free = free
        self.full = True
        real_write = os.write

        def write(fd, data):
            if self.full and fd > 2 and os.readlink(f"/proc/self/fd/{fd}").find("events-") >= 0:
                if self.free <= 0:
                    raise OSError(errno.ENOSPC, "No space left on device")
                part = bytes(data[: self.free])
                self.free -= len(part)
                return real_write(fd, part)
            return real_write(fd, data)

        monkeypatch.setattr(journal_module.os, "write", write)


def test_full_disk_is_logged_counted_and_never_corrupts_a_line(tmp_path, monkeypatch):
    """Defect 8: on a full disk nothing was logged, and after space returned a torn line sat
    mid-file. A small tmpfs where root may mount one, else ENOSPC simulated at os.write."""
    folder = tmp_path / "fs"
    logs = io.StringIO()
    logsetup.setup("info", "logfmt", logs)
    with small_filesystem(folder) as mode:
        journal = Journal(folder / "j", max_bytes=1 << 20, max_files=2, fsync="always")
        if mode == "tmpfs":
            filler = folder / "filler"
            fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
            with contextlib.suppress(OSError):  # fill the disk...
                while True:
                    os.write(fd, b"x" * 1024)
            os.ftruncate(fd, max(0, os.fstat(fd).st_size - 6 * 1024))  # ...but for a few KiB
            os.close(fd)
        else:
            disk = _SimulatedDisk(monkeypatch, free=6 * 1024)
        written = 0
        for i in range(300):
            before = journal.errors
            journal.emit("canary_failed", target="t", model="m", reason="x" * (50 + i % 70), n=i)
            written += journal.errors == before
        assert journal.errors > 0, f"the disk never filled ({mode})"
        failures = [line for line in logs.getvalue().splitlines() if "journal write failed" in line]
        assert len(failures) == 1, f"expected one rate-limited log line ({mode}):\n{logs.getvalue()}"
        # Space returns: writing resumes, and every line on disk is a whole event.
        if mode == "tmpfs":
            filler.unlink()
        else:
            disk.full = False
        journal.emit("target_up", target="back")
        events = _all_json(folder / "j")
        assert events[-1]["target"] == "back"
        assert len(events) == written + 1, f"{mode}: {len(events)} lines for {written + 1} events written"
        assert "journal writes recovered" in logs.getvalue()
        journal.close()


class _FlappingTarget:
    """A target that is up on one request and down on the next: an event every collection."""

    def __init__(self):
        flip = {"n": 0}

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):  # noqa: N802
                flip["n"] += 1
                body = b'vllm:num_requests_running{model_name="m"} 1\n'
                self.send_response(200 if flip["n"] % 2 else 500)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/metrics"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def test_kill_9_at_random_moments_never_corrupts_the_journal(tmp_path):
    """A real exporter writing an event every 50 ms, killed with SIGKILL at seeded random
    moments and restarted on the same journal, five times: every line stays a whole event."""
    seed = int(os.environ.get("CAMPAIGN_SEED", "1414"))
    rng = random.Random(seed)
    target = _FlappingTarget()
    config = (
        "targets:\n"
        f"  - {{name: flap, kind: vllm, metrics_url: '{target.url}',\n"
        "      scrape_interval: 0.1s, scrape_timeout: 0.1s}\n"
    )
    try:
        for round_ in range(5):
            proc = ExporterProcess(tmp_path, config, "--journal.max-bytes=4096", "--journal.max-files=4")
            time.sleep(rng.uniform(0.5, 1.5))
            proc.proc.send_signal(signal.SIGKILL)
            proc.proc.wait(10)
            proc.stop()
            events = _complete_json(proc.journal)
            assert events, f"seed {seed}, round {round_}: no events written"
            assert len(segments(proc.journal)) <= 4, f"seed {seed}: rotation kept too many segments"
        # A last, clean start repairs a torn tail; then every line is whole.
        proc = ExporterProcess(tmp_path, config, "--journal.max-bytes=4096", "--journal.max-files=4")
        proc.stop()
        assert _all_json(proc.journal), f"seed {seed}"
    finally:
        target.close()
