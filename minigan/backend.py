"""The array backend: which array module (NumPy or CuPy) holds the data, explicit moves
between host and device, the default dtype, and the one seeded random generator.

Every other compute module reaches arrays only through ``backend.xp`` (looked up at call
time, so ``set_backend`` takes effect everywhere). Random numbers are always drawn on the
host from one NumPy ``Generator`` and moved explicitly, so a seed gives the same numbers on
both backends and the generator's state can be checkpointed without pickle.
"""

from __future__ import annotations

import json

import numpy

xp = numpy
_name = "numpy"
default_dtype = numpy.dtype(numpy.float32)
_rng = numpy.random.default_rng(0)


class BackendError(RuntimeError):
    """The requested backend cannot be used on this machine."""


def _load_cupy():
    try:
        import cupy
    except ImportError as err:
        raise BackendError(
            "the cupy backend needs CuPy: install it with `pip install minigan[cuda12]` "
            "(or `minigan[cuda13]` for CUDA 13)"
        ) from err
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as err:  # CuPy raises a CUDARuntimeError subclass; any failure means no GPU
        raise BackendError(f"the cupy backend found no usable CUDA GPU ({err})") from err
    if count < 1:
        raise BackendError("the cupy backend found no CUDA GPU on this machine")
    return cupy


def set_backend(name: str) -> None:
    """Make ``name`` ('numpy' or 'cupy') the array module for all new arrays."""
    global xp, _name
    if name == "numpy":
        xp, _name = numpy, "numpy"
    elif name == "cupy":
        xp, _name = _load_cupy(), "cupy"
    else:
        raise ValueError(f"unknown backend {name!r}; choose 'numpy' or 'cupy'")


def get_backend() -> str:
    return _name


def cupy_available() -> bool:
    """True when CuPy imports and sees at least one GPU (never raises)."""
    try:
        _load_cupy()
    except BackendError:
        return False
    return True


def set_default_dtype(dtype) -> None:
    """Set the floating dtype of new tensors: float32 (default) or float64."""
    global default_dtype
    dtype = numpy.dtype(dtype)
    if dtype not in (numpy.float32, numpy.float64):
        raise ValueError(f"default dtype must be float32 or float64, not {dtype}")
    default_dtype = dtype


def _openblas_call(suffixes, *args):
    """Call the first ``openblas_<suffix>`` found in an OpenBLAS this process has loaded
    (NumPy's wheels name their symbols with a scipy_ prefix and a 64_ suffix); None where
    there is none (another BLAS, or not Linux)."""
    import ctypes

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
        for symbol in suffixes:
            if hasattr(library, symbol):
                return getattr(library, symbol)(*args)
    return None


def set_blas_threads(count: int) -> bool:
    """Set the thread count of the OpenBLAS that NumPy loaded, in this process; False where
    none is found. minigan's matrices are small (batch × 128): extra BLAS threads buy little
    there, and on a busy machine their spin-waiting made each product up to ~50x slower in
    our measurements."""
    names = ("scipy_openblas_set_num_threads64_", "openblas_set_num_threads64_",
             "openblas_set_num_threads")
    return _openblas_call(names, int(count)) is not None


def get_blas_threads():
    """The thread count of the OpenBLAS that NumPy loaded, or None where none is found."""
    return _openblas_call(("scipy_openblas_get_num_threads64_", "openblas_get_num_threads64_",
                           "openblas_get_num_threads"))


def keep_freed_memory(limit: int = 1 << 30) -> bool:
    """Keep freed memory in glibc's heap instead of returning it to the kernel, so the
    arrays a training step allocates afresh every step do not page-fault again (measured:
    2.24 -> 1.65 ms per ring step, 211 -> 167 ms per DCGAN step, same peak memory).
    Process-wide, so only for programs that own their process, like the training command;
    False where glibc's mallopt is not available. Both thresholds must be set: raising only
    the trim threshold switches off glibc's adaptive mmap threshold and is slower."""
    import ctypes

    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    m_trim_threshold, m_mmap_threshold = -1, -3
    return bool(mallopt(m_trim_threshold, limit)) and bool(mallopt(m_mmap_threshold, limit))


def get_default_dtype():
    return default_dtype


def quiet_floating_point_errors():
    """A context in which overflow and invalid-value warnings are silenced (NumPy's
    errstate; CuPy raises none): the trainer reports a blow-up itself, naming its step."""
    if xp is numpy:
        return numpy.errstate(all="ignore")
    import contextlib

    return contextlib.nullcontext()


def is_array(obj) -> bool:
    """True for an array of the active backend."""
    return isinstance(obj, xp.ndarray)


def to_numpy(array) -> numpy.ndarray:
    """Explicit device-to-host copy (a no-op view on the numpy backend)."""
    if isinstance(array, numpy.ndarray):
        return array
    if hasattr(array, "get"):
        return array.get()
    return numpy.asarray(array)


def to_device(array, dtype=None):
    """Explicit host-to-device copy onto the active backend. On the numpy backend no copy
    is made when the dtype already fits: the result may be ``array`` itself."""
    return xp.asarray(array, dtype=dtype)


# --- random numbers -------------------------------------------------------------------


def manual_seed(seed: int) -> None:
    """Reset the global random generator."""
    global _rng
    _rng = numpy.random.default_rng(seed)


def generator() -> numpy.random.Generator:
    """The host random generator (for data sampling that stays on the host)."""
    return _rng


def new_generator(seed) -> numpy.random.Generator:
    """An independent host generator (for checks that must not disturb the global one)."""
    return numpy.random.default_rng(seed)


def randn(*shape, dtype=None):
    """Standard normal samples on the active backend, drawn in float64 on the host, so a
    seed gives the same numbers (up to rounding) in either dtype and on either backend."""
    dtype = default_dtype if dtype is None else numpy.dtype(dtype)
    return to_device(_rng.standard_normal(shape, dtype=numpy.float64).astype(dtype))


def uniform(low, high, shape, dtype=None):
    """Uniform samples in [low, high) on the active backend."""
    dtype = default_dtype if dtype is None else numpy.dtype(dtype)
    return to_device(_rng.uniform(low, high, shape).astype(dtype))


def normal(mean, std, shape, dtype=None):
    """Samples of N(mean, std²) on the active backend."""
    dtype = default_dtype if dtype is None else numpy.dtype(dtype)
    return to_device(_rng.normal(mean, std, shape).astype(dtype))


def rng_state() -> str:
    """The generator's state as a JSON string (checkpointable without pickle)."""
    return json.dumps(_rng.bit_generator.state)


def set_rng_state(state: str) -> None:
    global _rng
    bit_state = json.loads(state)
    bit_generator = getattr(numpy.random, bit_state["bit_generator"])()
    bit_generator.state = bit_state
    _rng = numpy.random.Generator(bit_generator)
