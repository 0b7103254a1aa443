"""Pages joined from pieces compressed at collection time: one valid gzip body in any order, ready
before a scrape asks, and a scrape served while a render is under way."""

import gzip
import random
import threading
import time

import requests
from fake_targets import FakeTarget
from helpers import promtool_check_metrics, read_fixture
from inference_exporter import deflate, exporter, exposition
from inference_exporter.builder import Builder
from inference_exporter.config import loads
from inference_exporter.exporter import Exporter
from inference_exporter.server import make_server, serve_in_thread

SEED = 1616


def _snapshot(rng: random.Random, target: str):
    b = Builder((("target", target), ("server", "vllm")), (("cluster", "c1"),))
    for m in range(rng.randint(0, 3)):
        model = f"m{m}"
        b.counter("inference_requests_total", rng.randint(0, 10**6), model, outcome="success")
        b.gauge("inference_requests_running", rng.randint(0, 50), model)
        bounds = sorted(rng.sample([0.01, 0.1, 0.5, 1.0, 5.0, 30.0], rng.randint(1, 5)))
        counts, total = [], 0
        for le in bounds:
            total += rng.randint(0, 100)
            counts.append((le, total))
        exemplar = (
            ({"trace_id": f"{rng.getrandbits(32):x}"}, bounds[0] / 2, 1.7e9) if rng.random() < 0.3 else None
        )
        b.histogram(
            "inference_request_duration_seconds", counts, total * 0.2, total, model, exemplar=exemplar
        )
    return b.finish()


def test_pieces_join_into_one_valid_gzip_body_for_any_fleet():
    """Generated fleets (seeded): each source rendered (and compressed) on its own, the page joined
    in schema order; its gzip body inflates to exactly its text, in both formats, and promtool
    finds nothing wrong with the text."""
    rng = random.Random(SEED)
    for case in range(25):
        sources = [
            exposition.SourceRenderer().render(_snapshot(rng, f"t{i}")) for i in range(rng.randint(0, 30))
        ]
        rng.shuffle(sources)
        page = exposition.assemble(sources, ("# process lines\n", "# process lines\n"), created=1.0)
        for openmetrics in (False, True):
            gz, size = page.prepare(openmetrics)
            text = b"".join(deflate.inflate(gz))
            assert gzip.decompress(gz) == text and len(text) == size, f"case {case}, seed {SEED}"
            length, pieces = page.payload(openmetrics, gzipped=False)
            assert b"".join(pieces) == text and length == size
        assert page.openmetrics.endswith(b"# EOF\n")
        if sources:
            result = promtool_check_metrics(page.text.decode())
            assert result.returncode == 0, (case, result.stdout + result.stderr)


def test_small_texts_are_kept_once_asked_for_and_big_ones_inflated_while_written(monkeypatch):
    rng = random.Random(SEED + 2)
    sources = [exposition.SourceRenderer().render(_snapshot(rng, f"t{i}")) for i in range(8)]
    for limit, kept in ((exposition.PLAIN_LIMIT, True), (0, False)):
        monkeypatch.setattr(exposition, "PLAIN_LIMIT", limit)
        page = exposition.assemble(sources, created=1.0)
        text = gzip.decompress(page.prepare(False)[0])
        length, pieces = page.payload(False, gzipped=False)
        body = list(pieces)
        assert b"".join(body) == text and length == len(text)
        assert (len(body) == 1 and body[0] is page.payload(False, gzipped=False)[1].__next__()) == kept
        assert page.asked == {(False, False)}


def test_page_lists_each_metric_once_with_every_source_under_it():
    rng = random.Random(SEED + 1)
    sources = [exposition.SourceRenderer().render(_snapshot(rng, f"t{i}")) for i in range(12)]
    text = exposition.assemble(sources).text.decode()
    heads = [line for line in text.splitlines() if line.startswith("# TYPE ")]
    assert len(heads) == len(set(heads))
    expected = sum(s.series for s in sources)
    assert sum(1 for line in text.splitlines() if line and not line.startswith("#")) == expected


TRITON = read_fixture("triton/pytriton-0.7.0-tritonserver-2.51.prom")


