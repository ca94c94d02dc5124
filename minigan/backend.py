"""The array backend: which array module (NumPy or CuPy) holds the data, explicit moves
between host and device, the default dtype, and the one seeded random generator.

Every other compute module reaches arrays only through ``backend.xp`` (looked up at call
time, so ``set_backend`` takes effect everywhere). Random numbers are always drawn on the
host from one NumPy ``Generator`` and moved explicitly, so a seed gives the same numbers on
both backends and the generator's state can be checkpointed without pickle. Process tuning
(BLAS threads, malloc thresholds) is ``tuning.py``'s, not the backend's.
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
