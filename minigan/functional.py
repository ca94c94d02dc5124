"""Differentiable ops beyond arithmetic: activations, linear, concatenation, dropout, batch
normalisation, and the convolutions of ``conv`` and pooling of ``pooling`` (re-exported:
``F.conv2d``, ``F.max_pool2d``).

Each op is one graph node with its backward beside its forward. The stable forms
(on ``numerics``' arrays) keep every value finite for |x| up to 1e4 in float32:
softplus(x) = max(x, 0) + log1p(exp(−|x|)), log σ(x) = −softplus(−x).
"""

from __future__ import annotations

from . import backend as B
from . import kernels, numerics, tuning
from .conv import conv2d, conv_transpose2d
from .ops import axis_index
from .pooling import avg_pool2d, max_pool2d
from .tensor import Tensor, op, sum_to

__all__ = ["relu", "leaky_relu", "sigmoid", "tanh", "softplus", "log_sigmoid", "linear",
           "concat", "stack", "where", "dropout", "batch_norm", "batch_norm_train", "conv2d",
           "conv_transpose2d", "max_pool2d", "avg_pool2d"]


def relu(x):
    """max(x, 0); d/dx = [x > 0]."""
    return op(kernels.relu(x.data), (x,),
              lambda g: (kernels.leaky_relu_backward(x.data, 0, g),), name="relu")


