"""Finite-difference gradient checking along random directions (after HIPS autograd).

For a function ``y = fn(*inputs)``, a random cotangent ``c`` and, per input ``x``, a random
unit direction ``u``, the analytic directional derivative ``<grad_x <c, y>, u>`` from
backward must match the central difference
``(<c, fn(x + εu)> − <c, fn(x − εu)>) / 2ε``, computed in float64.
"""

from __future__ import annotations

from . import backend as B
from .tensor import GradientShapeError, Tensor, no_grad


class GradcheckError(AssertionError):
    """An analytic gradient disagrees with finite differences."""


def _inner(a, b):
    return float((a * b).sum())


def gradcheck(fn, inputs, eps=1e-6, atol=1e-5, rtol=1e-3, n_directions=2, seed=0):
    """Check the backward of ``fn`` at ``inputs`` (Tensors, which may also be parameters
    that ``fn`` reads itself). Returns True, or raises ``GradcheckError`` naming the input,
    the analytic and the numerical value.

    Inputs are switched to float64 for the check and restored afterwards.
    """
    inputs = list(inputs)
    if not all(isinstance(t, Tensor) for t in inputs):
        raise TypeError("gradcheck() inputs must be Tensors")
    xp = B.xp
    rng = B.generator() if seed is None else B.new_generator(seed)
    saved = [(t.data, t.grad, t.requires_grad) for t in inputs]
    try:
        for t in inputs:
            t.data, t.grad, t.requires_grad = t.data.astype(xp.float64), None, True
        out = fn(*inputs)
        if not isinstance(out, Tensor):
            raise TypeError("gradcheck() fn must return a Tensor")
        if out.dtype != xp.float64:
            raise GradcheckError(f"fn returned {out.dtype}; with float64 inputs it must "
                                 "return float64 (a constant is forcing a lower precision)")
        for _ in range(n_directions):
            cotangent = B.to_device(rng.standard_normal(out.shape))
            for t in inputs:
                t.grad = None
            try:
                out.backward(cotangent, retain_graph=True)
            except GradientShapeError as err:
                raise GradcheckError(str(err)) from err
            for i, t in enumerate(inputs):
                analytic_grad = t.grad if t.grad is not None else xp.zeros_like(t.data)
                direction = B.to_device(rng.standard_normal(t.shape))
                direction /= max(float(xp.sqrt((direction * direction).sum())), 1e-12)
                analytic = _inner(analytic_grad, direction)
                center = t.data
                with no_grad():
                    t.data = center + eps * direction
                    plus = _inner(cotangent, fn(*inputs).data)
                    t.data = center - eps * direction
                    minus = _inner(cotangent, fn(*inputs).data)
                t.data = center
                numerical = (plus - minus) / (2 * eps)
                if not abs(analytic - numerical) <= atol + rtol * abs(numerical):
                    raise GradcheckError(
                        f"input {i} (shape {t.shape}): analytic directional derivative "
                        f"{analytic:.10g} != numerical {numerical:.10g} "
                        f"(difference {abs(analytic - numerical):.3g})")
    finally:
        for t, (data, grad, requires_grad) in zip(inputs, saved):
            t.data, t.grad, t.requires_grad = data, grad, requires_grad
    return True
