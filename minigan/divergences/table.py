"""The rows of the f-GAN table (Nowozin et al. 2016, Table 2, and
reference/fgan-reference.md): for each divergence, f, f*, the activation g_f and the stable
f*(g_f(v)) in the logit, each with its derivative, as functions of backend arrays, and the
``Guard`` of each form that overflows on one side. The rows with a parameter (js_weighted,
alpha) are in ``parametric.py``."""

from __future__ import annotations

import math

from .. import backend as B
from .. import numerics as N
from .row import Divergence, Guard, Interval

LOG2 = math.log(2.0)


def _one_minus_exp_neg(v):
    """g_f(v) = 1 − e^−v, from ℝ onto (−∞, 1): the activation of neyman and
    squared_hellinger."""
    return -B.xp.expm1(-v)


def _exp_neg(v):
    """e^−v: the slope of 1 − e^−v, and of reverse_kl's −e^−v."""
    return B.xp.exp(-v)


class TotalVariation(Divergence):
    """f = ½|u − 1|, g = ½ tanh v, f*(t) = t on |t| <= ½ (the optimal T is ±½)."""

    name = "total_variation"
    conjugate_domain = Interval(-0.5, 0.5, closed=True)

    def _f(self, u):
        return 0.5 * B.xp.abs(u - 1)

    def _f_prime(self, u):
        return 0.5 * B.xp.sign(u - 1)

    def _conjugate(self, t):
        return t + 0  # a new array: a node's output must not alias its input

    def _f_prime_inverse(self, t):
        return B.xp.ones_like(t)  # f* is linear; any u' at the kink u = 1

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
    composed_guard = Guard(1.0, +1, -1.0)  # exp(v − 1)

    def _f(self, u):
        return N.xlogx(u)

    def _f_prime(self, u):
        return B.xp.log(u) + 1

    def _conjugate(self, t):
        return B.xp.exp(t - 1)

    _f_prime_inverse = _conjugate


class ReverseKL(Divergence):
    """f = −log u, g = −exp(−v), f*(t) = −1 − log(−t), f*(g(v)) = v − 1."""

    name = "reverse_kl"
    conjugate_domain = Interval(-math.inf, 0.0)
    f_prime_at_1 = -1.0
    activation_guard = Guard(1.0, -1)  # −exp(−v); f*(g(v)) = v − 1 never overflows

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

    _activation_prime = staticmethod(_exp_neg)

    def _composed(self, v):
        return v - 1

    def _composed_prime(self, v):
        return B.xp.ones_like(v)


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


class Neyman(Divergence):
    """f = (1 − u)²/u, D_f = ∫(q − p)²/p, g = 1 − exp(−v), f*(t) = 2 − 2√(1 − t),
    f*(g(v)) = 2 − 2 exp(−v/2)."""

    name = "neyman"
    conjugate_domain = Interval(-math.inf, 1.0)
    activation_guard = Guard(1.0, -1)  # 1 − exp(−v)
    composed_guard = Guard(0.5, -1, LOG2)  # 2 − 2 exp(−v/2), slope exp(−v/2)
    _activation = staticmethod(_one_minus_exp_neg)
    _activation_prime = staticmethod(_exp_neg)

    def _f(self, u):
        return (1 - u) ** 2 / u

    def _f_prime(self, u):
        return 1 - 1 / (u * u)

    def _conjugate(self, t):
        return 2 - 2 * B.xp.sqrt(1 - t)

    def _f_prime_inverse(self, t):
        return 1 / B.xp.sqrt(1 - t)

    def _composed(self, v):
        return -2 * B.xp.expm1(-0.5 * v)

    def _composed_prime(self, v):
        return B.xp.exp(-0.5 * v)


