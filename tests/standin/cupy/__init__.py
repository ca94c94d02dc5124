"""A strict CPU stand-in for CuPy 13, for the tests only (never part of the package).

Put ``tests/standin`` first on ``PYTHONPATH`` and ``import cupy`` finds this package: arrays
are NumPy arrays behind a wall as strict as CuPy's (see ``_core``), the namespace is CuPy
13's (its names, generated from CuPy 13.6's ``cupy/__init__.py``; nothing of NumPy's that
CuPy lacks, such as ``errstate``), and where CuPy behaves differently from NumPy this does
too: reductions give 0-d arrays, no floating-point error state, ``bincount`` of an empty
array refused ("zero-size array to reduction operation cupy_max which has no identity", as
CuPy before 14.2). So a host/device slip in minigan fails on every machine, GPU or not.

``MINIGAN_STANDIN_FAIL`` makes it fail as a broken CUDA set-up does: ``import`` (CuPy does
not import), ``nogpu`` (no device), ``nvrtc`` (no kernel compiles), ``cublas`` (no matmul),
``curand`` (no random generator), ``wrong`` (a matmul that computes garbage).
"""

import builtins
import os
import sys
import types

import numpy

from . import _core
from ._core import call as _call
from ._core import check_failure as _check_failure
from ._core import ndarray
from ._core import unwrap as _unwrap
from ._core import unwrap_index as _unwrap_index
from ._core import wrap as _wrap

if os.environ.get("MINIGAN_STANDIN_FAIL") == "import":
    raise ImportError("\n================================================================\n"
                      "Failed to import CuPy.\n\nOriginal error:\n  ImportError: "
                      "libcudart.so.12: cannot open shared object file\n")

__version__ = "13.6.0"
STANDIN = True  # not CuPy's: lets a test or report tell the stand-in from a GPU

UFUNCS = """
    abs absolute add arccos arccosh arcsin arcsinh arctan arctan2 arctanh bitwise_and
    bitwise_not bitwise_or bitwise_xor cbrt ceil conj conjugate copysign cos cosh deg2rad
    degrees divide divmod equal exp exp2 expm1 fabs float_power floor floor_divide fmax
    fmin fmod frexp gcd greater greater_equal heaviside hypot invert isfinite isinf isnan
    lcm ldexp left_shift less less_equal log log10 log1p log2 logaddexp logaddexp2
    logical_and logical_not logical_or logical_xor matmul maximum minimum mod modf multiply
    negative nextafter not_equal positive power rad2deg radians reciprocal remainder
    right_shift rint sign signbit sin sinh sqrt square subtract tan tanh true_divide trunc
""".split()

FUNCTIONS = """
    all allclose amax amin angle any append arange argmax argmin argpartition argsort
    argwhere around array_equal array_equiv array_split asarray_chkfinite asfortranarray
    atleast_1d atleast_2d atleast_3d average bartlett base_repr binary_repr blackman
    broadcast_arrays broadcast_to can_cast choose clip column_stack common_type compress
    concatenate convolve copy copyto corrcoef correlate count_nonzero cov cross cumprod
    cumsum delete diag diag_indices diag_indices_from diagflat diagonal diff digitize dot
    dsplit dstack ediff1d einsum empty empty_like expand_dims extract eye fill_diagonal fix
    flatnonzero flip fliplr flipud format_float_positional format_float_scientific full
    full_like gradient hamming hanning histogram histogram2d histogramdd hsplit hstack i0
    identity imag indices inner interp intersect1d isclose iscomplex iscomplexobj isfortran
    isin isneginf isposinf isreal isrealobj isscalar ix_ kaiser kron lexsort linspace
    logspace mask_indices max may_share_memory mean median meshgrid min min_scalar_type
    moveaxis nan_to_num nanargmax nanargmin nancumprod nancumsum nanmax nanmean nanmedian
    nanmin nanprod nanstd nansum nanvar ndim nonzero ones ones_like outer packbits pad
    partition percentile place poly polyadd polyfit polymul polysub polyval prod ptp put
    putmask quantile ravel ravel_multi_index real real_if_close repeat require reshape
    resize result_type roll rollaxis roots rot90 round row_stack searchsorted select
    setdiff1d setxor1d shape shares_memory sinc size sort sort_complex split squeeze stack
    std sum swapaxes take take_along_axis tensordot tile trace transpose tri tril
    tril_indices tril_indices_from trim_zeros triu triu_indices triu_indices_from union1d
    unique unpackbits unravel_index unwrap vander var vdot vsplit vstack where zeros
    zeros_like
""".split()

