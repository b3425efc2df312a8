"""glibc malloc tuned for processes that allocate large arrays again and again.

A model run allocates and frees activations of many MB per layer (VDSR at 256x256: 16 MB each).
glibc serves a block that large with a fresh mmap and unmaps it when freed, so the next run
faults every 4 KB page in again: about 100,000 page faults per VDSR run, a quarter of its time in
the kernel (measured: 5 runs 4.5 s, 1.0 s of it system time; tuned: 3.1 s, 0.03 s). Keeping up to
`malloc_keep_mb` (settings; default 256 MB) of freed memory for reuse removes that. glibc only:
elsewhere, or with 0, nothing changes. Applied by the pytest plugin and the CLI, so a perf check
and `srharness bench` time under the same allocator; perf figures record it.
"""
from __future__ import annotations

import ctypes
import ctypes.util

from srharness import settings
from srharness.errors import UsageError

M_TRIM_THRESHOLD, M_TOP_PAD, M_MMAP_THRESHOLD = -1, -2, -3
MAX_KEEP_MB = 1024          # mallopt takes a C int of bytes: 2048 MB would already overflow it
_APPLIED: list[str] = []


def keep_freed_memory() -> str:
    """Apply the setting once per process; returns what applies, for perf conditions."""
    if _APPLIED:
        return _APPLIED[0]
    mb = settings.resolve("malloc_keep_mb")
    if mb is not None and not 0 <= mb <= MAX_KEEP_MB:
        raise UsageError(f"{settings.setting('malloc_keep_mb').env}={mb}: give the MB of freed memory to keep, "
                         f"0 to {MAX_KEEP_MB} (0: glibc's default)", subject=str(mb))
    state = "glibc default"
    if mb:
        try:
            libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
            mallopt = libc.mallopt
        except (OSError, AttributeError):
            mallopt = None
        size = int(mb) << 20
        # blocks up to `size` come from the heap (not a fresh mmap each), and a heap top of up to
        # `size` stays mapped when freed; 1 = success
        if mallopt is not None and all(mallopt(param, size) == 1 for param in (M_MMAP_THRESHOLD, M_TOP_PAD,
                                                                               M_TRIM_THRESHOLD)):
            state = f"glibc keeps {mb} MB freed (mmap threshold, top pad, trim threshold)"
    _APPLIED.append(state)
    return state
