"""Process tuning for the numpy backend: how many threads NumPy's OpenBLAS runs, and how
much freed memory glibc's malloc keeps. Both are process-wide; both have defaults that make
a training script fast without anyone setting anything (why, with measurements:
benchmarks/results/speed-notes.md).

Threads follow each product (``fit_blas_threads``, which ``linear``, ``matmul`` and the
convolutions call before their GEMMs): one thread for a product of fewer than
``DEFAULT_MIN_PARALLEL`` multiply-adds, where more threads only add synchronisation and
spin-waiting (many times slower on a busy machine), and every thread OpenBLAS started with
(the cores, or ``OPENBLAS_NUM_THREADS``) for larger ones. The choice depends on the shapes
alone, so a seeded run repeats bit for bit: OpenBLAS's sums do depend on its thread count
(a few per cent of a product's entries differ in the last bit between 1 and 2 threads), so
a clock- or load-dependent choice would not. ``set_blas_threads(n)`` pins the count (the
training command pins 1, the test suite too); ``auto_blas_threads()`` returns to the rule.

A layer's input and weight gradients are two independent products: ``side_by_side`` runs
them at once on two threads, each the same one-thread call it would be alone (so the bits
do not change), where both are large enough and one-thread (the training command's DCGAN).

Memory: the first optimizer built in a process calls ``default_freed_memory()``, which asks
glibc to keep up to 256 MiB of freed memory (and to serve arrays up to 64 MiB from it)
instead of handing it back to the kernel after every training step, whose fresh arrays then
page-fault again. It does nothing where ``keep_freed_memory`` was called (the training
command keeps up to 1 GiB) or MALLOC_TRIM_THRESHOLD_ / MALLOC_MMAP_THRESHOLD_ are set.
"""

from __future__ import annotations

import ctypes
import os
import queue
import threading

from . import backend as B

_SET_THREADS = ("scipy_openblas_set_num_threads64_", "openblas_set_num_threads64_",
                "openblas_set_num_threads")
_GET_THREADS = ("scipy_openblas_get_num_threads64_", "openblas_get_num_threads64_",
                "openblas_get_num_threads")

# products of at least this many multiply-adds (m·k·n) run on every thread
DEFAULT_MIN_PARALLEL = 1 << 25
# two independent one-thread products of at least this many multiply-adds each run at once
# (measured: benchmarks/results/speed-notes.md)
MIN_SIDE_BY_SIDE = 1 << 23

_functions = None   # (set, get): NumPy's OpenBLAS entry points, looked up once
_auto = True        # the thread count follows the product size
_min_parallel = DEFAULT_MIN_PARALLEL
_many = None        # threads for large products: OpenBLAS's count before anyone set it
_current = None     # the count this module last set
LIBRARY_KEEP, LIBRARY_MMAP = 256 << 20, 64 << 20  # default_freed_memory's thresholds
_malloc_chosen = False  # keep_freed_memory was called in this process
_partner = (None, None, None)  # (process id, job queue, thread) of side_by_side's partner


def _find(symbols):
    """The first of ``symbols`` in an OpenBLAS this process has loaded (NumPy's wheels name
    them with a scipy_ prefix and a 64_ suffix); None where there is none (another BLAS, or
    not Linux)."""
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
                return getattr(library, symbol)
    return None


