"""Backend selection, the clear error without a GPU, dtypes and the seeded generator."""

import json

import numpy as np
import pytest

import minigan as mg
from minigan import backend


def test_unknown_backend_is_a_clear_error():
    with pytest.raises(ValueError, match="numpy.*cupy"):
        mg.set_backend("jax")


@pytest.mark.skipif(backend.cupy_available(), reason="a GPU is present: nothing to refuse")
def test_cupy_without_a_gpu_names_the_fix():
    before = mg.get_backend()
    with pytest.raises(backend.BackendError, match=r"minigan\[cuda12\]|no usable CUDA GPU|no CUDA"):
        mg.set_backend("cupy")
    assert mg.get_backend() == before  # a failed switch changes nothing


@pytest.mark.skipif(not backend.cupy_available(), reason="CuPy or a CUDA GPU is not available")
def test_cupy_backend_round_trip():
    mg.set_backend("cupy")
    import cupy

    x = mg.tensor(np.arange(3.0), requires_grad=True)
    assert isinstance(x.data, cupy.ndarray)
    (x * x).sum().backward()
    np.testing.assert_allclose(backend.to_numpy(x.grad), [0.0, 2.0, 4.0])


def test_seed_gives_identical_draws_and_state_round_trips():
    mg.manual_seed(7)
    a = backend.to_numpy(backend.randn(4, 3))
    mg.manual_seed(7)
    np.testing.assert_array_equal(backend.to_numpy(backend.randn(4, 3)), a)
    state = backend.rng_state()
    b = backend.to_numpy(backend.uniform(-1, 1, (5,)))
    backend.set_rng_state(state)
    np.testing.assert_array_equal(backend.to_numpy(backend.uniform(-1, 1, (5,))), b)
    assert isinstance(state, str)


def test_random_draws_follow_the_default_dtype():
    assert backend.randn(2).dtype == np.float32
    mg.set_default_dtype(np.float64)
    assert backend.randn(2).dtype == np.float64
    assert mg.tensor([1.0]).dtype == np.float64


def test_to_device_and_to_numpy_move_between_host_and_backend():
    host = np.arange(4.0, dtype=np.float32)
    device = backend.to_device(host)
    assert isinstance(device, backend.xp.ndarray)
    back = backend.to_numpy(device)
    assert isinstance(back, np.ndarray)
    np.testing.assert_array_equal(back, host)
    converted = backend.to_device(host, dtype=np.float64)
    assert converted.dtype == np.float64 and isinstance(converted, backend.xp.ndarray)
    np.testing.assert_array_equal(backend.to_numpy(converted), host)
    if backend.get_backend() == "numpy":  # documented: no copy where none is needed
        assert device is host and back is host


def test_quiet_floating_point_errors_silences_overflow_and_restores():
    import warnings

    big = backend.to_device(np.array([1e30], np.float32))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with backend.quiet_floating_point_errors():
            assert not np.isfinite(backend.to_numpy(big * big)).all()
    if backend.xp is np:
        with pytest.warns(RuntimeWarning):
            big * big


DRAWS = {
    "randn": lambda: backend.randn(3, 2), "uniform": lambda: backend.uniform(-1, 2, (4,)),
    "normal": lambda: backend.normal(1.0, 0.5, (2, 2)), "random": lambda: backend.random((5,)),
    "integers": lambda: backend.integers(0, 8, (6,)),
}


def draws():
    return [backend.to_numpy(draw()) for draw in DRAWS.values()]


def test_every_draw_is_on_the_backend_seeded_and_its_state_round_trips():
    """On the device under cupy (nothing copied from the host), exactly repeatable from a
    seed or from rng_state() on each backend."""
    mg.manual_seed(11)
    first = [draw() for draw in DRAWS.values()]
    assert all(backend.is_array(x) for x in first)
    assert first[-1].dtype == np.int64 and first[3].dtype == np.float64
    assert first[0].dtype == np.float32  # the default dtype
    mg.manual_seed(11)
    for a, b in zip([backend.to_numpy(x) for x in first], draws()):
        np.testing.assert_array_equal(a, b)
    state = backend.rng_state()
    after = draws()
    backend.set_rng_state(state)
    for a, b in zip(after, draws()):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(after[0], draws()[0])  # and the stream moves on
    loaded = json.loads(state)  # JSON, so a checkpoint stores it without pickle
    assert set(loaded) == {"host", "device"} and len(loaded["device"]) == 2


def test_a_bare_host_generator_state_is_still_accepted():
    mg.manual_seed(2)
    legacy = json.dumps(backend.generator().bit_generator.state)
    expected = backend.generator().random()
    backend.set_rng_state(legacy)
    assert backend.generator().random() == expected


def test_on_numpy_the_draws_are_the_host_generators():
    """So data batches and noise on the numpy backend are what they always were."""
    if mg.get_backend() != "numpy":
        pytest.skip("the numpy backend draws from the host generator")
    mg.manual_seed(4)
    ours = draws()
    host = np.random.default_rng(4)
    expected = [host.standard_normal((3, 2)).astype(np.float32),
                host.uniform(-1, 2, (4,)).astype(np.float32),
                host.normal(1.0, 0.5, (2, 2)).astype(np.float32), host.random((5,)),
                host.integers(0, 8, (6,))]
    for a, b in zip(ours, expected):
        np.testing.assert_array_equal(a, b)
