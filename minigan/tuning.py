"""Process tuning for the numpy backend: how many threads NumPy's OpenBLAS runs, and whether
glibc's malloc keeps freed memory. Both are process-wide, so only programs that own their
process (the training command, the test suite, the benchmarks) should set them; the array
backend itself (``backend.py``) never does.
"""

from __future__ import annotations

import ctypes

_SET_THREADS = ("scipy_openblas_set_num_threads64_", "openblas_set_num_threads64_",
                "openblas_set_num_threads")
_GET_THREADS = ("scipy_openblas_get_num_threads64_", "openblas_get_num_threads64_",
                "openblas_get_num_threads")


def _openblas_call(symbols, *args):
    """Call the first of ``symbols`` found in an OpenBLAS this process has loaded (NumPy's
    wheels name their symbols with a scipy_ prefix and a 64_ suffix); None where there is
    none (another BLAS, or not Linux)."""
    try:
        with open("/proc/self/maps") as maps:
            paths = sorted({line.split()[-1] for line in maps if "openblas" in line.lower()})
    except OSError:
        return None
    for path in paths:
        try:
            library = ctypes.CDLL(path)
        except OSError:
            continue
        for symbol in symbols:
            if hasattr(library, symbol):
                return getattr(library, symbol)(*args)
    return None


def set_blas_threads(count: int) -> bool:
    """Set the thread count of the OpenBLAS that NumPy loaded, in this process; False where
    none is found. minigan's matrices are small (batch × 128): extra BLAS threads buy little
    there, and on a busy machine their spin-waiting made each product up to ~50x slower in
    our measurements."""
    return _openblas_call(_SET_THREADS, int(count)) is not None


def get_blas_threads():
    """The thread count of the OpenBLAS that NumPy loaded, or None where none is found."""
    return _openblas_call(_GET_THREADS)


def keep_freed_memory(limit: int = 1 << 30) -> bool:
    """Keep freed memory in glibc's heap instead of returning it to the kernel, so the
    arrays a training step allocates afresh every step do not page-fault again (measured:
    2.24 -> 1.65 ms per ring step, 211 -> 167 ms per DCGAN step, same peak memory).
    Process-wide, so only for programs that own their process, like the training command;
    False where glibc's mallopt is not available. Both thresholds must be set: raising only
    the trim threshold switches off glibc's adaptive mmap threshold and is slower."""
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    m_trim_threshold, m_mmap_threshold = -1, -3
    return bool(mallopt(m_trim_threshold, limit)) and bool(mallopt(m_mmap_threshold, limit))
