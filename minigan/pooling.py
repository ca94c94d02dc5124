"""Pooling over 2-D windows, as PyTorch's ``max_pool2d`` and ``avg_pool2d``.

Inputs are (N, C, H, W) or unbatched (C, H, W); a window of kh × kw moves by the stride
(default: the kernel size) over the input padded by ``padding`` on each side, so the output
side is ⌊(H + 2p − kh)/s⌋ + 1. Each of the kh·kw window offsets is one strided slice of the
padded input: the forward stacks them, and the backward adds the gradient back with one
strided slice-add per offset (as conv's col2im does), so overlapping windows add up.
"""

from __future__ import annotations

from . import backend as B
from .conv import as_pair
from .tensor import op

__all__ = ["max_pool2d", "avg_pool2d"]


def _geometry(name, x, kernel_size, stride, padding):
    """((kh, kw), (sh, sw), (ph, pw), (ho, wo)), or a ValueError naming the misfit."""
    if x.ndim not in (3, 4):
        raise ValueError(f"{name} needs a 4-D (N, C, H, W) or 3-D (C, H, W) input, got shape "
                         f"{tuple(x.shape)}")
    kernel = as_pair(kernel_size, "kernel_size", 1)
    steps = as_pair(kernel_size if stride is None else stride, "stride", 1)
    pads = as_pair(padding, "padding", 0)
    if pads[0] > kernel[0] // 2 or pads[1] > kernel[1] // 2:
        raise ValueError(f"{name}: padding should be at most half of the kernel size, got "
                         f"padding={padding} and kernel_size={kernel_size}")
    h, w = x.shape[-2:]
    out = tuple((n + 2 * p - k) // s + 1 for n, p, k, s in zip((h, w), pads, kernel, steps))
    if min(out) < 1:
        raise ValueError(f"{name}: an input of shape {tuple(x.shape)} is too small for "
                         f"kernel_size={kernel_size} with padding={padding}")
    return kernel, steps, pads, out


def _offsets(kernel, steps, out):
    """The index of each window offset (i, j): rows i, i + s, ..., columns likewise."""
    (kh, kw), (sh, sw), (ho, wo) = kernel, steps, out
    return [(Ellipsis, slice(i, i + sh * (ho - 1) + 1, sh), slice(j, j + sw * (wo - 1) + 1, sw))
            for i in range(kh) for j in range(kw)]


def _pad(data, pads, fill):
    ph, pw = pads
    if not (ph or pw):
        return data
    h, w = data.shape[-2:]
    padded = B.xp.full(data.shape[:-2] + (h + 2 * ph, w + 2 * pw), fill, dtype=data.dtype)
    padded[..., ph:ph + h, pw:pw + w] = data
    return padded


def _unpad(grad, pads, shape):
    ph, pw = pads
    return grad[..., ph:ph + shape[-2], pw:pw + shape[-1]] if ph or pw else grad


def max_pool2d(x, kernel_size, stride=None, padding=0):
    """The maximum over each window (padding counts as −∞); its gradient goes to the first
    maximum of each window (row by row), as in PyTorch, and adds up where windows overlap."""
    kernel, steps, pads, out = _geometry("max_pool2d", x, kernel_size, stride, padding)
    xp = B.xp
    padded = _pad(x.data, pads, float("-inf"))
    offsets = _offsets(kernel, steps, out)
    stacked = xp.stack([padded[index] for index in offsets])
    winner = stacked.argmax(axis=0)
    result = stacked.max(axis=0)

    def backward(g):
        grad = xp.zeros(padded.shape, dtype=g.dtype)
        zero = xp.zeros((), dtype=g.dtype)
        for k, index in enumerate(offsets):
            grad[index] += xp.where(winner == k, g, zero)
        return (_unpad(grad, pads, x.shape),)

    return op(result, (x,), backward, name="max_pool2d")


def avg_pool2d(x, kernel_size, stride=None, padding=0):
    """The mean over each window of kh·kw values, padding zeros included (PyTorch's
    default count_include_pad=True); d/dx adds g/(kh·kw) back into every window."""
    kernel, steps, pads, out = _geometry("avg_pool2d", x, kernel_size, stride, padding)
    xp = B.xp
    padded = _pad(x.data, pads, 0)
    offsets = _offsets(kernel, steps, out)
    count = kernel[0] * kernel[1]
    result = padded[offsets[0]].copy()
    for index in offsets[1:]:
        result += padded[index]
    result /= count

    def backward(g):
        grad = xp.zeros(padded.shape, dtype=g.dtype)
        share = g / count
        for index in offsets:
            grad[index] += share
        return (_unpad(grad, pads, x.shape),)

    return op(result, (x,), backward, name="avg_pool2d")
