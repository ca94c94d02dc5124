"""One row of the f-GAN table as graph nodes: the ``Divergence`` class.

A row gives its forms as functions of backend arrays (``_f``, ``_conjugate``, ``_activation``,
``_composed`` = f*∘g_f, each with its derivative); ``Divergence`` turns each form and its
derivative into one differentiable node (``op`` of tensor.py, named "<row>.<method>", e.g.
"kl.conjugate_of_activation"), and reads the logit through the overflow guard
(``numerics.compress``) on the side where that form overflows (its ``Guard``), and nowhere
else.
"""

from __future__ import annotations

import math
from typing import NamedTuple

from .. import backend as B
from .. import numerics as N
from ..numerics import exponent_limit
from ..tensor import Tensor, op, tensor


class Interval(NamedTuple):
    """An interval of the real line; ``contains`` works elementwise on arrays and Tensors."""

    low: float
    high: float
    closed: bool = False

    def contains(self, x):
        x = x.data if isinstance(x, Tensor) else x
        if self.closed:
            return (self.low <= x) & (x <= self.high)
        return (self.low < x) & (x < self.high)


class Guard(NamedTuple):
    """Where one form of a row overflows: it grows like exp(x) with x = side·rate·v + shift
    (``side`` = 1: as v → +∞; −1: as v → −∞; ``shift`` is the largest constant its value
    or slope adds to the exponent). ``numerics.compress`` bends v there, and only there."""

    rate: float
    side: int = 1
    shift: float = 0.0

    def limit(self, dtype):
        """The logit where the bend begins (exact on its inner side)."""
        return self.side * (exponent_limit(dtype) - self.shift) / self.rate


def wright_omega(x):
    """Wright's omega ω(x) = W(eˣ) as a graph node; ω'(x) = ω/(1 + ω)."""
    x = x if isinstance(x, Tensor) else tensor(x)
    out = N.wright_omega(x.data)
    return op(out, (x,), lambda g: (g * out / (1 + out),), name="wright_omega")


def _vjp(data, value, slope, guard=None):
    """(y, vjp) for y = value(x) with dy/dx = slope(x), both array functions, on the array
    ``data``: y, and the function g ↦ g·dy/dx (which computes the slope when it is called,
    so a forward without backward never does). With a ``Guard`` both read the guarded
    logit s(x) and the slope is multiplied by s'(x): y = value(s(x)), dy/dx =
    slope(s(x)) s'(x)."""
    if guard is None:
        return value(data), lambda g: g * slope(data)
    s, ds = N.compress(data, guard.rate, guard.shift, guard.side)
    return value(s), lambda g: g * slope(s) * ds


def _node(x, value, slope, name, guard=None):
    """One graph node y = value(x) with dy/dx = slope(x) (``_vjp``)."""
    x = x if isinstance(x, Tensor) else tensor(x)
    out, vjp = _vjp(x.data, value, slope, guard)
    return op(out, (x,), lambda g: (vjp(g),), name=name)


