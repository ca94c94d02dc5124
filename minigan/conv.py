"""Convolutions: conv2d and conv_transpose2d as a strided view and one GEMM per group.

conv2d is a GEMM on an im2col matrix: cols[(c, i, j), (ho, wo, n)] =
x_pad[n, c, s·ho + d·i, s·wo + d·j] (stride s, dilation d), read through a strided view and
copied once so that the GEMM sees a contiguous (C·kh·kw, Ho·Wo·N) operand; with groups the
rows split into G blocks and the GEMM is one (G, ·, ·) stack. Its adjoint, col2im, adds
the columns back with one strided slice-add per kernel offset. conv_transpose2d is that
adjoint, so each op's forward is the other's input gradient and both share the helpers.
The batch axis is innermost inside these helpers (why: benchmarks/results/conv.md); only
the NCHW inputs and outputs are transposed. Both ops also take one unbatched (C, H, W)
input, as PyTorch does.
"""

from __future__ import annotations

from . import backend as B
from .tensor import op


def as_pair(value, name, minimum):
    """An int or a pair of ints, each at least ``minimum``, as a pair of ints."""
    pair = tuple(value) if hasattr(value, "__len__") and not isinstance(value, str) else \
        (value, value)
    try:
        whole = len(pair) == 2 and all(int(v) == v for v in pair)
    except (TypeError, ValueError):
        whole = False
    if not whole or min(pair) < minimum:
        raise ValueError(f"{name} must be an int >= {minimum} or a pair of them, got {value!r}")
    return int(pair[0]), int(pair[1])


def _pads(padding):
    """((top, bottom), (left, right)) from a pair of ints or a pair of such pairs."""
    return tuple((p, p) if isinstance(p, int) else (int(p[0]), int(p[1])) for p in padding)


