"""The op library: arithmetic with broadcasting, matmul, reductions, shapes, indexing.

Each op computes its output with the backend's ``xp`` and records it with ``tensor.op``,
its backward beside its forward. Importing this module gives ``Tensor`` its operators
(``+ - * / ** @``, unary ``-``, ``abs``, indexing) and methods (``sum``, ``mean``, ``max``,
``reshape``, ``transpose``, ``T``, ``exp``, ``log``, ``sqrt``, ``abs``, ``astype``).
"""

from __future__ import annotations

import operator

from . import backend as B
from . import kernels, tuning
from .tensor import Tensor, op, sum_to


def axis_index(axis, ndim):
    """``axis`` (negative counts from the end) as an index in [0, ndim); out of range is an
    error, as in NumPy, never a silent wrap-around."""
    axis = operator.index(axis)
    if not -ndim <= axis < ndim:
        raise ValueError(f"axis {axis} is out of range for a tensor of {ndim} dimensions")
    return axis % ndim


def normalize_axis(axis, ndim):
    """None (every axis), an int or a sequence of ints, as a tuple of axes in [0, ndim).

    As PyTorch, a 0-d tensor takes axis 0 or −1 (its one implicit axis: nothing to reduce).
    As NumPy, and unlike PyTorch, ``axis=()`` reduces over no axis (PyTorch: every axis).
    """
    if axis is None:
        return tuple(range(ndim))
    axes = axis if isinstance(axis, (tuple, list)) else (axis,)
    if ndim == 0:
        for a in axes:
            if operator.index(a) not in (0, -1):
                raise ValueError(f"axis {a} is out of range for a tensor of 0 dimensions "
                                 "(which takes axis 0 or -1)")
        return ()
    return tuple(axis_index(a, ndim) for a in axes)


def _unreduce(g, shape, axis, keepdims):
    """Broadcast the gradient of a reduction back to the input's ``shape``."""
    if not g.shape:
        return kernels.spread(g, shape)
    if not keepdims:
        g = g.reshape([1 if i in axis else n for i, n in enumerate(shape)])
    return B.xp.broadcast_to(g, shape)


def lift(value, like):
    """A constant operand as a Tensor of ``like``'s dtype (no float64 upcast from scalars)."""
    if isinstance(value, Tensor):
        return value
    return Tensor(B.xp.asarray(value, dtype=like.data.dtype))



# --- elementwise arithmetic with broadcasting ---------------------------------------


def add(a, b):
    """a + b; each operand's gradient is g summed back to its shape (sum_to)."""
    b = lift(b, a)

    def backward(g):
        return (sum_to(g, a.shape) if a.requires_grad else None,
                sum_to(g, b.shape) if b.requires_grad else None)

    return op(a.data + b.data, (a, b), backward, name="add")


def sub(a, b):
    """a − b: d/da = 1, d/db = −1, summed back to each operand's shape."""
    b = lift(b, a)

    def backward(g):
        return (sum_to(g, a.shape) if a.requires_grad else None,
                sum_to(-g, b.shape) if b.requires_grad else None)

    return op(a.data - b.data, (a, b), backward, name="sub")


def mul(a, b):
    """a · b: d/da = b, d/db = a, summed back to each operand's shape."""
    b = lift(b, a)

    def backward(g):
        return (sum_to(g * b.data, a.shape) if a.requires_grad else None,
                sum_to(g * a.data, b.shape) if b.requires_grad else None)

    return op(a.data * b.data, (a, b), backward, name="mul")


def div(a, b):
    """a / b: d/da = 1/b, d/db = −a/b²."""
    b = lift(b, a)
    out = a.data / b.data

    def backward(g):
        ga = g / b.data
        return (sum_to(ga, a.shape) if a.requires_grad else None,
                sum_to(-ga * out, b.shape) if b.requires_grad else None)

    return op(out, (a, b), backward, name="div")


def neg(a):
    """−a; d/da = −1."""
    return op(-a.data, (a,), lambda g: (-g,), name="neg")