class Divergence:
    """One row of the f-GAN table. Subclasses give the array forms ``_f, _f_prime,
    _conjugate, _f_prime_inverse, _activation, _activation_prime, _composed,
    _composed_prime``; this class turns them into differentiable Tensor methods. The
    activation defaults to the identity (see ``_activation``).

    Attributes: ``name``; ``spec`` (the string ``get`` takes back, e.g. "alpha(0.3)");
    ``conjugate_domain`` (dom f*; dom f is u > 0 for every row); ``exact_from`` (the
    closed-form f* is the true conjugate of f on u >= 0 for t >= exact_from);
    ``f_prime_at_1`` (the critic's threshold: T > f'(1) reads as "real"); ``f_at_1``;
    ``activation_guard`` and ``composed_guard`` (a ``Guard`` where that form overflows,
    else None) and ``logit_range(dtype)``, the logits where every form is exact.
    """

    name = ""
    conjugate_domain = Interval(-math.inf, math.inf)
    exact_from = -math.inf
    f_prime_at_1 = 0.0
    f_at_1 = 0.0
    activation_guard = None  # a Guard where g_f(v) or its slope overflows
    composed_guard = None  # a Guard where f*(g_f(v)) or its slope overflows

    @property
    def spec(self):
        return self.name

    def __repr__(self):
        return f"Divergence({self.spec})"

    def __eq__(self, other):
        return isinstance(other, Divergence) and self.spec == other.spec

    def __hash__(self):
        return hash(self.spec)

    @property
    def guards(self):
        return tuple(g for g in (self.activation_guard, self.composed_guard) if g is not None)

    @property
    def guarded(self):
        return bool(self.guards)

    def logit_range(self, dtype):
        """(low, high): the logits v for which g_f(v), f*(g_f(v)) and their slopes are
        exact in ``dtype``; beyond them the guard bends v, so a critic there is past what
        the dtype represents ((−inf, inf) for rows that never overflow)."""
        low = max([g.limit(dtype) for g in self.guards if g.side < 0], default=-math.inf)
        high = min([g.limit(dtype) for g in self.guards if g.side > 0], default=math.inf)
        return low, high

    # --- the Tensor methods: one graph node each ------------------------------------------

    def f(self, u):
        """The generator function f(u), convex with f(1) = 0 (−2 log 2 for gan)."""
        return _node(u, self._f, self._f_prime, f"{self.spec}.f")

    def conjugate(self, t):
        """f*(t) = sup_u (u t − f(u)) on dom f*; d f*/dt = (f')⁻¹(t)."""
        return _node(t, self._conjugate, self._f_prime_inverse, f"{self.spec}.conjugate")

    def activation(self, v):
        """g_f(v): the critic value T in dom f* for the logit v (increasing in v)."""
        return _node(v, self._activation, self._activation_prime,
                     f"{self.spec}.activation", self.activation_guard)

    def conjugate_of_activation(self, v):
        """f*(g_f(v)) in its stable form in the logit v."""
        return _node(v, self._composed, self._composed_prime,
                     f"{self.spec}.conjugate_of_activation", self.composed_guard)

    def activation_vjp(self, v):
        """(g_f(v), g ↦ g·g_f'(v)) on an array of logits v: the values and the
        vector-Jacobian product that ``activation`` records, for a node that takes g_f on
        its way (``gan.vdm_objective``)."""
        return _vjp(v, self._activation, self._activation_prime, self.activation_guard)

    def conjugate_of_activation_vjp(self, v):
        """(f*(g_f(v)), g ↦ g·(f*∘g_f)'(v)) on an array of logits v, as
        ``activation_vjp``."""
        return _vjp(v, self._composed, self._composed_prime, self.composed_guard)

    def f_prime(self, u):
        """f'(u), no graph (for checks; it is f's backward)."""
        u = u.data if isinstance(u, Tensor) else tensor(u).data
        return Tensor(self._f_prime(u))

    def f_prime_inverse(self, t):
        """(f')⁻¹(t) = (f*)'(t), the density ratio p/q a critic value t stands for; no
        graph (it is the conjugate's backward)."""
        t = t.data if isinstance(t, Tensor) else tensor(t).data
        return Tensor(self._f_prime_inverse(t))

    # --- the default activation: the identity ---------------------------------------------
    # Where dom f* is all of ℝ (kl, pearson, jeffrey) the critic's value is its logit,
    # g_f(v) = v, and f*(g_f(v)) is f*(v) itself. Rows with a bounded dom f* override all four.

    def _activation(self, v):
        return v + 0  # a new array: a node's output must not alias its input

    def _activation_prime(self, v):
        return B.xp.ones_like(v)

    def _composed(self, v):
        return self._conjugate(v)

    def _composed_prime(self, v):
        return self._f_prime_inverse(v)
