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
``conjugate_of_activation`` read the logit through ``s(v)``, with r·s(v) = r v for r|v| <= c and
±(c + log(1 + r|v| − c)) beyond, c = log(dtype max) − 20 (68.7 in float32, 689.8 in float64;
alpha also takes off the constant its exponents carry).
Below the guard nothing changes (the density ratio there is e^68 or more); beyond it
exp(r s(v)) continues linearly, so values and gradients stay finite and keep their sign for
r|v| up to about e^20, and both methods still agree with ``conjugate(activation(v))``.
"""

from __future__ import annotations

import math
import re
from typing import NamedTuple

from . import backend as B
from .functional import _sigmoid, _softplus
from .tensor import Tensor, op, tensor

LOG2 = math.log(2.0)
# for x < −20, log log(1 + eˣ) = x − eˣ/2 and log(1 − e^−a) = log a − a/2 (a = eˣ) to
# double precision
_SERIES_BELOW = -20.0


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


POSITIVE = Interval(0.0, math.inf)
REALS = Interval(-math.inf, math.inf)


# --- stable array primitives ------------------------------------------------------------


def _xlogx(u):
    """u log u, with its limit 0 at u = 0."""
    xp = B.xp
    return xp.where(u > 0, u * xp.log(xp.where(u > 0, u, 1)), 0)


def _log_softplus(x):
    """log(softplus(x)) = log log(1 + eˣ), finite for every x (≈ x − eˣ/2 for x → −∞)."""
    xp = B.xp
    series = x - 0.5 * xp.exp(xp.minimum(x, _SERIES_BELOW))
    return xp.where(x < _SERIES_BELOW, series, xp.log(_softplus(xp.maximum(x, _SERIES_BELOW))))


def _log1mexp_of_log(log_a):
    """log(1 − e^(−a)) for a = exp(log_a) > 0, finite even where a underflows."""
    xp = B.xp
    a = xp.exp(log_a)
    exact = xp.log(-xp.expm1(-xp.maximum(a, math.exp(_SERIES_BELOW))))
    return xp.where(log_a < _SERIES_BELOW, log_a - 0.5 * a, exact)


def _wright_omega(x):
    """ω(x) = W(eˣ), the root of w + log w = x, by Newton's method from Winitzki's
    approximation W(z) ≈ L(1 − log(1 + L)/(2 + L)), L = log(1 + z), which is within 2% for
    every x; four Newton steps reach full float64 precision. Below log(eps), ω(x) = eˣ."""
    xp = B.xp
    floor = math.log(float(xp.finfo(x.dtype).eps))
    xc = xp.maximum(x, floor)
    log1pz = _softplus(xc)
    w = log1pz * (1 - xp.log1p(log1pz) / (2 + log1pz))
    for _ in range(4):
        w = w * (1 + (xc - w - xp.log(w)) / (1 + w))
    return xp.where(x < floor, xp.exp(xp.minimum(x, floor)), w)


def wright_omega(x):
    """Wright's omega ω(x) = W(eˣ) as a graph node; ω'(x) = ω/(1 + ω)."""
    x = x if isinstance(x, Tensor) else tensor(x)
    out = _wright_omega(x.data)
    return op(out, (x,), lambda g: (g * out / (1 + out),), name="wright_omega")


def exponent_limit(dtype):
    """c = log(largest finite value of dtype) − 20: the logit guard keeps exponents below
    about c (the 20 leaves room for sums over batches and for |v| up to e^20)."""
    return math.log(float(B.xp.finfo(dtype).max)) - 20.0


def _compress(v, rate, shift):
    """The guarded logit s(v) of the module docstring, and its slope s'(v); ``shift`` lowers
    c for rows whose exponent is r|v| plus a constant."""
    xp = B.xp
    c = exponent_limit(v.dtype) - shift
    exponent = rate * xp.abs(v)
    excess = xp.maximum(exponent - c, 0)
    s = xp.sign(v) * ((xp.minimum(exponent, c) + xp.log1p(excess)) / rate)
    return s, 1 / (1 + excess)


def _elementwise(x, value, slope, guard=None):
    """One graph node y = value(x) with dy/dx = slope(x), both array functions; with a
    guard (rate, shift) they are applied to s(x) and the slope is multiplied by s'(x)."""
    x = x if isinstance(x, Tensor) else tensor(x)
    if guard is None:
        data = x.data
        return op(value(data), (x,), lambda g: (g * slope(data),), name="elementwise")
    s, ds = _compress(x.data, *guard)
    return op(value(s), (x,), lambda g: (g * slope(s) * ds,), name="elementwise")