def leaky_relu(x, negative_slope=0.01):
    """x for x > 0, negative_slope · x otherwise; d/dx = [x > 0] + slope · [x <= 0]. The
    default slope is PyTorch's 0.01 (DCGAN's critics pass 0.2).

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
    return op(out, (x,), lambda g: (kernels.leaky_relu_backward(x.data, slope, g),),
              name="leaky_relu")


def sigmoid(x):
    """σ(x); dσ/dx = σ(1 − σ)."""
    out = numerics.sigmoid(x.data)
    return op(out, (x,), lambda g: (g * out * (1 - out),), name="sigmoid")


def tanh(x):
    """tanh x; d/dx = 1 − tanh²x."""
    out = B.xp.tanh(x.data)
    return op(out, (x,), lambda g: (g * (1 - out * out),), name="tanh")


def softplus(x, beta=1.0, threshold=20.0):
    """log(1 + e^(βx))/β, as PyTorch: x itself where βx > ``threshold``; d/dx = σ(βx), and 1
    beyond the threshold. Stable form: softplus(v) = max(v, 0) + log1p(e^−|v|), v = βx."""
    xp = B.xp
    v = x.data if beta == 1 else x.data * beta
    out = numerics.softplus(v)
    if beta != 1:
        out /= beta
    linear = v > threshold
    out = xp.where(linear, x.data, out)

    return op(out, (x,), lambda g: (xp.where(linear, g, g * numerics.sigmoid(v)),),
              name="softplus")


def log_sigmoid(x):
    """log σ(x) = −softplus(−x); d/dx = σ(−x)."""
    return op(-numerics.softplus(-x.data), (x,), lambda g: (g * numerics.sigmoid(-x.data),),
              name="log_sigmoid")


def linear(x, weight, bias=None, *, relu_slope=None):
    """y = x Wᵀ + b with W of shape (out, in), PyTorch's layout; one graph node.
    dL/dx = g W, dL/dW = gᵀ x, dL/db = Σ g (over every batch axis).

    With ``relu_slope`` s in [0, 1] the node is the layer and its activation,
    y = max(z, s·z) for z = x Wᵀ + b (s = 0: the ReLU), applied in place; dL/dz =
    g · ([y > 0] + s·[y <= 0]) then goes through the products above. The products use
    ``dot``, not ``@`` (why: benchmarks/results/speed-notes.md).
    """
    xp = B.xp
    name = kernels.activation_name("linear", relu_slope)
    tuning.fit_blas_threads(x.data.size * weight.shape[0])
    out = xp.dot(x.data, weight.data.T)
    if bias is not None:
        out += bias.data
    if relu_slope is not None:
        kernels.leaky_relu_(out, relu_slope)

    def backward(g):
        if relu_slope is not None:
            g = kernels.leaky_relu_backward(out, relu_slope, g)
        g2 = g.reshape(-1, g.shape[-1])
        gx, gw = tuning.side_by_side(
            (lambda: xp.dot(g, weight.data)) if x.requires_grad else None,
            (lambda: xp.dot(g2.T, x.data.reshape(-1, x.shape[-1])))
            if weight.requires_grad else None, g.size * weight.shape[1])
        if bias is None:
            return gx, gw
        return gx, gw, (sum_to(g2, bias.shape) if bias.requires_grad else None)

    parents = (x, weight) if bias is None else (x, weight, bias)
    return op(out, parents, backward, name=name)


def concat(tensors, axis=0):
    """Join tensors along an existing axis; the gradient is split back by slicing. As
    PyTorch's ``cat``, an empty 1-D tensor (shape (0,)) joins tensors of any rank: it is
    skipped (and its gradient is empty)."""
    tensors = list(tensors)
    if not tensors:
        raise ValueError("concat() needs at least one tensor")
    skip = [t.shape == (0,) for t in tensors] if any(t.ndim != 1 for t in tensors) else []
    joined = [t for i, t in enumerate(tensors) if not (skip and skip[i])]
    ndim = joined[0].ndim
    axis = axis_index(axis, ndim)
    bounds = [0]
    for t in joined:
        if t.ndim != ndim:
            raise ValueError(f"concat() needs tensors of one rank (or empty 1-D ones): got "
                             f"{ndim} and {t.ndim} dimensions")
        bounds.append(bounds[-1] + t.shape[axis])
    out = B.xp.concatenate([t.data for t in joined], axis=axis)

    def backward(g):
        index = [slice(None)] * ndim
        parts = iter(zip(bounds[:-1], bounds[1:]))
        grads = []
        for i in range(len(tensors)):
            if skip and skip[i]:
                grads.append(B.xp.zeros((0,), dtype=g.dtype))
                continue
            index[axis] = slice(*next(parts))
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


def dropout(x, p=0.5, training=True):
    """Inverted dropout, as PyTorch: each element is zeroed with probability p and the rest
    scaled by 1/(1 − p), with the mask drawn from the backend's seeded generator (on the
    device under cupy); the identity when not ``training``. d/dx = mask/(1 − p)."""
    if not 0 <= p <= 1:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
    if not training or p == 0:
        return x
    scale = (B.random(x.shape) >= p).astype(x.dtype)
    scale *= 0.0 if p == 1 else 1 / (1 - p)
    return op(x.data * scale, (x,), lambda g: (g * scale,), name="dropout")


# --- batch normalisation ----------------------------------------------------------------


def _affine_parents(x, weight, bias):
    """The inputs of a batch-norm node: x, then the affine weight and bias where given."""
    return (x,) + tuple(p for p in (weight, bias) if p is not None)


def batch_norm(x, weight, bias, mean, inv_std, *, relu_slope=None):
    """y = w · (x − μ) · s + b per channel (axis 1), s = 1/√(σ² + ε), for constant μ and s
    (eval mode: the running statistics); one graph node (with ``relu_slope``, the layer's
    activation too, as ``linear``'s). ``weight`` and ``bias`` may be None (``affine=False``:
    w = 1, b = 0).
    dL/dx = g w s, dL/dw = Σ g (x − μ) s, dL/db = Σ g."""
    name = kernels.activation_name("batch_norm", relu_slope)
    shape = (1, -1) + (1,) * (x.ndim - 2)
    scale = (inv_std if weight is None else weight.data * inv_std).reshape(shape)
    centred = x.data - mean.reshape(shape)
    out = centred * scale
    if bias is not None:
        out += bias.data.reshape(shape)
    if relu_slope is not None:
        kernels.leaky_relu_(out, relu_slope)

    def backward(g):
        if relu_slope is not None:
            g = kernels.leaky_relu_backward(out, relu_slope, g)
        grads = [g * scale if x.requires_grad else None]
        if weight is not None:
            grads.append(kernels.channel_sum(g * centred) * inv_std if weight.requires_grad
                         else None)
        if bias is not None:
            grads.append(kernels.channel_sum(g) if bias.requires_grad else None)
        return tuple(grads)

    return op(out, _affine_parents(x, weight, bias), backward, name=name)


def batch_norm_train(x, weight, bias, eps, *, relu_slope=None):
    """Batch normalisation with the batch's own statistics, one graph node (with
    ``relu_slope``, the layer's activation too, as ``linear``'s).

    Forward over the M = N·H·W values of each channel: μ = mean x, σ² = mean (x − μ)²
    (biased), x̂ = (x − μ)/√(σ² + ε), y = w x̂ + b (w = 1, b = 0 where ``weight``, ``bias``
    are None). Closed-form backward, with g = dL/dy:
    dL/db = Σg, dL/dw = Σg x̂, dL/dx = (w/√(σ² + ε)) (g − Σg/M − x̂ Σg x̂/M).
    Returns (y, μ, σ²) with μ, σ² as arrays for the running statistics.
    """
    xp = B.xp
    name = kernels.activation_name("batch_norm_train", relu_slope)
    shape = (1, -1) + (1,) * (x.ndim - 2)
    count = x.size // x.shape[1]
    mean = kernels.channel_sum(x.data) / count
    normalised = x.data - mean.reshape(shape)  # centred, then scaled in place
    var = kernels.channel_sum(xp.square(normalised)) / count
    inv_std = 1 / xp.sqrt(var + eps)
    normalised *= inv_std.reshape(shape)
    if weight is None:  # without an affine map y = x̂, kept for backward as exp keeps eˣ
        out = normalised if bias is None else normalised + bias.data.reshape(shape)
    else:
        out = normalised * weight.data.reshape(shape)
        if bias is not None:
            out += bias.data.reshape(shape)
    if relu_slope is not None:
        if out is normalised:  # backward reads x̂: the activation gets an array of its own
            out = normalised.copy()
        kernels.leaky_relu_(out, relu_slope)

    def backward(g):
        if relu_slope is not None:
            g = kernels.leaky_relu_backward(out, relu_slope, g)
        gb = kernels.channel_sum(g)
        gw = kernels.channel_sum(g * normalised)
        gx = None
        if x.requires_grad:
            gx = normalised * (gw / count).reshape(shape)
            gx += (gb / count).reshape(shape)
            xp.subtract(g, gx, out=gx)
            gx *= (inv_std if weight is None else weight.data * inv_std).reshape(shape)
        grads = [gx]
        if weight is not None:
            grads.append(gw if weight.requires_grad else None)
        if bias is not None:
            grads.append(gb if bias.requires_grad else None)
        return tuple(grads)

    return op(out, _affine_parents(x, weight, bias), backward, name=name), mean, var
