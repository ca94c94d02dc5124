"""Array primitives whose fastest form differs between NumPy and CuPy, on backend arrays.

On NumPy each takes the form that runs as plain array-array passes or one BLAS call; on
CuPy (or any other array module) the one-kernel form. Both forms give the same numbers,
except for ``column_sum`` and ``channel_sum``, whose NumPy forms sum in another order (why
each form: benchmarks/results/speed-notes.md):

- ``filled(shape, value, dtype)`` and ``filled_like(v, value)``: an array of one value;
- ``relu(v)`` = max(v, 0);
- ``leaky_relu_(v, slope)``: v ← max(v, slope·v) in place (slope 0: the ReLU), the
  activation a layer's node may apply to its own output (``activation_name``);
- ``step(v, low, dtype)`` = [v > 0] + low·[v <= 0], the slope of max(v, low·v);
- ``leaky_relu_backward(v, slope, g)`` = g · step(v, slope);
- ``column_sum(a)`` = Σᵢ a[i, :] of a 2-D array;
- ``channel_sum(a)`` = the sums over every axis but axis 1 of an (N, C, ...) array;
- ``total(a, axes, keepdims)`` = Σ a over ``axes``; ``mean(a, axes, keepdims)`` = Σ a / M;
- ``spread(g, shape)``: a 0-d g as an array of ``shape``, every entry g.
"""

from __future__ import annotations

import math

from . import backend as B


def filled(shape, value, dtype):
    """An array of ``shape`` and ``dtype`` with every entry ``value`` (a number or a 0-d
    array); on NumPy without the Python wrappers of ``full``/``ones``/``zeros``."""
    xp = B.xp
    if not B.on_numpy():
        return xp.full(shape, value, dtype=dtype)
    out = xp.empty(shape, dtype=dtype)
    out.fill(value)
    return out


def filled_like(v, value):
    """An array of v's shape, dtype and memory layout with every entry ``value``."""
    xp = B.xp
    if not B.on_numpy():
        return xp.full_like(v, value)
    out = xp.empty_like(v)
    out.fill(value)
    return out


def relu(v):
    """max(v, 0)."""
    xp = B.xp
    if not B.on_numpy():
        return xp.maximum(v, 0)
    out = filled_like(v, 0)
    return xp.maximum(v, out, out=out)


def leaky_relu_(v, slope):
    """v ← max(v, slope·v) in place, slope in [0, 1] (0: the ReLU, max(v, 0)); returns v."""
    xp = B.xp
    if slope:
        return xp.maximum(v, xp.multiply(v, slope, out=xp.empty_like(v)), out=v)
    if not B.on_numpy():
        return xp.maximum(v, 0, out=v)
    return xp.maximum(v, filled_like(v, 0), out=v)


def activation_name(name, relu_slope):
    """The name of a layer's node that also applies its (leaky) ReLU max(z, s·z) of slope
    ``relu_slope`` (``leaky_relu_``), or ``name`` where it applies none (None); a slope
    outside [0, 1] is a ValueError."""
    if relu_slope is None:
        return name
    if not 0 <= relu_slope <= 1:
        raise ValueError(f"relu_slope must lie in [0, 1] (max(z, s·z)), got {relu_slope}")
    return f"{name}+relu" if relu_slope == 0 else f"{name}+leaky_relu"


def step(v, low, dtype):
    """1 where v > 0, ``low`` elsewhere, as an array of ``dtype`` (low in [0, 1])."""
    xp = B.xp
    if not B.on_numpy():
        return xp.maximum(v > 0, low, dtype=dtype)
    out = (v > 0).astype(dtype)
    if low:
        rest, low = dtype.type(1 - low), dtype.type(low)
        if rest + low == 1:  # then 1·(1 − low) + low is 1 exactly and 0·(1 − low) + low is low
            out *= rest
            out += low
        else:
            xp.maximum(out, low, out=out)
    return out


def leaky_relu_backward(v, slope, g):
    """g · ([v > 0] + slope·[v <= 0]): the gradient through max(·, slope··) at v, or at its
    output (positive exactly where v is, for slopes in [0, 1])."""
    out = step(v, slope, g.dtype)
    out *= g
    return out


def column_sum(a):
    """Σᵢ a[i, :] of a 2-D array (on NumPy as the product 1ᵀa)."""
    xp = B.xp
    if not B.on_numpy():
        return a.sum(axis=0)
    return xp.dot(filled(a.shape[0], 1, a.dtype), a)


def channel_sum(a):
    """Σ over every axis but axis 1 of an (N, C, ...) array, as C products with a vector of
    ones on NumPy where the memory allows: rows of the (C, ...) view for the convolutions'
    (C, H, W, N) memory, 1ᵀ(N, C·...) and then the rows for NCHW; otherwise over N first,
    then along each channel's row."""
    xp = B.xp
    n, c = a.shape[0], a.shape[1]
    rest = math.prod(a.shape[2:])
    if B.on_numpy() and a.size:
        batch_last = a.transpose(1, *range(2, a.ndim), 0)  # (C, H, W, N)
        if batch_last.flags.c_contiguous:
            rows = batch_last.reshape(c, -1)
            return xp.dot(rows, filled(rows.shape[1], 1, a.dtype))
        if a.flags.c_contiguous:
            per_feature = xp.dot(filled(n, 1, a.dtype), a.reshape(n, -1))
            return xp.dot(per_feature.reshape(c, rest), filled(rest, 1, a.dtype))
    return a.reshape(n, c, rest).sum(axis=0).sum(axis=1)


def total(a, axes, keepdims):
    """Σ a over ``axes`` (a tuple); on NumPy the reduction ``sum`` wraps in Python."""
    if not B.on_numpy():
        return a.sum(axis=axes, keepdims=keepdims)
    return B.xp.add.reduce(a, axis=axes, keepdims=keepdims)


def mean(a, axes, keepdims):
    """Σ a / M over ``axes`` (a tuple), M the number of values summed."""
    if not B.on_numpy() or a.dtype.char not in "fd":  # NumPy's mean widens the others' sums
        return a.mean(axis=axes, keepdims=keepdims)
    count = 1
    for i in axes:
        count *= a.shape[i]
    return total(a, axes, keepdims) / count


def spread(g, shape):
    """A 0-d ``g`` as an array of ``shape`` with every entry g (a read-only view under CuPy,
    a new array on NumPy)."""
    if not B.on_numpy():
        return B.xp.broadcast_to(g, shape)
    return filled(shape, g, g.dtype)