def _ones(x):
    return B.xp.ones_like(x)


# --- the family ---------------------------------------------------------------------------


class Divergence:
    """One row of the f-GAN table. Subclasses give the array forms ``_f, _f_prime,
    _conjugate, _f_prime_inverse, _activation, _activation_prime, _composed,
    _composed_prime``; this class turns them into differentiable Tensor methods.

    Attributes: ``name``; ``spec`` (the string ``get`` takes back, e.g. "alpha(0.3)");
    ``domain`` (dom f, as used: u > 0); ``conjugate_domain`` (dom f*); ``exact_from``
    (the closed-form f* is the true conjugate of f on u >= 0 for t >= exact_from);
    ``f_prime_at_1`` (the critic's threshold: T > f'(1) reads as "real"); ``f_at_1``;
    ``guard_rate``, ``guard_shift`` and ``logit_limit(dtype)`` (the logit guard).
    """

    name = ""
    domain = POSITIVE
    conjugate_domain = REALS
    exact_from = -math.inf
    f_prime_at_1 = 0.0
    f_at_1 = 0.0
    guard_rate = 0.0  # r of the logit guard (module docstring); 0 for rows that need none
    guard_shift = 0.0  # the constant in the guarded exponents, taken off c

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
    def guarded(self):
        return self.guard_rate > 0

    @property
    def _guard(self):
        return (self.guard_rate, self.guard_shift) if self.guarded else None

    def logit_limit(self, dtype):
        """|v| beyond which the logit guard bends the logit (inf for unguarded rows)."""
        if not self.guarded:
            return math.inf
        return (exponent_limit(dtype) - self.guard_shift) / self.guard_rate

    def f(self, u):
        """The generator function f(u), convex with f(1) = 0 (−2 log 2 for gan)."""
        return _elementwise(u, self._f, self._f_prime)

    def conjugate(self, t):
        """f*(t) = sup_u (u t − f(u)) on dom f*; d f*/dt = (f')⁻¹(t)."""
        return _elementwise(t, self._conjugate, self._f_prime_inverse)

    def activation(self, v):
        """g_f(v): the critic value T in dom f* for the logit v (increasing in v)."""
        return _elementwise(v, self._activation, self._activation_prime, self._guard)

    def conjugate_of_activation(self, v):
        """f*(g_f(v)) in its stable form in the logit v."""
        return _elementwise(v, self._composed, self._composed_prime, self._guard)

    def f_prime(self, u):
        """f'(u), no graph (for checks; it is f's backward)."""
        u = u.data if isinstance(u, Tensor) else tensor(u).data
        return Tensor(self._f_prime(u))

    def f_prime_inverse(self, t):
        """(f')⁻¹(t) = (f*)'(t), the density ratio p/q a critic value t stands for; no
        graph (it is the conjugate's backward)."""
        t = t.data if isinstance(t, Tensor) else tensor(t).data
        return Tensor(self._f_prime_inverse(t))


class TotalVariation(Divergence):
    """f = ½|u − 1|, g = ½ tanh v, f*(t) = t on |t| <= ½ (the optimal T is ±½)."""

    name = "total_variation"
    conjugate_domain = Interval(-0.5, 0.5, closed=True)

    def _f(self, u):
        return 0.5 * B.xp.abs(u - 1)

    def _f_prime(self, u):
        return 0.5 * B.xp.sign(u - 1)

    def _conjugate(self, t):
        return t + 0  # a new array: the output must not alias the input

    _f_prime_inverse = staticmethod(_ones)  # f* is linear; any u' at the kink u = 1

    def _activation(self, v):
        return 0.5 * B.xp.tanh(v)

    def _activation_prime(self, v):
        tanh = B.xp.tanh(v)
        return 0.5 * (1 - tanh * tanh)

    _composed, _composed_prime = _activation, _activation_prime


