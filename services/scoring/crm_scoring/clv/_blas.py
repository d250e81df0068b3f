"""One BLAS thread for the calling thread while a fit runs.

L-BFGS-B does a little dense linear algebra on every iteration (matrices of a few parameters). OpenBLAS wakes
its thread pool for each of those calls; on a host whose cores are busy (the service, other fits, the
database) every wake-up waits for a core, and the waits cost milliseconds per iteration: more than the
likelihood itself (measured: a Pareto/NBD fit on the CDNOW sample took 0.36 s with the pool, 0.09 s without).
OpenBLAS >= 0.3.27 has a per-thread setting (`openblas_set_num_threads_local`), so the fit's thread runs
single-threaded while the rest of the process keeps its pool. NumPy and SciPy each bundle their own OpenBLAS;
both are set. Where no such library is loaded (another BLAS, another platform) this does nothing.
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path

_SYMBOL = "openblas_set_num_threads_local"


@cache
def _setters() -> tuple[Callable[[int], int], ...]:
    maps = Path("/proc/self/maps")
    if not maps.exists():
        return ()
    paths = {line.split()[-1] for line in maps.read_text().splitlines() if "openblas" in line.rsplit("/", 1)[-1]}
    setters = []
    for path in sorted(paths):
        try:
            setter = getattr(ctypes.CDLL(path), _SYMBOL)  # already loaded: the same handle
        except (OSError, AttributeError):
            continue
        setter.restype, setter.argtypes = ctypes.c_int, [ctypes.c_int]
        setters.append(setter)
    return tuple(setters)


@contextmanager
def single_thread() -> Iterator[None]:
    """Run the block with one BLAS thread in this thread (others are unaffected); restores the setting."""
    setters = _setters()
    previous = [setter(1) for setter in setters]
    try:
        yield
    finally:
        for setter, value in zip(setters, previous, strict=True):
            setter(value)