FROM_NUMPY = """
    bool_ byte cdouble complex128 complex64 complexfloating csingle double dtype e
    euler_gamma finfo float16 float32 float64 floating generic get_printoptions half iinfo
    index_exp inexact inf int16 int32 int64 int8 int_ intc integer intp issubdtype iterable
    longlong mintypecode nan ndindex newaxis number pi printoptions promote_types s_
    set_printoptions short signedinteger single typename ubyte uint uint16 uint32 uint64
    uint8 uintc uintp ulonglong unsignedinteger ushort
""".split()


class ufunc:  # noqa: N801  (CuPy's name)
    """A NumPy ufunc on device arrays, with CuPy's ``at`` (add, subtract, maximum,
    minimum only), ``outer`` and ``reduce`` (add, multiply only)."""

    def __init__(self, function):
        self._f = function
        self.__name__ = function.__name__
        self.nin, self.nout = function.nin, function.nout

    def __call__(self, *args, **kwargs):
        _check_failure("cublas" if self.__name__ == "matmul" else "nvrtc")
        return _call(self._f, args, kwargs)

    def at(self, a, indices, b=None):
        if self.__name__ not in ("add", "subtract", "maximum", "minimum"):
            raise NotImplementedError(f"`cupy_{self.__name__}.at` is not supported yet")
        with _core.quiet():
            self._f.at(_unwrap(a), _unwrap_index(indices), _unwrap(b))

    def outer(self, a, b, **kwargs):
        return _call(self._f.outer, (a, b), kwargs)

    def reduce(self, array, axis=0, dtype=None, out=None, keepdims=False):
        if self.__name__ not in ("add", "multiply"):
            raise NotImplementedError(f"`cupy_{self.__name__}.reduce` is not supported yet")
        return _call(self._f.reduce, (array,), dict(axis=axis, dtype=dtype, out=out,
                                                    keepdims=keepdims))


def _on_device(function, name):
    library = "cublas" if name in _core.CUBLAS else "nvrtc"

    def device(*args, **kwargs):
        _check_failure(library)
        return _call(function, args, kwargs)

    device.__name__ = device.__qualname__ = name
    device.__doc__ = f"numpy.{name} on device arrays (NumPy arrays refused)."
    return device


_namespace = globals()
for _name in UFUNCS:
    _namespace[_name] = ufunc(getattr(numpy, _name))
for _name in FUNCTIONS:
    _namespace[_name] = _on_device(getattr(numpy, _name), _name)
for _name in FROM_NUMPY:
    _namespace[_name] = getattr(numpy, _name)


# --- host <-> device: the explicit moves ----------------------------------------------


def asarray(a, dtype=None, order=None, *, blocking=False):
    """Host data (NumPy arrays, lists, scalars) copied to the device; a device array as it
    is (or cast)."""
    if type(a) is ndarray:
        return a if dtype is None or a.dtype == dtype else a.astype(dtype)
    return _wrap(numpy.array(_unwrap(a, host_ok=True), dtype=dtype, order=order or "K"))


def array(obj, dtype=None, copy=True, order="K", subok=False, ndmin=0, *, blocking=False):
    if type(obj) is ndarray and not copy and (dtype is None or obj.dtype == dtype):
        return obj
    return _wrap(numpy.array(_unwrap(obj, host_ok=True), dtype=dtype, order=order,
                            ndmin=ndmin))


asanyarray = asarray


def ascontiguousarray(a, dtype=None):
    if type(a) is not ndarray:
        raise TypeError(f"Argument 'a' has incorrect type (expected cupy._core.core._ndarray_"
                        f"base, got {type(a).__name__})")
    return _wrap(numpy.ascontiguousarray(a._a, dtype=dtype))


def asnumpy(a, stream=None, order="C", out=None, *, blocking=True):
    """The explicit device-to-host copy."""
    if type(a) is ndarray:
        return a.get(order=order)
    return numpy.asarray(a, order=order)


def get_array_module(*args):
    return sys.modules[__name__] if any(type(a) is ndarray for a in args) else numpy


def is_available():
    return cuda.is_available()


