"""The f-divergence family of f-GAN (Nowozin, Cseke, Tomioka 2016, Tables 1 and 2).

``D_f(P||Q) = E_Q[f(p/q)] >= sup_T E_P[T] − E_Q[f*(T)]``, tight at ``T* = f'(p/q)``, with the
critic ``T = g_f(V)`` for an unconstrained logit V. Each divergence gives, as Tensors in and
out (one graph node each, closed-form backward):

- ``f(u)`` and its derivative ``f_prime(u)``, on dom f = (0, ∞);
- ``conjugate(t)``, f*, whose derivative is ``f_prime_inverse(t)`` = (f')⁻¹(t), the density
  ratio p/q that a critic value t stands for;
- ``activation(v)``, g_f (the lecture's σ_f), increasing from ℝ onto dom f*;
- ``conjugate_of_activation(v)``, f*(g_f(v)) written in the logit v so that it stays finite
  (the naive composition is inf once g_f(v) rounds onto the edge of dom f*).

Overflow guard: where a form (g_f, f*(g_f) or their slopes) grows like exp(r|v|) on one side
(kl, jeffrey and alpha with 0 < α < 1 as v → +∞; reverse_kl, neyman and squared_hellinger's
activation as v → −∞, squared_hellinger's f*(g_f) as v → +∞), that form reads the logit
through the guarded logit s(v) of ``numerics.compress`` on that side only, described by the
row's ``Guard``: the exact value wherever its exponent stays below
c = ``numerics.exponent_limit(dtype)`` (82.2 in float32, 701.2 in float64), bent beyond so
that values and gradients stay finite and keep their sign. The other side, and every form
that does not overflow, is exact. ``Divergence.logit_range(dtype)`` gives the logits where
every form of a row is exact; a critic beyond them is past what the dtype represents.

Layout: ``row.py`` is what a row is (the ``Divergence`` class, which turns a row's array
forms into graph nodes, and the ``Guard``); ``table.py`` holds the rows of Table 2 without a
parameter and ``parametric.py`` js_weighted and the two alpha rows (α < 1, α > 1), written
with the stable primitives of ``numerics``; this file names them (``NAMES``) and builds one
from its name (``get``).
"""

from __future__ import annotations

import re

from .parametric import Alpha, AlphaAboveOne, JSWeighted
from .row import Divergence, Guard, Interval, wright_omega
from .table import (
    GAN,
    KL,
    LOG2,
    Jeffrey,
    JensenShannon,
    Neyman,
    Pearson,
    ReverseKL,
    SquaredHellinger,
    TotalVariation,
)

__all__ = ["NAMES", "get", "Divergence", "Guard", "Interval", "wright_omega", "LOG2",
           "TotalVariation", "KL", "ReverseKL", "Pearson", "Neyman", "SquaredHellinger",
           "Jeffrey", "JensenShannon", "GAN", "JSWeighted", "Alpha", "AlphaAboveOne"]

_FAMILY = {cls.name: cls for cls in (TotalVariation, KL, ReverseKL, Pearson, Neyman,
                                     SquaredHellinger, Jeffrey, JensenShannon, GAN,
                                     JSWeighted, Alpha)}
NAMES = tuple(_FAMILY)
_SPEC = re.compile(r"^\s*(\w+)\s*\(\s*([^()]*?)\s*\)\s*$")


def get(name, **params):
    """The divergence called ``name``, e.g. get("kl"), get("alpha", alpha=0.3), or the
    string forms get("alpha(0.3)"), get("alpha(1.5)"), get("js_weighted(0.2)"). A Divergence
    is returned as is. Unknown names raise ValueError listing NAMES."""
    if isinstance(name, Divergence):
        if params:
            raise ValueError(f"get() got parameters {params} with a ready {name!r}")
        return name
    match = _SPEC.match(name) if isinstance(name, str) else None
    args = ()
    if match:
        name, argument = match.groups()
        try:
            args = (float(argument),) if argument else ()
        except ValueError:
            raise ValueError(f"divergence {name!r} takes one number in parentheses, e.g. "
                             f"{name}(0.3), not {argument!r}") from None
    cls = _FAMILY.get(name)
    if cls is None:
        raise ValueError(f"unknown divergence {name!r}; choose one of: {', '.join(NAMES)}")
    try:
        return cls(*args, **params)
    except TypeError as err:
        raise ValueError(f"divergence {name!r} does not take parameters {args or params} "
                         f"({err})") from err
