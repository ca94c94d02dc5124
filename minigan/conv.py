"""Convolutions: conv2d and conv_transpose2d as a strided view and one GEMM.

conv2d is one GEMM on an im2col matrix: cols[(c, i, j), (ho, wo, n)] =
x_padded[n, c, s·ho + i, s·wo + j], read through a strided view and copied once so that
the GEMM sees a contiguous (C·kh·kw, Ho·Wo·N) operand. Its adjoint, col2im, adds the
columns back with one strided slice-add per kernel offset. conv_transpose2d is that
adjoint, so each op's forward is the other's input gradient and both share the helpers.
The batch axis is innermost inside these helpers (why: benchmarks/results/conv.md); only
the NCHW inputs and outputs are transposed.
"""

from __future__ import annotations

from . import backend as B
from . import tuning
from .tensor import op


def as_pair(value, name, minimum):
    """An int or a pair of ints, each at least ``minimum``, as a pair of ints."""
    pair = tuple(value) if hasattr(value, "__len__") else (value, value)
    try:
        whole = len(pair) == 2 and all(int(v) == v for v in pair)
    except (TypeError, ValueError):
        whole = False
    if not whole or min(pair) < minimum:
        raise ValueError(f"{name} must be an int >= {minimum} or a pair of them, got {value!r}")
    return int(pair[0]), int(pair[1])


def _check_conv(name, x, weight, bias, in_axis):
    """(in_channels, out_channels, shapes) of a conv whose weight holds its input channels
    on ``in_axis``; a ValueError naming both shapes when x, weight and bias do not fit."""
    shapes = f"input {tuple(x.shape)}, weight {tuple(weight.shape)}"
    if x.ndim != 4 or weight.ndim != 4:
        raise ValueError(f"{name} needs a 4-D NCHW input and a 4-D weight; got {shapes}")
    in_channels, out_channels = weight.shape[in_axis], weight.shape[1 - in_axis]
    if x.shape[1] != in_channels:
        raise ValueError(f"{name}: input has {x.shape[1]} channels but the weight expects "
                         f"{in_channels}; got {shapes}")
    if bias is not None and tuple(bias.shape) != (out_channels,):
        raise ValueError(f"{name}: bias must have shape ({out_channels},), got "
                         f"{tuple(bias.shape)} with {shapes}")
    return in_channels, out_channels, shapes


def im2col(x, kernel, stride, padding, out_size):
    """The contiguous (C·kh·kw, Ho·Wo·N) column matrix of the NCHW array ``x``:
    cols[(c, i, j), (ho, wo, n)] = x_pad[n, c, s·ho + i, s·wo + j]. ``kernel``, ``stride``,
    ``padding`` and the output size ``out_size`` are pairs (rows, columns)."""
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


def col2im(cols, shape, kernel, stride, padding, bias=None):
    """The adjoint of im2col: add each column entry back onto its input pixel, giving a
    contiguous NCHW array of ``shape`` (plus ``bias`` per channel), so that
    <im2col(x), cols> = <x, col2im(cols)>."""
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
    stride, padding = as_pair(stride, "stride", 1), as_pair(padding, "padding", 0)
    _, out_channels, shapes = _check_conv("conv2d", x, weight, bias, in_axis=1)
    n, _, h, w = x.shape
    kernel = kh, kw = weight.shape[2:]
    if kh > h + 2 * padding[0] or kw > w + 2 * padding[1]:
        raise ValueError(f"conv2d: kernel {kernel} is larger than the padded input "
                         f"{(h + 2 * padding[0], w + 2 * padding[1])}; got {shapes}")
    ho, wo = (h + 2 * padding[0] - kh) // stride[0] + 1, (w + 2 * padding[1] - kw) // stride[1] + 1
    cols = im2col(x.data, kernel, stride, padding, (ho, wo))
    w2 = weight.data.reshape(out_channels, -1)
    tuning.fit_blas_threads(w2.size * cols.shape[1])
    out = _from_channels_first(w2 @ cols, n, ho, wo, None if bias is None else bias.data)
    cols = cols if weight.requires_grad else None  # only the weight gradient needs it

    def backward(g):
        g2 = _channels_first(g)
        tuning.fit_blas_threads(w2.size * g2.shape[1])
        gx = (col2im(w2.T @ g2, x.shape, kernel, stride, padding)
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
    stride, padding = as_pair(stride, "stride", 1), as_pair(padding, "padding", 0)
    output_padding = as_pair(output_padding, "output_padding", 0)
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
    tuning.fit_blas_threads(w2.size * x2.shape[1])
    out = col2im(w2.T @ x2, out_shape, kernel, stride, padding,
                  None if bias is None else bias.data)
    x2 = x2 if weight.requires_grad else None  # only the weight gradient needs it

    def backward(g):
        cols = im2col(g, kernel, stride, padding, (h, w))
        tuning.fit_blas_threads(w2.size * cols.shape[1])
        gx = _from_channels_first(w2 @ cols, n, h, w) if x.requires_grad else None
        gw = (x2 @ cols.T).reshape(weight.shape) if weight.requires_grad else None
        if bias is None:
            return gx, gw
        return gx, gw, (g.sum(axis=(0, 2, 3)) if bias.requires_grad else None)

    parents = (x, weight) if bias is None else (x, weight, bias)
    return op(out, parents, backward, name="conv_transpose2d")
