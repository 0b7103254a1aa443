"""Plain-HTTP fetching with the standard library: what requests did, answer by answer."""

import gzip
import socket
import threading

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
                conn.sendall(self.answers.pop(0))
                if self.close_after_each:
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
