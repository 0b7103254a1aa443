"""The listener's request framing (httpmessage.parse_head) over generated requests: a head is
either parsed into one request whose framing is unambiguous, or refused with an HTTP error;
never another exception, never a request with two readings of its length."""

from __future__ import annotations

import os
import random

import pytest
from inference_exporter.httpmessage import HTTPError, Limits, parse_head

SEED = int(os.environ.get("FRAMING_SEED", "9112"))
VALID = (
    b"POST /-/reload HTTP/1.1\r\nHost: 127.0.0.1:9072\r\nContent-Length: 5\r\n"
    b"Accept-Encoding: gzip\r\nOrigin: http://127.0.0.1:9072\r\n\r\n"
)
PIECES = [b" ", b"\t", b"\r", b"\n", b"\r\n", b":", b"\x00", b"\x7f", b"\xff", b"-1", b"+", b"0x10",
          b"Content-Length: 7\r\n", b"Transfer-Encoding: chunked\r\n", b"Host: b\r\n", b" folded\r\n",
          b"HTTP/1.0", b"HTTP/2.0", b"GET", b"/", b"*", b"http://x/", b"a" * 300]  # fmt: skip


def _mutate(rng: random.Random, data: bytes) -> bytes:
    data = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        at = rng.randrange(len(data) + 1)
        op = rng.random()
        if op < 0.4:
            data[at:at] = rng.choice(PIECES)
        elif op < 0.7 and data:
            del data[at : at + rng.randint(1, 8)]
        elif data:
            data[min(at, len(data) - 1)] = rng.randrange(256)
    return bytes(data)


@pytest.mark.parametrize("case", range(20))
def test_generated_heads_parse_unambiguously_or_are_refused(case):
    rng = random.Random(SEED * 100 + case)
    limits = Limits()
    for _ in range(250):
        head = _mutate(rng, VALID)
        try:
            req = parse_head(head, limits)
        except HTTPError as exc:
            assert 400 <= exc.status <= 505, f"seed {SEED}: {head!r}"
            continue
        # Accepted: one length, of digits; no chunked body; one Host on HTTP/1.1.
        assert "transfer-encoding" not in req.headers, f"seed {SEED}: {head!r}"
        length = req.headers.get("content-length", "0")
        assert length.isdigit() and length.isascii() and "," not in length, f"seed {SEED}: {head!r}"
        if req.version == "HTTP/1.1":
            assert req.headers.get("host") and "," not in req.headers["host"], f"seed {SEED}: {head!r}"
        assert req.target.startswith("/") and " " not in req.target


def test_the_valid_head_parses():
    req = parse_head(VALID, Limits())
    assert (req.method, req.path, req.headers["content-length"]) == ("POST", "/-/reload", "5")
