"""Keep the memory of freed frame buffers in the process, so a new frame's arrays do not fault in fresh pages.

A live run allocates and frees the same full-frame arrays every frame (a 1280x720 float32 frame is 11 MB).
glibc's malloc gives an allocation above its mmap threshold its own fresh mapping and returns it to the
kernel on free, and it trims the heap's free top above its trim threshold (both thresholds start at 128 KiB
and adapt: mallopt(3)). Either way the next frame's array is new memory, and the kernel zero-fills and
maps it page by page on first touch. On this project's 2-core machines that made a full-frame
float step 2.4x as costly in CPU as the same step in reused memory (measured in
``benchmarks/people/malloc_cpu.py``).

:func:`keep_freed_memory` raises both thresholds once at start (``mallopt``), so frame-sized blocks are
served from, and returned to, malloc's own free lists. The price is that up to :data:`TRIM_BYTES` of freed
memory per malloc arena stays with the process instead of going back to the system.
It does nothing where the C library is not glibc, and ``LIVESTYLE_MALLOC=system`` turns it off (for
measuring the difference).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

M_TRIM_THRESHOLD = -1  # glibc's <malloc.h>
M_MMAP_THRESHOLD = -3
MMAP_BYTES = 64 << 20  # larger than any frame-sized array livestyle makes (1080p RGBA float32 is 33 MB)
TRIM_BYTES = 128 << 20


def keep_freed_memory() -> bool:
    """Raise glibc's mmap and trim thresholds for this process; True when it was done."""
    if os.environ.get("LIVESTYLE_MALLOC", "").lower() == "system" or not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (musl has no mallopt)
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_BYTES)) and bool(mallopt(M_TRIM_THRESHOLD, TRIM_BYTES))
