"""Give the memory a CPU training run has freed back to the operating system.

Dynamic padding and the masked-only vocabulary projection allocate tensors of a new size almost
every step. glibc's malloc keeps the freed blocks inside its heap, fragmented, so the resident size
of a CPU MLM run climbs although nothing leaks: measured on the tiny preset, 1.1 → 1.8 GB over 320
steps and 2 → 4 GB over one epoch. ``malloc_trim(0)`` hands the free pages back; lowering glibc's
mmap threshold instead also kept memory flat but cost 30% of the throughput (every large tensor then
costs fresh zeroed pages).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools


@functools.cache
def _malloc_trim():
    """glibc's ``malloc_trim``, or ``None`` where the C library has none (macOS, musl, Windows)."""
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
    except (OSError, AttributeError):
        return None


def release_freed_memory() -> bool:
    """Return freed heap pages to the OS; ``False`` where the platform offers no way to."""
    trim = _malloc_trim()
    if trim is None:
        return False
    trim(0)
    return True
