"""The stand-in's device array: a NumPy array behind a wall, as strict as CuPy's ndarray.

What it refuses, as CuPy 13 does: implicit conversion to NumPy (``__array__`` raises
TypeError, so ``numpy.asarray(x)``, ``numpy.testing`` and NumPy functions on it fail),
NumPy arrays as operands (``x + host`` raises "Unsupported type"), ``__index__`` (a device
integer is no list index), filling from a non-scalar NumPy array. Where CuPy differs from
NumPy it follows CuPy: reductions and integer indexing give 0-d arrays, never scalars; no
floating-point warnings (CuPy has no error state); an empty max has no identity
("cupy_max"). Stricter than CuPy in one respect: NumPy's own ufuncs on a device array are
refused (CuPy would run them on the device), since code is meant to call ``xp``.
"""

from __future__ import annotations

import os
import warnings

import numpy

_host = numpy.ndarray
_SCALARS = (bool, int, float, complex, numpy.generic)
NOT_OPERAND = object()


def check_failure(library):
    """Raise what CuPy raises when a CUDA library is missing, where the test asks for it
    (MINIGAN_STANDIN_FAIL=nvrtc|cublas|curand; "wrong" makes ``@`` compute garbage)."""
    if os.environ.get("MINIGAN_STANDIN_FAIL") != library:
        return
    if library == "nvrtc":
        raise RuntimeError("CuPy failed to load libnvrtc.so.12: OSError: libnvrtc.so.12: "
                           "cannot open shared object file: No such file or directory")
    raise ImportError(f"lib{library}.so.12: cannot open shared object file: No such file or "
                      "directory")


def quiet():
    return numpy.errstate(all="ignore")


def wrap(value):
    """NumPy results as device arrays (scalars as 0-d arrays); anything else unchanged."""
    if isinstance(value, _host):
        out = object.__new__(ndarray)
        out._a = value
        return out
    if isinstance(value, numpy.generic):
        return wrap(numpy.asarray(value))
    if isinstance(value, tuple):
        return tuple(wrap(v) for v in value)
    if isinstance(value, list) and value and all(isinstance(v, _host) for v in value):
        return [wrap(v) for v in value]
    return value


def unwrap(value, host_ok=False):
    """Device arrays (also inside lists and tuples) as their NumPy arrays; a NumPy array
    where a device array belongs is CuPy's TypeError."""
    if type(value) is ndarray:
        return value._a
    if isinstance(value, _host):
        if host_ok:
            return value
        raise TypeError(f"Unsupported type {type(value)}")
    if type(value) in (list, tuple):
        return type(value)(unwrap(v, host_ok) for v in value)
    return value


def unwrap_index(key):
    """An index: device arrays unwrapped; lists and NumPy arrays allowed, as CuPy converts
    them."""
    if isinstance(key, tuple):
        return tuple(unwrap_index(k) for k in key)
    return key._a if type(key) is ndarray else key


def cupy_reduction_error(err):
    text = str(err).replace("operation maximum", "operation cupy_max").replace(
        "operation minimum", "operation cupy_min")
    return ValueError(text)


def call(function, args, kwargs, host_ok=False):
    """``function`` (NumPy's) on unwrapped arguments, quietly, with a wrapped result."""
    args = [unwrap(a, host_ok) for a in args]
    out = kwargs.get("out")
    kwargs = {k: unwrap(v, host_ok) for k, v in kwargs.items()}
    try:
        with quiet():
            result = function(*args, **kwargs)
    except ValueError as err:
        if "zero-size array to reduction" in str(err):
            raise cupy_reduction_error(err) from None
        raise
    return out if out is not None else wrap(result)


def operand(value):
    if type(value) is ndarray:
        return value._a
    if isinstance(value, _host):
        raise TypeError(f"Unsupported type {type(value)}")
    if isinstance(value, _SCALARS):
        return value
    return NOT_OPERAND


def _binary(function, reflected=False, library="nvrtc"):
    def method(self, other):
        check_failure(library)
        o = operand(other)
        if o is NOT_OPERAND:
            return NotImplemented
        with quiet():
            result = function(o, self._a) if reflected else function(self._a, o)
        if library == "cublas" and os.environ.get("MINIGAN_STANDIN_FAIL") == "wrong":
            result = result + 1  # a matmul that runs but computes garbage
        return wrap(result)
    return method


def _inplace(function):
    def method(self, other):
        check_failure("nvrtc")
        o = operand(other)
        if o is NOT_OPERAND:
            return NotImplemented
        with quiet():
            function(self._a, o, out=self._a)
        return self
    return method


def _unary(function):
    def method(self):
        check_failure("nvrtc")
        with quiet():
            return wrap(function(self._a))
    return method


CUBLAS = {"dot", "vdot", "matmul", "tensordot", "inner", "outer", "einsum", "kron"}


def _method(name):
    def method(self, *args, **kwargs):
        if name in CUBLAS:
            check_failure("cublas")
        return call(getattr(self._a, name), args, kwargs)
    method.__name__ = name
    return method


class MemoryPointer:
    """What CuPy's ``ndarray.data`` is: a device pointer, not an array."""

    def __init__(self, array):
        self.ptr = array.ctypes.data


