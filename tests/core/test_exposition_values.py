"""The compiled value formatter (``_fastformat.pyx``) writes every value as the Python one does.

Generated values (seeded; a failure names its seed): any 64-bit pattern as a double (NaNs with
payloads, subnormals, both zeros, the infinities), integral values on both sides of +-1e15 and of
the 64-bit range, counts and ratios as servers send them; then values that are not floats, which
the compiled formatter hands to the Python one.
"""

from __future__ import annotations

import os
import random
import shutil
import struct

import pytest
from inference_exporter import exposition

try:
    from inference_exporter._fastformat import format_value as compiled
except ImportError:
    compiled = None

needs_compiled = pytest.mark.skipif(compiled is None, reason="the compiled formatter is not built")
SEED = 2424


def _values(rng: random.Random):
    for _ in range(20_000):
        yield struct.unpack("<d", rng.getrandbits(64).to_bytes(8, "little"))[0]
    edges = [1e15, -1e15, 2.0**53, 2.0**63, -(2.0**63), 2.0**64, 1e300, 5e-324, 0.0, -0.0]
    for edge in edges:
        for step in (-2, -1, 0, 1, 2):
            yield edge + step
            yield edge * (1 + step * 1e-16)
    for special in ("nan", "-nan", "inf", "-inf"):
        yield float(special)
    for _ in range(20_000):
        yield float(rng.randint(-(10**17), 10**17))
        yield rng.randint(0, 10**6) / rng.choice([1, 3, 7, 1000, 1e6])


@needs_compiled
def test_compiled_values_are_the_python_ones():
    rng = random.Random(SEED)
    for v in _values(rng):
        assert compiled(v) == exposition.format_value_python(v), f"seed {SEED}: {v!r}"


@needs_compiled
def test_values_that_are_not_floats_go_to_the_python_formatter():
    for v in (0, 7, -3, 10**16, 2**70, True, False):
        assert compiled(v) == exposition.format_value_python(v), repr(v)


def test_the_exposition_uses_the_compiled_formatter_where_a_compiler_is():
    if not (shutil.which("cc") or shutil.which("gcc")):
        pytest.skip("no C compiler here: the exporter formats with format_value_python")
    if os.environ.get("INFERENCE_EXPORTER_PARSER") == "python":
        pytest.skip("INFERENCE_EXPORTER_PARSER=python asks for the reference parts")
    assert compiled is not None and exposition.format_value is compiled
