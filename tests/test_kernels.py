"""minigan.kernels: each fast form against the plain NumPy expression it replaces."""

import numpy as np
import pytest

from minigan import kernels

RNG = np.random.default_rng(0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_relu_and_the_activation_slopes_are_exact(dtype):
    v = RNG.standard_normal((64, 33)).astype(dtype)
    v[0, :3] = [0.0, -0.0, np.nan]
    np.testing.assert_array_equal(kernels.relu(v), np.maximum(v, 0))
    for low in [0.0, 0.01, 0.2, 1 / 3, 0.5, 0.999, 1.0]:
        slope = kernels.step(v, low, np.dtype(dtype))
        assert slope.dtype == dtype
        np.testing.assert_array_equal(slope, np.where(v > 0, dtype(1), dtype(low)))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_sums_match_numpys(dtype):
    a = RNG.standard_normal((37, 5)).astype(dtype)
    tol = {"rtol": 1e-5, "atol": 1e-5} if dtype == np.float32 else {"rtol": 1e-12}
    np.testing.assert_allclose(kernels.column_sum(a), a.sum(axis=0), **tol)
    nchw = RNG.standard_normal((6, 4, 3, 5)).astype(dtype)
    layouts = {
        "NCHW": nchw,
        "(C, H, W, N) memory": np.ascontiguousarray(nchw.transpose(1, 2, 3, 0)).transpose(
            3, 0, 1, 2),
        "a strided slice": RNG.standard_normal((6, 4, 3, 10)).astype(dtype)[..., ::2],
        "2-D": a,
        "empty": np.zeros((0, 4, 3, 5), dtype),
    }
    for name, x in layouts.items():
        expected = x.sum(axis=tuple(i for i in range(x.ndim) if i != 1))
        np.testing.assert_allclose(kernels.channel_sum(x), expected, err_msg=name, **tol)


def test_mean_and_spread_are_numpys():
    a = RNG.standard_normal((7, 3, 4)).astype(np.float32)
    for axes, keepdims in [((0, 1, 2), False), ((1,), True), ((0, 2), False)]:
        np.testing.assert_array_equal(kernels.mean(a, axes, keepdims),
                                      a.mean(axis=axes, keepdims=keepdims))
    for narrow in (np.full(70000, 1.0, np.float16), np.full(5, 2**62, np.int64)):
        np.testing.assert_array_equal(kernels.mean(narrow, (0,), False), narrow.mean())
    g = np.float32(0.25) * np.ones((), np.float32)
    spread = kernels.spread(g, (3, 2))
    assert spread.shape == (3, 2) and spread.dtype == np.float32
    np.testing.assert_array_equal(spread, np.full((3, 2), 0.25, np.float32))


def test_filled_arrays_are_numpys_full_in_the_layout_asked_for():
    for shape, value, dtype in [((3, 2), 1, np.float32), ((), 0.25, np.float64), (5, 0, np.int64),
                                ((2, 0), 7, np.float32)]:
        out = kernels.filled(shape, value, dtype)
        np.testing.assert_array_equal(out, np.full(shape, value, dtype))
        assert out.dtype == dtype
    g = np.float32(3.5) * np.ones((), np.float32)  # a 0-d array as the value
    np.testing.assert_array_equal(kernels.filled((2, 2), g, np.float32), np.full((2, 2), 3.5))
    chwn = np.zeros((4, 3, 2, 5), np.float32).transpose(3, 0, 1, 2)  # an NCHW view
    like = kernels.filled_like(chwn, 0)
    assert like.strides == chwn.strides and like.dtype == chwn.dtype and not like.any()


def test_total_is_numpys_sum_with_its_dtype_rules():
    a = RNG.standard_normal((7, 3, 4)).astype(np.float32)
    for axes, keepdims in [((0, 1, 2), False), ((1,), True), ((0, 2), False), ((), False)]:
        np.testing.assert_array_equal(kernels.total(a, axes, keepdims),
                                      a.sum(axis=axes, keepdims=keepdims))
    for narrow in (np.full(7, 2**30, np.int32), np.ones(5, bool)):  # sums widen, as NumPy's
        assert kernels.total(narrow, (0,), False) == narrow.sum()
        assert kernels.total(narrow, (0,), False).dtype == narrow.sum().dtype


def test_the_in_place_activation_and_its_backward_are_the_unfused_ones():
    v = RNG.standard_normal((64, 33)).astype(np.float32)
    v[0, :3] = [0.0, -0.0, np.nan]
    g = RNG.standard_normal(v.shape).astype(np.float32)
    for slope in [0.0, 0.01, 0.2, 1.0]:
        out = kernels.leaky_relu_(v.copy(), slope)
        np.testing.assert_array_equal(out, np.maximum(v, slope * v))
        expected = g * np.where(v > 0, np.float32(1), np.float32(slope))
        np.testing.assert_array_equal(kernels.leaky_relu_backward(v, slope, g), expected)
        np.testing.assert_array_equal(kernels.leaky_relu_backward(out, slope, g), expected)