class KL(Divergence):
    """f = u log u, g = v, f*(t) = exp(t − 1), f*(g(v)) = exp(v − 1)."""

    name = "kl"
    f_prime_at_1 = 1.0
    guard_rate = 1.0

    def _f(self, u):
        return _xlogx(u)

    def _f_prime(self, u):
        return B.xp.log(u) + 1

    def _conjugate(self, t):
        return B.xp.exp(t - 1)

    _f_prime_inverse = _conjugate

    def _activation(self, v):
        return v + 0

    _activation_prime = staticmethod(_ones)
    _composed = _composed_prime = _conjugate


class ReverseKL(Divergence):
    """f = −log u, g = −exp(−v), f*(t) = −1 − log(−t), f*(g(v)) = v − 1."""

    name = "reverse_kl"
    conjugate_domain = Interval(-math.inf, 0.0)
    f_prime_at_1 = -1.0
    guard_rate = 1.0

    def _f(self, u):
        return -B.xp.log(u)

    def _f_prime(self, u):
        return -1 / u

    def _conjugate(self, t):
        return -1 - B.xp.log(-t)

    def _f_prime_inverse(self, t):
        return -1 / t

    def _activation(self, v):
        return -B.xp.exp(-v)

    def _activation_prime(self, v):
        return B.xp.exp(-v)

    def _composed(self, v):
        return v - 1

    _composed_prime = staticmethod(_ones)


class Pearson(Divergence):
    """f = (u − 1)², D_f = ∫(p − q)²/q, g = v, f*(t) = t²/4 + t (exact for t >= −2)."""

    name = "pearson"
    exact_from = -2.0

    def _f(self, u):
        return (u - 1) ** 2

    def _f_prime(self, u):
        return 2 * (u - 1)

    def _conjugate(self, t):
        return t * (0.25 * t + 1)

    def _f_prime_inverse(self, t):
        return 0.5 * t + 1

    def _activation(self, v):
        return v + 0

    _activation_prime = staticmethod(_ones)
    _composed, _composed_prime = _conjugate, _f_prime_inverse


class Neyman(Divergence):
    """f = (1 − u)²/u, D_f = ∫(q − p)²/p, g = 1 − exp(−v), f*(t) = 2 − 2√(1 − t),
    f*(g(v)) = 2 − 2 exp(−v/2)."""

    name = "neyman"
    conjugate_domain = Interval(-math.inf, 1.0)
    guard_rate = 1.0

    def _f(self, u):
        return (1 - u) ** 2 / u

    def _f_prime(self, u):
        return 1 - 1 / (u * u)

    def _conjugate(self, t):
        return 2 - 2 * B.xp.sqrt(1 - t)

    def _f_prime_inverse(self, t):
        return 1 / B.xp.sqrt(1 - t)

    def _activation(self, v):
        return -B.xp.expm1(-v)

    def _activation_prime(self, v):
        return B.xp.exp(-v)

    def _composed(self, v):
        return -2 * B.xp.expm1(-0.5 * v)

    def _composed_prime(self, v):
        return B.xp.exp(-0.5 * v)


class SquaredHellinger(Divergence):
    """f = (√u − 1)², g = 1 − exp(−v), f*(t) = t/(1 − t), f*(g(v)) = exp(v) − 1."""

    name = "squared_hellinger"
    conjugate_domain = Interval(-math.inf, 1.0)
    guard_rate = 1.0

    def _f(self, u):
        return (B.xp.sqrt(u) - 1) ** 2

    def _f_prime(self, u):
        return 1 - 1 / B.xp.sqrt(u)

    def _conjugate(self, t):
        return t / (1 - t)

    def _f_prime_inverse(self, t):
        return 1 / ((1 - t) * (1 - t))

    def _activation(self, v):
        return -B.xp.expm1(-v)

    def _activation_prime(self, v):
        return B.xp.exp(-v)

    def _composed(self, v):
        return B.xp.expm1(v)

    def _composed_prime(self, v):
        return B.xp.exp(v)