class ndarray:  # noqa: N801  (CuPy's name)
    """A device array of the stand-in (see the module's docstring)."""

    __slots__ = ("_a",)
    __array_priority__ = 100
    __array_ufunc__ = None

    def __init__(self, shape, dtype=float, memptr=None, strides=None, order="C"):
        self._a = numpy.empty(shape, dtype=dtype, order=order)

    def __array__(self, dtype=None, copy=None):
        raise TypeError("Implicit conversion to a NumPy array is not allowed. Please use "
                        "`.get()` to construct a NumPy array explicitly.")

    # attributes
    shape = property(lambda self: self._a.shape,
                     lambda self, value: setattr(self._a, "shape", value))
    dtype = property(lambda self: self._a.dtype)
    ndim = property(lambda self: self._a.ndim)
    size = property(lambda self: self._a.size)
    itemsize = property(lambda self: self._a.itemsize)
    nbytes = property(lambda self: self._a.nbytes)
    strides = property(lambda self: self._a.strides)
    flags = property(lambda self: self._a.flags)
    T = property(lambda self: wrap(self._a.T))
    real = property(lambda self: wrap(self._a.real))
    imag = property(lambda self: wrap(self._a.imag))
    data = property(lambda self: MemoryPointer(self._a))
    base = property(lambda self: None if self._a.base is None else wrap(self._a.base))

    # explicit moves
    def get(self, stream=None, order="C", out=None, blocking=True):
        """The explicit device-to-host copy."""
        return numpy.array(self._a, order=order)

    def set(self, arr, stream=None):
        self._a[...] = numpy.asarray(arr)

    def item(self, *args):
        return self._a.item(*args)

    def tolist(self):
        return self._a.tolist()

    def fill(self, value):
        if type(value) is ndarray:
            if value.shape != ():
                raise ValueError("non-scalar cupy.ndarray cannot be used for fill")
            value = value._a
        elif isinstance(value, _host) and value.shape != ():
            raise ValueError("non-scalar numpy.ndarray cannot be used for fill")
        self._a.fill(value)

    # container
    def __len__(self):
        if not self._a.ndim:
            raise TypeError("len() of unsized object")
        return len(self._a)

    def __iter__(self):
        if not self._a.ndim:
            raise TypeError("iteration over a 0-d array")
        return (self[i] for i in range(len(self._a)))

    def __getitem__(self, key):
        return wrap(numpy.asarray(self._a[unwrap_index(key)]))

    def __setitem__(self, key, value):
        if isinstance(value, _host) and value.shape != ():
            raise ValueError("non-scalar numpy.ndarray cannot be used for fill")
        if isinstance(value, (list, tuple)):
            raise TypeError(f"Unsupported type {type(value)}")
        with quiet():
            self._a[unwrap_index(key)] = value._a if type(value) is ndarray else value

    # conversions (they synchronise in CuPy; there is no __index__)
    def __bool__(self):
        if self._a.size == 0:
            warnings.warn("The truth value of an empty array is ambiguous. Returning False, "
                          "but in future this will result in an error.", DeprecationWarning,
                          stacklevel=2)
            return False
        return bool(self._a)

    def __int__(self):
        return int(self._a)

    def __float__(self):
        return float(self._a)

    def __complex__(self):
        return complex(self._a)

    def __repr__(self):
        return repr(self._a)

    def __str__(self):
        return str(self._a)

    def __format__(self, spec):
        return format(self._a, spec)

    __hash__ = None


_OPERATORS = {
    "add": numpy.add, "sub": numpy.subtract, "mul": numpy.multiply, "truediv": numpy.divide,
    "floordiv": numpy.floor_divide, "mod": numpy.remainder, "pow": numpy.power,
    "matmul": numpy.matmul, "and": numpy.bitwise_and, "or": numpy.bitwise_or,
    "xor": numpy.bitwise_xor, "lshift": numpy.left_shift, "rshift": numpy.right_shift,
}
for _name, _function in _OPERATORS.items():
    _library = "cublas" if _name == "matmul" else "nvrtc"
    setattr(ndarray, f"__{_name}__", _binary(_function, library=_library))
    setattr(ndarray, f"__r{_name}__", _binary(_function, reflected=True, library=_library))
    setattr(ndarray, f"__i{_name}__", _inplace(_function))
for _name, _function in {"eq": numpy.equal, "ne": numpy.not_equal, "lt": numpy.less,
                         "le": numpy.less_equal, "gt": numpy.greater,
                         "ge": numpy.greater_equal}.items():
    setattr(ndarray, f"__{_name}__", _binary(_function))
for _name, _function in {"neg": numpy.negative, "pos": numpy.positive, "abs": numpy.absolute,
                         "invert": numpy.invert}.items():
    setattr(ndarray, f"__{_name}__", _unary(_function))
for _name in ("all", "any", "argmax", "argmin", "argsort", "astype", "clip", "conj", "copy",
              "cumprod", "cumsum", "diagonal", "dot", "flatten", "max", "mean", "min",
              "nonzero", "prod", "ravel", "repeat", "reshape", "round", "sort",
              "squeeze", "std", "sum", "swapaxes", "take", "trace", "transpose", "var", "view"):
    setattr(ndarray, _name, _method(_name))
