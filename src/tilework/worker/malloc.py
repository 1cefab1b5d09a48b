"""Make glibc hand large freed buffers back to the system at once.

glibc raises its mmap threshold each time a large mmapped block is freed, so after the first
tile the per-run buffers of a network (a few MiB each) come from the heap instead, and the heap
fragments and stays at its high-water mark: a task process grew from 96 to 230 MiB over two
tiles. Setting the threshold by hand turns that adjustment off; blocks above it are mapped and
unmapped on every use, which costs little next to a network run over them.
"""

from __future__ import annotations

import ctypes
import ctypes.util

M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD_BYTES = 256 * 1024
TRIM_THRESHOLD_BYTES = 4 * 1024 * 1024


def return_large_blocks() -> bool:
    """Fix the thresholds; False where the C library is not glibc (nothing to do there)."""
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    libc = ctypes.CDLL(name)
    if not hasattr(libc, "mallopt") or not hasattr(libc, "gnu_get_libc_version"):
        return False
    return bool(
        libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)
        and libc.mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES)
    )