class SquaredHellinger(Divergence):
    """f = (√u − 1)², g = 1 − exp(−v), f*(t) = t/(1 − t), f*(g(v)) = exp(v) − 1."""

    name = "squared_hellinger"
    conjugate_domain = Interval(-math.inf, 1.0)
    activation_guard = Guard(1.0, -1)  # 1 − exp(−v)
    composed_guard = Guard(1.0, +1)  # exp(v) − 1
    _activation = staticmethod(_one_minus_exp_neg)
    _activation_prime = staticmethod(_exp_neg)

    def _f(self, u):
        return (B.xp.sqrt(u) - 1) ** 2

    def _f_prime(self, u):
        return 1 - 1 / B.xp.sqrt(u)

    def _conjugate(self, t):
        return t / (1 - t)

    def _f_prime_inverse(self, t):
        return 1 / ((1 - t) * (1 - t))

    def _composed(self, v):
        return B.xp.expm1(v)

    def _composed_prime(self, v):
        return B.xp.exp(v)


class Jeffrey(Divergence):
    """f = (u − 1) log u, g = v, f*(t) = ω + 1/ω + t − 2 with ω = ω(1 − t) = W(e^(1−t)).

    Since ω + log ω = 1 − t, f*(t) = 1/ω − log ω − 1, which has no cancellation for any t;
    (f*)'(t) = 1/ω (f'(1/ω) = t)."""

    name = "jeffrey"
    composed_guard = Guard(1.0, +1, -1.0)  # f*(v) ≈ 1/ω(1 − v) ≈ e^(v − 1) as v → ∞

    def _f(self, u):
        return (u - 1) * B.xp.log(u)

    def _f_prime(self, u):
        return B.xp.log(u) + 1 - 1 / u

    def _conjugate(self, t):
        omega = N.wright_omega(1 - t)
        return 1 / omega - B.xp.log(omega) - 1

    def _f_prime_inverse(self, t):
        return 1 / N.wright_omega(1 - t)


class JensenShannon(Divergence):
    """f = u log u − (u + 1) log((u + 1)/2), D_f = 2·JSD; g = log 2 − log(1 + e^(−v)),
    f*(t) = −log(2 − eᵗ), f*(g(v)) = softplus(v) − log 2."""

    name = "jensen_shannon"
    conjugate_domain = Interval(-math.inf, LOG2)

    def _f(self, u):
        return N.xlogx(u) - (u + 1) * (B.xp.log1p(u) - LOG2)

    def _f_prime(self, u):
        return LOG2 + B.xp.log(u) - B.xp.log1p(u)

    def _conjugate(self, t):
        return -LOG2 - B.xp.log(-B.xp.expm1(t - LOG2))  # 2 − eᵗ = −2 expm1(t − log 2)

    def _f_prime_inverse(self, t):
        return B.xp.exp(t - LOG2) / -B.xp.expm1(t - LOG2)

    def _activation(self, v):
        return LOG2 - N.softplus(-v)

    def _activation_prime(self, v):
        return N.sigmoid(-v)

    def _composed(self, v):
        return N.softplus(v) - LOG2

    def _composed_prime(self, v):
        return N.sigmoid(v)


class GAN(Divergence):
    """f = u log u − (u + 1) log(u + 1), D_f = 2·JSD − log 4; g = −log(1 + e^(−v)) = log D
    with D = σ(v), f*(t) = −log(1 − eᵗ), f*(g(v)) = softplus(v) = −log(1 − D)."""

    name = "gan"
    conjugate_domain = Interval(-math.inf, 0.0)
    f_prime_at_1 = -LOG2
    f_at_1 = -2 * LOG2

    def _f(self, u):
        return N.xlogx(u) - (u + 1) * B.xp.log1p(u)

    def _f_prime(self, u):
        return B.xp.log(u) - B.xp.log1p(u)

    def _conjugate(self, t):
        return -B.xp.log(-B.xp.expm1(t))

    def _f_prime_inverse(self, t):
        return 1 / B.xp.expm1(-t)

    def _activation(self, v):
        return -N.softplus(-v)

    def _activation_prime(self, v):
        return N.sigmoid(-v)

    _composed = staticmethod(N.softplus)
    _composed_prime = staticmethod(N.sigmoid)
