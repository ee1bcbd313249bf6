"""Keeping freed memory in the process while a stage cycles through large arrays.

glibc gives the top of its heap back to the kernel once more than its trim threshold is
free there, and serves blocks above its mmap threshold with fresh mappings that are unmapped
when freed.  The network stage frees and allocates arrays of tens to hundreds of megabytes
in turn, so at 4M messages glibc shrank and regrew its heap by about 10 GB over the
near-duplicate step (seen with strace), and every regrown page was a fresh page fault, on a
VM that also has to clear the page its host handed back.  Inside `heap_kept` glibc keeps up
to `trim` bytes free at the top of its heap and serves blocks below `mmap` bytes from it, so
freed memory is reused rather than returned and faulted in again (decision 70).

Setting either threshold switches off glibc's own adjustment of them for the rest of the
process, and glibc cannot say what they were, so on leaving the block they are set to where
that adjustment stops (an mmap threshold of 32 MiB, trimming above twice that) and the heap
is trimmed once.  Where the C library is not glibc, nothing is done.
"""

from __future__ import annotations

import ctypes
import functools
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol

M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
MIB = 1 << 20
# glibc's DEFAULT_MMAP_THRESHOLD_MAX on 64-bit systems, and the trim threshold its dynamic
# rule sets beside it (twice the mmap threshold).
SETTLED_MMAP = 32 * MIB
SETTLED_TRIM = 2 * SETTLED_MMAP


class _Malloc(Protocol):
    def mallopt(self, param: int, value: int) -> int: ...

    def malloc_trim(self, pad: int) -> int: ...


@functools.cache
def _glibc() -> _Malloc | None:
    try:
        libc = ctypes.CDLL(None)
        libc.mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
        libc.malloc_trim.argtypes = [ctypes.c_size_t]
    except (OSError, AttributeError, TypeError):  # not glibc (musl, macOS, Windows)
        return None
    return libc


@contextmanager
def heap_kept(trim: int = 256 * MIB, mmap: int = 32 * MIB) -> Iterator[bool]:
    """Inside the block, glibc keeps up to `trim` free bytes and serves blocks under `mmap`
    bytes from its heap.  Yields whether the setting took (False where there is no glibc)."""
    libc = _glibc()
    if libc is None:
        yield False
        return
    took = bool(libc.mallopt(M_TRIM_THRESHOLD, trim)) and bool(libc.mallopt(M_MMAP_THRESHOLD, mmap))
    try:
        yield took
    finally:
        libc.mallopt(M_MMAP_THRESHOLD, SETTLED_MMAP)
        libc.mallopt(M_TRIM_THRESHOLD, SETTLED_TRIM)
        libc.malloc_trim(0)