class Jeffrey(Divergence):
    """f = (u − 1) log u, g = v, f*(t) = ω + 1/ω + t − 2 with ω = ω(1 − t) = W(e^(1−t)).

    Since ω + log ω = 1 − t, f*(t) = 1/ω − log ω − 1, which has no cancellation for any t;
    (f*)'(t) = 1/ω (f'(1/ω) = t)."""

    name = "jeffrey"
    guard_rate = 1.0

    def _f(self, u):
        return (u - 1) * B.xp.log(u)

    def _f_prime(self, u):
        return B.xp.log(u) + 1 - 1 / u

    def _conjugate(self, t):
        omega = _wright_omega(1 - t)
        return 1 / omega - B.xp.log(omega) - 1

    def _f_prime_inverse(self, t):
        return 1 / _wright_omega(1 - t)

    def _activation(self, v):
        return v + 0

    _activation_prime = staticmethod(_ones)
    _composed, _composed_prime = _conjugate, _f_prime_inverse


class JensenShannon(Divergence):
    """f = u log u − (u + 1) log((u + 1)/2), D_f = 2·JSD; g = log 2 − log(1 + e^(−v)),
    f*(t) = −log(2 − eᵗ), f*(g(v)) = softplus(v) − log 2."""

    name = "jensen_shannon"
    conjugate_domain = Interval(-math.inf, LOG2)

    def _f(self, u):
        return _xlogx(u) - (u + 1) * (B.xp.log1p(u) - LOG2)

    def _f_prime(self, u):
        return LOG2 + B.xp.log(u) - B.xp.log1p(u)

    def _conjugate(self, t):
        return -LOG2 - B.xp.log(-B.xp.expm1(t - LOG2))  # 2 − eᵗ = −2 expm1(t − log 2)

    def _f_prime_inverse(self, t):
        return B.xp.exp(t - LOG2) / -B.xp.expm1(t - LOG2)

    def _activation(self, v):
        return LOG2 - _softplus(-v)

    def _activation_prime(self, v):
        return _sigmoid(-v)

    def _composed(self, v):
        return _softplus(v) - LOG2

    def _composed_prime(self, v):
        return _sigmoid(v)


class GAN(Divergence):
    """f = u log u − (u + 1) log(u + 1), D_f = 2·JSD − log 4; g = −log(1 + e^(−v)) = log D
    with D = σ(v), f*(t) = −log(1 − eᵗ), f*(g(v)) = softplus(v) = −log(1 − D)."""

    name = "gan"
    conjugate_domain = Interval(-math.inf, 0.0)
    f_prime_at_1 = -LOG2
    f_at_1 = -2 * LOG2

    def _f(self, u):
        return _xlogx(u) - (u + 1) * B.xp.log1p(u)

    def _f_prime(self, u):
        return B.xp.log(u) - B.xp.log1p(u)

    def _conjugate(self, t):
        return -B.xp.log(-B.xp.expm1(t))

    def _f_prime_inverse(self, t):
        return 1 / B.xp.expm1(-t)

    def _activation(self, v):
        return -_softplus(-v)

    def _activation_prime(self, v):
        return _sigmoid(-v)

    def _composed(self, v):
        return _softplus(v)

    def _composed_prime(self, v):
        return _sigmoid(v)


