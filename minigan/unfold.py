"""The array side of the convolutions, in (C, H, W, N) memory (the batch innermost):
unfolding an input into GEMM columns (im2col) and folding columns back (col2im), the
transposed convolution by sub-pixel phases or by columns, the GEMM of group stacks, and
per-thread scratch buffers for the temporaries of one call. ``conv`` builds the
differentiable ops on them; why this layout and these methods:
benchmarks/results/speed-notes.md.

Every function takes NCHW arrays of any strides and returns NCHW views of contiguous
(C, H, W, N) arrays, so a convolution reads the output of the one before without a copy
(and NumPy's element-wise ops in between keep that memory order).
"""

from __future__ import annotations

import math
import threading

from . import backend as B
from . import tuning

SCRATCH_LIMIT = 1 << 26  # bytes: larger temporaries are allocated afresh


class _Scratch(threading.local):
    buffers: dict

    def __init__(self):
        self.buffers = {}


_scratch = _Scratch()


def scratch(slot, shape, dtype):
    """An uninitialised array of ``shape`` in this thread's reusable buffer ``slot``, for
    temporaries that never leave one convolution call: a training loop then does not
    page-fault fresh memory for them every step (why: benchmarks/results/speed-notes.md). Arrays
    over SCRATCH_LIMIT bytes are allocated afresh and not kept."""
    xp, size = B.xp, math.prod(shape)
    if size * B.xp.dtype(dtype).itemsize > SCRATCH_LIMIT:
        return xp.empty(shape, dtype=dtype)
    key = (slot, xp.__name__, B.xp.dtype(dtype).str)
    buffer = _scratch.buffers.get(key)
    if buffer is None or buffer.size < size:
        buffer = _scratch.buffers[key] = xp.empty(size, dtype=dtype)
    return buffer[:size].reshape(shape)


def pad_pairs(padding):
    """((top, bottom), (left, right)) from a pair of ints or a pair of such pairs."""
    return tuple((p, p) if isinstance(p, int) else (int(p[0]), int(p[1])) for p in padding)


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
    (pt, _), (pl, _) = pad_pairs(padding)
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
    (pt, pb), (pl, pr) = pad_pairs(padding)
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
    generator's image layer (why: benchmarks/results/speed-notes.md)."""
    method = (conv_transpose_phases if 2 * weight.shape[1] >= weight.shape[0] // groups
              else conv_transpose_columns)
    return method(x, weight, stride, padding, dilation, groups, out_size, bias)


def conv_transpose_columns(x, weight, stride, padding, dilation, groups, out_size, bias=None):
    """``conv_transpose_array`` as one GEMM per group into per-tap columns,
    Wᵀ(O/G·kh·kw, C/G) @ x(C/G, H·W·N), whose entries col2im adds onto their pixels."""
    source = chwn(x)
    c, h, w, n = source.shape
    kernel = weight.shape[2:]
    w3 = _swap(group_stack(weight.reshape(c, -1), groups))
    z = gemm(w3, group_stack(source.reshape(c, -1), groups),
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
            product = gemm(sub, stacked[:, :, start:start + length],
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


def gemm(a, b, out=None):
    """a @ b for (G, M, K) and (G, K, L) stacks, flattened to (G·M, L): one 2-D GEMM when
    G = 1, one per group otherwise; into the contiguous (G, M, L) ``out`` when given."""
    tuning.fit_blas_threads(a.size * b.shape[-1])
    if a.shape[0] == 1:
        product = B.xp.matmul(a[0], b[0], out=None if out is None else out[0])
    else:
        product = B.xp.matmul(a, b, out=out)
    return product.reshape(-1, product.shape[-1])


def group_stack(a, groups):
    """(G·M, K) -> (G, M, K)."""
    return a.reshape(groups, a.shape[0] // groups, -1)


def _swap(a):
    return a.swapaxes(1, 2)
