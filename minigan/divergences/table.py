"""The rows of the f-GAN table (Nowozin et al. 2016, Tables 1 and 2, and
reference/fgan-reference.md): for each divergence, f, f*, the activation g_f and the stable
f*(g_f(v)) in the logit, each with its derivative, as functions of backend arrays."""

from __future__ import annotations

import math

from .. import backend as B
from .. import numerics as N
from .row import Divergence, Interval

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
    guard_rate = 1.0

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
    guard_rate = 1.0
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
    guard_rate = 1.0
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
    guard_rate = 1.0

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
        return pi * N.xlogx(u) - N.xlogx(1 - pi + pi * u)

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
        return -self.pi * self._log_pi - N.softplus(-v)

    def _activation_prime(self, v):
        return N.sigmoid(-v)

    def _log_one_minus_power(self, v):
        """log(1 − σ(v)^(1/π))."""
        return N.log1mexp_of_log(N.log_softplus(-v) - self._log_pi)

    def _composed(self, v):
        pi = self.pi
        return (1 - pi) * (math.log(1 - pi) - self._log_one_minus_power(v))

    def _composed_prime(self, v):
        # (f*)'(g) g' = (1−π)/π · σ^(1/π) · σ(−v)/(1 − σ^(1/π)); the last ratio tends to π
        # as v grows (to within e^(−40) past v = 40, where both its terms may underflow)
        pi, xp = self.pi, B.xp
        power = xp.exp(-N.softplus(-v) / pi)
        near = xp.minimum(v, 40.0)
        ratio = N.sigmoid(-near) / -xp.expm1(-N.softplus(-near) / pi)
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
        return 1 / (1 - self.alpha) - N.softplus(-v)

    def _activation_prime(self, v):
        return N.sigmoid(-v)

    def _log_base(self, v):
        return math.log(1 - self.alpha) + N.log_softplus(-v)

    def _composed(self, v):
        a = self.alpha
        return B.xp.expm1(a / (a - 1) * self._log_base(v)) / a

    def _composed_prime(self, v):
        a = self.alpha
        return B.xp.exp(self._log_base(v) / (a - 1) - N.softplus(v))