def test_the_gzip_body_is_ready_before_a_scrape_and_a_scrape_never_waits_for_a_render(monkeypatch):
    target = FakeTarget(TRITON)
    run = Exporter(
        loads(
            f"targets:\n  - name: t\n    metrics_url: {target.url}\n"
            "    scrape_interval: 0.2s\n    scrape_timeout: 0.2s\n"
        )
    )
    server = make_server(run, "127.0.0.1:0")
    url = f"http://127.0.0.1:{server.server_address[1]}/metrics"
    run.start()
    serve_in_thread(server)
    gate = threading.Event()
    try:
        deadline = time.monotonic() + 10
        while not run.ready:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        headers = {"Accept": "application/openmetrics-text; version=1.0.0", "Accept-Encoding": "gzip"}
        assert requests.get(url, headers=headers, timeout=5).status_code == 200  # asks for OM + gzip
        time.sleep(2.5)  # a render or two later
        page = run.current()
        assert True in page._gz, "the render thread prepared the format scrapers ask for"

        # No compression on the request path: joining is all a prepared page needs, and even that
        # is done already.
        def refuse(*_args):
            raise AssertionError("gzip body made on the request path")

        monkeypatch.setattr(deflate, "gzip_body", refuse)
        answer = requests.get(url, headers=headers, timeout=5)
        assert answer.status_code == 200 and b"inference_requests_total" in answer.content
        monkeypatch.undo()

        # A render that hangs (held on a gate) holds no scrape: the last page is served.
        real = exporter.assemble
        blocked = threading.Event()

        def held(*args, **kwargs):
            blocked.set()
            gate.wait(10)
            return real(*args, **kwargs)

        monkeypatch.setattr(exporter, "assemble", held)
        assert blocked.wait(5), "the render thread did not render"
        for _ in range(5):
            assert requests.get(url, headers=headers, timeout=2).status_code == 200
        assert not gate.is_set()
    finally:
        gate.set()
        server.shutdown()
        run.stop()
        target.close()


def test_a_slow_render_does_not_hold_back_the_first_complete_page(monkeypatch):
    """Until the page served shows every source, renders follow each other at once.

    Two defects held a sidecar's first complete page back by a second or more: renders were paced
    by wall-clock time (one that waited for the GIL or a loaded machine's cores, here a sleep, made
    the next wait ten times as long), and the last first collections finishing during a render made
    the scheduler ready, so the steady beat applied before a page showed them."""
    fast, slow = FakeTarget(TRITON), FakeTarget(TRITON, delay=0.3)
    real = exporter.assemble

    def waited(*args, **kwargs):
        time.sleep(0.6)  # wall time, no CPU: both first collections end during the first render
        return real(*args, **kwargs)

    monkeypatch.setattr(exporter, "assemble", waited)
    monkeypatch.setattr(exporter, "RENDER_EVERY", 3.0)
    run = Exporter(
        loads(
            "targets:\n"
            + "".join(
                f"  - name: {name}\n    metrics_url: {t.url}\n"
                "    scrape_interval: 30s\n    scrape_timeout: 5s\n"
                for name, t in (("fast", fast), ("slow", slow))
            )
        )
    )
    t0 = time.monotonic()
    run.start()
    try:
        while not run.ready:
            assert time.monotonic() - t0 < 10
            time.sleep(0.01)
        # Two or three renders of 0.6 s back to back; the steady beat (3 s) or pacing by wall
        # time (6 s) would come to 3.6 s or more.
        assert time.monotonic() - t0 < 2.5
    finally:
        run.stop()
        fast.close()
        slow.close()


def test_a_ready_page_shows_every_target_up(monkeypatch):
    """A page counts as ready only once it holds each target's own series as well as its data.

    The scheduler records a result and then, outside its lock, renders the target's own series
    (target_up and the like); a render falling in between used to count as ready without them,
    and the steady beat then held the complete page back a second."""
    target = FakeTarget(TRITON)
    real = Exporter._on_result

    def late(self, *args, **kwargs):
        time.sleep(1.5)  # the recording thread descheduled between the two steps
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Exporter, "_on_result", late)
    run = Exporter(loads(f"targets:\n  - name: t\n    metrics_url: {target.url}\n    scrape_interval: 30s\n"))
    run.start()
    try:
        deadline = time.monotonic() + 10
        while not run.ready:
            assert time.monotonic() < deadline
            time.sleep(0.01)
        assert b'inference_exporter_target_up{target="t"' in run.current().text
    finally:
        run.stop()
        target.close()
