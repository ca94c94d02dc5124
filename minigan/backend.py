"""The array backend: which array module (NumPy or CuPy) holds the data, explicit moves
between host and device, the default dtype, and the seeded random generators.

Every other compute module reaches arrays only through ``backend.xp`` (looked up at call
time, so ``set_backend`` takes effect everywhere). ``randn``, ``uniform``, ``normal``,
``random`` and ``integers`` draw where the arrays live: on the numpy backend from one host
NumPy ``Generator``; under cupy on the device, each draw from CuPy's counter-based Philox
generator reseeded from (the seed, the number of draws so far), so a seed repeats a run
exactly on each backend and the whole state is JSON (``rng_state``), checkpointable
without pickle. ``generator()`` is the host generator, for draws that stay on the host.
Process tuning (BLAS threads, malloc thresholds) is ``tuning.py``'s, not the backend's.
"""

from __future__ import annotations

import json

import numpy

xp = numpy
_name = "numpy"
default_dtype = numpy.dtype(numpy.float32)
_rng = numpy.random.default_rng(0)  # the host generator
_device_key, _device_draws = 0, 0  # the device stream under cupy: draw k seeded by (key, k)
_cupy = None  # CuPy once it has passed the probe
_device_rng = None  # its Philox generator, reseeded before every draw


class BackendError(RuntimeError):
    """The requested backend cannot be used on this machine."""


def _first_line(err) -> str:
    """The error as one line: its type and the line that says what failed (CuPy's import
    errors are a framed paragraph ending in "Original error:" and the cause)."""
    lines = [line.strip() for line in str(err).splitlines()
             if any(c.isalnum() for c in line)]
    if "Original error:" in lines[:-1]:
        return lines[lines.index("Original error:") + 1]
    return f"{type(err).__name__}: {lines[0]}" if lines else type(err).__name__


def _load_cupy():
    """CuPy, checked by running a kernel on the GPU; BackendError (one line) otherwise."""
    global _cupy, _device_rng
    if _cupy is not None:
        return _cupy
    try:
        import cupy
    except ModuleNotFoundError as err:
        if err.name != "cupy":
            raise BackendError(f"CuPy is installed but cannot be imported ({_first_line(err)})"
                               ) from err
        raise BackendError(
            "the cupy backend needs CuPy: install it with `pip install minigan[cuda12]` "
            "(or `minigan[cuda13]` for CUDA 13)"
        ) from err
    except Exception as err:  # a broken install or missing CUDA libraries at import time
        raise BackendError(f"CuPy is installed but cannot be imported ({_first_line(err)})"
                           ) from err
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as err:  # CuPy raises a CUDARuntimeError subclass; any failure means no GPU
        raise BackendError(f"the cupy backend found no usable CUDA GPU ({_first_line(err)})"
                           ) from err
    if count < 1:
        raise BackendError("the cupy backend found no CUDA GPU on this machine")
    device_rng = _probe(cupy)
    _cupy, _device_rng = cupy, device_rng
    return cupy


def _probe(cupy):
    """Run one elementwise kernel (compiled by NVRTC), one matmul (cuBLAS) and one random
    draw (cuRAND) and check them against NumPy, so a machine that lacks one of CUDA's
    libraries fails here, with one line, rather than at the first op. Returns the device
    random generator."""
    try:
        a = cupy.arange(4, dtype=cupy.float32).reshape(2, 2)
        b = cupy.exp(a) * 2 - 1
        c = b @ a
        rng = cupy.random.RandomState(method=cupy.cuda.curand.CURAND_RNG_PSEUDO_PHILOX4_32_10)
        u = rng.random_sample(size=(2,), dtype=numpy.float64)
        host_c, host_u = cupy.asnumpy(c), cupy.asnumpy(u)
    except Exception as err:
        raise BackendError(f"the cupy backend cannot run on this GPU ({_first_line(err)}); "
                           "without a CUDA toolkit install CUDA's libraries with "
                           "`pip install minigan[cuda12]` (or cuda13)") from err
    host_a = numpy.arange(4, dtype=numpy.float32).reshape(2, 2)
    if (not numpy.allclose(host_c, (numpy.exp(host_a) * 2 - 1) @ host_a, rtol=1e-4)
            or not ((host_u >= 0) & (host_u < 1)).all()):
        raise BackendError("the cupy backend computed wrong results on this GPU (a test "
                           "kernel and matmul disagree with NumPy)")
    return rng


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


