"""Convolutions: conv2d and conv_transpose2d as a strided view and one GEMM per group.

conv2d is a GEMM on an im2col matrix: cols[(c, i, j), (ho, wo, n)] =
x_pad[n, c, s·ho + d·i, s·wo + d·j] (stride s, dilation d), copied once from a strided view
so that the GEMM sees a contiguous (C·kh·kw, Ho·Wo·N) operand; with groups the rows split
into G blocks and the GEMM is one (G, ·, ·) stack. conv_transpose2d is its adjoint in x, so
each op's forward is the other's input gradient: the transposed direction runs by sub-pixel
phases (no overlapping adds) or, for thin outputs, by per-tap columns and col2im. The array
kernels are in ``unfold``; outputs are NCHW views of (C, H, W, N) memory (why:
benchmarks/results/speed-notes.md). Both ops also take one unbatched (C, H, W) input, and
padding "valid"/"same", dilation and groups, as PyTorch does.
"""

from __future__ import annotations

from . import backend as B
from . import kernels, tuning
from . import unfold as U
from .tensor import is_grad_enabled, op


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


def conv_padding(padding, kernel, stride=(1, 1), dilation=(1, 1)):
    """conv2d's padding as ((top, bottom), (left, right)): an int or a pair, or PyTorch's
    strings "valid" (none) and "same" (stride 1 only; the output keeps the input's size: a
    total of d·(k − 1) per axis, the odd one on the bottom/right, as PyTorch pads it)."""
    if not isinstance(padding, str):
        return U.pad_pairs(as_pair(padding, "padding", 0))
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
        in_channels, out_channels = weight.shape[1] * groups, weight.shape[0]
    else:  # conv_transpose2d: weight (in, out / groups, kh, kw)
        in_channels, out_channels = weight.shape[0], weight.shape[1] * groups
    if weight.shape[0] % groups:  # the groups split dimension 0 in both layouts
        raise ValueError(f"{name}: weight dimension 0 ({weight.shape[0]}) is not divisible "
                         f"by groups={groups}; got {shapes}")
    if data.shape[1] != in_channels:
        raise ValueError(f"{name}: input has {data.shape[1]} channels but the weight expects "
                         f"{in_channels} (groups={groups}); got {shapes}")
    if bias is not None and tuple(bias.shape) != (out_channels,):
        raise ValueError(f"{name}: bias must have shape ({out_channels},), got "
                         f"{tuple(bias.shape)} with {shapes}")
    return data, out_channels, shapes


def _swap(a):
    return a.swapaxes(1, 2)


def _like(gx, x):
    """The NCHW view ``gx`` reshaped to ``x`` and in its memory layout: kept as it is for an
    x of (C, H, W, N) memory, copied to C order otherwise, so that the ops before a
    convolution meet one layout in their backward too."""
    gx = gx.reshape(x.shape)
    return gx if gx.flags.c_contiguous or not x.flags.c_contiguous else B.xp.ascontiguousarray(gx)


