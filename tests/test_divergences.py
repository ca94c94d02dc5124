"""The f-divergence family: f against the table, f* against a numerical sup, Fenchel-Young,
the activations' range, the stable composed forms against naive and high-precision
references, gradients (finite differences and closed forms), Wright's omega, and tightness
of the bound on discrete distributions."""

import math

import mpmath
import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

import minigan as mg
from minigan import divergences as D
from minigan import numerics
from minigan.backend import to_numpy as host
from minigan.testing import arrays

EXPECTED_NAMES = ("total_variation", "kl", "reverse_kl", "pearson", "neyman",
                  "squared_hellinger", "jeffrey", "jensen_shannon", "gan", "js_weighted", "alpha")
SPECS = [*EXPECTED_NAMES, "js_weighted(0.2)", "js_weighted(0.85)", "alpha(-1)", "alpha(0.3)",
         "alpha(0.9)", "alpha(1.05)", "alpha(1.5)", "alpha(4)"]
DIVS = {spec: D.get(spec) for spec in SPECS}


# --- references written from the table (fgan-reference.md), independent of the module ----


def reference_f(div, u):
    """f(u) in float64 NumPy, straight from the table."""
    xlogx = u * np.log(u)
    name = div.name
    if name == "js_weighted":
        pi = div.pi
        m = 1 - pi + pi * u
        return pi * xlogx - m * np.log(m)
    if name == "alpha":
        a = div.alpha
        return (u ** a - 1 - a * (u - 1)) / (a * (a - 1))
    return {
        "total_variation": lambda: 0.5 * np.abs(u - 1),
        "kl": lambda: xlogx,
        "reverse_kl": lambda: -np.log(u),
        "pearson": lambda: (u - 1) ** 2,
        "neyman": lambda: (1 - u) ** 2 / u,
        "squared_hellinger": lambda: (np.sqrt(u) - 1) ** 2,
        "jeffrey": lambda: (u - 1) * np.log(u),
        "jensen_shannon": lambda: xlogx - (u + 1) * np.log((u + 1) / 2),
        "gan": lambda: xlogx - (u + 1) * np.log(u + 1),
    }[name]()


def mp_activation(div, v):
    """g_f(v) in mpmath, from the table."""
    name, softplus_neg = div.name, mpmath.log(1 + mpmath.exp(-v))
    return {
        "total_variation": lambda: mpmath.tanh(v) / 2,
        "kl": lambda: v,
        "reverse_kl": lambda: -mpmath.exp(-v),
        "pearson": lambda: v,
        "neyman": lambda: 1 - mpmath.exp(-v),
        "squared_hellinger": lambda: 1 - mpmath.exp(-v),
        "jeffrey": lambda: v,
        "jensen_shannon": lambda: mpmath.log(2) - softplus_neg,
        "gan": lambda: -softplus_neg,
        "js_weighted": lambda: -div.pi * mpmath.log(div.pi) - softplus_neg,
        "alpha": lambda: v if div.alpha > 1 else 1 / (1 - mpmath.mpf(div.alpha)) - softplus_neg,
    }[name]()


def mp_conjugate(div, t):
    """f*(t) in mpmath, from the table."""
    name = div.name
    if name == "jeffrey":
        w = mpmath.lambertw(mpmath.exp(1 - t)).real
        return w + 1 / w + t - 2
    if name == "js_weighted":
        pi = mpmath.mpf(div.pi)
        return (1 - pi) * mpmath.log((1 - pi) / (1 - pi * mpmath.exp(t / pi)))
    if name == "alpha":
        a = mpmath.mpf(div.alpha)
        if a > 1 and t <= -1 / (a - 1):
            return -1 / a  # the sup sits at u = 0 (Table 2's α > 1 row, below its kink)
        return (t * (a - 1) + 1) ** (a / (a - 1)) / a - 1 / a
    return {
        "total_variation": lambda: t,
        "kl": lambda: mpmath.exp(t - 1),
        "reverse_kl": lambda: -1 - mpmath.log(-t),
        "pearson": lambda: t * t / 4 + t,
        "neyman": lambda: 2 - 2 * mpmath.sqrt(1 - t),
        "squared_hellinger": lambda: t / (1 - t),
        "jensen_shannon": lambda: -mpmath.log(2 - mpmath.exp(t)),
        "gan": lambda: -mpmath.log(1 - mpmath.exp(t)),
    }[name]()


