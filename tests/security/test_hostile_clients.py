"""Hostile clients against a real exporter process: malformed and smuggled requests, unbounded
bodies, slowloris, descriptor exhaustion, early disconnects, concurrent load (defects 4, 5, 6)."""

from __future__ import annotations

import json
import resource
import socket
import struct
import threading
import time

import pytest
import requests
from campaign import ExporterProcess, raw_request, statuses
from fake_targets import FakeTarget
from helpers import read_fixture

VLLM = read_fixture("vllm/vllm-v1-two-engines.prom")


@pytest.fixture(scope="module")
def target():
    t = FakeTarget(VLLM)
    yield t
    t.close()


def _config(target) -> str:
    return f"targets:\n  - {{name: v, kind: vllm, metrics_url: '{target.url}', scrape_interval: 1s}}\n"


@pytest.fixture(scope="module")
def exporter(target, tmp_path_factory):
    proc = ExporterProcess(
        tmp_path_factory.mktemp("hostile"), _config(target), "--log.level=debug", "--log.format=json"
    )
    yield proc
    proc.stop()


def _rss(pid: int) -> int:
    with open(f"/proc/{pid}/status") as fh:
        return next(int(line.split()[1]) * 1024 for line in fh if line.startswith("VmRSS:"))


def _threads(pid: int) -> int:
    with open(f"/proc/{pid}/status") as fh:
        return next(int(line.split()[1]) for line in fh if line.startswith("Threads:"))


def _no_tracebacks(proc: ExporterProcess) -> None:
    log = proc.log()
    assert "Traceback" not in log, log[-3000:]
    for line in log.splitlines():
        json.loads(line)  # every line went through the logger (--log.format=json)


def test_negative_content_length_is_refused_without_reading_the_body(exporter):
    """Defect 4: ``Content-Length: -1`` read the body until EOF (300 MiB sent: +300 MB RSS)."""
    before = _rss(exporter.proc.pid)
    with socket.create_connection(("127.0.0.1", exporter.port), timeout=10) as s:
        s.sendall(b"POST /-/reload HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n")
        chunk = b"x" * (1 << 20)
        try:
            for _ in range(64):  # 64 MiB, unless the server closes first
                s.sendall(chunk)
        except OSError:
            pass
        s.settimeout(5)
        try:
            answer = s.recv(4096)
        except OSError:
            answer = b""
    grown = _rss(exporter.proc.pid) - before
    assert grown < 16 << 20, f"RSS grew by {grown >> 20} MiB"
    assert answer.startswith(b"HTTP/1.1 400"), answer[:200]