def power(a, b):
    """a ** b: d/da = b a^(b−1), d/db = a^b log a (a constant number b skips the log).

    As PyTorch: d/da = 0 where b = 0 (x⁰ = 1 is constant, even at x = 0), and d/db = 0 where
    a = 0 and b ≥ 0 (0^b is constant there), where the formulas give 0·∞ = NaN.
    """
    xp = B.xp
    if isinstance(b, (int, float)):
        # a NumPy float64 scalar becomes a Python float: weak under NEP 50, no upcast
        exponent = b.item() if hasattr(b, "item") else b
        out = a.data ** exponent

        def backward_const(g):
            if exponent == 0:
                return (xp.zeros_like(g),)
            return (g * exponent * a.data ** (exponent - 1),)

        return op(out, (a,), backward_const, name="power")
    b = lift(b, a)
    out = a.data ** b.data

    def backward(g):
        ga = gb = None
        zero = xp.zeros((), dtype=g.dtype)
        if a.requires_grad:
            ga = xp.where(b.data == 0, zero, g * b.data * a.data ** (b.data - 1))
            ga = sum_to(ga, a.shape)
        if b.requires_grad:
            constant = (a.data == 0) & (b.data >= 0)
            log_a = xp.log(xp.where(constant, 1, a.data))  # no log 0 warning where unused
            gb = sum_to(xp.where(constant, zero, g * out * log_a), b.shape)
        return ga, gb

    return op(out, (a, b), backward, name="power")


def exp(a):
    """eᵃ; d/da = eᵃ, the saved output."""
    out = B.xp.exp(a.data)
    return op(out, (a,), lambda g: (g * out,), name="exp")


def log(a):
    """log a; d/da = 1/a."""
    return op(B.xp.log(a.data), (a,), lambda g: (g / a.data,), name="log")


def sqrt(a):
    """√a; d/da = 1/(2√a), from the saved output."""
    out = B.xp.sqrt(a.data)
    return op(out, (a,), lambda g: (g * 0.5 / out,), name="sqrt")


def abs_(a):
    """|a|; d/da = sign a: 0 at a = 0, and 0 at NaN as in PyTorch (NumPy's sign is NaN)."""
    def backward(g):
        sign = (a.data > 0).astype(g.dtype)
        sign -= a.data < 0
        sign *= g
        return (sign,)

    return op(B.xp.abs(a.data), (a,), backward, name="abs")


def astype(a, dtype):
    """A differentiable cast; the gradient is cast back to the input's dtype."""
    source = a.data.dtype
    return op(a.data.astype(dtype), (a,), lambda g: (g.astype(source),), name="astype")


# --- matrix product -------------------------------------------------------------------


def matmul(a, b):
    """a @ b with NumPy semantics: 2-D, batched with broadcast batch axes, or 1-D.
    d/da = g bᵀ, d/db = aᵀ g, summed over broadcast batch axes."""
    b = lift(b, a)
    if a.ndim == 1:  # a row vector whose row axis is dropped again
        out = matmul(a.reshape(1, -1), b)
        return out.reshape(out.shape[:-2] + out.shape[-1:] if b.ndim > 1 else ())
    if b.ndim == 1:
        return matmul(a, b.reshape(-1, 1)).reshape(a.shape[:-1])
    xp = B.xp

    def backward(g):
        tuning.fit_blas_threads(max(a.size * b.shape[-1], b.size * a.shape[-2]))
        ga = gb = None
        if a.requires_grad:
            ga = sum_to(g @ xp.swapaxes(b.data, -1, -2), a.shape)
        if b.requires_grad:
            gb = sum_to(xp.swapaxes(a.data, -1, -2) @ g, b.shape)
        return ga, gb

    tuning.fit_blas_threads(max(a.size * b.shape[-1], b.size * a.shape[-2]))
    return op(a.data @ b.data, (a, b), backward, name="matmul")


# --- reductions -----------------------------------------------------------------------