def numerical_conjugate(div, t):
    """sup_u (u t − f(u)) and its maximiser, for an array of t: a dense grid over log u in
    [−30, 30], then golden-section search around the best grid point (u t − f(u) is concave
    in u, hence unimodal in log u)."""
    t = np.asarray(t, dtype=np.float64)[:, None]

    def objective(y):
        u = np.exp(y)
        return u * t - reference_f(div, u)

    grid = np.linspace(-30, 30, 4001)[None, :]
    best = np.argmax(objective(grid), axis=1)
    step = grid[0, 1] - grid[0, 0]
    lo, hi = (grid[0, best] - step)[:, None], (grid[0, best] + step)[:, None]
    ratio = (math.sqrt(5) - 1) / 2
    for _ in range(80):
        c, d = hi - ratio * (hi - lo), lo + ratio * (hi - lo)
        left = objective(c) > objective(d)
        hi, lo = np.where(left, d, hi), np.where(left, lo, c)
    y = (lo + hi) / 2
    return objective(y)[:, 0], np.exp(y[:, 0])


def conjugate_test_range(div):
    """Where to draw t: the part of dom f* (its exact part) whose maximiser u* = (f')⁻¹(t)
    lies in [e⁻⁵, e⁵], so that the numerical search resolves it. In log u the objective's
    curvature at its max is u² f''(u), u^α for the alpha rows: for α > 2 that is below
    e⁻¹⁰ (flat: the search's maximiser would be off by 1e-4) for u < e^(−10/α)."""
    low = -5.0 if div.name != "alpha" or div.alpha <= 2 else -10.0 / div.alpha
    lo, hi = (float(div.f_prime(mg.tensor(np.exp([x]))).numpy()[0]) for x in (low, 5.0))
    return max(lo, div.exact_from), hi


def t64(array, requires_grad=True):
    return mg.tensor(np.asarray(array, dtype=np.float64), requires_grad=requires_grad)


# --- names and construction ---------------------------------------------------------------


def test_names_and_get():
    assert D.NAMES == EXPECTED_NAMES
    for name in D.NAMES:
        assert D.get(name).name == name
    assert D.get("js_weighted").pi == 0.5 and D.get("alpha").alpha == 0.5
    assert D.get("alpha", alpha=0.3) == D.get("alpha(0.3)") == D.get(" alpha( 0.3 ) ")
    assert D.get("js_weighted", pi=0.2).pi == 0.2
    # alpha > 1 is Table 2's other alpha row, built by the same name
    above = D.get("alpha(1.5)")
    assert isinstance(above, D.AlphaAboveOne) and isinstance(above, D.Alpha)
    assert above.alpha == 1.5 and above.name == "alpha" and above.spec == "alpha(1.5)"
    assert not isinstance(D.get("alpha(0.5)"), D.AlphaAboveOne)
    for div in DIVS.values():
        assert D.get(div.spec) == div and D.get(div) is div


def test_unknown_names_and_bad_parameters_are_refused():
    with pytest.raises(ValueError) as err:
        D.get("wasserstein")
    assert all(name in str(err.value) for name in D.NAMES)
    for bad in ("js_weighted(3.14159)", "js_weighted(0)", "js_weighted(1)", "alpha(1)",
                "alpha(0)", "alpha(nan)"):
        with pytest.raises(ValueError):
            D.get(bad)
    with pytest.raises(ValueError):
        D.get("kl", pi=0.3)
    with pytest.raises(ValueError):
        D.get("kl(0.3)")
    for garbled in ("js_weighted(abc)", "alpha(0.3, 0.2)"):
        with pytest.raises(ValueError, match=r"takes one number in parentheses"):
            D.get(garbled)


@pytest.mark.parametrize("spec", SPECS)
def test_constants_of_each_row(spec):
    div = DIVS[spec]
    one = np.array([1.0])
    np.testing.assert_allclose(div.f(t64(one)).numpy(), div.f_at_1, atol=1e-15)
    np.testing.assert_allclose(div.f_prime(t64(one)).numpy(), div.f_prime_at_1, atol=1e-15)
    # at P = Q the optimal critic is T = f'(1) everywhere and the bound is f(1)
    np.testing.assert_allclose(div.conjugate(t64([div.f_prime_at_1])).numpy(),
                               div.f_prime_at_1 - div.f_at_1, atol=1e-12)
    assert div.conjugate_domain.contains(np.array([div.f_prime_at_1]))[0]


