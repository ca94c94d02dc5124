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

import math
import threading

from . import backend as B
from .tensor import is_grad_enabled as _grad_enabled
from .tensor import op

SCRATCH_LIMIT = 1 << 26  # bytes: larger temporaries are allocated afresh


class _Scratch(threading.local):
    buffers: dict

    def __init__(self):
        self.buffers = {}


_scratch = _Scratch()


def scratch(slot, shape, dtype):
    """An uninitialised array of ``shape`` in this thread's reusable buffer ``slot``, for
    temporaries that never leave one convolution call: a training loop then does not
    page-fault fresh memory for them every step (why: benchmarks/results/conv.md). Arrays
    over SCRATCH_LIMIT bytes are allocated afresh and not kept."""
    xp, size = B.xp, math.prod(shape)
    if size * B.xp.dtype(dtype).itemsize > SCRATCH_LIMIT:
        return xp.empty(shape, dtype=dtype)
    key = (slot, xp.__name__, B.xp.dtype(dtype).str)
    buffer = _scratch.buffers.get(key)
    if buffer is None or buffer.size < size:
        buffer = _scratch.buffers[key] = xp.empty(size, dtype=dtype)
    return buffer[:size].reshape(shape)


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


def chwn(x):
    """The NCHW array ``x`` as a contiguous (C, H, W, N) array: free when ``x`` already is
    a view of one (as every convolution returns), one transposing copy otherwise."""
    return B.xp.ascontiguousarray(x.transpose(1, 2, 3, 0))


