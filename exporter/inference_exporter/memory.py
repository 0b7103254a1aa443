"""Process-wide memory settings, applied once at start-up before any thread exists."""

from __future__ import annotations

import ctypes
import ctypes.util

M_ARENA_MAX = -8  # glibc <malloc.h>


def limit_malloc_arenas(arenas: int = 2) -> bool:
    """Cap glibc's malloc arenas (default: 8 per core).

    One collection thread per target would otherwise spread small allocations over
    many arenas, each holding freed pages of its own; with a cap the exporter's
    resident memory stays close to what it actually uses (MALLOC_ARENA_MAX does the
    same from the environment, which a user may still set). No-op off glibc.
    """
    name = ctypes.util.find_library("c")
    if not name:
        return False
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    return bool(mallopt(M_ARENA_MAX, arenas))


def tune_runtime() -> None:
    """Garbage-collector settings for a process that allocates in bursts and keeps few cycles.

    A collection allocates an object or two per native sample and frees them by reference
    counting when it ends; CPython's default (a young-generation pass every 700 allocations,
    and full passes that walk every object the exporter holds) made the cost per sample grow
    with the exposition's size. The objects alive after start-up are moved out of the
    collector's sight (``gc.freeze``), and the young generation is collected every 50,000
    allocations: cycles (rare here) are still found, a collection of 100k samples runs a
    handful of young passes instead of hundreds, and full passes become rare.
    """
    import gc

    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)
