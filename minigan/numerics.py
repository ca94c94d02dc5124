"""Numerically stable primitives on backend arrays, shared by the ops and the divergences.

Arrays in, arrays out, no graph: the differentiable ops (``functional``) and the divergence
table (``divergences``) build their nodes on these. Each works through ``xp`` in float32 and
float64 and stays finite where the textbook formula overflows or cancels:

- ``sigmoid(v)`` = 1/(1 + e^−v) and ``softplus(v)`` = log(1 + eᵛ), both through e^−|v|;
- ``log_softplus(x)`` = log log(1 + eˣ) and ``log1mexp_of_log(log a)`` = log(1 − e^−a), which
  switch to their series where the exact form would underflow;
- ``xlogx(u)`` = u log u, with its limit 0 at u = 0;
- ``wright_omega(x)`` = ω(x) = W(eˣ), the root of w + log w = x;
- ``exponent_limit(dtype)`` and ``compress(v, rate, shift, side)``: the overflow guard, which
  bends a logit v on the one side where exp(±r·v) would overflow, and nowhere else (the
  guarded logit s(v) of ``compress``).
"""

from __future__ import annotations

import math

from . import backend as B

# below x = −20, log log(1 + eˣ) = x − eˣ/2 and log(1 − e^−a) = log a − a/2 (a = eˣ) to
# double precision
_SERIES_BELOW = -20.0


def sigmoid(v):
    """σ(v) = 1/(1 + e^−v), evaluated with e^−|v| so nothing overflows."""
    xp = B.xp
    e = xp.exp(-xp.abs(v))
    return xp.where(v >= 0, 1, e) / (1 + e)


def softplus(v):
    """softplus(v) = log(1 + eᵛ) = max(v, 0) + log(1 + e^−|v|), finite for every v."""
    xp = B.xp
    return xp.maximum(v, 0) + xp.log1p(xp.exp(-xp.abs(v)))


def log_softplus(x):
    """log(softplus(x)) = log log(1 + eˣ), finite for every x (≈ x − eˣ/2 for x → −∞)."""
    xp = B.xp
    series = x - 0.5 * xp.exp(xp.minimum(x, _SERIES_BELOW))
    return xp.where(x < _SERIES_BELOW, series, xp.log(softplus(xp.maximum(x, _SERIES_BELOW))))


def log1mexp_of_log(log_a):
    """log(1 − e^−a) for a = exp(log_a) > 0, from its log, finite even where a underflows
    (≈ log a − a/2 for a → 0)."""
    xp = B.xp
    a = xp.exp(log_a)
    exact = xp.log(-xp.expm1(-xp.maximum(a, math.exp(_SERIES_BELOW))))
    return xp.where(log_a < _SERIES_BELOW, log_a - 0.5 * a, exact)


def xlogx(u):
    """u log u, with its limit 0 at u = 0."""
    xp = B.xp
    return xp.where(u > 0, u * xp.log(xp.where(u > 0, u, 1)), 0)


def wright_omega(x):
    """ω(x) = W(eˣ), the root of w + log w = x, by Newton's method from Winitzki's
    approximation W(z) ≈ L(1 − log(1 + L)/(2 + L)), L = log(1 + z), which is within 2% for
    every x; four Newton steps reach full float64 precision. Below log(eps), ω(x) = eˣ."""
    xp = B.xp
    floor = math.log(float(xp.finfo(x.dtype).eps))
    xc = xp.maximum(x, floor)
    log1pz = softplus(xc)
    w = log1pz * (1 - xp.log1p(log1pz) / (2 + log1pz))
    for _ in range(4):
        w = w * (1 + (xc - w - xp.log(w)) / (1 + w))
    return xp.where(x < floor, xp.exp(xp.minimum(x, floor)), w)


# --- the overflow guard ---------------------------------------------------------------------


def exponent_limit(dtype):
    """c = log(largest finite value of dtype) − 1 (87.7 in float32, 708.8 in float64): a form
    exp(x) is computed exactly for x <= c, i.e. up to a third of the largest finite value."""
    return math.log(float(B.xp.finfo(dtype).max)) - 1.0


BEND = 0.5  # beyond the limit the exponent rises by at most this much


def compress(v, rate, shift=0.0, side=1):
    """The guarded logit s(v) and its slope s'(v), for a form that grows like exp(x) with
    x = r·v + shift on the upper side (``side`` = 1) or x = −r·v + shift on the lower side
    (``side`` = −1), r = ``rate``; the other side is left alone:

        x(s(v)) = x(v)                     for x(v) <= c,
        x(s(v)) = c + δ e/(δ + e)          beyond, e = x(v) − c, δ = ``BEND``,

    with c = ``exponent_limit(v.dtype)`` − ``shift``, so s'(v) = (δ/(δ + e))². Wherever the
    form's exponent stays below c the logit, and so the form, is exact; beyond, the exponent
    rises smoothly (s = v − O(e²)) and strictly, but never past c + δ, so the form stays
    finite (below e^−½ times the largest value) and its gradient finite and positive for
    every v, ±inf included."""
    xp = B.xp
    c = exponent_limit(v.dtype) - shift  # the limit on side·r·v
    exponent = side * rate * v
    ratio = BEND / (BEND + xp.maximum(exponent - c, 0))  # δ/(δ + e), 1 inside the limit
    bent = side * ((c + BEND * (1 - ratio)) / rate)
    return xp.where(exponent > c, bent, v), ratio * ratio
