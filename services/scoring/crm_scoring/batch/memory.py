"""Large NumPy arrays mapped on their own, so memory freed between the batch's phases goes back to the system.

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
