"""Process collector against real processes started by the test."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import uuid

import psutil
import pytest
from helpers import promtool_check_metrics, sample_value
from inference_exporter import exposition
from inference_exporter.builder import Builder
from inference_exporter.collectors import process
from inference_exporter.collectors.process import (
    ProcessCollector,
    ProcessMatcher,
    ProcInfo,
    pid_owner,
    select,
)

MiB = 1024**2


def spawn(code: str, *args: str) -> subprocess.Popen:
    """A Python child that prints one line when it is ready."""
    proc = subprocess.Popen(
        [sys.executable, "-c", code, *args], stdout=subprocess.PIPE, stdin=subprocess.PIPE, text=True
    )
    assert proc.stdout.readline().strip() == "ready"
    return proc


SLEEPER = "import time; print('ready', flush=True); time.sleep(120)"


@pytest.fixture
def children():
    procs: list[subprocess.Popen] = []
    yield procs
    for p in procs:
        for child in psutil.Process(p.pid).children(recursive=True) if p.poll() is None else ():
            child.kill()
        p.kill()
        p.wait()


def collect(collector: ProcessCollector) -> str:
    b = Builder((("target", collector.target), ("server", "vllm")))
    collector.collect(b)
    return exposition.render_snapshots([b.finish()]).text.decode()


def pid_file(tmp_path, proc) -> ProcessMatcher:
    path = tmp_path / f"{proc.pid}.pid"
    path.write_text(f"{proc.pid}\n")
    return ProcessMatcher(pid_file=str(path))


def cpu_seconds(text: str) -> float:
    return sum(sample_value(text, "inference_process_cpu_seconds_total", mode=m) for m in ("user", "system"))


def test_cpu_burning_child_accumulates_cpu_seconds(tmp_path, children):
    # Burns 0.5 s of CPU time when told to, then says so.
    burn = (
        "import time\nprint('ready', flush=True)\ninput()\n"
        "end = time.process_time() + 0.5\nwhile time.process_time() < end: pass\n"
        "print('done', flush=True)\ninput()"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", burn], stdout=subprocess.PIPE, stdin=subprocess.PIPE, text=True
    )
    children.append(proc)
    assert proc.stdout.readline().strip() == "ready"
    collector = ProcessCollector("llm", pid_file(tmp_path, proc))
    before = cpu_seconds(collect(collector))
    proc.stdin.write("go\n")
    proc.stdin.flush()
    assert proc.stdout.readline().strip() == "done"
    text = collect(collector)
    times = psutil.Process(proc.pid).cpu_times()
    assert cpu_seconds(text) - before >= 0.5 - 0.02  # clock-tick resolution
    assert sample_value(text, "inference_process_cpu_seconds_total", mode="user") == times.user
    assert sample_value(
        text, "inference_process_cpu_seconds_total", target="llm", server="vllm", mode="system"
    ) == (times.system)


def test_memory_of_a_child_allocating_a_known_amount(tmp_path, children):
    allocate = (
        "import sys; block = b'x' * (int(sys.argv[1]) * 1024 * 1024); print('ready', flush=True); input()"
    )
    baseline = spawn(allocate, "0")
    loaded = spawn(allocate, "256")
    children += [baseline, loaded]
    rss = {}
    for name, proc in (("baseline", baseline), ("loaded", loaded)):
        text = collect(ProcessCollector(name, pid_file(tmp_path, proc)))
        rss[name] = sample_value(text, "inference_process_resident_memory_bytes")
        assert sample_value(text, "inference_process_virtual_memory_bytes") >= rss[name]
        assert sample_value(text, "inference_process_threads") >= 1
        assert sample_value(text, "inference_process_open_fds") >= 3  # stdin, stdout, stderr
        assert sample_value(text, "inference_process_pids") == 1
        started = sample_value(text, "inference_process_start_time_seconds")
        assert started == pytest.approx(psutil.Process(proc.pid).create_time())
    assert rss["loaded"] - rss["baseline"] == pytest.approx(256 * MiB, rel=0.05)


def test_killed_and_restarted_server_moves_the_restart_counter(children):
    marker = f"model-server-{uuid.uuid4().hex}"
    # The servers are this test's children, so the "exporter" must be someone else: a sibling.
    exporter = spawn(SLEEPER)
    children.append(exporter)
    collector = ProcessCollector("llm", ProcessMatcher(pattern=re.escape(marker)), self_pid=exporter.pid)
    children.append(spawn(SLEEPER, marker))
    text = collect(collector)
    assert sample_value(text, "inference_process_restarts_total") == 0
    started = sample_value(text, "inference_process_start_time_seconds")
    assert (
        sample_value(collect(collector), "inference_process_restarts_total") == 0
    )  # same process: no restart

    children[1].kill()
    children[1].wait()
    text = collect(collector)  # down: no process, counter kept
    assert sample_value(text, "inference_process_pids") == 0
    assert sample_value(text, "inference_process_restarts_total") == 0
    assert sample_value(text, "inference_process_resident_memory_bytes") is None

    time.sleep(0.02)  # start times have 10 ms resolution
    children.append(spawn(SLEEPER, marker))
    text = collect(collector)
    assert sample_value(text, "inference_process_restarts_total") == 1
    assert sample_value(text, "inference_process_start_time_seconds") > started


def test_command_lines_are_rescanned_only_when_due(children):
    marker = f"model-server-{uuid.uuid4().hex}"
    exporter = spawn(SLEEPER)
    children += [exporter, spawn(SLEEPER, marker)]
    collector = ProcessCollector("llm", ProcessMatcher(pattern=re.escape(marker)), self_pid=exporter.pid)
    collector.rescan_seconds = 3600
    assert sample_value(collect(collector), "inference_process_pids") == 1
    children.append(spawn(SLEEPER, marker))  # a second, independent server
    assert sample_value(collect(collector), "inference_process_pids") == 1  # the known one is still there
    collector.rescan_seconds = 0
    assert sample_value(collect(collector), "inference_process_pids") == 2


def test_child_workers_are_summed_into_their_server_and_counted(tmp_path, children):
    # A server with two workers; the first burns CPU, then is killed: its CPU time must stay counted.
    burner = (
        "import time\nend = time.process_time() + 0.4\nwhile time.process_time() < end: pass\n"
        "print('ready', flush=True)\ntime.sleep(120)"
    )
    server = (
        "import subprocess, sys\n"
        f"w1 = subprocess.Popen([sys.executable, '-c', {burner!r}], stdout=subprocess.PIPE)\n"
        f"w2 = subprocess.Popen([sys.executable, '-c', {SLEEPER!r}], stdout=subprocess.PIPE)\n"
        "w1.stdout.readline(); w2.stdout.readline(); print('ready', flush=True)\n"
        "w1.wait(); print('ready', flush=True); input()"
    )
    proc = spawn(server)
    children.append(proc)
    collector = ProcessCollector("llm", pid_file(tmp_path, proc))
    text = collect(collector)
    assert sample_value(text, "inference_process_pids") == 3
    workers = psutil.Process(proc.pid).children()
    assert collector.pids() == {proc.pid, *(w.pid for w in workers)}
    rss = sum(p.memory_info().rss for p in [psutil.Process(proc.pid), *workers])
    assert sample_value(text, "inference_process_resident_memory_bytes") == pytest.approx(rss, rel=0.1)
    assert sample_value(text, "inference_process_threads") >= 3
    busy = cpu_seconds(text)
    assert busy >= 0.4 - 0.02

    next(w for w in workers if w.cmdline()[-1] == burner).kill()
    assert proc.stdout.readline().strip() == "ready"  # the server has reaped it
    text = collect(collector)
    assert sample_value(text, "inference_process_pids") == 2
    assert cpu_seconds(text) >= busy
    assert (
        sample_value(text, "inference_process_restarts_total") == 0
    )  # workers come and go, the server stays


def test_gpu_attribution_finds_the_owner_of_a_pid(tmp_path, children):
    # The server starts its worker only when told to, after the collection.
    server = (
        "import subprocess, sys\nprint('ready', flush=True); input()\n"
        f"w = subprocess.Popen([sys.executable, '-c', {SLEEPER!r}], stdout=subprocess.PIPE)\n"
        "w.stdout.readline(); print('ready', flush=True); input()"
    )
    llm = spawn(server)
    other = spawn(SLEEPER)
    children += [llm, other]
    collector = ProcessCollector("llm", pid_file(tmp_path, llm))
    collect(collector)
    llm.stdin.write("start a worker\n")
    llm.stdin.flush()
    assert llm.stdout.readline().strip() == "ready"
    worker = psutil.Process(llm.pid).children()[0].pid
    assert worker not in collector.pids()
    owner = pid_owner([ProcessCollector("idle", ProcessMatcher(pattern="^no-such-process$")), collector])
    assert owner(llm.pid) == "llm"
    assert owner(worker) == "llm"  # found through its parent
    assert owner(other.pid) == ""
    assert owner(os.getpid()) == ""


def test_missing_pid_file_gives_a_zero_count_not_an_error(tmp_path):
    text = collect(ProcessCollector("llm", ProcessMatcher(pid_file=str(tmp_path / "absent.pid"))))
    assert sample_value(text, "inference_process_pids") == 0
    assert sample_value(text, "inference_process_restarts_total") == 0


def test_exporter_and_its_children_never_match(children):
    # The exporter's command line may well hold the pattern (a config path, say), and so may its children's.
    marker = f"exporter-config-{uuid.uuid4().hex}"
    helper = (
        f"import subprocess, sys\nsubprocess.Popen([sys.executable, '-c', {SLEEPER!r}, sys.argv[1]]).wait()"
    )
    exporter = subprocess.Popen([sys.executable, "-c", helper, marker])
    children.append(exporter)
    deadline = time.monotonic() + 10
    while not psutil.Process(exporter.pid).children() and time.monotonic() < deadline:
        time.sleep(0.01)
    collector = ProcessCollector("self", ProcessMatcher(pattern=re.escape(marker)), self_pid=exporter.pid)
    assert sample_value(collect(collector), "inference_process_pids") == 0
    other = ProcessCollector("other", ProcessMatcher(pattern=re.escape(marker)), self_pid=os.getpid() + 10**7)
    assert (
        sample_value(collect(other), "inference_process_pids") == 2
    )  # the same processes, seen from outside


# A pod sharing its process namespace:
# pause (1) -> server (7) -> workers (12, 13); pause -> exporter (20) -> helper (21).
POD = {
    1: ProcInfo(0, 100.0, "pause", "/pause"),
    7: ProcInfo(1, 101.0, "python3", "python3 -m vllm.entrypoints.openai.api_server --model m"),
    12: ProcInfo(7, 105.0, "python3", "python3 -c from multiprocessing.spawn import spawn_main"),
    13: ProcInfo(7, 105.5, "python3", "python3 -c from multiprocessing.spawn import spawn_main"),
    20: ProcInfo(1, 102.0, "inference-expor", "python -m inference_exporter --config /etc/x.yaml"),
    21: ProcInfo(20, 103.0, "python3", "python3 helper"),
}


def test_all_except_self_in_a_shared_pod_namespace_finds_the_server_and_its_workers():
    assert select(POD, self_pid=20, regex=None) == [7, 12, 13]


def test_pattern_match_adds_descendants_that_do_not_match():
    assert select(POD, self_pid=20, regex=re.compile("vllm")) == [7, 12, 13]
    assert select(POD, self_pid=20, regex=re.compile("inference_exporter|helper")) == []


def test_matcher_needs_exactly_one_rule():
    with pytest.raises(ValueError):
        ProcessMatcher()
    with pytest.raises(ValueError):
        ProcessMatcher(pid_file="/run/x.pid", pattern="x")


def test_promtool_accepts_process_output(tmp_path, children):
    proc = spawn(SLEEPER)
    children.append(proc)
    result = promtool_check_metrics(collect(ProcessCollector("llm", pid_file(tmp_path, proc))))
    assert result.returncode == 0 and not result.stdout.strip(), result.stdout + result.stderr


# --- what a collection reads ---------------------------------------------------------------------------


def test_values_match_what_psutil_reads_from_its_four_files(tmp_path, children):
    # One stat read and the fd directory's size stand in for psutil's stat, statm, status and fd listing.
    holder = (
        "import sys\nfiles = [open(sys.executable, 'rb') for _ in range(40)]\n"
        "print('ready', flush=True)\ninput()"
    )
    proc = spawn(holder)
    children.append(proc)
    text = collect(ProcessCollector("llm", pid_file(tmp_path, proc)))
    ps = psutil.Process(proc.pid)
    with ps.oneshot():
        times, memory, threads, fds = ps.cpu_times(), ps.memory_info(), ps.num_threads(), ps.num_fds()
    assert fds >= 43
    assert sample_value(text, "inference_process_open_fds") == fds
    assert sample_value(text, "inference_process_threads") == threads
    assert sample_value(text, "inference_process_resident_memory_bytes") == memory.rss
    assert sample_value(text, "inference_process_virtual_memory_bytes") == memory.vms
    assert sample_value(text, "inference_process_cpu_seconds_total", mode="user") == times.user
    assert sample_value(text, "inference_process_cpu_seconds_total", mode="system") == times.system


def test_workers_started_between_collections_are_found_without_a_full_scan(tmp_path, children, monkeypatch):
    # On request, the server starts a worker that starts a worker of its own: both are new at once.
    nested = (
        "import subprocess, sys\n"
        f"w = subprocess.Popen([sys.executable, '-c', {SLEEPER!r}], stdout=subprocess.PIPE)\n"
        "w.stdout.readline(); print('ready', flush=True); input()"
    )
    server = (
        "import subprocess, sys\nprint('ready', flush=True); input()\n"
        f"w = subprocess.Popen([sys.executable, '-c', {nested!r}], stdout=subprocess.PIPE)\n"
        "w.stdout.readline(); print('ready', flush=True); input()"
    )
    proc = spawn(server)
    children.append(proc)
    before = {int(e) for e in os.listdir("/proc") if e.isdigit()}
    collector = ProcessCollector("llm", pid_file(tmp_path, proc))
    assert sample_value(collect(collector), "inference_process_pids") == 1
    proc.stdin.write("start\n")
    proc.stdin.flush()
    assert proc.stdout.readline().strip() == "ready"

    read: list[int] = []
    real_read_stat = process.read_stat
    monkeypatch.setattr(
        process, "read_stat", lambda proc_root, pid: read.append(pid) or real_read_stat(proc_root, pid)
    )
    text = collect(collector)
    worker = psutil.Process(proc.pid).children()[0]
    assert collector.pids() == {proc.pid, worker.pid, worker.children()[0].pid}
    assert sample_value(text, "inference_process_pids") == 3
    # Processes that ran before the first collection and are not the server's were not read again.
    assert not (set(read) & before) - {proc.pid}


def test_workers_that_exit_leave_the_count_and_their_orphans_with_them(tmp_path, children):
    # The worker's own child outlives it and is re-parented away from the server: no longer the server's.
    orphaning = (
        "import subprocess, sys\n"
        f"subprocess.Popen([sys.executable, '-c', {SLEEPER!r}], stdout=subprocess.PIPE).stdout.readline()\n"
        "print('ready', flush=True); input()"
    )
    server = (
        "import subprocess, sys\n"
        f"w = subprocess.Popen([sys.executable, '-c', {orphaning!r}],\n"
        "                     stdin=subprocess.PIPE, stdout=subprocess.PIPE)\n"
        "w.stdout.readline(); print('ready', flush=True); input(); w.stdin.close(); w.wait()\n"
        "print('ready', flush=True); input()"
    )
    proc = spawn(server)
    children.append(proc)
    worker = psutil.Process(proc.pid).children()[0]
    orphan = worker.children()[0]
    collector = ProcessCollector("llm", pid_file(tmp_path, proc))
    assert sample_value(collect(collector), "inference_process_pids") == 3
    proc.stdin.write("stop the worker\n")
    proc.stdin.flush()
    assert proc.stdout.readline().strip() == "ready"
    try:
        assert sample_value(collect(collector), "inference_process_pids") == 1
        assert collector.pids() == {proc.pid}
    finally:
        orphan.kill()


def test_command_lines_are_not_read_between_rescans(children, monkeypatch):
    marker = f"model-server-{uuid.uuid4().hex}"
    exporter = spawn(SLEEPER)
    children += [exporter, spawn(SLEEPER, marker)]
    collector = ProcessCollector("llm", ProcessMatcher(pattern=re.escape(marker)), self_pid=exporter.pid)
    read: list[int] = []
    real_read_cmdline = process.read_cmdline
    monkeypatch.setattr(
        process, "read_cmdline", lambda proc_root, pid: read.append(pid) or real_read_cmdline(proc_root, pid)
    )
    collect(collector)
    assert children[1].pid in read  # the first collection is a rescan
    read.clear()
    assert sample_value(collect(collector), "inference_process_pids") == 1
    assert read == []


def test_a_pattern_on_a_long_name_matches_the_full_name_as_psutil_gives_it(tmp_path, children):
    # The kernel keeps 15 bytes of a name; psutil (and so the documented behaviour) completes it.
    long_name = f"model-server-{uuid.uuid4().hex[:12]}"
    executable = tmp_path / long_name
    executable.symlink_to(sys.executable)
    server = subprocess.Popen(
        [str(executable), "-c", SLEEPER], stdout=subprocess.PIPE, stdin=subprocess.PIPE, text=True
    )
    exporter = spawn(SLEEPER)
    children += [server, exporter]
    assert server.stdout.readline().strip() == "ready"
    assert psutil.Process(server.pid).name() == long_name
    pattern = ProcessMatcher(pattern=f"^{re.escape(long_name)}$")
    assert (
        sample_value(
            collect(ProcessCollector("llm", pattern, self_pid=exporter.pid)), "inference_process_pids"
        )
        == 1
    )


def test_the_exporters_own_subtree_is_never_counted_under_a_pid_file(tmp_path, children):
    # The server started the exporter (a wrapper script, say), and the exporter has a helper child.
    exporter_code = (
        "import subprocess, sys\n"
        f"subprocess.Popen([sys.executable, '-c', {SLEEPER!r}], stdout=subprocess.PIPE).stdout.readline()\n"
        "print('ready', flush=True); input()"
    )
    server = (
        "import subprocess, sys\n"
        f"exporter = subprocess.Popen([sys.executable, '-c', {exporter_code!r}], stdout=subprocess.PIPE)\n"
        "exporter.stdout.readline()\n"
        "print('ready', flush=True); input()"
    )
    proc = spawn(server)
    children.append(proc)
    exporter = psutil.Process(proc.pid).children()[0].pid
    collector = ProcessCollector("llm", pid_file(tmp_path, proc), self_pid=exporter)
    assert sample_value(collect(collector), "inference_process_pids") == 1
    assert collector.pids() == {proc.pid}
