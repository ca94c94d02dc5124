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

Overflow guard: where a form grows like exp(r|v|) (kl, reverse_kl, neyman, squared_hellinger,
jeffrey with r = 1; alpha with 0 < α < 1, r = α/(1 − α)), ``activation`` and
``conjugate_of_activation`` read the logit through the guarded logit s(v) of
``numerics.compress``: unchanged for r|v| <= c = ``numerics.exponent_limit(dtype)`` (68.7 in
float32, 689.8 in float64; alpha also takes off the constant its exponents carry), where the
density ratio is e^68 or more, and bent beyond so that values and gradients stay finite, keep
their sign, and still agree with ``conjugate(activation(v))``.

Layout: ``row.py`` is what a row is (the ``Divergence`` class, which turns a row's array
forms into graph nodes); ``table.py`` holds the rows, written with the stable primitives of
``numerics``; this file names them (``NAMES``) and builds one from its name (``get``).
"""

from __future__ import annotations

import re

from .row import Divergence, Interval, wright_omega
from .table import (
    GAN,
    KL,
    LOG2,
    Alpha,
    Jeffrey,
    JensenShannon,
    JSWeighted,
    Neyman,
    Pearson,
    ReverseKL,
    SquaredHellinger,
    TotalVariation,
)

__all__ = ["NAMES", "get", "Divergence", "Interval", "wright_omega", "LOG2", "TotalVariation",
           "KL", "ReverseKL", "Pearson", "Neyman", "SquaredHellinger", "Jeffrey",
           "JensenShannon", "GAN", "JSWeighted", "Alpha"]

_FAMILY = {cls.name: cls for cls in (TotalVariation, KL, ReverseKL, Pearson, Neyman,
                                     SquaredHellinger, Jeffrey, JensenShannon, GAN,
                                     JSWeighted, Alpha)}
NAMES = tuple(_FAMILY)
_SPEC = re.compile(r"^\s*(\w+)\s*\(\s*([^()]*?)\s*\)\s*$")


def get(name, **params):
    """The divergence called ``name``, e.g. get("kl"), get("alpha", alpha=0.3), or the
    string forms get("alpha(0.3)"), get("js_weighted(0.2)"). A Divergence is returned as is.
    Unknown names raise ValueError listing NAMES."""
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