def _cores() -> int:
    """Cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _openblas():
    """(set, get) of NumPy's OpenBLAS, each None where not found; the start-up thread count
    is recorded on the first look-up, before this module changes it."""
    global _functions, _many
    if _functions is None:
        setter, getter = _find(_SET_THREADS), _find(_GET_THREADS)
        if setter is not None:
            setter.argtypes, setter.restype = [ctypes.c_int], None
        if getter is not None:
            getter.argtypes, getter.restype = [], ctypes.c_int
            _many = max(1, int(getter()))
        elif setter is not None:
            _many = _cores()
        _functions = setter, getter
    return _functions


def set_blas_threads(count: int) -> bool:
    """Pin the thread count of the OpenBLAS that NumPy loaded, in this process, and stop
    choosing it by product size; False where none is found."""
    global _auto, _current
    setter = _openblas()[0]
    if setter is None:
        return False
    _auto = False
    setter(int(count))
    _current = int(count)
    return True


def get_blas_threads():
    """The thread count of the OpenBLAS that NumPy loaded, or None where none is found."""
    getter = _openblas()[1]
    return None if getter is None else int(getter())


def auto_blas_threads(min_parallel: int = DEFAULT_MIN_PARALLEL) -> bool:
    """Choose the thread count by product size again (the default): one thread below
    ``min_parallel`` multiply-adds, all of OpenBLAS's start-up threads from there on. False
    where no OpenBLAS is found."""
    global _auto, _min_parallel
    if _openblas()[0] is None:
        return False
    _auto, _min_parallel = True, int(min_parallel)
    return True


def blas_policy() -> dict:
    """How products are threaded now: {"auto", "min_parallel", "threads_large" (OpenBLAS's
    start-up count), "current"}; counts are None where no OpenBLAS is found."""
    _openblas()
    return {"auto": _auto and _functions[0] is not None, "min_parallel": _min_parallel,
            "threads_large": _many, "current": get_blas_threads()}


def large_work_threads() -> int:
    """Threads for other large element-wise work (the optimizers' blocked updates): the
    count large products get (OpenBLAS's start-up count, or the pinned count)."""
    _openblas()
    return max(1, (_many if _auto else _current) or cpu_count())


def cpu_count() -> int:
    """Cores this process may run on."""
    return _cores()


def fit_blas_threads(multiply_adds: int) -> None:
    """Before a NumPy product of ``multiply_adds`` (m·k·n) multiply-adds: set OpenBLAS's
    thread count for it, unless the count was pinned. Costs a comparison when the count is
    already right (it changes a few times per training step at most)."""
    global _current
    if not _auto or not B.on_numpy():
        return
    setter = (_functions or _openblas())[0]
    want = 1 if multiply_adds < _min_parallel else _many
    if want != _current and setter is not None:
        setter(want)
        _current = want


def side_by_side(here, there, multiply_adds: int):
    """(here(), there()) with ``there`` run on a partner thread while ``here`` runs on this
    one, for two independent pieces of work whose products take at most ``multiply_adds``
    each (a layer's input and weight gradients): NumPy releases the GIL inside BLAS, so two
    one-thread products then use two cores. Each product is the same one-thread call either
    way, so the results do not change. One after the other where that cannot help: one
    core, the cupy backend, products under ``MIN_SIDE_BY_SIDE`` multiply-adds (waking the
    partner costs more than it saves there), or products that run on several OpenBLAS
    threads already. Either piece may be None: nothing to do, and None in its place."""
    fit_blas_threads(multiply_adds)
    if (here is None or there is None or multiply_adds < MIN_SIDE_BY_SIDE or _current != 1
            or not B.on_numpy() or cpu_count() < 2
            or threading.current_thread() is _partner[2]):
        return (None if here is None else here()), (None if there is None else there())
    jobs = _partner_jobs()
    done = threading.Lock()
    done.acquire()
    job = [there, done, None, None]  # work, its signal, its result, its exception
    jobs.put(job)
    try:
        first = here()
    finally:
        done.acquire()  # there's arrays must not outlive a failure of here
    if job[3] is not None:
        raise job[3]
    return first, job[2]


def _partner_jobs():
    """The partner thread's job queue, started on first use in each process (a forked
    child has the queue but not the thread)."""
    global _partner
    if _partner[0] != os.getpid():
        jobs = queue.SimpleQueue()
        thread = threading.Thread(target=_serve, args=(jobs,), daemon=True,
                                  name="minigan-side-by-side")
        _partner = (os.getpid(), jobs, thread)
        thread.start()
    return _partner[1]


def _serve(jobs):
    while True:
        job = jobs.get()
        try:
            job[2] = job[0]()
        except BaseException as error:  # handed to the waiting thread, which raises it
            job[3] = error
        finally:
            done, job = job[1], None  # keep nothing of a finished backward until the next job
            done.release()


def keep_freed_memory(limit: int = 1 << 30, mmap_limit: int | None = None) -> bool:
    """Keep up to ``limit`` bytes of freed memory in glibc's heap instead of returning it to
    the kernel, and serve arrays up to ``mmap_limit`` (default ``limit``) bytes from it, so
    the arrays a training step allocates afresh every step do not page-fault again
    (measured: 2.24 -> 1.65 ms per ring step, 211 -> 167 ms per DCGAN step, same peak
    memory). Process-wide; False where glibc's mallopt is not available. Both thresholds
    must be set: raising only the trim threshold switches off glibc's adaptive mmap
    threshold and is slower."""
    global _malloc_chosen
    _malloc_chosen = True
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    m_trim_threshold, m_mmap_threshold = -1, -3
    mmap_limit = limit if mmap_limit is None else mmap_limit
    return bool(mallopt(m_trim_threshold, int(limit))) and bool(
        mallopt(m_mmap_threshold, int(mmap_limit)))


def default_freed_memory() -> bool:
    """The library's default, applied once by the first optimizer of a process on the numpy
    backend: keep up to 256 MiB of freed memory, arrays up to 64 MiB from the heap. Does
    nothing (False) where ``keep_freed_memory`` was called before or glibc's MALLOC_*
    environment variables choose otherwise."""
    if _malloc_chosen or not B.on_numpy() or any(
            name in os.environ for name in ("MALLOC_TRIM_THRESHOLD_", "MALLOC_MMAP_THRESHOLD_",
                                            "MALLOC_TOP_PAD_", "MALLOC_MMAP_MAX_")):
        return False
    return keep_freed_memory(LIBRARY_KEEP, LIBRARY_MMAP)