def bincount(x, weights=None, minlength=None):
    """CuPy 13's bincount: ``max(x)`` sizes the output, so an empty x is refused."""
    if type(x) is not ndarray:
        raise TypeError(f"Unsupported type {type(x)}")
    if x.ndim > 1:
        raise ValueError("object too deep for desired array")
    if x.ndim < 1:
        raise ValueError("object of too small depth for desired array")
    if x.dtype.kind == "f":
        raise TypeError("x must be int array")
    if (x < 0).any():
        raise ValueError("The first argument of bincount must be non-negative")
    size = int(x.max()) + 1  # an empty x: "zero-size array to reduction operation cupy_max"
    if minlength is not None:
        size = builtins.max(size, int(minlength))
    return _call(numpy.bincount, (x,), dict(weights=weights, minlength=size))


class NpzFile:
    """CuPy's NpzFile: items move to the device when read; nothing else."""

    def __init__(self, npz_file):
        self.npz_file = npz_file

    def __enter__(self):
        self.npz_file.__enter__()
        return self

    def __exit__(self, typ, val, traceback):
        self.npz_file.__exit__(typ, val, traceback)

    def __getitem__(self, key):
        return array(self.npz_file[key])

    def close(self):
        self.npz_file.close()


def load(file, mmap_mode=None, allow_pickle=None):
    obj = numpy.load(file, mmap_mode, False if allow_pickle is None else allow_pickle)
    if isinstance(obj, numpy.ndarray):
        return array(obj)
    if isinstance(obj, numpy.lib.npyio.NpzFile):
        return NpzFile(obj)
    return obj


# --- submodules: cuda, random, linalg, lib.stride_tricks ------------------------------


def _module(name, doc, **members):
    module = types.ModuleType(f"{__name__}.{name}", doc)
    module.__dict__.update(members)
    sys.modules[module.__name__] = module
    return module


class CUDARuntimeError(RuntimeError):
    pass


def _device_count():
    if os.environ.get("MINIGAN_STANDIN_FAIL") == "nogpu":
        raise CUDARuntimeError("cudaErrorNoDevice: no CUDA-capable device is detected")
    return 1


class Device:
    def __init__(self, device=None):
        self.id = 0 if device is None else int(device)

    def synchronize(self):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        pass


runtime = types.SimpleNamespace(
    CUDARuntimeError=CUDARuntimeError, getDeviceCount=_device_count,
    deviceSynchronize=lambda: None, runtimeGetVersion=lambda: 12080,
    driverGetVersion=lambda: 12080,
    getDeviceProperties=lambda i: {"name": b"CuPy stand-in (CPU)",
                                   "totalGlobalMem": 0, "major": 0, "minor": 0})
curand = types.SimpleNamespace(
    CURAND_RNG_PSEUDO_DEFAULT=100, CURAND_RNG_PSEUDO_XORWOW=101,
    CURAND_RNG_PSEUDO_MRG32K3A=121, CURAND_RNG_PSEUDO_MTGP32=141,
    CURAND_RNG_PSEUDO_MT19937=142, CURAND_RNG_PSEUDO_PHILOX4_32_10=161)
cuda = _module("cuda", "CUDA: one stand-in device.", runtime=runtime, curand=curand,
               Device=Device, is_available=lambda: _device_count() > 0,
               get_device_id=lambda: 0)

from . import random as random  # noqa: E402  (after ndarray and the namespace it needs)

linalg = _module("linalg", "numpy.linalg on device arrays.", **{
    name: _on_device(getattr(numpy.linalg, name), name)
    for name in ("cholesky", "det", "eigh", "eigvalsh", "inv", "lstsq", "matrix_power",
                 "matrix_rank", "norm", "pinv", "qr", "slogdet", "solve", "svd", "tensorinv",
                 "tensorsolve")})


def as_strided(x, shape=None, strides=None):
    """A view of x with the given shape and byte strides (CuPy's signature)."""
    if type(x) is not ndarray:
        raise TypeError(f"Unsupported type {type(x)}")
    return _wrap(numpy.lib.stride_tricks.as_strided(x._a, shape=shape, strides=strides))


def sliding_window_view(x, window_shape, axis=None, *, subok=False, writeable=False):
    return _call(numpy.lib.stride_tricks.sliding_window_view, (x, window_shape),
                dict(axis=axis, writeable=writeable))


stride_tricks = _module("lib.stride_tricks", "Strided views.", as_strided=as_strided,
                        sliding_window_view=sliding_window_view)
lib = _module("lib", "cupy.lib", stride_tricks=stride_tricks)
