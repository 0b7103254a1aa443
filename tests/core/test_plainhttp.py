"""Plain-HTTP fetching (plainhttp.py, answers framed by httptools): what requests did, answer by
answer, then generated answers cut into random segments."""

import gzip
import random
import socket
import threading
import time

import pytest
from inference_exporter.config import TargetConfig
from inference_exporter.limits import ScrapeLimits
from inference_exporter.scrape import CollectionError, HTTPFetcher


class Server:
    """A loopback server answering each request with the next canned raw response."""

    def __init__(self, answers: list[bytes], close_after_each: bool = False):
        self.answers = list(answers)
        self.close_after_each = close_after_each
        self.connections = 0
        self.requests: list[bytes] = []
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn):
        with conn:
            while self.answers:
                data = b""
                while b"\r\n\r\n" not in data:
                    chunk = conn.recv(65536)
                    if not chunk:
                        return
                    data += chunk
                self.requests.append(data)
                answer = self.answers.pop(0)
                try:
                    for segment in answer if isinstance(answer, list) else [answer]:
                        conn.sendall(segment)
                        if isinstance(answer, list):
                            time.sleep(0.002)  # segments, a moment apart
                except OSError:
                    return  # the client gave up (a deadline)
                if self.close_after_each or getattr(answer, "close", False):
                    return

    def close(self):
        self.sock.close()


def answer(body: bytes, status: str = "200 OK", headers: str = "") -> bytes:
    return f"HTTP/1.1 {status}\r\nContent-Length: {len(body)}\r\n{headers}\r\n".encode() + body


def fetcher(port: int, **settings) -> HTTPFetcher:
    return HTTPFetcher(TargetConfig(name="t", metrics_url=f"http://127.0.0.1:{port}/metrics", **settings))


def test_kept_alive_gzip_decoded_and_user_agent_sent():
    page = b"x 1\n" * 1000
    server = Server([answer(gzip.compress(page), headers="Content-Encoding: gzip\r\n"), answer(b"y 2\n")])
    try:
        f = fetcher(server.port)
        assert f.get(f"http://127.0.0.1:{server.port}/metrics", 2)[0] == page
        assert f.get(f"http://127.0.0.1:{server.port}/metrics", 2)[0] == b"y 2\n"
        assert server.connections == 1
        head = server.requests[0].lower()
        assert b"accept-encoding: gzip" in head and b"user-agent: inference-exporter/" in head
        f.close()
    finally:
        server.close()


def test_a_closed_idle_connection_is_opened_again():
    server = Server([answer(b"a 1\n"), answer(b"b 2\n")], close_after_each=True)
    try:
        f = fetcher(server.port)
        url = f"http://127.0.0.1:{server.port}/metrics"
        assert f.get(url, 2)[0] == b"a 1\n"
        assert f.get(url, 2)[0] == b"b 2\n"
        assert server.connections == 2
    finally:
        server.close()


@pytest.mark.parametrize(
    "raw, reason",
    [
        (answer(b"no", "401 Unauthorized"), "auth"),
        (answer(b"no", "403 Forbidden"), "auth"),
        (answer(b"", "302 Found", "Location: /elsewhere\r\n"), "http_status"),
        (answer(b"oops", "500 Internal Server Error"), "http_status"),
        (answer(b"z" * 5000), "body_size_limit"),
        # A small gzip answer that inflates past the limit is refused while it is inflated.
        (answer(gzip.compress(b"0" * 10_000_000), headers="Content-Encoding: gzip\r\n"), "body_size_limit"),
        (answer(b"\x1f\x8b\x08\x00garbage", headers="Content-Encoding: gzip\r\n"), "connection"),
    ],
)
def test_failures_keep_their_reasons(raw, reason):
    server = Server([raw])
    try:
        f = fetcher(server.port, limits=ScrapeLimits(body_size_limit=4096))
        with pytest.raises(CollectionError) as caught:
            f.get(f"http://127.0.0.1:{server.port}/metrics", 2)
        assert caught.value.reason == reason
    finally:
        server.close()


def test_chunked_answers_and_refused_connections():
    chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\na 1\n\r\n4\r\nb 2\n\r\n0\r\n\r\n"
    server = Server([chunked])
    try:
        assert fetcher(server.port).get(f"http://127.0.0.1:{server.port}/metrics", 2)[0] == b"a 1\nb 2\n"
    finally:
        server.close()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens here once closed
    with pytest.raises(CollectionError) as caught:
        fetcher(port).get(f"http://127.0.0.1:{port}/metrics", 2)
    assert caught.value.reason == "connection" and "refused" in str(caught.value)