def conv_padding(padding, kernel, stride=(1, 1), dilation=(1, 1)):
    """conv2d's padding as ((top, bottom), (left, right)): an int or a pair, or PyTorch's
    strings "valid" (none) and "same" (stride 1 only; the output keeps the input's size: a
    total of d·(k − 1) per axis, the odd one on the bottom/right, as PyTorch pads it)."""
    if not isinstance(padding, str):
        return _pads(as_pair(padding, "padding", 0))
    if padding == "valid":
        return (0, 0), (0, 0)
    if padding != "same":
        raise ValueError(f"padding must be an int, a pair of ints, 'valid' or 'same', "
                         f"got {padding!r}")
    if tuple(stride) != (1, 1):
        raise ValueError(f"padding='same' is not supported for strided convolutions "
                         f"(stride {tuple(stride)})")
    totals = [d * (k - 1) for k, d in zip(kernel, dilation)]
    return tuple((t // 2, t - t // 2) for t in totals)


def _channels(name, x, weight, bias, in_axis, groups):
    """The 4-D data of x (a batch axis added to a 3-D input), the output channel count and a
    text naming both shapes; a ValueError naming both shapes when x, weight, bias and groups
    do not fit. The weight holds its input channels (per group) on ``in_axis``."""
    shapes = f"input {tuple(x.shape)}, weight {tuple(weight.shape)}"
    if x.ndim not in (3, 4) or weight.ndim != 4:
        raise ValueError(f"{name} needs a 3-D (C, H, W) or 4-D (N, C, H, W) input and a 4-D "
                         f"weight; got {shapes}")
    if isinstance(groups, bool) or not isinstance(groups, int) or groups < 1:
        raise ValueError(f"{name}: groups must be a positive int, got {groups!r}")
    data = x.data if x.ndim == 4 else x.data.reshape(1, *x.shape)
    if in_axis == 1:  # conv2d: weight (out, in / groups, kh, kw)
        in_channels, out_channels, split = weight.shape[1] * groups, weight.shape[0], 0
    else:  # conv_transpose2d: weight (in, out / groups, kh, kw)
        in_channels, out_channels, split = weight.shape[0], weight.shape[1] * groups, 0
    if weight.shape[split] % groups:
        raise ValueError(f"{name}: weight dimension {split} ({weight.shape[split]}) is not "
                         f"divisible by groups={groups}; got {shapes}")
    if data.shape[1] != in_channels:
        raise ValueError(f"{name}: input has {data.shape[1]} channels but the weight expects "
                         f"{in_channels} (groups={groups}); got {shapes}")
    if bias is not None and tuple(bias.shape) != (out_channels,):
        raise ValueError(f"{name}: bias must have shape ({out_channels},), got "
                         f"{tuple(bias.shape)} with {shapes}")
    return data, out_channels, shapes


def _padded_chwn(x, pads):
    """The NCHW array ``x`` as (C, H + top + bottom, W + left + right, N), zero-padded (a
    transposed view of ``x`` when there is no padding)."""
    (pt, pb), (pl, pr) = pads
    n, c, h, w = x.shape
    if not (pt or pb or pl or pr):
        return x.transpose(1, 2, 3, 0)
    source = B.xp.zeros((c, h + pt + pb, w + pl + pr, n), dtype=x.dtype)
    source[:, pt:pt + h, pl:pl + w] = x.transpose(1, 2, 3, 0)
    return source


def im2col(x, kernel, stride, padding, out_size, dilation=(1, 1)):
    """The contiguous (C·kh·kw, Ho·Wo·N) column matrix of the NCHW array ``x``:
    cols[(c, i, j), (ho, wo, n)] = x_pad[n, c, sh·ho + dh·i, sw·wo + dw·j]. ``kernel``,
    ``stride``, ``dilation`` and the output size ``out_size`` are pairs (rows, columns);
    ``padding`` a pair, or a pair of (before, after) pairs."""
    xp = B.xp
    (kh, kw), (sh, sw), (dh, dw), (ho, wo) = kernel, stride, dilation, out_size
    source = _padded_chwn(x, _pads(padding))
    c, n = source.shape[0], source.shape[3]
    s_c, s_h, s_w, s_n = source.strides
    windows = xp.lib.stride_tricks.as_strided(
        source, shape=(c, kh, kw, ho, wo, n),
        strides=(s_c, s_h * dh, s_w * dw, s_h * sh, s_w * sw, s_n))
    return xp.ascontiguousarray(windows).reshape(c * kh * kw, n * ho * wo)


def col2im(cols, shape, kernel, stride, padding, bias=None, dilation=(1, 1), out_size=None):
    """The adjoint of im2col: add each column entry back onto its input pixel, giving a
    contiguous NCHW array of ``shape`` (plus ``bias`` per channel), so that
    <im2col(x), cols> = <x, col2im(cols)>. ``out_size`` is im2col's (Ho, Wo), by default
    the largest that fits."""
    xp = B.xp
    n, c, h, w = shape
    (kh, kw), (sh, sw), (dh, dw) = kernel, stride, dilation
    (pt, pb), (pl, pr) = _pads(padding)
    if out_size is None:
        out_size = ((h + pt + pb - dh * (kh - 1) - 1) // sh + 1,
                    (w + pl + pr - dw * (kw - 1) - 1) // sw + 1)
    ho, wo = out_size
    cols = cols.reshape(c, kh, kw, ho, wo, n)
    padded = xp.zeros((c, h + pt + pb, w + pl + pr, n), dtype=cols.dtype)
    for i in range(kh):
        for j in range(kw):
            padded[:, dh * i:dh * i + sh * (ho - 1) + 1:sh,
                   dw * j:dw * j + sw * (wo - 1) + 1:sw] += cols[:, i, j]
    image = padded[:, pt:pt + h, pl:pl + w].transpose(3, 0, 1, 2)
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


def _mm(a, b):
    """a @ b for (G, M, K) and (G, K, L) stacks, flattened to (G·M, L): one 2-D GEMM when
    G = 1, one per group otherwise."""
    product = a[0] @ b[0] if a.shape[0] == 1 else a @ b
    return product.reshape(-1, product.shape[-1])


def _stack(a, groups):
    """(G·M, K) -> (G, M, K)."""
    return a.reshape(groups, a.shape[0] // groups, -1)


def _t(a):
    return a.swapaxes(1, 2)


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """y[n,o] = Σ_{c,i,j} w[o,c,i,j] x_pad[n, c', s·h + d·i, s·w + d·j] + b[o], c' the
    c-th channel of o's group (PyTorch's conv2d), as W(O, C/G·kh·kw) @ im2col(x) per group;
    one graph node, bias fused.

    input (N, C, H, W) or (C, H, W), weight (O, C/G, kh, kw), bias (O,); padding an int, a
    pair, "valid" or "same"; output side (H + p_before + p_after − d(kh − 1) − 1)//s + 1.
    """
    x = input
    stride, dilation = as_pair(stride, "stride", 1), as_pair(dilation, "dilation", 1)
    xd, out_channels, shapes = _channels("conv2d", x, weight, bias, 1, groups)
    n, _, h, w = xd.shape
    kernel = kh, kw = weight.shape[2:]
    pads = conv_padding(padding, kernel, stride, dilation)
    padded = h + sum(pads[0]), w + sum(pads[1])
    extent = dilation[0] * (kh - 1) + 1, dilation[1] * (kw - 1) + 1
    if extent[0] > padded[0] or extent[1] > padded[1]:
        raise ValueError(f"conv2d: kernel {kernel} (dilated to {extent}) is larger than the "
                         f"padded input {padded}; got {shapes}")
    ho, wo = (padded[0] - extent[0]) // stride[0] + 1, (padded[1] - extent[1]) // stride[1] + 1
    cols = _stack(im2col(xd, kernel, stride, pads, (ho, wo), dilation), groups)
    w3 = _stack(weight.data.reshape(out_channels, -1), groups)
    out = _from_channels_first(_mm(w3, cols), n, ho, wo, None if bias is None else bias.data)
    cols = cols if weight.requires_grad else None  # only the weight gradient needs it

    def backward(g):
        g3 = _stack(_channels_first(g if g.ndim == 4 else g.reshape(1, *g.shape)), groups)
        gx = gw = None
        if x.requires_grad:
            gx = col2im(_mm(_t(w3), g3), xd.shape, kernel, stride, pads, None, dilation,
                        (ho, wo)).reshape(x.shape)
        if weight.requires_grad:
            gw = _mm(g3, _t(cols)).reshape(weight.shape)
        if bias is None:
            return gx, gw
        return gx, gw, (g3.reshape(out_channels, -1).sum(axis=1) if bias.requires_grad
                        else None)

    parents = (x, weight) if bias is None else (x, weight, bias)
    return op(out if x.ndim == 4 else out[0], parents, backward, name="conv2d")


def conv_transpose2d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1,
                     dilation=1):
    """The adjoint of conv2d in x (PyTorch's conv_transpose2d):
    y = col2im(W(C_in/G, C_out/G·kh·kw)ᵀ @ x per group) + b; one graph node, bias fused.

    input (N, C_in, H, W) or (C_in, H, W), weight (C_in, C_out/G, kh, kw), bias (C_out,);
    output side (H − 1)s − 2p + d(kh − 1) + output_padding + 1, with output_padding smaller
    than the stride or the dilation.
    """
    x = input
    stride, dilation = as_pair(stride, "stride", 1), as_pair(dilation, "dilation", 1)
    padding = as_pair(padding, "padding", 0)
    output_padding = as_pair(output_padding, "output_padding", 0)
    xd, out_channels, shapes = _channels("conv_transpose2d", x, weight, bias, 0, groups)
    if any(o >= max(s, d) for o, s, d in zip(output_padding, stride, dilation)):
        raise ValueError(f"conv_transpose2d: output_padding {output_padding} must be smaller "
                         f"than the stride {stride} or the dilation {dilation}; got {shapes}")
    n, in_channels, h, w = xd.shape
    kernel = kh, kw = weight.shape[2:]
    out_h = (h - 1) * stride[0] - 2 * padding[0] + dilation[0] * (kh - 1) + output_padding[0] + 1
    out_w = (w - 1) * stride[1] - 2 * padding[1] + dilation[1] * (kw - 1) + output_padding[1] + 1
    if out_h <= 0 or out_w <= 0:
        raise ValueError(f"conv_transpose2d: output size {(out_h, out_w)} is not positive "
                         f"(padding {padding} too large); got {shapes}")
    pads = _pads(padding)
    x3 = _stack(_channels_first(xd), groups)
    w3 = _stack(weight.data.reshape(in_channels, -1), groups)
    out = col2im(_mm(_t(w3), x3), (n, out_channels, out_h, out_w), kernel, stride, pads,
                 None if bias is None else bias.data, dilation, (h, w))
    x3 = x3 if weight.requires_grad else None  # only the weight gradient needs it

    def backward(g):
        g = g if g.ndim == 4 else g.reshape(1, *g.shape)
        cols = _stack(im2col(g, kernel, stride, pads, (h, w), dilation), groups)
        gx = gw = None
        if x.requires_grad:
            gx = _from_channels_first(_mm(w3, cols), n, h, w).reshape(x.shape)
        if weight.requires_grad:
            gw = _mm(x3, _t(cols)).reshape(weight.shape)
        if bias is None:
            return gx, gw
        return gx, gw, (g.sum(axis=(0, 2, 3)) if bias.requires_grad else None)

    parents = (x, weight) if bias is None else (x, weight, bias)
    return op(out if x.ndim == 4 else out[0], parents, backward, name="conv_transpose2d")