def _valid(count, step, offset, size):
    """[lo, hi): the a in [0, count) with 0 <= step·a + offset < size."""
    lo = min(count, -(offset // step)) if offset < 0 else 0
    hi = min(count, (size - 1 - offset) // step + 1) if offset < size else 0
    return lo, max(lo, hi)


def im2col(x, kernel, stride, padding, out_size, dilation=(1, 1), out=None):
    """The contiguous (C·kh·kw, Ho·Wo·N) column matrix of the NCHW array ``x``:
    cols[(c, i, j), (ho, wo, n)] = x_pad[n, c, sh·ho + dh·i, sw·wo + dw·j]. ``kernel``,
    ``stride``, ``dilation`` and the output size ``out_size`` are pairs (rows, columns);
    ``padding`` a pair, or a pair of (before, after) pairs; written into ``out`` when given.
    Copied tap by tap from x itself, one strided block each (the zero padding is never
    built)."""
    xp = B.xp
    (kh, kw), (sh, sw), (dh, dw), (ho, wo) = kernel, stride, dilation, out_size
    (pt, _), (pl, _) = _pads(padding)
    source = chwn(x)
    c, h, w, n = source.shape
    cols = xp.empty((c, kh, kw, ho, wo, n), dtype=x.dtype) if out is None else \
        out.reshape(c, kh, kw, ho, wo, n)
    if not (pt or pl) and sh * (ho - 1) + dh * (kh - 1) < h and sw * (wo - 1) + dw * (kw - 1) < w:
        s_c, s_h, s_w, s_n = source.strides  # every window inside x: one strided copy
        xp.copyto(cols, xp.lib.stride_tricks.as_strided(
            source, shape=(c, kh, kw, ho, wo, n),
            strides=(s_c, s_h * dh, s_w * dw, s_h * sh, s_w * sw, s_n)))
        return cols.reshape(c * kh * kw, ho * wo * n)
    for i in range(kh):
        a0, a1 = _valid(ho, sh, dh * i - pt, h)
        for j in range(kw):
            b0, b1 = _valid(wo, sw, dw * j - pl, w)
            tap = cols[:, i, j]
            if a0 == a1 or b0 == b1:
                tap[...] = 0
                continue
            r0, c0 = sh * a0 + dh * i - pt, sw * b0 + dw * j - pl
            tap[:, a0:a1, b0:b1] = source[:, r0:r0 + sh * (a1 - a0 - 1) + 1:sh,
                                          c0:c0 + sw * (b1 - b0 - 1) + 1:sw]
            for region in ((slice(None, a0),), (slice(a1, None),),
                           (slice(a0, a1), slice(None, b0)), (slice(a0, a1), slice(b1, None))):
                tap[(slice(None),) + region] = 0
    return cols.reshape(c * kh * kw, ho * wo * n)


def col2im(cols, shape, kernel, stride, padding, bias=None, dilation=(1, 1), out_size=None):
    """The adjoint of im2col: add each column entry back onto its input pixel, giving an
    NCHW view of a contiguous (C, H, W, N) array of ``shape`` (plus ``bias`` per channel),
    so that <im2col(x), cols> = <x, col2im(cols)>. ``out_size`` is im2col's (Ho, Wo), by
    default the largest that fits."""
    xp = B.xp
    n, c, h, w = shape
    (kh, kw), (sh, sw), (dh, dw) = kernel, stride, dilation
    (pt, pb), (pl, pr) = _pads(padding)
    if out_size is None:
        out_size = ((h + pt + pb - dh * (kh - 1) - 1) // sh + 1,
                    (w + pl + pr - dw * (kw - 1) - 1) // sw + 1)
    ho, wo = out_size
    cols = cols.reshape(c, kh, kw, ho, wo, n)
    padded = scratch("canvas", (c, h + pt + pb, w + pl + pr, n), cols.dtype)
    padded.fill(0)
    for i in range(kh):
        for j in range(kw):
            padded[:, dh * i:dh * i + sh * (ho - 1) + 1:sh,
                   dw * j:dw * j + sw * (wo - 1) + 1:sw] += cols[:, i, j]
    out = xp.empty((c, h, w, n), dtype=cols.dtype)
    xp.add(padded[:, pt:pt + h, pl:pl + w], 0 if bias is None else bias.reshape(c, 1, 1, 1),
           out=out)
    return out.transpose(3, 0, 1, 2)


def conv_transpose_array(x, weight, stride, padding, dilation, groups, out_size, bias=None):
    """The transposed convolution y[n, o, s·h + d·i − p, s·w + d·j − q] += w[c, o, i, j]
    x[n, c, h, w] of arrays (the adjoint of conv2d in its input): ``x`` NCHW (any
    strides), ``weight`` (C, O/G, kh, kw), ``padding`` the (top, left) padding, ``out_size``
    (T_h, T_w); returns an NCHW view of a contiguous (O, T_h, T_w, N) array. By sub-pixel
    phases when the output has at least half as many channels as the input, otherwise by
    per-tap columns and col2im, which moves less memory for thin outputs such as a
    generator's image layer (why: benchmarks/results/conv.md)."""
    method = (conv_transpose_phases if 2 * weight.shape[1] >= weight.shape[0] // groups
              else conv_transpose_columns)
    return method(x, weight, stride, padding, dilation, groups, out_size, bias)


def conv_transpose_columns(x, weight, stride, padding, dilation, groups, out_size, bias=None):
    """``conv_transpose_array`` as one GEMM per group into per-tap columns,
    Wᵀ(O/G·kh·kw, C/G) @ x(C/G, H·W·N), whose entries col2im adds onto their pixels."""
    source = chwn(x)
    c, h, w, n = source.shape
    kernel = weight.shape[2:]
    w3 = _t(_stack(weight.reshape(c, -1), groups))
    z = _mm(w3, _stack(source.reshape(c, -1), groups),
            scratch("columns", (groups, w3.shape[1], h * w * n), x.dtype))
    after = [max(0, s * (side - 1) + d * (k - 1) + 1 - p - t) for s, side, d, k, p, t in
             zip(stride, (h, w), dilation, kernel, padding, out_size)]
    return col2im(z, (n, weight.shape[1] * groups, *out_size), kernel, stride,
                  tuple(zip(padding, after)), bias, dilation, (h, w))


def _phases(kernel, stride, dilation, before, size_in, size_out):
    """The sub-pixel phases of one axis of a transposed convolution, out[t] = Σ w[i] x[h]
    over s·h + d·i − p = t: for each ρ < s, the number of outputs t = s·a + ρ and the taps
    (i, e) with out[s·a + ρ] = Σ w[i] x[a − e], e = (d·i − ρ − p)/s, leaving out the taps
    that only ever read outside x."""
    phases = []
    for rho in range(stride):
        count = max(0, (size_out - rho + stride - 1) // stride)
        taps = [(i, (dilation * i - rho - before) // stride) for i in range(kernel)
                if (dilation * i - rho - before) % stride == 0]
        taps = [(i, e) for i, e in taps if count and -e < size_in and e < count]
        phases.append((rho, count, taps))
    return phases


def conv_transpose_phases(x, weight, stride, padding, dilation, groups, out_size, bias=None):
    """``conv_transpose_array`` by sub-pixel phases instead of col2im's overlapping adds:
    the outputs of one phase (t ≡ ρ mod s on both axes) form a stride-1 correlation of x
    with the taps that land on them. Along the width those taps are stacked into the GEMM's
    contraction (a (taps·C, rows·count·N) matrix, copied once per width phase); along the
    height a tap is a column offset into it, and the taps of all row phases that read the
    same offset share one GEMM (their weights stacked as its rows); each phase's products
    are summed straight into its pixels of the output."""
    xp = B.xp
    source = chwn(x)
    c, h, w, n = source.shape
    o_group, (kh, kw) = weight.shape[1], weight.shape[2:]
    c_group, out_channels = c // groups, weight.shape[1] * groups
    rows = _phases(kh, stride[0], dilation[0], padding[0], h, out_size[0])
    columns = _phases(kw, stride[1], dilation[1], padding[1], w, out_size[1])
    reach = [(-e, count - 1 - e) for _, count, taps in rows for _, e in taps] or [(0, 0)]
    u_min = min(lo for lo, _ in reach)
    height = max(hi for _, hi in reach) - u_min + 1
    h0, h1 = _valid(height, 1, u_min, h)
    by_offset = {}  # input row offset -> the (row phase, its output rows, kernel row) reading it
    for rho_h, count_h, taps_h in rows:
        for i, e in taps_h:
            by_offset.setdefault(-e - u_min, []).append((rho_h, count_h, i))
    w5 = weight.reshape(groups, c_group, o_group, kh, kw)
    groups_x = source.reshape(groups, c_group, h, w, n)
    y = xp.empty((out_channels, *out_size, n), dtype=x.dtype)
    y5 = y.reshape(groups, o_group, *out_size, n)
    fill = 0 if bias is None else bias.reshape(groups, o_group, 1, 1, 1)
    for rho_w, count_w, taps_w in columns:
        if not taps_w:
            y5[:, :, :, rho_w::stride[1]] = fill
            continue
        # stacked[g, jj, cg, u, b, n] = x[n, g·Cg + cg, u + u_min, b − e_jj], zero outside x
        stacked = scratch("stacked", (groups, len(taps_w), c_group, height, count_w, n), x.dtype)
        for jj, (_, e) in enumerate(taps_w):
            b0, b1 = _valid(count_w, 1, -e, w)
            tap = stacked[:, jj]
            tap[:, :, :h0] = tap[:, :, h1:] = 0
            tap[:, :, h0:h1, :b0] = tap[:, :, h0:h1, b1:] = 0
            tap[:, :, h0:h1, b0:b1] = groups_x[:, :, h0 + u_min:h1 + u_min, b0 - e:b1 - e]
        stacked = stacked.reshape(groups, len(taps_w) * c_group, height * count_w * n)
        parts = {}  # row phase -> its products, (G, Og, count_h, count_w, N) views
        sizes = [len(readers) * max(count_h for _, count_h, _ in readers) for readers in
                 by_offset.values()]
        products = scratch("products", (groups * o_group * count_w * n * sum(sizes),), x.dtype)
        used = 0
        for offset, readers in sorted(by_offset.items()):
            sub = w5[:, :, :, [i for _, _, i in readers]][..., [j for j, _ in taps_w]]
            sub = sub.transpose(0, 3, 2, 4, 1).reshape(groups, -1, len(taps_w) * c_group)
            count = max(count_h for _, count_h, _ in readers)
            start, length = offset * count_w * n, count * count_w * n
            size = groups * len(readers) * o_group * length
            product = _mm(sub, stacked[:, :, start:start + length],
                          products[used:used + size].reshape(groups, -1, length))
            used += size
            product = product.reshape(groups, len(readers), o_group, count, count_w, n)
            for k, (rho_h, count_h, _) in enumerate(readers):
                parts.setdefault(rho_h, []).append(product[:, k, :, :count_h])
        for rho_h, _, _ in rows:
            target = y5[:, :, rho_h::stride[0], rho_w::stride[1]]
            terms = parts.get(rho_h, [])
            if not terms:
                target[...] = fill
                continue
            first = terms[0]
            for term in terms[1:-1]:
                first += term
            if bias is not None:
                first += fill
            if len(terms) > 1:
                xp.add(first, terms[-1], out=target)
            else:
                xp.copyto(target, first)
    return y.transpose(3, 0, 1, 2)


def _mm(a, b, out=None):
    """a @ b for (G, M, K) and (G, K, L) stacks, flattened to (G·M, L): one 2-D GEMM when
    G = 1, one per group otherwise; into the contiguous (G, M, L) ``out`` when given."""
    if a.shape[0] == 1:
        product = B.xp.matmul(a[0], b[0], out=None if out is None else out[0])
    else:
        product = B.xp.matmul(a, b, out=out)
    return product.reshape(-1, product.shape[-1])


def _stack(a, groups):
    """(G·M, K) -> (G, M, K)."""
    return a.reshape(groups, a.shape[0] // groups, -1)


def _t(a):
    return a.swapaxes(1, 2)


def _like(gx, x):
    """The NCHW view ``gx`` reshaped to ``x`` and in its memory layout: kept as it is for an
    x of (C, H, W, N) memory, copied to C order otherwise, so that the ops before a
    convolution meet one layout in their backward too."""
    gx = gx.reshape(x.shape)
    return gx if gx.flags.c_contiguous or not x.flags.c_contiguous else B.xp.ascontiguousarray(gx)


def _batched(g):
    return g if g.ndim == 4 else g.reshape(1, *g.shape)


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
    keep = weight.requires_grad and _grad_enabled()  # only the weight gradient needs cols
    rows = xd.shape[1] * kh * kw
    cols = _stack(im2col(xd, kernel, stride, pads, (ho, wo), dilation,
                         None if keep else scratch("cols", (rows, ho * wo * n), xd.dtype)),
                  groups)
    w3 = _stack(weight.data.reshape(out_channels, -1), groups)
    out = _mm(w3, cols).reshape(out_channels, ho, wo, n)
    if bias is not None:
        out += bias.data.reshape(-1, 1, 1, 1)
    out = out.transpose(3, 0, 1, 2)  # NCHW view of (O, Ho, Wo, N)
    cols = cols if keep else None
    before = pads[0][0], pads[1][0]

    def backward(g):
        g = _batched(g)
        g2 = chwn(g).reshape(out_channels, -1)
        gx = gw = None
        if x.requires_grad:
            gx = _like(conv_transpose_array(g, weight.data, stride, before, dilation, groups,
                                            (h, w)), x.data)
        if weight.requires_grad:
            gw = _mm(_stack(g2, groups), _t(cols)).reshape(weight.shape)
        if bias is None:
            return gx, gw
        return gx, gw, (g2.sum(axis=1) if bias.requires_grad else None)

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
    out = conv_transpose_array(xd, weight.data, stride, padding, dilation, groups,
                                (out_h, out_w), None if bias is None else bias.data)
    x3 = _stack(chwn(xd).reshape(in_channels, -1), groups) if weight.requires_grad else None
    w3 = _stack(weight.data.reshape(in_channels, -1), groups)

    def backward(g):
        g = _batched(g)
        rows = g.shape[1] * kh * kw
        cols = _stack(im2col(g, kernel, stride, padding, (h, w), dilation,
                             scratch("cols", (rows, h * w * n), g.dtype)), groups)
        gx = gw = None
        if x.requires_grad:
            gx = _like(_mm(w3, cols).reshape(in_channels, h, w, n).transpose(3, 0, 1, 2),
                       x.data)
        if weight.requires_grad:
            gw = _mm(x3, _t(cols)).reshape(weight.shape)
        if bias is None:
            return gx, gw
        return gx, gw, (g.sum(axis=(0, 2, 3)) if bias.requires_grad else None)

    parents = (x, weight) if bias is None else (x, weight, bias)
    return op(out if x.ndim == 4 else out[0], parents, backward, name="conv_transpose2d")
