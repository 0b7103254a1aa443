"""The event journal: rotation cap, torn-line repair, kill -9 under load, filters, the CLI."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest
from inference_exporter import cli
from inference_exporter.journal import Filter, Journal, read, segments
from inference_exporter.server import events_query, parse_since


def test_rotation_keeps_the_cap(tmp_path):
    j = Journal(tmp_path, max_bytes=4096, max_files=3, fsync="never")
    for i in range(2000):
        j.emit("canary_run", target="t", model="m", seq=i, pad="x" * 40)
    j.close()
    files = segments(tmp_path)
    assert len(files) == 3
    assert all(f.stat().st_size <= 4096 for f in files)
    events = read(tmp_path)
    # The newest events survive, in order, with no gap inside what is kept.
    seqs = [e["details"]["seq"] for e in events]
    assert seqs == list(range(seqs[0], 2000))
    assert seqs[0] > 0  # the oldest were dropped by the retention cap
    assert [e["details"]["seq"] for e in read(tmp_path, limit=40)] == list(range(1960, 2000))
    assert j.counts["canary_run"] == 2000


def test_torn_last_line_is_repaired_on_open(tmp_path):
    j = Journal(tmp_path)
    j.emit("target_up", target="a")
    j.emit("target_down", target="a")
    j.close()
    (seg,) = segments(tmp_path)
    with open(seg, "ab") as fh:
        fh.write(b'{"ts": 1, "type": "model_lo')  # a crash in the middle of a write
    j2 = Journal(tmp_path)
    assert j2.repaired_bytes == len(b'{"ts": 1, "type": "model_lo')
    j2.emit("target_up", target="a")
    j2.close()
    lines = seg.read_bytes().splitlines()
    assert [json.loads(x)["type"] for x in lines] == ["target_up", "target_down", "target_up"]


WRITER = textwrap.dedent(
    """
    import sys
    from inference_exporter.journal import Journal
    j = Journal(sys.argv[1], max_bytes=64 * 1024, max_files=1000, fsync="never")
    i = 0
    while True:
        j.emit("canary_run", target="t", seq=i, pad="y" * (i % 300))
        sys.stdout.write(f"{i}\\n")
        sys.stdout.flush()
        i += 1
    """
)


def test_kill_9_during_heavy_writing_loses_no_complete_event(tmp_path):
    journal = tmp_path / "journal"
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(journal)], stdout=subprocess.PIPE, text=True, bufsize=1
    )
    acknowledged = -1
    deadline = time.monotonic() + 1.5
    while time.monotonic() < deadline:
        acknowledged = int(proc.stdout.readline())
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    # Whatever the writer printed before dying was written before it printed it.
    for line in proc.stdout:
        if line.strip():
            acknowledged = int(line)
    proc.stdout.close()
    assert acknowledged > 1000, "the writer was not writing heavily"
    Journal(journal).close()  # opening repairs a torn tail
    for seg in segments(journal):
        data = seg.read_bytes()
        assert data == b"" or data.endswith(b"\n")
        for raw in data.splitlines():
            json.loads(raw)  # every line parses
    seqs = [e["details"]["seq"] for e in read(journal)]
    assert seqs[: acknowledged + 1] == list(range(acknowledged + 1))


def _sample(tmp_path) -> Journal:
    j = Journal(tmp_path)
    j.emit("target_down", target="a", ts=1000.0)
    j.emit("version_changed", target="a", model="ranker", version="2", ts=2000.0, old=["1"], new=["2"])
    j.emit("canary_failed", target="b", model="embed", ts=3000.0, reason="cosine")
    j.emit("target_up", target="a", ts=4000.0)
    return j


def test_filters(tmp_path):
    j = _sample(tmp_path)
    assert [e["type"] for e in j.read(Filter(since=2500))] == ["canary_failed", "target_up"]
    assert [e["type"] for e in j.read(Filter(types=frozenset({"target_up", "target_down"})))] == [
        "target_down",
        "target_up",
    ]
    assert [e["ts"] for e in j.read(Filter(model="ranker"))] == [2000.0]
    assert [e["type"] for e in j.read(limit=2)] == ["canary_failed", "target_up"]
    j.close()


def test_events_command_prints_readable_lines(tmp_path, capsys):
    _sample(tmp_path).close()
    assert cli.main(["events", f"--journal.path={tmp_path}", "--type", "version_changed"]) == 0
    (line,) = capsys.readouterr().out.splitlines()
    assert "version_changed" in line and "model=ranker" in line and "old=1" in line and "new=2" in line
    assert line.startswith("1970-01-01T00:33:20.000Z")


def test_events_command_rejects_an_unknown_type_in_one_line(tmp_path, capsys):
    _sample(tmp_path).close()
    assert cli.main(["events", f"--journal.path={tmp_path}", "--type", "version_chnaged"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "'version_chnaged'" in err and "did you mean 'version_changed'" in err
    assert cli.main(["events", f"--journal.path={tmp_path}", "--type", "bogus"]) == 2
    assert "one of: target_up" in capsys.readouterr().err


def test_events_command_leads_with_changes_and_sums_up_canary_runs(tmp_path, capsys):
    j = Journal(tmp_path)
    j.emit("target_down", target="ranker", ts=1000.0)
    for i in range(30):
        j.emit("canary_run", target="ranker", model="ranker", ts=1001.0 + i, ok=i % 10 != 3, reason="")
    j.emit("target_up", target="ranker", ts=1040.0)
    j.emit("canary_run", target="embedder", model="embedder", ts=1041.0, ok=True, reason="")
    j.close()
    assert cli.main(["events", f"--journal.path={tmp_path}"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[2] for line in lines[:2]] == ["target_down", "target_up"]
    assert len(lines) == 4
    assert lines[2].startswith("1 x canary_run  target=embedder model=embedder  0 failed")
    assert lines[3].startswith("30 x canary_run  target=ranker model=ranker  3 failed")
    assert cli.main(["events", f"--journal.path={tmp_path}", "--all"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 33
    only_runs = ["events", f"--journal.path={tmp_path}", "--type", "canary_run", "--target", "ranker"]
    assert cli.main(only_runs) == 0
    assert len(capsys.readouterr().out.splitlines()) == 30


def test_events_command_rejects_a_missing_journal(tmp_path, capsys):
    assert cli.main(["events", f"--journal.path={tmp_path / 'none'}"]) == 2
    assert "no journal folder" in capsys.readouterr().err


def test_events_follow_prints_new_events(tmp_path):
    j = Journal(tmp_path)
    j.emit("target_up", target="old")
    proc = subprocess.Popen(
        [sys.executable, "-m", "inference_exporter", "events", "--follow", f"--journal.path={tmp_path}"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert "target=old" in proc.stdout.readline()
        time.sleep(0.3)
        j.emit("target_down", target="new")
        assert "target=new" in proc.stdout.readline()
    finally:
        proc.kill()
        proc.wait()
        proc.stdout.close()
        j.close()


def test_since_forms():
    now = 10_000.0
    assert parse_since("90s", now) == now - 90
    assert parse_since("2h", now) == now - 7200
    assert parse_since("1764448262.5", now) == 1764448262.5
    assert parse_since("2025-11-29T20:31:02Z", now) == 1764448262.0
    flt, limit = events_query("since=15m&type=target_down,canary_failed&model=ranker&limit=5")
    assert flt.types == {"target_down", "canary_failed"} and flt.model == "ranker" and limit == 5
    with pytest.raises(ValueError, match="since"):
        parse_since("yesterday")
    with pytest.raises(ValueError, match="unknown event type 'bogus'"):
        events_query("type=target_down,bogus")


def test_a_second_journal_on_the_same_folder_is_flagged_as_shared(tmp_path):
    first = Journal(tmp_path)
    second = Journal(tmp_path)
    assert not first.shared and second.shared
    second.close()
    first.close()
    third = Journal(tmp_path)
    assert not third.shared  # closing released the folder
    third.close()
