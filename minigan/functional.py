"""Differentiable ops beyond arithmetic: activations, linear, concatenation.

Each op is one graph node with its backward beside its forward. The stable forms keep
every value finite for |x| up to 1e4 in float32:
softplus(x) = max(x, 0) + log1p(exp(−|x|)), log σ(x) = −softplus(−x).
"""

from __future__ import annotations

from . import backend as B
from .tensor import Tensor, _result, sum_to


def relu(x):
    """max(x, 0)."""
    return _result(B.xp.maximum(x.data, 0), (x,), lambda g: (g * (x.data > 0),))


def leaky_relu(x, negative_slope=0.2):
    """x for x > 0, negative_slope · x otherwise."""
    positive = x.data > 0
    out = B.xp.where(positive, x.data, x.data * negative_slope)
    return _result(out, (x,), lambda g: (B.xp.where(positive, g, g * negative_slope),))


def _sigmoid(v):
    """σ(v) = 1/(1 + e^−v), evaluated with e^−|v| so nothing overflows."""
    xp = B.xp
    e = xp.exp(-xp.abs(v))
    return xp.where(v >= 0, 1, e) / (1 + e)


def _softplus(v):
    xp = B.xp
    return xp.maximum(v, 0) + xp.log1p(xp.exp(-xp.abs(v)))


def sigmoid(x):
    """σ(x); dσ/dx = σ(1 − σ)."""
    out = _sigmoid(x.data)
    return _result(out, (x,), lambda g: (g * out * (1 - out),))


def tanh(x):
    """tanh x; d/dx = 1 − tanh²x."""
    out = B.xp.tanh(x.data)
    return _result(out, (x,), lambda g: (g * (1 - out * out),))


def softplus(x):
    """log(1 + eˣ) = max(x, 0) + log1p(e^−|x|); d/dx = σ(x)."""
    return _result(_softplus(x.data), (x,), lambda g: (g * _sigmoid(x.data),))


def log_sigmoid(x):
    """log σ(x) = −softplus(−x); d/dx = σ(−x)."""
    return _result(-_softplus(-x.data), (x,), lambda g: (g * _sigmoid(-x.data),))


def linear(x, weight, bias=None):
    """y = x Wᵀ + b with W of shape (out, in), PyTorch's layout; one graph node."""
    out = x.data @ weight.data.T
    if bias is not None:
        out += bias.data

    def backward(g):
        g2 = g.reshape(-1, g.shape[-1])
        gx = (g @ weight.data) if x.requires_grad else None
        gw = (g2.T @ x.data.reshape(-1, x.shape[-1])) if weight.requires_grad else None
        if bias is None:
            return gx, gw
        return gx, gw, (g2.sum(axis=0) if bias.requires_grad else None)

    parents = (x, weight) if bias is None else (x, weight, bias)
    return _result(out, parents, backward)


def concat(tensors, axis=0):
    """Join tensors along an existing axis; the gradient is split back by slicing."""
    tensors = list(tensors)
    if not tensors:
        raise ValueError("concat() needs at least one tensor")
    ndim = tensors[0].ndim
    axis = axis % ndim
    bounds = [0]
    for t in tensors:
        bounds.append(bounds[-1] + t.shape[axis])
    out = B.xp.concatenate([t.data for t in tensors], axis=axis)

    def backward(g):
        index = [slice(None)] * ndim
        grads = []
        for start, stop in zip(bounds[:-1], bounds[1:]):
            index[axis] = slice(start, stop)
            grads.append(g[tuple(index)])
        return tuple(grads)

    return _result(out, tuple(tensors), backward)


def stack(tensors, axis=0):
    """Join tensors along a new axis."""
    tensors = list(tensors)
    return concat([t.reshape(_insert_axis(t.shape, axis, t.ndim + 1)) for t in tensors], axis)


def _insert_axis(shape, axis, ndim):
    axis = axis % ndim
    return shape[:axis] + (1,) + shape[axis:]


def where(condition, a, b):
    """Pick a where ``condition`` (an array) holds, b elsewhere; gradients follow the pick."""
    xp = B.xp
    cond = condition.data if isinstance(condition, Tensor) else condition
    if not isinstance(b, Tensor):
        b = Tensor(xp.asarray(b, dtype=a.dtype))
    if not isinstance(a, Tensor):
        a = Tensor(xp.asarray(a, dtype=b.dtype))

    def backward(g):
        zero = xp.zeros((), dtype=g.dtype)
        return (sum_to(xp.where(cond, g, zero), a.shape) if a.requires_grad else None,
                sum_to(xp.where(cond, zero, g), b.shape) if b.requires_grad else None)

    return _result(xp.where(cond, a.data, b.data), (a, b), backward)
