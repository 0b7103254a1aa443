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
from inference_exporter.collectors import ProcessCollector, ProcessMatcher, pid_owner
from inference_exporter.collectors.process import ProcInfo, select

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
    return exposition.render([b.finish().chunks]).text.decode()


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