def test_gan_row_is_jensen_shannon_shifted():
    # f-GAN: D_GAN = 2 JSD − log 4; with the table's f, D_JS = 2 JSD; and the parameter rows
    # reduce to other rows: js_weighted(½) = ½ jensen_shannon, alpha(½) = 2 squared_hellinger
    u = t64(np.linspace(0.05, 20, 50))
    js, gan = D.get("jensen_shannon"), D.get("gan")
    np.testing.assert_allclose(gan.f(u).numpy() + 2 * math.log(2) * 0.5 * (1 + u.numpy()),
                               js.f(u).numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(D.get("js_weighted(0.5)").f(u).numpy(), 0.5 * js.f(u).numpy(),
                               rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(D.get("alpha(0.5)").f(u).numpy(),
                               2 * D.get("squared_hellinger").f(u).numpy(), rtol=1e-12,
                               atol=1e-14)


@given(pq=arrays((2, 6), 0.05, 1.0))
def test_jensen_shannon_row_is_twice_jsd_and_gan_is_that_minus_log_4(float64, pq):
    """With the table's f, Σ q f(p/q) is 2·JSD = KL(P||M) + KL(Q||M), M = (P + Q)/2 (not
    JSD), and the gan row gives 2·JSD − log 4, −log 4 at P = Q."""
    p, q = pq / pq.sum(axis=1, keepdims=True)
    m = (p + q) / 2
    two_jsd = (p * np.log(p / m)).sum() + (q * np.log(q / m)).sum()
    for name, shift in (("jensen_shannon", 0.0), ("gan", -math.log(4))):
        f = D.get(name).f
        np.testing.assert_allclose((q * f(t64(p / q)).numpy()).sum(), two_jsd + shift,
                                   rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose((q * f(t64(q / q)).numpy()).sum(), shift, atol=1e-12)


# --- f and its conjugate ------------------------------------------------------------------


@pytest.mark.parametrize("spec", SPECS)
@given(u=arrays((12,), 0.01, 50.0))
def test_f_matches_the_table(float64, spec, u):
    div = DIVS[spec]
    np.testing.assert_allclose(div.f(t64(u)).numpy(), reference_f(div, u), rtol=1e-12,
                               atol=1e-13)


@pytest.mark.parametrize("spec", SPECS)
@settings(max_examples=10)
@given(data=st.data())
def test_conjugate_is_the_numerical_sup(float64, spec, data):
    div = DIVS[spec]
    lo, hi = conjugate_test_range(div)
    t = data.draw(arrays((16,), lo, hi))
    expected, maximiser = numerical_conjugate(div, t)
    tt = t64(t)
    value = div.conjugate(tt)
    np.testing.assert_allclose(value.numpy(), expected, rtol=1e-9, atol=1e-9)
    # the conjugate's gradient is the maximiser (f')⁻¹(t): checked against the search, except
    # for total variation, whose sup is attained on a whole interval at t = ±½
    value.sum().backward()
    np.testing.assert_allclose(host(tt.grad), div.f_prime_inverse(tt).numpy(), rtol=1e-12)
    if div.name != "total_variation":
        np.testing.assert_allclose(host(tt.grad), maximiser, rtol=1e-5)


def test_pearson_closed_form_is_only_a_bound_below_minus_two(float64):
    # the trap in the reference: on u >= 0 the conjugate is −1 for t < −2, and t²/4 + t > −1
    pearson = D.get("pearson")
    t = np.array([-6.0, -4.0, -2.5])
    expected, _ = numerical_conjugate(pearson, t)
    np.testing.assert_allclose(expected, -1.0, atol=1e-12)
    assert (pearson.conjugate(t64(t)).numpy() > expected + 0.05).all()


@pytest.mark.parametrize("spec", ["alpha(1.05)", "alpha(1.5)", "alpha(4)"])
@settings(max_examples=10)
@given(t=arrays((16,), -30.0, 6.0))
def test_alpha_above_one_conjugate_is_the_numerical_sup_on_both_branches(float64, spec, t):
    """For α > 1, f' runs from t₀ = −1/(α − 1) (u = 0) to ∞, so the sup of u t − f(u) is the
    closed form above t₀ and −f(0) = −1/α below it (the maximiser u → 0); its slope, the
    maximiser, is (1 + (α − 1)t)^(1/(α−1)) above and 0 below."""
    div = DIVS[spec]
    t0 = -1 / (div.alpha - 1)
    t = np.concatenate([t, [t0 - 1, t0 - 1e-3, t0, t0 + 1e-3]])
    expected, maximiser = numerical_conjugate(div, t)
    tt = t64(t)
    value = div.conjugate(tt)
    np.testing.assert_allclose(value.numpy(), expected, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(value.numpy()[t <= t0], -1 / div.alpha, rtol=1e-15)
    value.sum().backward()
    np.testing.assert_allclose(host(tt.grad), maximiser, rtol=1e-5, atol=1e-9)
    assert (host(tt.grad)[t <= t0] == 0).all()
    # and the stable composed form is the same function (g_f is the identity)
    np.testing.assert_array_equal(div.conjugate_of_activation(t64(t)).numpy(), value.numpy())


def test_alpha_above_one_against_high_precision_across_the_kink():
    div = D.get("alpha(1.5)")
    t = np.array([-50.0, -3.0, -2.0, -1.999, -1.5, 0.0, 0.7, 10.0, 1e3])
    with mpmath.workdps(30):
        expected = [float(mp_conjugate(div, mpmath.mpf(x))) for x in t]
    np.testing.assert_allclose(div.conjugate(t64(t)).numpy(), expected, rtol=1e-13)


@pytest.mark.parametrize("spec", SPECS)
@given(u=arrays((16,), 0.02, 50.0), s=arrays((16,), 0.0, 1.0))
def test_fenchel_young(float64, spec, u, s):
    div = DIVS[spec]
    low, high, closed = div.conjugate_domain
    lo = max(low, -20.0)
    hi = high if closed else (high - 1e-3 if math.isfinite(high) else 20.0)
    t = lo + s * (hi - lo)
    gap = div.f(t64(u)).numpy() + div.conjugate(t64(t)).numpy() - u * t
    assert (gap >= -1e-10 * (1 + np.abs(u * t))).all()
    # equality where t = f'(u), the slope of f at u
    slope = div.f_prime(t64(u))
    tight = div.f(t64(u)).numpy() + div.conjugate(slope).numpy() - u * slope.numpy()
    np.testing.assert_allclose(tight, 0.0, atol=1e-9 * (1 + np.abs(u * slope.numpy())).max())


@pytest.mark.parametrize("spec", SPECS)
@given(data=st.data())
def test_f_prime_inverse_inverts_f_prime(float64, spec, data):
    div = DIVS[spec]
    if div.name == "total_variation":
        return  # f' is a step; its "inverse" is the kink u = 1
    lo, hi = conjugate_test_range(div)
    t = data.draw(arrays((12,), lo, hi))
    u = div.f_prime_inverse(t64(t))
    np.testing.assert_allclose(div.f_prime(u).numpy(), t, rtol=1e-9, atol=1e-9)


# --- activation and the stable composed form ------------------------------------------------

EXTREMES = np.array([-1e4, -3e3, -1e3, -200.0, -100.0, -60.0, -30.0, -17.0, -5.0, -1.0, 0.0,
                     1.0, 5.0, 17.0, 30.0, 60.0, 100.0, 200.0, 1e3, 3e3, 1e4])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("spec", SPECS)
def test_activation_maps_the_reals_into_the_domain(spec, dtype):
    div = DIVS[spec]
    t = div.activation(mg.tensor(EXTREMES.astype(dtype))).numpy()
    assert t.dtype == dtype and np.isfinite(t).all()
    # g_f is increasing, and its values lie in dom f*; they may round onto the open edge
    # (e.g. gan's −log(1 + e^−v) is −0.0 for v = 1e4), which is why the composed form exists
    assert (np.diff(t) >= 0).all()
    low, high, _ = div.conjugate_domain
    assert ((t >= dtype(low)) & (t <= dtype(high))).all()
    moderate = np.abs(EXTREMES) <= (5 if dtype == np.float32 else 30)
    assert div.conjugate_domain.contains(t[moderate]).all()
    assert (np.diff(t[moderate]) > 0).all()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("spec", SPECS)
def test_composed_form_is_finite_with_finite_gradients(spec, dtype):
    div = DIVS[spec]
    for method in (div.activation, div.conjugate_of_activation):
        v = mg.tensor(EXTREMES.astype(dtype), requires_grad=True)
        with np.errstate(over="raise", invalid="raise", divide="raise"):
            out = method(v)  # elementwise: values up to a third of the largest float
            out.backward(np.ones(len(EXTREMES), dtype))  # would overflow a sum
        grad = host(v.grad)
        assert out.dtype == dtype and grad.dtype == dtype
        assert np.isfinite(out.numpy()).all() and np.isfinite(grad).all()
        if div.name != "pearson":  # t²/4 + t falls for t < −2, where it is not f* (a trap)
            assert (grad >= 0).all() and (np.diff(out.numpy()) >= 0).all()


def test_naive_composition_breaks_where_the_stable_one_does_not():
    # the shipped bug: −log(1 − exp(t)) at t = g(v) is inf once v > ~17 in float32
    gan = D.get("gan")
    v = mg.tensor(np.array([200.0], np.float32))  # g(v) = −e^−200 rounds to −0
    with np.errstate(divide="ignore"):
        assert np.isinf(gan.conjugate(gan.activation(v)).numpy()).all()
    np.testing.assert_allclose(gan.conjugate_of_activation(v).numpy(), 200.0, rtol=1e-6)


@pytest.mark.parametrize("spec", SPECS)
@given(v=arrays((16,), -15.0, 15.0))
def test_composed_equals_naive_where_the_naive_is_finite(float64, spec, v):
    """Within |v| <= 15 the naive f*(g(v)) is finite and loses at most ~1e-8 to rounding
    near the edge of dom f* (beyond, it is finite but ill-conditioned, or inf; the
    high-precision test covers that range)."""
    div = DIVS[spec]
    stable, naive_input = t64(v), t64(v)
    value = div.conjugate_of_activation(stable)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        naive = div.conjugate(div.activation(naive_input))
    assert np.isfinite(naive.numpy()).all()
    np.testing.assert_allclose(value.numpy(), naive.numpy(), rtol=1e-6, atol=1e-9)
    # and so do their gradients, (f*)'(g(v)) g'(v) by the chain rule through the engine
    value.sum().backward()
    naive.sum().backward()
    np.testing.assert_allclose(host(stable.grad), host(naive_input.grad), rtol=1e-6,
                               atol=1e-12)


REFERENCE_POINTS = {
    np.float64: [-600.0, -100.0, -30.0, -5.0, -1.0, -0.1, 0.0, 0.1, 1.0, 5.0, 30.0, 100.0,
                 600.0],
    np.float32: [-60.0, -20.0, -3.0, -0.5, 0.0, 0.5, 3.0, 20.0, 60.0],
}


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("spec", SPECS)
def test_composed_form_against_high_precision(spec, dtype):
    """f*(g(v)) and its derivative from the table's formulas in mpmath, with enough digits
    to resolve e^(−|v|), at logits inside the guard (|v| <= c)."""
    div = DIVS[spec]
    points = np.array(REFERENCE_POINTS[dtype], dtype=dtype)
    low, high = div.logit_range(dtype)
    points = points[(low < points) & (points < high)]
    assert len(points) >= 5
    v = mg.tensor(points, requires_grad=True)
    value = div.conjugate_of_activation(v)
    value.sum().backward()
    expected, slope = [], []
    for x in points.astype(np.float64):
        with mpmath.workdps(40 + int(abs(x) / 2.3)):
            def composed(y):
                return mp_conjugate(div, mp_activation(div, y))
            expected.append(float(composed(mpmath.mpf(x))))
            slope.append(float(mpmath.diff(composed, mpmath.mpf(x))))
    rtol, atol = (1e-11, 1e-13) if dtype == np.float64 else (3e-5, 1e-6)
    np.testing.assert_allclose(value.numpy(), expected, rtol=rtol, atol=atol)
    np.testing.assert_allclose(host(v.grad), slope, rtol=rtol, atol=atol)


def unguarded(div):
    """The same row with its guards taken off: the exact forms, inf or nan where they
    overflow (alpha with α > 1 guards inside f*(v), whose plain form is ``conjugate``)."""
    plain = D.get(div.spec)
    plain.activation_guard = plain.composed_guard = None
    if isinstance(plain, D.AlphaAboveOne):
        plain.conjugate_of_activation = plain.conjugate
    return plain


GUARD_POINTS = np.concatenate([-np.logspace(-1, 4, 80)[::-1], [0.0], np.logspace(-1, 4, 80)])
METHODS = ("activation", "conjugate_of_activation")


def value_and_slope(method, points, dtype):
    v = mg.tensor(points.astype(dtype), requires_grad=True)
    out = method(v)
    out.backward(np.ones(len(points), dtype))
    return out.numpy(), host(v.grad)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("spec", SPECS)
def test_the_guard_is_exact_wherever_the_exact_value_is_representable(spec, dtype):
    """On both sides of every form of every row: wherever the exact value and its slope are
    representable (below the largest finite value over 2e, the guard's limit
    numerics.exponent_limit with room for rounding), the guarded form returns exactly the
    unguarded one, bit for bit; everywhere, up to |v| = 1e4, it is finite with a finite,
    non-negative slope."""
    div, plain = DIVS[spec], unguarded(DIVS[spec])
    top = np.finfo(dtype).max / (2 * np.e)
    for name in METHODS:
        with np.errstate(over="raise", invalid="raise", divide="raise"):
            value, slope = value_and_slope(getattr(div, name), GUARD_POINTS, dtype)
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            exact, exact_slope = value_and_slope(getattr(plain, name), GUARD_POINTS, dtype)
        representable = (np.abs(exact) <= top) & (np.abs(exact_slope) <= top)
        np.testing.assert_array_equal(value[representable], exact[representable])
        np.testing.assert_array_equal(slope[representable], exact_slope[representable])
        assert np.isfinite(value).all() and np.isfinite(slope).all(), name
        assert (slope >= 0).all() or div.name == "pearson"  # t²/4 + t falls below t = −2
        # a form is bent on at most one side, and only where its exact value overflows
        bent = ~representable
        assert not (bent[GUARD_POINTS < 0].any() and bent[GUARD_POINTS > 0].any()), name


def test_the_guard_leaves_the_side_that_cannot_overflow_alone():
    # the two cases: kl's g_f is the identity, and exp(v − 1) of a very negative v is
    # simply 0; reverse_kl's f*(g_f(v)) = v − 1 never overflows (only g_f = −e^−v does)
    v = mg.tensor(np.array([-1e4, -100.0, 100.0, 1e4], np.float32))
    np.testing.assert_array_equal(D.get("kl").activation(v).numpy(), v.numpy())
    np.testing.assert_array_equal(D.get("kl").conjugate_of_activation(v).numpy()[0], 0.0)
    np.testing.assert_array_equal(D.get("reverse_kl").conjugate_of_activation(v).numpy(),
                                  v.numpy() - 1)
    np.testing.assert_array_equal(D.get("reverse_kl").activation(v).numpy()[3], -0.0)
    assert D.get("reverse_kl").logit_range(np.float32) == (
        -numerics.exponent_limit(np.float32), math.inf)
    assert D.get("gan").logit_range(np.float64) == (-math.inf, math.inf)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("spec", [spec for spec in SPECS if DIVS[spec].guarded])
def test_beyond_the_guard_forms_are_monotone_finite_and_smooth(spec, dtype):
    """Past logit_range the bent forms stay finite and increasing with finite, non-negative
    slopes up to |v| = 1e4 and beyond; they leave the exact forms smoothly (s(v) = v − O(e²))
    and are differentiable there (gradcheck in float64)."""
    div, plain = DIVS[spec], unguarded(DIVS[spec])
    low, high = div.logit_range(dtype)
    edges = [x for x in (low, high) if math.isfinite(x)]
    assert edges
    for edge in edges:
        side = np.sign(edge)
        span = abs(edge) * np.array([0.5, 0.999, 1.0, 1.001, 1.01, 1.5, 3.0, 10.0, 1e3])
        v = np.sort(side * np.concatenate([span, [1e4]])).astype(dtype)
        for name in METHODS:
            with np.errstate(over="raise", invalid="raise", divide="raise"):
                value, slope = value_and_slope(getattr(div, name), v, dtype)
            assert np.isfinite(value).all() and (np.diff(value) >= 0).all()
            assert np.isfinite(slope).all() and (slope >= 0).all()
        # just past the edge the bent form is within O(e²) of the exact one
        for name in METHODS:
            rate = max(g.rate for g in div.guards) if div.guards else div.rate
            near = mg.tensor(np.array([edge + side * 1e-3 / rate], dtype=dtype))
            with np.errstate(over="ignore", invalid="ignore"):
                exact = getattr(plain, name)(near).numpy()
            if np.isfinite(exact).all():
                np.testing.assert_allclose(getattr(div, name)(near).numpy(), exact, rtol=1e-4)
        if dtype == np.float64:
            beyond = t64(edge * np.array([1.01, 1.5, 3.0]))
            for name in METHODS:
                method = getattr(div, name)
                # scaled so that gradcheck's sums over values near the top do not overflow
                scale = 1 / np.abs(method(beyond).numpy()).max()
                assert mg.gradcheck(lambda x, m=method, k=scale: m(x) * k, [beyond],
                                    eps=1e-3 * abs(edge) / 700)


KNOWN_SLOPES = {  # d/dv f*(g(v)) from fgan-reference.md
    "gan": lambda v: 1 / (1 + np.exp(-v)),
    "jensen_shannon": lambda v: 1 / (1 + np.exp(-v)),
    "kl": lambda v: np.exp(v - 1),
    "reverse_kl": lambda v: np.ones_like(v),
    "squared_hellinger": lambda v: np.exp(v),
}


@pytest.mark.parametrize("name", sorted(KNOWN_SLOPES))
@given(v=arrays((10,), -20.0, 20.0))
def test_composed_slopes_of_the_reference(float64, name, v):
    tv = t64(v)
    D.get(name).conjugate_of_activation(tv).sum().backward()
    np.testing.assert_allclose(host(tv.grad), KNOWN_SLOPES[name](v), rtol=1e-12)


# --- gradients against finite differences ----------------------------------------------------


@pytest.mark.parametrize("spec", SPECS)
@given(data=st.data())
def test_gradients_match_finite_differences(float64, spec, data):
    div = DIVS[spec]
    # for α > 1, f*(g(v)) = f*(v) has a kink (a cube-root-like slope) at t₀ = −1/(α − 1)
    kinks = (-1 / (div.alpha - 1),) if isinstance(div, D.AlphaAboveOne) else ()
    v = t64(data.draw(arrays((6,), -8.0, 8.0, kinks=kinks, margin=0.05)))
    assert mg.gradcheck(div.activation, [v])
    assert mg.gradcheck(div.conjugate_of_activation, [v])
    lo, hi = conjugate_test_range(div)
    # t up to 300 (alpha(4)'s range reaches t ~ 1e6, where f* ~ 1e8 and the step of the
    # central differences would be lost to rounding)
    hi = min(hi - 0.05 if div.conjugate_domain.closed else hi, 300.0)
    t = t64(data.draw(arrays((6,), lo, hi)))
    assert mg.gradcheck(div.conjugate, [t])
    kinks = (1.0,) if div.name == "total_variation" else ()
    u = t64(data.draw(arrays((6,), 0.05, 10.0, kinks=kinks, margin=0.05)))
    assert mg.gradcheck(div.f, [u])


def test_gradcheck_catches_a_wrong_activation_slope(float64):
    wrong = D.get("gan")
    wrong._activation_prime = lambda v: 1.01 * numerics.sigmoid(-v)  # 1% off σ(−v)
    with pytest.raises(mg.GradcheckError):
        mg.gradcheck(wrong.activation, [t64([0.3, -1.2, 2.0])])


# --- Wright omega -----------------------------------------------------------------------------

OMEGA_POINTS = np.concatenate([np.linspace(-60, 60, 241), [-700.0, -300.0, -40.0, -36.5,
                                                           -15.9, -1e-3, 1e-3, 200.0, 1e3,
                                                           1e4, 1e6, 1e8]])


def mp_omega(x):
    with mpmath.workdps(50):
        return float(mpmath.lambertw(mpmath.exp(mpmath.mpf(x))).real)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_wright_omega_against_lambert_w(dtype):
    x = OMEGA_POINTS.astype(dtype)
    expected = np.array([mp_omega(float(a)) for a in x])
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        got = mg.divergences.wright_omega(mg.tensor(x)).numpy()
    assert got.dtype == dtype
    normal = expected > np.finfo(dtype).tiny
    rtol = 2e-15 if dtype == np.float64 else 1e-6  # NumPy's float32 exp is good to ~8 ulp
    np.testing.assert_allclose(got[normal], expected[normal], rtol=rtol)
    assert (got[~normal] <= 2 * np.finfo(dtype).tiny).all()


@given(x=arrays((20,), 1e-3, 1e3))
def test_wright_omega_identities(float64, x):
    # ω(x + log x) = x (W(x eˣ) = x), and ω + log ω equals its argument
    got = mg.divergences.wright_omega(t64(x + np.log(x), False)).numpy()
    np.testing.assert_allclose(got, x, rtol=1e-14)
    z = t64(x * 10 - 700, False)
    w = mg.divergences.wright_omega(z).numpy()
    np.testing.assert_allclose(w + np.log(w), z.numpy(), rtol=1e-14, atol=1e-12)


@given(x=arrays((8,), -20.0, 20.0))
def test_wright_omega_gradient(float64, x):
    tx = t64(x)
    assert mg.gradcheck(mg.divergences.wright_omega, [tx])
    mg.divergences.wright_omega(tx).sum().backward()
    w = np.array([mp_omega(a) for a in x])
    np.testing.assert_allclose(host(tx.grad), w / (1 + w), rtol=1e-13)


# --- tightness: the bound reaches D_f with a free critic -------------------------------------


def distribution_pairs(k, n):
    """k pairs (p, q) of distributions on n points, no probability below 0.1/n."""
    weights = arrays((2, k, n), 0.1, 1.0)
    return weights.map(lambda w: w / w.sum(axis=-1, keepdims=True))


def logit_of(div, t):
    """g_f⁻¹(t) by bisection on the activation (g_f is increasing)."""
    lo, hi = -1e3, 1e3
    for _ in range(200):
        mid = (lo + hi) / 2
        if div.activation(mg.tensor(np.array([mid]))).numpy()[0] < t:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def bound_and_slope(div, v, p, q):
    """Σ p g(V) − Σ q f*(g(V)) per row, through the engine, and its gradient in V."""
    v = mg.tensor(v, requires_grad=True)
    rows = (mg.tensor(p) * div.activation(v) - mg.tensor(q) * div.conjugate_of_activation(v))
    rows = rows.sum(axis=1)
    rows.sum().backward()
    return rows.numpy(), host(v.grad)


# the most extreme pair the strategy can draw: weights 0.1 and 1.0 against each other, so
# p/q runs from 1/24 to 24 (alpha(−1)'s optimal logit is then −283, out of reach of the
# 1,000 Adam steps this test once used: their whole travel is ~60 in the logit)
EXTREME_PAIR = np.array([[[0.1, 1.0, 1.0, 1.0]] * 16, [[1.0, 0.1, 0.1, 0.1]] * 16])
EXTREME_PAIR = EXTREME_PAIR / EXTREME_PAIR.sum(axis=-1, keepdims=True)


@pytest.mark.parametrize("spec", SPECS)
@settings(max_examples=4)
@given(pq=distribution_pairs(16, 4))
@example(pq=EXTREME_PAIR)
def test_bound_is_tight_on_discrete_distributions(float64, spec, pq):
    """max over a free logit per point of Σ p g(V) − Σ q f*(g(V)) is Σ q f(p/q), the bound
    is below it for any critic, and the engine's gradient finds the max: each point's term
    p g(v) − q f*(g(v)) is concave in T = g(v) and g is increasing, so its v-derivative
    changes sign once, and bisection on the sign of the engine's gradient converges to the
    maximiser wherever it lies (a fixed step budget, e.g. Adam's, cannot reach logits
    hundreds away, which extreme pairs need)."""
    div = DIVS[spec]
    p, q = pq
    exact = (q * reference_f(div, p / q)).sum(axis=-1)
    rng = np.random.default_rng(0)
    for _ in range(3):  # a lower bound, whatever the critic
        rows, _ = bound_and_slope(div, rng.normal(0, 5, p.shape), p, q)
        assert (rows <= exact + 1e-9).all()
    lo, hi = np.full_like(p, -1e3), np.full_like(p, 1e3)
    assert (bound_and_slope(div, lo, p, q)[1] >= 0).all()  # the bracket holds the max
    assert (bound_and_slope(div, hi, p, q)[1] <= 0).all()
    for _ in range(80):
        mid = (lo + hi) / 2
        rising = bound_and_slope(div, mid, p, q)[1] > 0
        lo, hi = np.where(rising, mid, lo), np.where(rising, hi, mid)
    rows, _ = bound_and_slope(div, (lo + hi) / 2, p, q)
    assert (rows <= exact + 1e-9).all()
    np.testing.assert_allclose(rows, exact, rtol=1e-9, atol=1e-9)
