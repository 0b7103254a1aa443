"""CPU and size of the exporter's compression: zlib-ng against the standard zlib, same pieces.

    python bench/deflate_cost.py [--rounds 5]

The pieces are what a collection compresses (``exposition.SourceRenderer``): each schema metric's
lines of a translated page, one piece per metric, each ended by a full flush. Pages: the
fleet's vLLM target (one model) and a Triton server with 12 models (bench/expositions.py).
Per render it times, best of ``--rounds``: starting a compressor, and compressing the pieces,
for the standard zlib at levels 1 and 6 and zlib-ng at level 1 (the exporter's choice), and
prints each against the standard zlib at level 1 with the size of the output.
"""

from __future__ import annotations

import argparse
import sys
import time
import zlib

from inference_devtools import repo

repo.use("bench")
import expositions  # noqa: E402
from inference_exporter import parser, servers  # noqa: E402
from inference_exporter.builder import Builder  # noqa: E402
from inference_exporter.exposition import SourceRenderer  # noqa: E402


def pieces_of(kind: str, page: str) -> list[bytes]:
    """The metric pieces a collection of PAGE renders, as the bytes that get compressed."""
    translator = servers.get(kind).translator(None)
    exp = parser.parse(page.encode(), wanted=parser.wanted_names(translator.native))
    out = Builder((("target", "t"), ("server", kind)), ())
    translator.translate(exp, out)
    rendered = SourceRenderer().render(out.finish())
    return [zlib.decompressobj(-zlib.MAX_WBITS).decompress(p[0]) for p in rendered.pieces.values() if p[2]]


def timed(module, level: int, pieces: list[bytes], rounds: int) -> tuple[float, float, int]:
    """(µs to start a compressor, µs to compress the pieces, compressed bytes), best of ROUNDS."""
    n = 300
    start = compress = float("inf")
    size = 0
    for _ in range(rounds):
        t = time.process_time()
        for _ in range(n):
            module.compressobj(level, zlib.DEFLATED, -zlib.MAX_WBITS)
        start = min(start, (time.process_time() - t) / n * 1e6)
        z = module.compressobj(level, zlib.DEFLATED, -zlib.MAX_WBITS)
        t = time.process_time()
        for _ in range(n):
            size = sum(len(z.compress(p) + z.flush(zlib.Z_FULL_FLUSH)) for p in pieces)
        compress = min(compress, (time.process_time() - t) / n * 1e6)
    joined = b"".join(z.compress(p) + z.flush(zlib.Z_FULL_FLUSH) for p in pieces) + b"\x03\x00"
    assert zlib.decompressobj(-zlib.MAX_WBITS).decompress(joined) == b"".join(pieces)  # any client reads it
    return start, compress, size


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=5)
    args = p.parse_args(argv)
    try:
        from zlib_ng import zlib_ng
    except ImportError:
        print("zlib-ng is not installed (pip install zlib-ng): nothing to compare", file=sys.stderr)
        return 1
    pages = {
        "vLLM, 1 model (the fleet's target)": ("vllm", expositions.vllm()),
        "Triton, 12 models": ("triton", expositions.triton(models=12)),
    }
    sides = {"zlib level 1": (zlib, 1), "zlib level 6": (zlib, 6), "zlib-ng level 1": (zlib_ng, 1)}
    for label, (kind, page) in pages.items():
        pieces = pieces_of(kind, page)
        text = sum(map(len, pieces))
        print(f"{label}: {len(pieces)} pieces, {text / 1024:.1f} KiB of text per collection")
        base = None
        for side, (module, level) in sides.items():
            start, compress, size = timed(module, level, pieces, args.rounds)
            base = base or (start, compress, size)
            print(
                f"  {side:16} start {start:5.1f} us ({start / base[0]:4.2f}x)  "
                f"compress {compress:6.1f} us ({compress / base[1]:4.2f}x)  "
                f"{size / text:5.3f} of the text ({size / base[2]:4.2f}x)"
            )
    print("ratios against zlib level 1 in the same run; the exporter uses zlib-ng level 1")
    return 0


if __name__ == "__main__":
    sys.exit(main())
