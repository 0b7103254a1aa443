"""Process collector on a made-up /proc: how the process tree is kept between collections."""

from __future__ import annotations

import os

import pytest
from helpers import sample_value
from inference_exporter import exposition
from inference_exporter.builder import Builder
from inference_exporter.collectors import process
from inference_exporter.collectors.process import ProcessCollector, ProcessMatcher

TICKS = os.sysconf("SC_CLK_TCK")
EXPORTER = 900


class FakeProc:
    """A /proc directory with stat, statm, cmdline and fd for each process (no other reader needs more)."""

    def __init__(self, root):
        self.root = root
        (root / "stat").write_text("cpu  1 2 3 4\nbtime 1700000000\n")

    def start(self, pid: int, ppid: int, started_ticks: int, user_ticks: int = 0, cmdline: str = "python3"):
        d = self.root / str(pid)
        (d / "fd").mkdir(parents=True, exist_ok=True)
        # Fields after the name, from state (3) to rss (24); proc(5).
        fields = [
            "S",
            ppid,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
            user_ticks,
            0,
            0,
            0,
            20,
            0,
            1,
            0,
            started_ticks,
            4096,
            1,
        ]
        (d / "stat").write_text(f"{pid} (python3) " + " ".join(map(str, fields)) + "\n")
        (d / "statm").write_text("1 1 0 0 0 0 0\n")
        (d / "cmdline").write_bytes(cmdline.replace(" ", "\0").encode() + b"\0")

    def stop(self, pid: int) -> None:
        d = self.root / str(pid)
        for name in ("stat", "statm", "cmdline"):
            (d / name).unlink()
        (d / "fd").rmdir()
        d.rmdir()


@pytest.fixture
def proc(tmp_path):
    fake = FakeProc(tmp_path)
    fake.start(1, 0, 1)  # init
    fake.start(EXPORTER, 1, 5)
    fake.start(100, 1, 10)  # the server
    (tmp_path / "server.pid").write_text("100\n")
    return fake


def collector(proc: FakeProc, **matcher) -> ProcessCollector:
    matcher = matcher or {"pid_file": str(proc.root / "server.pid")}
    return ProcessCollector("llm", ProcessMatcher(**matcher), self_pid=EXPORTER, proc_root=str(proc.root))


def collect(c: ProcessCollector) -> str:
    b = Builder((("target", "llm"), ("server", "vllm")))
    c.collect(b)
    return exposition.render_snapshots([b.finish()]).text.decode()


def counting_reads(monkeypatch) -> list[int]:
    read: list[int] = []
    real = process.read_stat
    monkeypatch.setattr(process, "read_stat", lambda root, pid: read.append(pid) or real(root, pid))
    return read


def test_a_chain_of_new_workers_joins_at_once_and_only_new_pids_are_read(proc, monkeypatch):
    c = collector(proc)
    assert sample_value(collect(c), "inference_process_pids") == 1
    # Listed in an order where the grandchild comes before its parent.
    proc.start(300, 1, 20)  # someone else's
    proc.start(150, 200, 21)
    proc.start(200, 100, 20)
    read = counting_reads(monkeypatch)
    collect(c)
    assert c.pids() == {100, 150, 200}
    assert 1 not in read and EXPORTER not in read  # known, and not the server's: not read again


def test_a_reused_worker_pid_is_noticed_in_the_same_collection(proc):
    proc.start(200, 100, 20, user_ticks=3 * TICKS)
    c = collector(proc)
    assert sample_value(collect(c), "inference_process_pids") == 2
    # The worker exits and its pid goes, before the next listing, to a process that is not the server's.
    proc.stop(200)
    proc.start(200, 1, 40, user_ticks=7 * TICKS)
    text = collect(c)
    assert c.pids() == {100}
    assert sample_value(text, "inference_process_cpu_seconds_total", mode="user") == 3  # the worker's, kept


def test_a_restart_under_the_same_pid_counts_and_takes_the_new_start_time(proc):
    c = collector(proc)
    first = sample_value(collect(c), "inference_process_start_time_seconds")
    assert first == 1700000000 + 10 / TICKS
    proc.stop(100)
    proc.start(100, 1, 50)  # a container restart: the server gets its old pid again
    text = collect(c)
    assert sample_value(text, "inference_process_restarts_total") == 1
    assert sample_value(text, "inference_process_start_time_seconds") == 1700000000 + 50 / TICKS


def test_all_except_self_between_rescans_follows_the_tree_without_reading_command_lines(proc, monkeypatch):
    c = collector(proc, all_except_self=True)
    c.rescan_seconds = 3600
    assert sample_value(collect(c), "inference_process_pids") == 1  # init and the exporter are "mine"
    proc.start(200, 100, 20)
    cmdlines = []
    monkeypatch.setattr(process, "read_cmdline", lambda root, pid: cmdlines.append(pid) or "")
    assert sample_value(collect(c), "inference_process_pids") == 2
    assert cmdlines == []
