"""The stand-in is as strict as CuPy: each check shows one refusal or CuPy behaviour (these
checks bite: a lax stand-in would let host/device slips through). Run by test_standin.py
with tests/standin first on PYTHONPATH; not collected otherwise (not a test_*.py name)."""

import warnings

import numpy as np
import pytest

import minigan as mg
from minigan import backend, metrics

cupy = pytest.importorskip("cupy")
if not getattr(cupy, "STANDIN", False):
    pytest.skip("needs the CuPy stand-in first on PYTHONPATH", allow_module_level=True)


def test_implicit_conversion_to_numpy_is_refused():
    x = cupy.arange(3.0)
    for convert in (np.asarray, np.array, lambda a: np.testing.assert_allclose(a, [0, 1, 2]),
                    lambda a: np.concatenate([a])):
        with pytest.raises(TypeError, match="Implicit conversion to a NumPy array"):
            convert(x)
    with pytest.raises(TypeError):
        np.exp(x)  # NumPy's ufuncs on device arrays
    np.testing.assert_array_equal(cupy.asnumpy(x), [0.0, 1.0, 2.0])  # the explicit moves
    np.testing.assert_array_equal(x.get(), [0.0, 1.0, 2.0])


def test_host_arrays_as_operands_are_refused():
    x, host = cupy.ones(3), np.ones(3)
    for mix in (lambda: x + host, lambda: host * x, lambda: cupy.maximum(x, host),
                lambda: cupy.concatenate([x, host]), lambda: cupy.where(x > 0, host, x)):
        with pytest.raises(TypeError, match="Unsupported type"):
            mix()
    with pytest.raises(ValueError, match="non-scalar numpy.ndarray"):
        x[...] = host
    x[...] = np.float32(2)  # scalars are fine, as in CuPy
    assert float(x.sum()) == 6.0


def test_reductions_and_integer_indexing_give_0d_arrays_not_scalars():
    x = cupy.arange(6.0).reshape(2, 3)
    for value in (x.sum(), x.max(), cupy.mean(x), x[1, 2], cupy.sum(x, axis=None)):
        assert type(value) is cupy.ndarray and value.shape == ()
    assert float(x[1, 2]) == 5.0 and bool(x[0, 0] == 0) and int(x.sum()) == 15
    with pytest.raises(TypeError):
        [10, 20, 30][x[0, 1].astype(cupy.int64)]  # no __index__: a device int is no list index


def test_no_floating_point_error_state():
    for name in ("errstate", "seterr", "geterr"):
        assert not hasattr(cupy, name)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        big = cupy.asarray([1e30], dtype=cupy.float32)
        assert not bool(cupy.isfinite(big * big).all())  # overflows without a warning
        assert bool(cupy.isnan(cupy.log(-big)).all())


def test_bincount_of_an_empty_array_is_refused_as_cupy_13():
    with pytest.raises(ValueError, match="zero-size array to reduction operation cupy_max"):
        cupy.bincount(cupy.zeros(0, dtype=cupy.int64), minlength=8)
    assert cupy.bincount(cupy.asarray([0, 2, 2]), minlength=4).tolist() == [1, 0, 2, 0]


def test_the_namespace_is_cupys():
    assert not hasattr(cupy, "float128") and not hasattr(cupy, "asmatrix")  # NumPy only
    assert callable(cupy.add.at) and callable(cupy.lib.stride_tricks.as_strided)
    rng = cupy.random.RandomState(method=cupy.cuda.curand.CURAND_RNG_PSEUDO_PHILOX4_32_10)
    with pytest.raises(TypeError):
        rng.seed(5)  # CuPy 13.0 takes only an unsigned integer (or an array) as a seed
    with pytest.raises(TypeError, match="float32 and float64"):
        rng.standard_normal(size=3, dtype=np.float16)
    rng.seed(np.uint64(5))
    assert rng.random_sample(size=(2,), dtype=np.float64).shape == (2,)


def test_minigan_runs_on_it():
    mg.set_backend("cupy")
    assert backend.xp is cupy
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    (x * x).sum().backward()
    assert type(x.grad) is cupy.ndarray
    np.testing.assert_array_equal(x.numpy(), [1.0, 2.0])
    mg.manual_seed(1)
    a = backend.to_numpy(backend.randn(5))
    mg.manual_seed(1)
    np.testing.assert_array_equal(backend.to_numpy(backend.randn(5)), a)  # seeded on device


def test_mode_coverage_without_a_high_quality_sample():
    """The crash of issue 13: CuPy 13 refuses the empty bincount that NumPy allows."""
    mg.set_backend("cupy")
    far = np.full((10, 2), 50.0)
    result = metrics.mode_coverage(far, np.array([[0.0, 0.0], [1.0, 1.0]]), 0.01)
    assert result["modes"] == 0 and result["high_quality"] == 0.0
    assert result["kl_uniform"] is None
