"""Process-wide memory settings, applied once at start-up before any thread exists."""

from __future__ import annotations

import ctypes
import os

# glibc <malloc.h>
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
M_ARENA_MAX = -8

MMAP_THRESHOLD = 256 * 1024  # glibc's default starts at 128 KiB and rises up to 32 MiB
TRIM_THRESHOLD = 1024 * 1024


def _mallopt():
    """glibc's mallopt, looked up in the symbols the process has loaded (``find_library`` would
    run ldconfig in a child process: 6 ms of the sidecar's start); None elsewhere (musl)."""
    try:
        return ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return None


def tune_malloc(arenas: int = 2) -> bool:
    """Cap glibc's malloc arenas (default: 8 per core), and keep big buffers out of the heap.

    One collection thread per target would otherwise spread small allocations over
    many arenas, each holding freed pages of its own; with a cap the exporter's
    resident memory stays close to what it actually uses.

    glibc raises its mmap threshold to the size of any mmapped block freed, so after the
    first big page (a 7.5 MB Triton body) every later body, line list and table of a
    collection came from the heap and, freed between long-lived objects, stayed resident.
    A fixed threshold returns them to the system when a collection ends
    (bench/big_target.py --rss, Triton with 100k series). The MALLOC_*_ environment
    variables (or GLIBC_TUNABLES) still win where a user sets them. No-op off glibc.
    """
    mallopt = _mallopt()
    if mallopt is None or "glibc.malloc." in os.environ.get("GLIBC_TUNABLES", ""):
        return False
    done = True
    settings = [
        ("MALLOC_ARENA_MAX", M_ARENA_MAX, arenas),
        ("MALLOC_MMAP_THRESHOLD_", M_MMAP_THRESHOLD, MMAP_THRESHOLD),
        ("MALLOC_TRIM_THRESHOLD_", M_TRIM_THRESHOLD, TRIM_THRESHOLD),
    ]
    for env, option, value in settings:
        if env not in os.environ:
            done = bool(mallopt(option, value)) and done
    return done


def tune_runtime() -> None:
    """Garbage-collector settings for a process that allocates in bursts and keeps few cycles.

    A collection allocates an object or two per native sample and frees them by reference
    counting when it ends; CPython's default (a young-generation pass every 700 allocations,
    and full passes that walk every object the exporter holds) made the cost per sample grow
    with the exposition's size. The objects alive after start-up are moved out of the
    collector's sight (``gc.freeze``), and the young generation is collected every 50,000
    allocations: cycles (rare here) are still found, a collection of 100k samples runs a
    handful of young passes instead of hundreds, and full passes become rare. No full pass
    before the freeze: it took 5-18 ms of the start and found 0-13 unreachable objects (1 and
    2,000 targets).
    """
    import gc

    gc.freeze()
    gc.set_threshold(50_000, 20, 100)