class Closing(list):
    """Segments after which the server closes the connection (a body that ends with it)."""

    close = True


def _get(server, **settings):
    return fetcher(server.port, **settings).get(f"http://127.0.0.1:{server.port}/metrics", 2)


def test_a_body_that_ends_with_the_connection_and_an_interim_answer():
    server = Server([Closing([b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\na 1\n", b"b 2\n"])])
    try:
        assert _get(server) == (b"a 1\nb 2\n", "text/plain")
    finally:
        server.close()
    server = Server([b"HTTP/1.1 100 Continue\r\n\r\n" + answer(b"c 3\n")])
    try:
        assert _get(server)[0] == b"c 3\n"
    finally:
        server.close()


@pytest.mark.parametrize(
    "raw, reason, words",
    [
        (Closing([b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort"]), "connection", "cut short"),
        (Closing([b"HTTP/1.1 200 OK\r\nX: " + b"y" * 70_000 + b"\r\n\r\n"]), "connection", "head larger"),
        (b"garbage\r\n\r\n", "connection", "invalid HTTP answer"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", "connection", "invalid"),
        (Closing([]), "connection", "closed"),
    ],
)
def test_broken_answers_fail_with_a_reason(raw, reason, words):
    server = Server([raw])
    try:
        with pytest.raises(CollectionError) as caught:
            _get(server)
        assert caught.value.reason == reason and words in str(caught.value)
    finally:
        server.close()


def test_an_answer_still_arriving_at_the_deadline_ends_there():
    server = Server([[b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n"] + [b"x"] * 900])
    try:
        f = fetcher(server.port)
        started = time.monotonic()
        with pytest.raises(CollectionError) as caught:
            f.get(f"http://127.0.0.1:{server.port}/metrics", 0.5)
        assert caught.value.reason == "timeout" and time.monotonic() - started < 1.5
    finally:
        server.close()


def test_a_line_break_in_a_credential_is_refused_before_anything_is_sent(tmp_path):
    token = tmp_path / "token"
    token.write_text("abc\r\nX-Injected: 1")
    server = Server([answer(b"a 1\n")])
    try:
        with pytest.raises(CollectionError) as caught:
            _get(server, bearer_token_file=str(token))
        assert caught.value.reason == "auth" and server.requests == []
    finally:
        server.close()


def _framed(rng: random.Random, page: bytes) -> tuple[list[bytes], bool]:
    """An answer carrying PAGE, framed one of the three ways, cut into random segments; and
    whether the connection ends with it."""
    gzipped = rng.random() < 0.3
    body = gzip.compress(page) if gzipped else page
    head = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n" + (
        "Content-Encoding: gzip\r\n" if gzipped else ""
    )
    framing = rng.choice(["length", "chunked", "close"])
    if framing == "length":
        raw = f"{head}Content-Length: {len(body)}\r\n\r\n".encode() + body
    elif framing == "chunked":
        raw, at = f"{head}Transfer-Encoding: chunked\r\n\r\n".encode(), 0
        while at < len(body):
            size = rng.randint(1, 5000)
            raw += f"{len(body[at : at + size]):x}\r\n".encode() + body[at : at + size] + b"\r\n"
            at += size
        raw += b"0\r\n\r\n"
    else:
        raw = f"{head}Connection: close\r\n\r\n".encode() + body
    cuts = sorted(rng.sample(range(1, len(raw)), min(len(raw) - 1, rng.randint(0, 6))))
    segments = [raw[a:b] for a, b in zip([0, *cuts], [*cuts, len(raw)], strict=True)]
    return (Closing(segments) if framing == "close" else segments), framing == "close"


def test_generated_answers_arrive_whole_however_they_are_framed_and_cut():
    """Seeded: pages framed by length, by chunks or by the connection's end, gzipped or not, cut
    into random segments, several on one connection: each arrives whole, and only an answer
    that ended with its connection opens a new one."""
    for seed in range(25):
        rng = random.Random(seed)
        pages = [
            b"".join(f"m{i} {rng.random()}\n".encode() for i in range(rng.randint(0, 3000))) for _ in range(4)
        ]
        framed = [_framed(rng, page) for page in pages]
        server = Server([segments for segments, _ in framed])
        try:
            f = fetcher(server.port)
            for page in pages:
                assert f.get(f"http://127.0.0.1:{server.port}/metrics", 5)[0] == page, f"seed {seed}"
            closes = sum(closing for _, closing in framed[:-1])
            assert server.connections == 1 + closes, f"seed {seed}"
            f.close()
        finally:
            server.close()
