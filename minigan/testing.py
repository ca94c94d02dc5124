"""Hypothesis strategies for writing gradient-check suites (public; needs hypothesis).

    from hypothesis import given
    from minigan.testing import arrays, broadcast_pairs

    @given(broadcast_pairs().flatmap(lambda s: arrays(s[0]).map(lambda a: (a, s))))
    ...

Arrays are host NumPy float64 arrays; wrap them with ``mg.tensor`` (which moves them to the
active backend). Elements are kept at least ``margin`` away from ``kinks`` (the points where
an op is not differentiable, e.g. 0 for relu/abs) so central differences stay valid.
"""

from __future__ import annotations

from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

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
