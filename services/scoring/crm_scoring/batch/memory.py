"""glibc's heap, tuned for the batch: large NumPy arrays mapped on their own, and threads' free pages handed
back, so memory freed between the batch's phases goes back to the system.

glibc serves an allocation over its mmap threshold with a mapping of its own, unmapped on free. The threshold
starts at 128 kB but rises to the size of each such block freed (up to 32 MB), after which the batch's
8-80 MB arrays come from the heap, whose freed holes are kept by the process: at 1M customers the batch held
1.2 GB while PostgreSQL wrote its scores, against ~0.6 GB with the threshold fixed. Fixed at 4 MB, it leaves
small allocations (and their speed) as they are.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
from typing import Any

log = logging.getLogger("crm.scoring.batch")
M_MMAP_THRESHOLD = -3  # mallopt's parameter number (malloc.h)
THRESHOLD = 4 << 20


def map_large_allocations() -> bool:
    """Fix glibc's mmap threshold for this process; False where the C library is not glibc."""
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError, TypeError):
        log.debug("no mallopt in the C library (%s): allocations left as they are", name)
        return False
    return bool(mallopt(M_MMAP_THRESHOLD, THRESHOLD))


def trim_heap() -> None:
    """Hand the C heap's free pages back to the system (glibc's malloc_trim; nothing elsewhere). Arrays of a
    few MB made in a worker thread come from that thread's own malloc arena, whose free memory the main thread
    does not reuse: the read's threaded aggregation peaked at ~920 MB at 10M orders untrimmed, ~820 MB trimmed
    (bench/scoring/read_speed.py)."""
    if _MALLOC_TRIM is not None:
        _MALLOC_TRIM(0)


_MALLOC_TRIM: Any
try:
    _MALLOC_TRIM = ctypes.CDLL(None).malloc_trim
except (AttributeError, OSError, TypeError):  # another C library, or no dlopen(NULL)
    _MALLOC_TRIM = None