class JSWeighted(Divergence):
    """π-weighted Jensen-Shannon, 0 < π < 1 (π = ½ gives half the jensen_shannon row):
    f = π u log u − (1 − π + πu) log(1 − π + πu), g = −π log π − log(1 + e^(−v)),
    f*(t) = (1 − π) log((1 − π)/(1 − π e^(t/π))) on t < −π log π.

    In the logit, π e^(g/π) = σ(v)^(1/π), so f*(g(v)) = (1 − π)(log(1 − π) − log(1 − σ(v)^(1/π)))
    with log(1 − σ^(1/π)) = log(1 − exp(−softplus(−v)/π)) taken from log softplus(−v)."""

    name = "js_weighted"

    def __init__(self, pi=0.5):
        pi = float(pi)
        if not 0 < pi < 1:
            raise ValueError(f"js_weighted needs a weight 0 < pi < 1, got {pi}")
        self.pi = pi
        self._log_pi = math.log(pi)
        self.conjugate_domain = Interval(-math.inf, -pi * self._log_pi)

    @property
    def spec(self):
        return f"js_weighted({self.pi:g})"

    def _f(self, u):
        pi = self.pi
        return pi * _xlogx(u) - _xlogx(1 - pi + pi * u)

    def _f_prime(self, u):
        pi = self.pi
        return pi * (B.xp.log(u) - B.xp.log(1 - pi + pi * u))

    def _conjugate(self, t):
        pi = self.pi
        return (1 - pi) * (math.log(1 - pi) - B.xp.log(-B.xp.expm1(t / pi + self._log_pi)))

    def _f_prime_inverse(self, t):
        pi, xp = self.pi, B.xp
        x = t / pi + self._log_pi  # π e^(t/π) = eˣ
        return (1 - pi) / pi * xp.exp(x) / -xp.expm1(x)

    def _activation(self, v):
        return -self.pi * self._log_pi - _softplus(-v)

    def _activation_prime(self, v):
        return _sigmoid(-v)

    def _log_one_minus_power(self, v):
        """log(1 − σ(v)^(1/π))."""
        return _log1mexp_of_log(_log_softplus(-v) - self._log_pi)

    def _composed(self, v):
        pi = self.pi
        return (1 - pi) * (math.log(1 - pi) - self._log_one_minus_power(v))

    def _composed_prime(self, v):
        # (f*)'(g) g' = (1−π)/π · σ^(1/π) · σ(−v)/(1 − σ^(1/π)); the last ratio tends to π
        # as v grows (to within e^(−40) past v = 40, where both its terms may underflow)
        pi, xp = self.pi, B.xp
        power = xp.exp(-_softplus(-v) / pi)
        near = xp.minimum(v, 40.0)
        ratio = _sigmoid(-near) / -xp.expm1(-_softplus(-near) / pi)
        return (1 - pi) / pi * power * xp.where(v > 40, pi, ratio)


class Alpha(Divergence):
    """Amari's α-divergence, α < 1, α ≠ 0 (α = ½ gives 2 × squared_hellinger):
    f = (u^α − 1 − α(u − 1))/(α(α − 1)), g = 1/(1 − α) − log(1 + e^(−v)),
    f*(t) = ((1 + (α − 1)t)^(α/(α−1)) − 1)/α on t < 1/(1 − α).

    In the logit, 1 + (α − 1)g(v) = (1 − α)·softplus(−v) =: b, so
    f*(g(v)) = expm1(α/(α − 1) · log b)/α with log b from log softplus(−v)."""

    name = "alpha"

    def __init__(self, alpha=0.5):
        alpha = float(alpha)
        if not alpha < 1 or alpha == 0:
            raise ValueError(f"alpha needs alpha < 1 and alpha != 0 (alpha >= 1 has no "
                             f"conjugate of this form on the whole domain), got {alpha}")
        self.alpha = alpha
        # for 0 < α < 1, b^(α/(α−1)) and the slope b^(1/(α−1))σ(−v) grow like
        # exp(α v/(1 − α)) times at most (1 − α)^(−1/(1−α)) as v → ∞
        if alpha > 0:
            self.guard_rate = alpha / (1 - alpha)
            self.guard_shift = -math.log(1 - alpha) / (1 - alpha)
        self.conjugate_domain = Interval(-math.inf, 1 / (1 - alpha))

    @property
    def spec(self):
        return f"alpha({self.alpha:g})"

    def _f(self, u):
        a = self.alpha
        return (u ** a - 1 - a * (u - 1)) / (a * (a - 1))

    def _f_prime(self, u):
        a = self.alpha
        return (u ** (a - 1) - 1) / (a - 1)

    def _conjugate(self, t):
        a = self.alpha
        return B.xp.expm1(a / (a - 1) * B.xp.log1p((a - 1) * t)) / a

    def _f_prime_inverse(self, t):
        a = self.alpha
        return B.xp.exp(B.xp.log1p((a - 1) * t) / (a - 1))

    def _activation(self, v):
        return 1 / (1 - self.alpha) - _softplus(-v)

    def _activation_prime(self, v):
        return _sigmoid(-v)

    def _log_base(self, v):
        return math.log(1 - self.alpha) + _log_softplus(-v)

    def _composed(self, v):
        a = self.alpha
        return B.xp.expm1(a / (a - 1) * self._log_base(v)) / a

    def _composed_prime(self, v):
        a = self.alpha
        return B.xp.exp(self._log_base(v) / (a - 1) - _softplus(v))


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
