"""The rows of the f-GAN table with a parameter (Nowozin et al. 2016, Table 2): the
π-weighted Jensen-Shannon divergence and Amari's α-divergence, whose two rows (α < 1 and
α > 1) have different activations and conjugates; ``Alpha(α)`` builds the right one."""

from __future__ import annotations

import math

from .. import backend as B
from .. import numerics as N
from .row import Divergence, Guard, Interval


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
    """Amari's α-divergence, f = (u^α − 1 − α(u − 1))/(α(α − 1)), α ∉ {0, 1} (α = ½ gives
    2 × squared_hellinger). ``Alpha(α)`` with α > 1 is an ``AlphaAboveOne``; this class is the
    row α < 1: g = 1/(1 − α) − log(1 + e^(−v)),
    f*(t) = ((1 + (α − 1)t)^(α/(α−1)) − 1)/α on t < 1/(1 − α).

    In the logit, 1 + (α − 1)g(v) = (1 − α)·softplus(−v) =: b, so
    f*(g(v)) = expm1(α/(α − 1) · log b)/α with log b from log softplus(−v)."""

    name = "alpha"

    def __new__(cls, alpha=0.5):
        if cls is Alpha and float(alpha) > 1:
            return super().__new__(AlphaAboveOne)
        return super().__new__(cls)

    def __init__(self, alpha=0.5):
        alpha = float(alpha)
        if not alpha < 1 or alpha == 0:
            raise ValueError(f"alpha needs alpha != 0 and alpha != 1 (alpha -> 1 is the "
                             f"kl limit, which has its own row), got {alpha}")
        self.alpha = alpha
        if alpha > 0:
            # for 0 < α < 1, b^(α/(α−1)) grows like exp(r v + k) with r = α/(1 − α),
            # k = −α log(1 − α)/(1 − α) − log α, and its slope b^(1/(α−1))σ(−v) like
            # exp(r v − log(1 − α)/(1 − α)), as v → ∞; α < 0 grows only polynomially
            rate = alpha / (1 - alpha)
            value = -alpha * math.log(1 - alpha) / (1 - alpha) - math.log(alpha)
            slope = -math.log(1 - alpha) / (1 - alpha)
            self.composed_guard = Guard(rate, +1, max(value, slope))
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


class AlphaAboveOne(Alpha):
    """The α-divergence row α > 1 (Table 2): g = v, dom f* = ℝ, and f* piecewise,

        f*(t) = ((1 + (α − 1)t)^(α/(α−1)) − 1)/α    for t > t₀ = −1/(α − 1),
        f*(t) = −1/α = −f(0)                         for t <= t₀,

    since f'(u) = (u^(α−1) − 1)/(α − 1) runs from t₀ (at u = 0) to ∞: below t₀ the sup of
    u t − f(u) over u >= 0 sits at u = 0. (f*)'(t) = (1 + (α − 1)t)^(1/(α−1)), 0 below t₀.

    f*(v) grows like v^(α/(α−1)), which overflows for α near 1; the guard bends the log of
    the base, log(1 + (α − 1)v), on its upper side (``numerics.compress`` with rate
    α/(α − 1))."""

    def __init__(self, alpha=2.0):
        alpha = float(alpha)
        if not alpha > 1:
            raise ValueError(f"AlphaAboveOne needs alpha > 1, got {alpha}")
        self.alpha = alpha
        self.rate = alpha / (alpha - 1)
        self.conjugate_domain = Interval(-math.inf, math.inf)

    def logit_range(self, dtype):
        high = math.expm1(N.exponent_limit(dtype) / self.rate) / (self.alpha - 1)
        return -math.inf, high

    @property
    def guarded(self):
        return True

    def _log_base(self, t):
        """log(1 + (α − 1)t) where t > t₀ (0 elsewhere), and where t > t₀."""
        scaled = (self.alpha - 1) * t
        inside = scaled > -1
        return B.xp.log1p(B.xp.where(inside, scaled, 0)), inside

    def _conjugate(self, t):
        log_base, inside = self._log_base(t)
        return B.xp.where(inside, B.xp.expm1(self.rate * log_base), -1) / self.alpha

    def _f_prime_inverse(self, t):
        log_base, inside = self._log_base(t)
        return B.xp.where(inside, B.xp.exp(log_base / (self.alpha - 1)), 0)

    # the identity activation of the base class, and f*(g(v)) = f*(v) through the guard
    def _activation(self, v):
        return v + 0

    def _activation_prime(self, v):
        return B.xp.ones_like(v)

    def _composed(self, v):
        log_base, inside = self._log_base(v)
        bent, _ = N.compress(log_base, self.rate)
        return B.xp.where(inside, B.xp.expm1(self.rate * bent), -1) / self.alpha

    def _composed_prime(self, v):
        # d/dv expm1(r s(L))/α = exp(r s(L) − L) s'(L), since r (α − 1)/α = 1; inside the
        # guard (s(L) = L, s' = 1) that is exp(L/(α − 1)), the conjugate's own slope
        xp = B.xp
        log_base, inside = self._log_base(v)
        bent, slope = N.compress(log_base, self.rate)
        exponent = xp.where(slope < 1, self.rate * bent - log_base, log_base / (self.alpha - 1))
        return xp.where(inside, xp.exp(exponent) * slope, 0)
