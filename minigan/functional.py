"""Differentiable ops beyond arithmetic: activations, linear, concatenation, batch
normalisation, and the convolutions of ``conv`` (re-exported: ``F.conv2d``).

Each op is one graph node with its backward beside its forward. The stable forms
(on ``numerics``' arrays) keep every value finite for |x| up to 1e4 in float32:
softplus(x) = max(x, 0) + log1p(exp(−|x|)), log σ(x) = −softplus(−x).
"""

from __future__ import annotations

from . import backend as B
from . import numerics, tuning
from .conv import conv2d, conv_transpose2d
from .ops import axis_index
from .tensor import Tensor, op, sum_to

__all__ = ["relu", "leaky_relu", "sigmoid", "tanh", "softplus", "log_sigmoid", "linear",
           "concat", "stack", "where", "batch_norm", "batch_norm_train", "conv2d",
           "conv_transpose2d"]


def relu(x):
    """max(x, 0); d/dx = [x > 0]."""
    return op(B.xp.maximum(x.data, 0), (x,), lambda g: (g * (x.data > 0),), name="relu")


def leaky_relu(x, negative_slope=0.2):
    """x for x > 0, negative_slope · x otherwise; d/dx = [x > 0] + slope · [x <= 0].

    For slopes in [0, 1]: max(x, slope·x), d/dx = max([x > 0], slope) (why not ``where``:
    benchmarks/results/speed-notes.md).
    """
    xp, slope = B.xp, negative_slope
    if not 0 <= slope <= 1:
        positive = x.data > 0
        return op(xp.where(positive, x.data, x.data * slope), (x,),
                  lambda g: (xp.where(positive, g, g * slope),), name="leaky_relu")
    out = xp.multiply(x.data, slope, out=xp.empty_like(x.data))
    xp.maximum(x.data, out, out=out)

    def backward(g):
        grad = xp.maximum(x.data > 0, slope, dtype=g.dtype)
        grad *= g
        return (grad,)

    return op(out, (x,), backward, name="leaky_relu")


def sigmoid(x):
    """σ(x); dσ/dx = σ(1 − σ)."""
    out = numerics.sigmoid(x.data)
    return op(out, (x,), lambda g: (g * out * (1 - out),), name="sigmoid")


def tanh(x):
    """tanh x; d/dx = 1 − tanh²x."""
    out = B.xp.tanh(x.data)
    return op(out, (x,), lambda g: (g * (1 - out * out),), name="tanh")


def softplus(x):
    """log(1 + eˣ) = max(x, 0) + log1p(e^−|x|); d/dx = σ(x)."""
    return op(numerics.softplus(x.data), (x,), lambda g: (g * numerics.sigmoid(x.data),),
              name="softplus")


def log_sigmoid(x):
    """log σ(x) = −softplus(−x); d/dx = σ(−x)."""
    return op(-numerics.softplus(-x.data), (x,), lambda g: (g * numerics.sigmoid(-x.data),),
              name="log_sigmoid")


def linear(x, weight, bias=None):
    """y = x Wᵀ + b with W of shape (out, in), PyTorch's layout; one graph node.
    dL/dx = g W, dL/dW = gᵀ x, dL/db = Σ g (over every batch axis).

    The products use ``dot``, not ``@`` (why: benchmarks/results/speed-notes.md).
    """
    xp = B.xp
    tuning.fit_blas_threads(x.data.size * weight.shape[0])
    out = xp.dot(x.data, weight.data.T)
    if bias is not None:
        out += bias.data

    def backward(g):
        tuning.fit_blas_threads(g.size * weight.shape[1])
        g2 = g.reshape(-1, g.shape[-1])
        gx = xp.dot(g, weight.data) if x.requires_grad else None
        gw = xp.dot(g2.T, x.data.reshape(-1, x.shape[-1])) if weight.requires_grad else None
        if bias is None:
            return gx, gw
        return gx, gw, (g2.sum(axis=0) if bias.requires_grad else None)

    parents = (x, weight) if bias is None else (x, weight, bias)
    return op(out, parents, backward, name="linear")


def concat(tensors, axis=0):
    """Join tensors along an existing axis; the gradient is split back by slicing."""
    tensors = list(tensors)
    if not tensors:
        raise ValueError("concat() needs at least one tensor")
    ndim = tensors[0].ndim
    axis = axis_index(axis, ndim)
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

    return op(out, tuple(tensors), backward, name="concat")


def stack(tensors, axis=0):
    """Join tensors along a new axis (each given a size-1 axis there, then concat)."""
    tensors = list(tensors)
    return concat([t.reshape(_insert_axis(t.shape, axis, t.ndim + 1)) for t in tensors], axis)


def _insert_axis(shape, axis, ndim):
    axis = axis_index(axis, ndim)
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

    return op(xp.where(cond, a.data, b.data), (a, b), backward, name="where")


# --- batch normalisation ----------------------------------------------------------------


def _channel_sum(a):
    """Σ over every axis but axis 1 of an (N, C, ...) array: over N first, then along each
    channel's row (why: benchmarks/results/speed-notes.md)."""
    return a.reshape(a.shape[0], a.shape[1], -1).sum(axis=0).sum(axis=1)


def batch_norm(x, weight, bias, mean, inv_std):
    """y = w · (x − μ) · s + b per channel (axis 1), s = 1/√(σ² + ε), for constant μ and s
    (eval mode: the running statistics); one graph node.
    dL/dx = g w s, dL/dw = Σ g (x − μ) s, dL/db = Σ g."""
    shape = (1, -1) + (1,) * (x.ndim - 2)
    scale = (weight.data * inv_std).reshape(shape)
    centred = x.data - mean.reshape(shape)
    out = centred * scale
    out += bias.data.reshape(shape)

    def backward(g):
        gx = g * scale if x.requires_grad else None
        gw = _channel_sum(g * centred) * inv_std if weight.requires_grad else None
        gb = _channel_sum(g) if bias.requires_grad else None
        return gx, gw, gb

    return op(out, (x, weight, bias), backward, name="batch_norm")


def batch_norm_train(x, weight, bias, eps):
    """Batch normalisation with the batch's own statistics, one graph node.

    Forward over the M = N·H·W values of each channel: μ = mean x, σ² = mean (x − μ)²
    (biased), x̂ = (x − μ)/√(σ² + ε), y = w x̂ + b. Closed-form backward, with g = dL/dy:
    dL/db = Σg, dL/dw = Σg x̂, dL/dx = (w/√(σ² + ε)) (g − Σg/M − x̂ Σg x̂/M).
    Returns (y, μ, σ²) with μ, σ² as arrays for the running statistics.
    """
    xp = B.xp
    shape = (1, -1) + (1,) * (x.ndim - 2)
    count = x.size // x.shape[1]
    mean = _channel_sum(x.data) / count
    normalised = x.data - mean.reshape(shape)  # centred, then scaled in place
    var = _channel_sum(xp.square(normalised)) / count
    inv_std = 1 / xp.sqrt(var + eps)
    normalised *= inv_std.reshape(shape)
    out = normalised * weight.data.reshape(shape)
    out += bias.data.reshape(shape)

    def backward(g):
        gb = _channel_sum(g)
        gw = _channel_sum(g * normalised)
        gx = None
        if x.requires_grad:
            gx = normalised * (gw / count).reshape(shape)
            gx += (gb / count).reshape(shape)
            xp.subtract(g, gx, out=gx)
            gx *= (weight.data * inv_std).reshape(shape)
        return (gx, gw if weight.requires_grad else None, gb if bias.requires_grad else None)

    return op(out, (x, weight, bias), backward, name="batch_norm_train"), mean, var