def sum_(a, axis=None, keepdims=False):
    """Σ over ``axis`` (see ``normalize_axis``: 0-d tensors, ``axis=()``); the gradient is g
    broadcast back over the summed axes."""
    axes = normalize_axis(axis, a.ndim)
    return op(kernels.total(a.data, axes, keepdims), (a,),
              lambda g: (_unreduce(g, a.shape, axes, keepdims),), name="sum")


def mean(a, axis=None, keepdims=False):
    """Σ/M over ``axis`` (M values each); the gradient is g/M broadcast back."""
    axes = normalize_axis(axis, a.ndim)
    count = 1
    for i in axes:
        count *= a.shape[i]
    return op(kernels.mean(a.data, axes, keepdims), (a,),
              lambda g: (_unreduce(g / count, a.shape, axes, keepdims),), name="mean")


def max_(a, axis=None, keepdims=False):
    """The maximum; its gradient is shared equally among tied maxima."""
    axes = normalize_axis(axis, a.ndim)
    out = a.data.max(axis=axes, keepdims=True)

    def backward(g):
        share = (a.data == out).astype(g.dtype)  # in g's dtype: bool / count is float64
        share /= share.sum(axis=axes, keepdims=True)
        share *= _unreduce(g, a.shape, axes, keepdims)
        return (share,)

    kept = out if keepdims else out.reshape([n for i, n in enumerate(a.shape) if i not in axes])
    return op(kept, (a,), backward, name="max")


# --- shape ----------------------------------------------------------------------------


def reshape(a, shape):
    """The same values in ``shape``; the gradient is reshaped back."""
    return op(a.data.reshape(shape), (a,), lambda g: (g.reshape(a.shape),), name="reshape")


def transpose(a, axes=None):
    """Permute the axes; the gradient goes back through the inverse permutation."""
    axes = tuple(reversed(range(a.ndim))) if axes is None else normalize_axis(axes, a.ndim)
    inverse = tuple(sorted(range(len(axes)), key=lambda i: axes[i]))
    return op(a.data.transpose(axes), (a,), lambda g: (g.transpose(inverse),), name="transpose")


def _is_basic_index(index):
    parts = index if isinstance(index, tuple) else (index,)
    return all(p is None or p is Ellipsis or isinstance(p, (int, slice)) for p in parts)


def getitem(a, index):
    """a[index]. Basic indexing scatters by assignment; integer-array indexing adds
    repeated positions up."""
    if isinstance(index, Tensor):
        index = index.data
    elif isinstance(index, tuple):
        index = tuple(i.data if isinstance(i, Tensor) else i for i in index)
    basic = _is_basic_index(index)

    def backward(g):
        grad = B.xp.zeros(a.shape, dtype=g.dtype)
        if basic:
            grad[index] = g
        else:
            B.xp.add.at(grad, index, g)
        return (grad,)

    return op(a.data[index], (a,), backward, name="getitem")


# --- Tensor's operators and methods ----------------------------------------------------


def _reshape_method(self, *shape):
    return reshape(self, shape[0] if len(shape) == 1 and not isinstance(shape[0], int)
                   else shape)


def _transpose_method(self, *axes):
    return transpose(self, axes[0] if len(axes) == 1 and not isinstance(axes[0], int)
                     else (axes or None))


for _name, _method in {
    "__add__": add, "__radd__": add, "__sub__": sub,
    "__rsub__": lambda self, other: sub(lift(other, self), self),
    "__mul__": mul, "__rmul__": mul, "__truediv__": div,
    "__rtruediv__": lambda self, other: div(lift(other, self), self),
    "__pow__": power, "__rpow__": lambda self, base: power(lift(base, self), self),
    "__neg__": neg, "__abs__": abs_, "__matmul__": matmul,
    "__rmatmul__": lambda self, other: matmul(lift(other, self), self),
    "__getitem__": getitem,
    "sum": sum_, "mean": mean, "max": max_, "reshape": _reshape_method,
    "transpose": _transpose_method, "T": property(lambda self: transpose(self, None)),
    "exp": exp, "log": log, "sqrt": sqrt, "abs": abs_, "astype": astype,
}.items():
    setattr(Tensor, _name, _method)
