"""Freed heap memory goes back to the OS: the reason CPU MLM runs no longer grow by gigabytes."""

from __future__ import annotations

import psutil
import pytest

from versebert.training.memory import release_freed_memory


def _rss_mb() -> float:
    return psutil.Process().memory_info().rss / 2**20


def test_fragmented_free_memory_is_returned():
    # Blocks below glibc's mmap threshold live in the heap; keeping every 16th one alive pins the heap
    # top, so glibc's own trimming cannot give the freed ones back (what varying tensor sizes do).
    blocks = [bytearray(96 * 1024) for _ in range(4000)]  # ~375 MB, written (bytearray zero-fills)
    kept = blocks[::16]
    del blocks
    before = _rss_mb()
    if not release_freed_memory():
        pytest.skip("this C library has no malloc_trim")
    after = _rss_mb()
    assert before - after > 200, (before, after)
    assert len(kept) == 250 and all(len(block) == 96 * 1024 for block in kept)
