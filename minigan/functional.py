"""Differentiable ops beyond arithmetic: activations, linear, concatenation.

Each op is one graph node with its backward beside its forward. The stable forms keep
every value finite for |x| up to 1e4 in float32:
softplus(x) = max(x, 0) + log1p(exp(−|x|)), log σ(x) = −softplus(−x).
"""

from __future__ import annotations

from . import backend as B
from .ops import axis_index
from .tensor import Tensor, op, sum_to


def relu(x):
    """max(x, 0); d/dx = [x > 0]."""
    return op(B.xp.maximum(x.data, 0), (x,), lambda g: (g * (x.data > 0),), name="relu")


def leaky_relu(x, negative_slope=0.2):
    """x for x > 0, negative_slope · x otherwise.

    For slopes in [0, 1] this is max(x, slope·x) with derivative max([x > 0], slope):
    ``where(x > 0, ...)`` mispredicts a branch on about every other element of a
    random-signed array and ran ~10x slower at DCGAN sizes (benchmarks/train_step.py).
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
    return op(out, (x,), lambda g: (g * out * (1 - out),), name="sigmoid")


def tanh(x):
    """tanh x; d/dx = 1 − tanh²x."""
    out = B.xp.tanh(x.data)
    return op(out, (x,), lambda g: (g * (1 - out * out),), name="tanh")


def softplus(x):
    """log(1 + eˣ) = max(x, 0) + log1p(e^−|x|); d/dx = σ(x)."""
    return op(_softplus(x.data), (x,), lambda g: (g * _sigmoid(x.data),), name="softplus")


def log_sigmoid(x):
    """log σ(x) = −softplus(−x); d/dx = σ(−x)."""
    return op(-_softplus(-x.data), (x,), lambda g: (g * _sigmoid(-x.data),), name="log_sigmoid")


def linear(x, weight, bias=None):
    """y = x Wᵀ + b with W of shape (out, in), PyTorch's layout; one graph node.
    dL/dx = g W, dL/dW = gᵀ x, dL/db = Σ g (over every batch axis).

    The products use ``dot`` (the same as ``@`` for a 2-D right operand): NumPy's matmul
    takes a slow path when the contracted axis has length 1, e.g. 6x slower for the
    gradient through a critic's last layer (out = 1).
    """
    xp = B.xp
    out = xp.dot(x.data, weight.data.T)
    if bias is not None:
        out += bias.data

    def backward(g):
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


# --- convolution ----------------------------------------------------------------------
#
# conv2d is one GEMM on an im2col matrix: cols[(c, i, j), (ho, wo, n)] =
# x_padded[n, c, s·ho + i, s·wo + j], read through a strided view and copied once so that
# the GEMM sees a contiguous (C·kh·kw, Ho·Wo·N) operand. Its adjoint, col2im, adds the
# columns back with one strided slice-add per kernel offset. conv_transpose2d is that
# adjoint, so each op's forward is the other's input gradient and both share the helpers.
# The batch axis is innermost inside these helpers: the strided copies and slice-adds then
# run over contiguous rows of N values instead of rows of Wo (about 2x faster at DCGAN
# sizes, benchmarks/conv.py); only the NCHW inputs and outputs are transposed.


def _pair(value, name, minimum):
    """An int or a pair of ints, each at least ``minimum``, as a pair of ints."""
    pair = tuple(value) if hasattr(value, "__len__") else (value, value)
    try:
        whole = len(pair) == 2 and all(int(v) == v for v in pair)
    except (TypeError, ValueError):
        whole = False
    if not whole or min(pair) < minimum:
        raise ValueError(f"{name} must be an int >= {minimum} or a pair of them, got {value!r}")
    return int(pair[0]), int(pair[1])


def _check_conv(op, x, weight, bias, in_axis):
    """(in_channels, out_channels, shapes) of a conv whose weight holds its input channels
    on ``in_axis``; a ValueError naming both shapes when x, weight and bias do not fit."""
    shapes = f"input {tuple(x.shape)}, weight {tuple(weight.shape)}"
    if x.ndim != 4 or weight.ndim != 4:
        raise ValueError(f"{op} needs a 4-D NCHW input and a 4-D weight; got {shapes}")
    in_channels, out_channels = weight.shape[in_axis], weight.shape[1 - in_axis]
    if x.shape[1] != in_channels:
        raise ValueError(f"{op}: input has {x.shape[1]} channels but the weight expects "
                         f"{in_channels}; got {shapes}")
    if bias is not None and tuple(bias.shape) != (out_channels,):
        raise ValueError(f"{op}: bias must have shape ({out_channels},), got "
                         f"{tuple(bias.shape)} with {shapes}")
    return in_channels, out_channels, shapes


def _im2col(x, kernel, stride, padding, out_size):
    """The contiguous (C·kh·kw, Ho·Wo·N) column matrix of the NCHW array ``x``."""
    xp = B.xp
    n, c, h, w = x.shape
    (kh, kw), (sh, sw), (ph, pw), (ho, wo) = kernel, stride, padding, out_size
    if ph or pw:
        source = xp.zeros((c, h + 2 * ph, w + 2 * pw, n), dtype=x.dtype)
        source[:, ph:ph + h, pw:pw + w] = x.transpose(1, 2, 3, 0)
    else:
        source = x.transpose(1, 2, 3, 0)
    s_c, s_h, s_w, s_n = source.strides
    windows = xp.lib.stride_tricks.as_strided(
        source, shape=(c, kh, kw, ho, wo, n),
        strides=(s_c, s_h, s_w, s_h * sh, s_w * sw, s_n))
    return xp.ascontiguousarray(windows).reshape(c * kh * kw, n * ho * wo)


def _col2im(cols, shape, kernel, stride, padding, bias=None):
    """The adjoint of _im2col: add each column entry back onto its input pixel, giving a
    contiguous NCHW array of ``shape`` (plus ``bias`` per channel)."""
    xp = B.xp
    n, c, h, w = shape
    (kh, kw), (sh, sw), (ph, pw) = kernel, stride, padding
    ho, wo = (h + 2 * ph - kh) // sh + 1, (w + 2 * pw - kw) // sw + 1
    cols = cols.reshape(c, kh, kw, ho, wo, n)
    padded = xp.zeros((c, h + 2 * ph, w + 2 * pw, n), dtype=cols.dtype)
    for i in range(kh):
        for j in range(kw):
            padded[:, i:i + sh * ho:sh, j:j + sw * wo:sw] += cols[:, i, j]
    image = padded[:, ph:ph + h, pw:pw + w].transpose(3, 0, 1, 2)
    out = xp.empty(shape, dtype=cols.dtype)
    if bias is None:
        out[...] = image
    else:
        xp.add(image, bias.reshape(1, c, 1, 1), out=out)
    return out


def _channels_first(x):
    """NCHW -> the contiguous (C, H·W·N) matrix."""
    c = x.shape[1]
    return B.xp.ascontiguousarray(x.transpose(1, 2, 3, 0)).reshape(c, -1)


def _from_channels_first(y, n, h, w, bias=None):
    """(C, H·W·N) -> contiguous NCHW, adding ``bias`` per channel on the way."""
    c = y.shape[0]
    y = y.reshape(c, h, w, n)
    if bias is not None:
        y += bias.reshape(c, 1, 1, 1)
    return B.xp.ascontiguousarray(y.transpose(3, 0, 1, 2))


def conv2d(x, weight, bias=None, stride=1, padding=0):
    """y[n,o] = Σ_{c,i,j} w[o,c,i,j] x_pad[n,c,s·h+i,s·w+j] + b[o] (PyTorch's conv2d, no
    groups or dilation), as W(O, C·kh·kw) @ im2col(x); one graph node, bias fused.

    x (N, C, H, W), weight (O, C, kh, kw), bias (O,); output side (H + 2p − kh)//s + 1.
    """
    stride, padding = _pair(stride, "stride", 1), _pair(padding, "padding", 0)
    _, out_channels, shapes = _check_conv("conv2d", x, weight, bias, in_axis=1)
    n, _, h, w = x.shape
    kernel = kh, kw = weight.shape[2:]
    if kh > h + 2 * padding[0] or kw > w + 2 * padding[1]:
        raise ValueError(f"conv2d: kernel {kernel} is larger than the padded input "
                         f"{(h + 2 * padding[0], w + 2 * padding[1])}; got {shapes}")
    ho, wo = (h + 2 * padding[0] - kh) // stride[0] + 1, (w + 2 * padding[1] - kw) // stride[1] + 1
    cols = _im2col(x.data, kernel, stride, padding, (ho, wo))
    w2 = weight.data.reshape(out_channels, -1)
    out = _from_channels_first(w2 @ cols, n, ho, wo, None if bias is None else bias.data)
    cols = cols if weight.requires_grad else None  # only the weight gradient needs it

    def backward(g):
        g2 = _channels_first(g)
        gx = (_col2im(w2.T @ g2, x.shape, kernel, stride, padding)
              if x.requires_grad else None)
        gw = (g2 @ cols.T).reshape(weight.shape) if weight.requires_grad else None
        if bias is None:
            return gx, gw
        return gx, gw, (g2.sum(axis=1) if bias.requires_grad else None)

    parents = (x, weight) if bias is None else (x, weight, bias)
    return op(out, parents, backward, name="conv2d")


def conv_transpose2d(x, weight, bias=None, stride=1, padding=0, output_padding=0):
    """The adjoint of conv2d in x (PyTorch's conv_transpose2d, no groups or dilation):
    y = col2im(W(C_in, C_out·kh·kw)ᵀ @ x) + b; one graph node, bias fused.

    x (N, C_in, H, W), weight (C_in, C_out, kh, kw), bias (C_out,); output side
    (H − 1)s − 2p + kh + output_padding, with output_padding < stride.
    """
    stride, padding = _pair(stride, "stride", 1), _pair(padding, "padding", 0)
    output_padding = _pair(output_padding, "output_padding", 0)
    in_channels, out_channels, shapes = _check_conv("conv_transpose2d", x, weight, bias,
                                                    in_axis=0)
    if output_padding[0] >= stride[0] or output_padding[1] >= stride[1]:
        raise ValueError(f"conv_transpose2d: output_padding {output_padding} must be smaller "
                         f"than stride {stride}; got {shapes}")
    n, _, h, w = x.shape
    kernel = kh, kw = weight.shape[2:]
    out_h = (h - 1) * stride[0] - 2 * padding[0] + kh + output_padding[0]
    out_w = (w - 1) * stride[1] - 2 * padding[1] + kw + output_padding[1]
    if out_h <= 0 or out_w <= 0:
        raise ValueError(f"conv_transpose2d: output size {(out_h, out_w)} is not positive "
                         f"(padding {padding} too large); got {shapes}")
    out_shape = (n, out_channels, out_h, out_w)
    x2 = _channels_first(x.data)
    w2 = weight.data.reshape(in_channels, -1)
    out = _col2im(w2.T @ x2, out_shape, kernel, stride, padding,
                  None if bias is None else bias.data)
    x2 = x2 if weight.requires_grad else None  # only the weight gradient needs it

    def backward(g):
        cols = _im2col(g, kernel, stride, padding, (h, w))
        gx = _from_channels_first(w2 @ cols, n, h, w) if x.requires_grad else None
        gw = (x2 @ cols.T).reshape(weight.shape) if weight.requires_grad else None
        if bias is None:
            return gx, gw
        return gx, gw, (g.sum(axis=(0, 2, 3)) if bias.requires_grad else None)

    parents = (x, weight) if bias is None else (x, weight, bias)
    return op(out, parents, backward, name="conv_transpose2d")