@pytest.mark.parametrize(
    ("name", "request_bytes", "status"),
    [
        (
            "content-length not a number",
            b"POST /-/reload HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
            400,
        ),
        ("content-length with a sign", b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: +5\r\n\r\nhello", 400),
        (
            "two content-lengths",
            b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nContent-Length: 5\r\n\r\n",
            400,
        ),
        (
            "CL.TE smuggling",
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            501,
        ),
        (
            "chunked body",
            b"POST /-/reload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            501,
        ),
        ("obs-fold", b"GET / HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n  folded\r\n\r\n", 400),
        ("space before colon", b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length : 5\r\n\r\nhello", 400),
        ("bare CR", b"GET / HTTP/1.1\r\nHost: x\rX: y\r\n\r\n", 400),
        ("NUL in a value", b"GET / HTTP/1.1\r\nHost: x\r\nX: a\x00b\r\n\r\n", 400),
        ("HTTP/2.0 line", b"GET / HTTP/2.0\r\nHost: x\r\n\r\n", 505),
        ("no version", b"GET /\r\n\r\n", 400),
        ("absolute-form target", b"GET http://evil/ HTTP/1.1\r\nHost: x\r\n\r\n", 400),
        ("no Host", b"GET / HTTP/1.1\r\n\r\n", 400),
        ("two Hosts", b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
        ("huge header", b"GET / HTTP/1.1\r\nHost: x\r\nX: " + b"a" * 40000 + b"\r\n\r\n", 431),
        ("too many headers", b"GET / HTTP/1.1\r\nHost: x\r\n" + b"X: 1\r\n" * 300 + b"\r\n", 431),
        (
            "body over the limit",
            b"POST /-/reload HTTP/1.1\r\nHost: x\r\nContent-Length: 10000000\r\n\r\n",
            413,
        ),
        ("binary garbage", bytes(range(256)) * 4 + b"\r\n\r\n", 400),
    ],
)
def test_malformed_requests_get_one_error_and_a_closed_connection(exporter, name, request_bytes, status):
    """Anything ambiguous is answered once with an error and the connection closed: whatever
    follows (a second request hidden in it) is never read as a request. Never a traceback."""
    follow = b"GET /-/healthy HTTP/1.1\r\nHost: x\r\n\r\n"
    answer = raw_request(exporter.port, request_bytes + follow, timeout=5)
    assert statuses(answer) == [status], f"{name}: {answer[:300]!r}"
    assert b"Connection: close" in answer, name
    assert exporter.get("/-/healthy").status_code == 200
    _no_tracebacks(exporter)


def test_a_get_body_is_drained_so_no_request_hides_in_it(exporter):
    """Defect 4: a GET's body was not read, so a ``POST /-/reload`` inside it ran as a request."""
    hidden = b"POST /-/reload HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"
    smuggle = b"GET /-/healthy HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s" % (len(hidden), hidden)
    then = b"GET /-/ready HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    answer = raw_request(exporter.port, smuggle + then, timeout=5)
    assert statuses(answer) == [200, 200], answer  # /-/healthy, then /-/ready: nothing in between
    assert b"Ready." in answer


def test_pipelined_requests_are_answered_in_order(exporter):
    requests_ = b"".join(
        b"GET /-/%s HTTP/1.1\r\nHost: x\r\n\r\n" % p for p in (b"healthy", b"ready", b"healthy")
    )
    answer = raw_request(
        exporter.port, requests_ + b"GET /nope HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    assert statuses(answer) == [200, 200, 200, 404]


def test_early_disconnects_are_logged_at_debug_never_as_tracebacks(exporter):
    """Defect 6: every client that went away mid-response printed a raw BrokenPipe traceback."""
    for _ in range(30):
        s = socket.create_connection(("127.0.0.1", exporter.port), timeout=5)
        s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\nAccept-Encoding: identity\r\n\r\n")
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # RST on close
        s.close()
    time.sleep(1)
    assert exporter.get("/-/healthy").status_code == 200
    _no_tracebacks(exporter)
    ended = [json.loads(line) for line in exporter.log().splitlines() if "client connection ended" in line]
    assert ended and all(e["level"] == "debug" for e in ended)


def test_concurrent_scrapes_all_succeed_with_bounded_threads(exporter):
    errors: list[str] = []
    sizes: set[int] = set()

    def scrape():
        with requests.Session() as session:
            for _ in range(15):
                try:
                    r = session.get(exporter.url + "/metrics", timeout=10)
                    if r.status_code != 200:
                        errors.append(str(r.status_code))
                    sizes.add(len(r.content) > 1000)
                except requests.RequestException as exc:
                    errors.append(type(exc).__name__)

    threads = [threading.Thread(target=scrape) for _ in range(40)]
    for t in threads:
        t.start()
    peak = 0
    while any(t.is_alive() for t in threads):
        peak = max(peak, _threads(exporter.proc.pid))
        time.sleep(0.05)
    assert not errors, errors[:5]
    assert sizes == {True}
    assert peak < 40, f"{peak} threads for 40 concurrent clients"


def _connect_many(port: int, count: int, first: bytes = b"") -> list[socket.socket]:
    out = []
    for _ in range(count):
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        if first:
            s.sendall(first)
        out.append(s)
    return out


def _closed_by_server(s: socket.socket) -> bool:
    s.setblocking(False)
    try:
        return s.recv(1) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True


def test_slowloris_connections_are_closed_and_hold_no_threads(target, tmp_path):
    """Defect 5: 500 slowloris connections were held forever, one thread each (506 threads)."""
    proc = ExporterProcess(tmp_path, _config(target), "--web.read-timeout=1s", "--web.max-connections=600")
    try:
        before = _threads(proc.proc.pid)
        conns = _connect_many(proc.port, 250, b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
        conns += _connect_many(proc.port, 250)  # and connect-only
        for s in conns[:250]:
            s.sendall(b"X-Slow: 1\r\n")  # trickling, but never finishing the head
        assert _threads(proc.proc.pid) - before < 10
        t0 = time.monotonic()
        assert proc.get("/metrics", timeout=5).status_code == 200
        assert time.monotonic() - t0 < 2.0
        time.sleep(2.5)  # past the read timeout
        closed = sum(_closed_by_server(s) for s in conns)
        assert closed == len(conns), f"{closed} of {len(conns)} closed"
    finally:
        for s in conns:
            s.close()
        proc.stop()


def test_idle_connections_cannot_lock_scrapes_out_at_a_low_descriptor_limit(target, tmp_path):
    """Defect 5: at ``ulimit -n 256``, 300 idle connections made every scrape time out."""

    def low_limit():
        resource.setrlimit(resource.RLIMIT_NOFILE, (256, 256))

    proc = ExporterProcess(tmp_path, _config(target), preexec=low_limit)
    conns: list[socket.socket] = []
    try:
        for _ in range(300):
            try:
                conns.append(socket.create_connection(("127.0.0.1", proc.port), timeout=2))
            except OSError:
                break
        for _ in range(10):
            assert proc.get("/metrics", timeout=3).status_code == 200
        assert proc.get("/", timeout=3).status_code == 200
    finally:
        for s in conns:
            s.close()
        proc.stop()