def _batched(g):
    return g if g.ndim == 4 else g.reshape(1, *g.shape)


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, *,
           relu_slope=None):
    """y[n,o] = Σ_{c,i,j} w[o,c,i,j] x_pad[n, c', s·h + d·i, s·w + d·j] + b[o], c' the
    c-th channel of o's group (PyTorch's conv2d), as W(O, C/G·kh·kw) @ im2col(x) per group;
    one graph node, bias fused, and with ``relu_slope`` s in [0, 1] the layer's activation
    max(y, s·y) too (as ``F.linear``'s).

    input (N, C, H, W) or (C, H, W), weight (O, C/G, kh, kw), bias (O,); padding an int, a
    pair, "valid" or "same"; output side (H + p_before + p_after − d(kh − 1) − 1)//s + 1.
    """
    x = input
    name = kernels.activation_name("conv2d", relu_slope)
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
    keep = weight.requires_grad and is_grad_enabled()  # only the weight gradient needs cols
    rows = xd.shape[1] * kh * kw
    cols = U.im2col(xd, kernel, stride, pads, (ho, wo), dilation,
                    None if keep else U.scratch("cols", (rows, ho * wo * n), xd.dtype))
    cols = U.group_stack(cols, groups)
    w3 = U.group_stack(weight.data.reshape(out_channels, -1), groups)
    out = U.gemm(w3, cols).reshape(out_channels, ho, wo, n)
    if bias is not None:
        out += bias.data.reshape(-1, 1, 1, 1)
    out = out.transpose(3, 0, 1, 2)  # NCHW view of (O, Ho, Wo, N)
    if relu_slope is not None:
        kernels.leaky_relu_(out, relu_slope)
    cols = cols if keep else None
    before = pads[0][0], pads[1][0]

    def backward(g):
        g = _batched(g)
        if relu_slope is not None:
            g = kernels.leaky_relu_backward(out, relu_slope, g)
        gc = U.chwn(g)  # (O, Ho, Wo, N), copied once if g is not of that memory
        g2 = gc.reshape(out_channels, -1)
        gx, gw = tuning.side_by_side(
            (lambda: _like(U.conv_transpose_array(gc.transpose(3, 0, 1, 2), weight.data,
                                                  stride, before, dilation, groups, (h, w)),
                           x.data)) if x.requires_grad else None,
            # as PyTorch: the weight gradient only if it needed one in forward too
            (lambda: U.gemm(U.group_stack(g2, groups), _swap(cols)).reshape(weight.shape))
            if keep and weight.requires_grad else None, g2.size * rows // groups)
        if bias is None:
            return gx, gw
        return gx, gw, (g2.sum(axis=1) if bias.requires_grad else None)

    parents = (x, weight) if bias is None else (x, weight, bias)
    return op(out if x.ndim == 4 else out[0], parents, backward, name=name)


def conv_transpose2d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1,
                     dilation=1, *, relu_slope=None):
    """The adjoint of conv2d in x (PyTorch's conv_transpose2d):
    y[n, o, s·h + d·i − p, s·w + d·j − p] += w[c, o, i, j] x[n, c, h, w], plus b[o], per
    group; by sub-pixel phases (``unfold.conv_transpose_array``); one graph node, bias fused,
    and with ``relu_slope`` s in [0, 1] the layer's activation max(y, s·y) too.

    input (N, C_in, H, W) or (C_in, H, W), weight (C_in, C_out/G, kh, kw), bias (C_out,);
    output side (H − 1)s − 2p + d(kh − 1) + output_padding + 1, with output_padding smaller
    than the stride or the dilation.
    """
    x = input
    name = kernels.activation_name("conv_transpose2d", relu_slope)
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
    source = U.chwn(xd)  # (C_in, H, W, N), copied once if x is not of that memory
    out = U.conv_transpose_array(source.transpose(3, 0, 1, 2), weight.data, stride, padding,
                                 dilation, groups, (out_h, out_w),
                                 None if bias is None else bias.data)
    if relu_slope is not None:
        kernels.leaky_relu_(out, relu_slope)
    keep = weight.requires_grad and is_grad_enabled()  # only the weight gradient needs x
    x3 = U.group_stack(source.reshape(in_channels, -1), groups) if keep else None
    w3 = U.group_stack(weight.data.reshape(in_channels, -1), groups)

    def backward(g):
        g = _batched(g)
        if relu_slope is not None:
            g = kernels.leaky_relu_backward(out, relu_slope, g)
        rows = g.shape[1] * kh * kw
        cols = U.group_stack(U.im2col(g, kernel, stride, padding, (h, w), dilation,
                                      U.scratch("cols", (rows, h * w * n), g.dtype)), groups)
        gx, gw = tuning.side_by_side(
            (lambda: _like(U.gemm(w3, cols).reshape(in_channels, h, w, n)
                           .transpose(3, 0, 1, 2), x.data)) if x.requires_grad else None,
            (lambda: U.gemm(x3, _swap(cols)).reshape(weight.shape))
            if keep and weight.requires_grad else None, cols.size * in_channels // groups)
        if bias is None:
            return gx, gw
        return gx, gw, (kernels.channel_sum(g) if bias.requires_grad else None)

    parents = (x, weight) if bias is None else (x, weight, bias)
    return op(out if x.ndim == 4 else out[0], parents, backward, name=name)
