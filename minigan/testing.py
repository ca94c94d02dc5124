"""Hypothesis strategies and helpers for gradient-check suites (public; needs hypothesis).

A complete test of a new op, its gradient checked on drawn inputs, and a planted wrong
backward caught (run it with pytest)::

    import pytest
    from hypothesis import given

    import minigan as mg
    from minigan.testing import tensors

    def cube(x, slope=3):  # x³, d/dx = 3x²; any other slope is a wrong backward
        return mg.op(x.data ** 3, (x,), lambda g: (g * slope * x.data ** 2,), name="cube")

    @given(x=tensors(low=0.5, high=3.0))
    def test_cube(x):
        assert mg.gradcheck(cube, [x])
        with pytest.raises(mg.GradcheckError):
            mg.gradcheck(lambda t: cube(t, slope=2), [x])

Arrays are host NumPy float64 arrays; wrap them with ``mg.tensor`` (which moves them to the
active backend). Elements are kept at least ``margin`` away from ``kinks`` (the points where
an op is not differentiable, e.g. 0 for relu/abs) so central differences stay valid.

For layers: ``check_module_gradients(module, x)`` checks a module's gradients with respect
to its input and all its parameters at once, ``randomize_parameters(module, seed)`` moves
every parameter (and batch-norm statistic) off its initial value first, and
``default_dtype("float64")`` builds the module in float64.
"""

from __future__ import annotations

from contextlib import contextmanager

from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from . import backend as B
from .gradcheck import GradcheckError, gradcheck
from .tensor import tensor


def shapes(min_dims=0, max_dims=4, min_side=1, max_side=5):
    """Array shapes, scalars (``()``) included when ``min_dims`` is 0."""
    return hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=min_side,
                            max_side=max_side)


def broadcast_pairs(min_dims=0, max_dims=4, min_side=1, max_side=4):
    """Pairs of mutually broadcastable shapes, with size-1 axes and extra leading axes on
    either side."""
    return hnp.mutually_broadcastable_shapes(
        num_shapes=2, min_dims=min_dims, max_dims=max_dims, min_side=min_side,
        max_side=max_side,
    ).map(lambda b: tuple(b.input_shapes))


def _away_from(value, kinks, margin):
    for kink in kinks:
        if abs(value - kink) < margin:
            value = kink + (margin if value >= kink else -margin)
    return value


def arrays(shape, low=-3.0, high=3.0, kinks=(), margin=0.1, dtype="float64"):
    """Arrays of ``shape`` with elements in [low, high], at least ``margin`` from every kink."""
    elements = st.floats(low, high, allow_nan=False, allow_infinity=False, width=64)
    if kinks:
        # the shift off one kink can land near another kink closer than 2·margin, or past
        # low/high for a kink near the ends: the filter drops those rare values
        elements = elements.map(lambda v: _away_from(v, kinks, margin)).filter(
            lambda v: low <= v <= high and all(abs(v - k) >= margin for k in kinks))
    return hnp.arrays(dtype, shape, elements=elements)


def positive_arrays(shape, low=0.2, high=3.0, dtype="float64"):
    """Arrays with elements in [low, high] (for log, sqrt, division, powers)."""
    return arrays(shape, low, high, dtype=dtype)


def tensors(shape=None, low=-3.0, high=3.0, kinks=(), margin=0.1, requires_grad=True):
    """Leaf Tensors (float64) of a given or drawn shape, ready for ``mg.gradcheck``."""
    shape_strategy = shapes() if shape is None else st.just(shape)
    return shape_strategy.flatmap(
        lambda s: arrays(s, low, high, kinks, margin)
    ).map(lambda a: tensor(a, requires_grad=requires_grad))


# --- layers -----------------------------------------------------------------------------


def check_module_gradients(module, *inputs, **gradcheck_options):
    """``mg.gradcheck`` of ``module(*inputs)`` with respect to the inputs and every
    parameter of ``module`` at once; True, or ``GradcheckError`` naming the failing input
    (numbered inputs first, then the parameters in ``named_parameters()`` order).

    The module's mode is used as it is (``train()`` or ``eval()``); build it in float64
    (``default_dtype``) so its buffers are float64 too. Options go to ``mg.gradcheck``.
    """
    count = len(inputs)
    labels = [f"module input {i}" for i in range(count)]
    labels += [name for name, _ in module.named_parameters()]
    try:
        return gradcheck(lambda *ts: module(*ts[:count]), [*inputs, *module.parameters()],
                         **gradcheck_options)
    except GradcheckError as err:
        legend = "; ".join(f"input {i}: {label}" for i, label in enumerate(labels))
        raise GradcheckError(f"{type(module).__name__}: {err} ({legend})") from err


def randomize_parameters(module, seed=0, low=-1.5, high=1.5):
    """Overwrite, in place, every parameter of ``module`` with U(low, high) samples, and
    the running statistics of its batch-norm layers with running_mean ~ U(−1, 1) and
    running_var ~ U(0.3, 2), so a check sees no w = 1, b = 0. ``seed`` is an int or a
    NumPy Generator; the global seed is left alone. Returns ``module``."""
    rng = B.new_generator(seed)

    def fill(array, lo, hi):
        array[...] = B.to_device(rng.uniform(lo, hi, array.shape), dtype=array.dtype)

    for p in module.parameters():
        fill(p.data, low, high)
    for m in module.modules():
        if hasattr(m, "running_mean") and hasattr(m, "running_var"):
            fill(m.running_mean, -1.0, 1.0)
            fill(m.running_var, 0.3, 2.0)
    return module


@contextmanager
def default_dtype(dtype):
    """Within the block, new tensors and layers default to ``dtype`` (e.g. "float64" for
    gradient checks); the previous default is restored afterwards."""
    previous = B.default_dtype
    B.set_default_dtype(dtype)
    try:
        yield
    finally:
        B.set_default_dtype(previous)
