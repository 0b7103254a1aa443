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