def on_numpy() -> bool:
    """Whether the array module ``xp`` is NumPy itself (not CuPy or a stand-in)."""
    return xp is numpy


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


def _stream_key(seed) -> int:
    return int(numpy.random.SeedSequence(seed).generate_state(1, numpy.uint64)[0])


def manual_seed(seed: int) -> None:
    """Reset the random generators (the host one and the device stream)."""
    global _rng, _device_key, _device_draws
    _rng = numpy.random.default_rng(seed)
    _device_key, _device_draws = _stream_key(seed), 0


def generator() -> numpy.random.Generator:
    """The host random generator (for data sampling that stays on the host)."""
    return _rng


def new_generator(seed) -> numpy.random.Generator:
    """An independent host generator (for checks that must not disturb the global one)."""
    return numpy.random.default_rng(seed)


def _source():
    """Where the next draw comes from: the host generator on the numpy backend; under cupy
    the device generator, reseeded for draw k from (key, k)."""
    global _device_draws
    if _name == "numpy":  # by name: a tool may wrap xp (benchmarks count its calls)
        return _rng
    seed = numpy.random.SeedSequence([_device_key, _device_draws]).generate_state(
        1, numpy.uint64)[0]
    _device_draws += 1
    _device_rng.seed(seed)
    return _device_rng


def _float(dtype):
    return default_dtype if dtype is None else numpy.dtype(dtype)


def randn(*shape, dtype=None):
    """Standard normal samples on the active backend, drawn in float64, so a seed gives the
    same numbers (up to rounding) in either dtype."""
    source = _source()
    draw = (source.standard_normal(shape, dtype=numpy.float64) if source is _rng
            else source.standard_normal(size=shape, dtype=numpy.float64))
    return draw.astype(_float(dtype))


def uniform(low, high, shape, dtype=None):
    """Uniform samples in [low, high) on the active backend."""
    source = _source()
    draw = (source.uniform(low, high, shape) if source is _rng
            else source.uniform(low, high, size=shape, dtype=numpy.float64))
    return draw.astype(_float(dtype))


def normal(mean, std, shape, dtype=None):
    """Samples of N(mean, std²) on the active backend."""
    source = _source()
    draw = (source.normal(mean, std, shape) if source is _rng
            else source.normal(mean, std, size=shape, dtype=numpy.float64))
    return draw.astype(_float(dtype))


def random(shape):
    """Uniform float64 samples in [0, 1) on the active backend."""
    source = _source()
    return (source.random(shape) if source is _rng
            else source.random_sample(size=shape, dtype=numpy.float64))


def integers(low, high, shape):
    """Uniform int64 samples in [low, high) on the active backend."""
    source = _source()
    return (source.integers(low, high, shape) if source is _rng
            else source.randint(low, high, size=shape, dtype=numpy.int64))


def rng_state() -> str:
    """The state of both generators as a JSON string (checkpointable without pickle):
    {"host": the host generator's bit-generator state, "device": [key, draws]}."""
    return json.dumps({"host": _rng.bit_generator.state,
                       "device": [_device_key, _device_draws]})


def set_rng_state(state: str) -> None:
    """Restore ``rng_state()``'s output (a bare host bit-generator state is accepted too)."""
    global _rng, _device_key, _device_draws
    loaded = json.loads(state)
    host = loaded.get("host", loaded)
    key, draws = loaded.get("device", (0, 0))
    bit_generator = getattr(numpy.random, host["bit_generator"])()
    bit_generator.state = host
    _rng = numpy.random.Generator(bit_generator)
    _device_key, _device_draws = int(key), int(draws)


manual_seed(0)
