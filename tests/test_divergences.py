"""The f-divergence family: f against the table, f* against a numerical sup, Fenchel-Young,
the activations' range, the stable composed forms against naive and high-precision
references, gradients (finite differences and closed forms), Wright's omega, and tightness
of the bound on discrete distributions."""

import math

import mpmath
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import minigan as mg
from minigan import divergences as D
from minigan import numerics
from minigan.backend import to_numpy as host
from minigan.testing import arrays

EXPECTED_NAMES = ("total_variation", "kl", "reverse_kl", "pearson", "neyman",
                  "squared_hellinger", "jeffrey", "jensen_shannon", "gan", "js_weighted", "alpha")
SPECS = [*EXPECTED_NAMES, "js_weighted(0.2)", "js_weighted(0.85)", "alpha(-1)", "alpha(0.3)",
         "alpha(0.9)"]
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
        "alpha": lambda: 1 / (1 - mpmath.mpf(div.alpha)) - softplus_neg,
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
    lies in [e⁻⁵, e⁵], so that the numerical search resolves it."""
    lo, hi = (float(div.f_prime(mg.tensor(np.exp([x]))).numpy()[0]) for x in (-5.0, 5.0))
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
    for div in DIVS.values():
        assert D.get(div.spec) == div and D.get(div) is div


def test_unknown_names_and_bad_parameters_are_refused():
    with pytest.raises(ValueError) as err:
        D.get("wasserstein")
    assert all(name in str(err.value) for name in D.NAMES)
    for bad in ("js_weighted(3.14159)", "js_weighted(0)", "js_weighted(1)", "alpha(1)",
                "alpha(0)", "alpha(2)"):
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
            out = method(v)
            out.sum().backward()
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
    points = points[np.abs(points) < div.logit_limit(dtype)]
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


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("spec", [spec for spec in SPECS if DIVS[spec].guarded])
def test_logit_guard_is_monotone_finite_and_consistent(spec, dtype):
    # beyond the guard the rows read a bent logit s(v); values and slopes stay finite and
    # positive, and the composed form still equals conjugate(activation(v)) where finite
    div = DIVS[spec]
    limit = div.logit_limit(dtype)
    edge = np.array([limit - 1, limit, limit + 1, 2 * limit, 10 * limit, 1e3 * limit])
    v = np.sort(np.concatenate([-edge, edge, [-1e4, 1e4]])).astype(dtype)
    tv = mg.tensor(v, requires_grad=True)
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        composed = div.conjugate_of_activation(tv)
        composed.sum().backward()
    values, slopes = composed.numpy(), host(tv.grad)
    assert np.isfinite(values).all() and (np.diff(values) >= 0).all()
    assert np.isfinite(slopes).all() and (slopes >= 0).all()
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        naive = div.conjugate(div.activation(mg.tensor(v))).numpy()
    finite = np.isfinite(naive)
    assert finite.sum() >= 4
    # the naive form loses digits here (alpha(0.9) raises its base to the power −9)
    np.testing.assert_allclose(values[finite], naive[finite], rtol=1e-2 if dtype == np.float32
                               else 1e-9)
    # the bent logit leaves the straight one smoothly (s(v) = v − O((v − limit)²)) and is
    # differentiable beyond the limit (where exp(r s) is linear: a wide step is exact)
    unguarded = D.get(div.spec)
    unguarded.guard_rate = 0.0
    just_beyond = mg.tensor(np.array([-1, 1], dtype=dtype) * (limit + 1e-3 / div.guard_rate))
    np.testing.assert_allclose(div.conjugate_of_activation(just_beyond).numpy(),
                               unguarded.conjugate_of_activation(just_beyond).numpy(),
                               rtol=2e-5)
    if dtype == np.float64:
        beyond = np.array([1.01, 1.5, 3.0]) * limit
        for method in (div.activation, div.conjugate_of_activation):
            assert mg.gradcheck(method, [t64(np.concatenate([-beyond, beyond]))], eps=1e-3)
    # below the guard the logit is untouched
    inside = mg.tensor(np.array([-limit, limit], dtype=dtype) * 0.999)
    np.testing.assert_array_equal(div.activation(inside).numpy(),
                                  D.get(div.spec).activation(inside).numpy())


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
    v = t64(data.draw(arrays((6,), -8.0, 8.0)))
    assert mg.gradcheck(div.activation, [v])
    assert mg.gradcheck(div.conjugate_of_activation, [v])
    lo, hi = conjugate_test_range(div)
    t = t64(data.draw(arrays((6,), lo, hi - 0.05 if div.conjugate_domain.closed else hi)))
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


@pytest.mark.parametrize("spec", SPECS)
@settings(max_examples=4)
@given(pq=distribution_pairs(16, 4))
def test_bound_is_tight_on_discrete_distributions(float64, spec, pq):
    """max over a free logit per point of Σ p g(V) − Σ q f*(g(V)) is Σ q f(p/q); Adam
    (maximize=True) on the engine's objective gets within 1e-3 for every pair. The logits
    start at the optimum for P = Q, g⁻¹(f'(1)) (the alpha rows' f*(g(v)) is so steep
    elsewhere that Adam's second moments would stall it)."""
    div = DIVS[spec]
    p, q = pq
    exact = (q * reference_f(div, p / q)).sum(axis=-1)
    v = mg.tensor(np.full_like(p, logit_of(div, div.f_prime_at_1)), requires_grad=True)
    tp, tq = mg.tensor(p), mg.tensor(q)
    adam = mg.optim.Adam([v], lr=0.3, maximize=True)
    steps = 1000
    for step in range(steps):
        adam.lr = 0.3 * 0.5 * (1 + math.cos(math.pi * step / steps))
        adam.zero_grad()
        bound = (tp * div.activation(v) - tq * div.conjugate_of_activation(v)).sum()
        bound.backward()
        adam.step()
    with mg.no_grad():
        rows = (tp * div.activation(v) - tq * div.conjugate_of_activation(v)).sum(axis=1)
    rows = rows.numpy()
    assert (rows <= exact + 1e-9).all()  # a lower bound, whatever the critic
    np.testing.assert_allclose(rows, exact, atol=1e-3)
