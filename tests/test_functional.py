"""Activations, linear and the batch-norm ops: values, stability at |x| = 1e4, and
finite-difference gradients; float32 backwards, op names and freed graphs for every op of
the module (the convolutions' own tests are in test_conv.py)."""

import gc
import weakref

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

import minigan as mg
import minigan.functional as F
from minigan.backend import to_numpy as host
from minigan.testing import arrays, shapes


def reference_sigmoid(x):
    with np.errstate(over="ignore"):
        return 1.0 / (1.0 + np.exp(-x))


ACTIVATIONS = {
    "relu": (F.relu, lambda x: np.maximum(x, 0), (0.0,)),
    "leaky_relu": (F.leaky_relu, lambda x: np.where(x > 0, x, 0.2 * x), (0.0,)),
    "leaky_relu_0.01": (lambda t: F.leaky_relu(t, 0.01), lambda x: np.where(x > 0, x, 0.01 * x),
                        (0.0,)),
    # slopes outside [0, 1] take leaky_relu's general path (max(x, slope·x) needs slope <= 1)
    "leaky_relu_1.5": (lambda t: F.leaky_relu(t, 1.5), lambda x: np.where(x > 0, x, 1.5 * x),
                       (0.0,)),
    "leaky_relu_-0.5": (lambda t: F.leaky_relu(t, -0.5), lambda x: np.where(x > 0, x, -0.5 * x),
                        (0.0,)),
    "sigmoid": (F.sigmoid, reference_sigmoid, ()),
    "tanh": (F.tanh, np.tanh, ()),
    "softplus": (F.softplus, lambda x: np.logaddexp(0.0, x), ()),
    "log_sigmoid": (F.log_sigmoid, lambda x: -np.logaddexp(0.0, -x), ()),
}


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
@given(data=st.data())
def test_activation_values_and_gradients(float64, name, data):
    op, reference, kinks = ACTIVATIONS[name]
    x = data.draw(shapes(max_dims=3).flatmap(lambda s: arrays(s, -8, 8, kinks=kinks)))
    t = mg.tensor(x, requires_grad=True)
    np.testing.assert_allclose(op(t).numpy(), reference(x), rtol=1e-12, atol=1e-300)
    assert mg.gradcheck(op, [t])


def f32(*shape):
    return mg.tensor(np.random.default_rng(0).uniform(-2.0, 2.0, shape).astype(np.float32),
                     requires_grad=True)


FUNCTIONAL_OPS = {
    "relu": lambda: F.relu(f32(2, 3)), "leaky_relu": lambda: F.leaky_relu(f32(2, 3)),
    "leaky_relu_1.5": lambda: F.leaky_relu(f32(2, 3), 1.5), "sigmoid": lambda: F.sigmoid(f32(3)),
    "tanh": lambda: F.tanh(f32(3)), "softplus": lambda: F.softplus(f32(3)),
    "log_sigmoid": lambda: F.log_sigmoid(f32(3)),
    "linear": lambda: F.linear(f32(5, 3), f32(4, 3), f32(4)),
    "linear_1d": lambda: F.linear(f32(3), f32(1, 3)),
    "concat": lambda: F.concat([f32(2, 3), f32(1, 3)]),
    "where": lambda: F.where(mg.backend.to_device(np.array([True, False, True])), f32(3), 0.0),
    "conv2d": lambda: F.conv2d(f32(2, 3, 5, 5), f32(4, 3, 3, 3), f32(4), stride=2, padding=1),
    "conv_transpose2d": lambda: F.conv_transpose2d(f32(2, 3, 3, 3), f32(3, 4, 4, 4), f32(4),
                                                   stride=2, padding=1),
    "batch_norm": lambda: F.batch_norm(f32(4, 3, 2, 2), f32(3), f32(3), f32(3).data,
                                       abs(f32(3).data) + 0.5),
    "batch_norm_train": lambda: F.batch_norm_train(f32(4, 3), f32(3), f32(3), 1e-5)[0],
}


@pytest.mark.parametrize("name", sorted(FUNCTIONAL_OPS))
def test_every_node_is_named_after_its_op(name):
    expected = {"leaky_relu_1.5": "leaky_relu", "linear_1d": "linear"}.get(name, name)
    assert FUNCTIONAL_OPS[name]().op_name == expected


@pytest.mark.parametrize("name", sorted(FUNCTIONAL_OPS))
def test_float32_backward_returns_float32_of_each_inputs_shape(name):
    """Each op's own backward, called directly (the leaf's cast cannot hide an upcast)."""
    out = FUNCTIONAL_OPS[name]()
    assert out.dtype == np.float32
    grads = out._backward(mg.backend.to_device(np.ones(out.shape, np.float32)))
    for parent, grad in zip(out._parents, grads):
        if parent.requires_grad:
            assert grad.dtype == np.float32 and grad.shape == parent.shape


@pytest.mark.parametrize("name", sorted(FUNCTIONAL_OPS))
def test_a_dropped_graph_is_freed_without_gc(name):
    gc.disable()
    try:
        out = FUNCTIONAL_OPS[name]()
        ref = weakref.ref(out)
        del out
        assert ref() is None
    finally:
        gc.enable()


EXTREMES = np.array([-1e4, -1e3, -100.0, -30.0, -1.0, 0.0, 1.0, 30.0, 100.0, 1e3, 1e4])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", ["sigmoid", "softplus", "log_sigmoid", "tanh"])
def test_stable_and_exact_for_large_inputs(name, dtype):
    op, reference, _ = ACTIVATIONS[name]
    x = mg.tensor(EXTREMES.astype(dtype), requires_grad=True)
    y = op(x)
    y.sum().backward()
    assert y.dtype == dtype and x.grad.dtype == dtype
    assert np.isfinite(y.numpy()).all() and np.isfinite(host(x.grad)).all()
    tolerance = 2e-7 if dtype == np.float32 else 1e-15
    np.testing.assert_allclose(y.numpy(), reference(EXTREMES).astype(dtype), rtol=tolerance)


def test_stable_gradients_have_the_right_limits():
    x = mg.tensor(EXTREMES, requires_grad=True)
    F.softplus(x).sum().backward()
    np.testing.assert_allclose(host(x.grad), reference_sigmoid(EXTREMES), rtol=1e-15)
    x.grad = None
    F.log_sigmoid(x).sum().backward()
    np.testing.assert_allclose(host(x.grad), reference_sigmoid(-EXTREMES), rtol=1e-15)


@given(data=st.data(), bias=st.booleans())
def test_linear_matches_numpy_and_finite_differences(float64, data, bias):
    batch = data.draw(st.sampled_from([(), (3,), (2, 3)]))
    n_in, n_out = data.draw(st.integers(1, 5)), data.draw(st.integers(1, 5))
    x = data.draw(arrays(batch + (n_in,)))
    w = data.draw(arrays((n_out, n_in)))
    b = data.draw(arrays((n_out,)))
    tensors = [mg.tensor(a, requires_grad=True) for a in ((x, w, b) if bias else (x, w))]
    expected = x @ w.T + (b if bias else 0.0)
    np.testing.assert_allclose(F.linear(*tensors).numpy(), expected, rtol=1e-12)
    assert mg.gradcheck(F.linear, tensors)


def test_linear_is_one_node_and_skips_gradients_nobody_needs():
    x = mg.tensor(np.ones((4, 3)))  # data: no gradient needed
    w = mg.tensor(np.ones((2, 3)), requires_grad=True)
    y = F.linear(x, w, mg.tensor(np.zeros(2), requires_grad=True))
    assert len(y._parents) == 3
    assert y._backward(mg.backend.to_device(np.ones((4, 2), np.float32)))[0] is None


def test_linear_matches_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    x, w, b = rng.standard_normal((5, 4)), rng.standard_normal((3, 4)), rng.standard_normal(3)
    g = rng.standard_normal((5, 3))
    tx, tw, tb = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    torch.nn.functional.linear(tx, tw, tb).backward(torch.tensor(g))
    mx, mw, mb = (mg.tensor(a, requires_grad=True) for a in (x, w, b))
    F.linear(mx, mw, mb).backward(g)
    for ours, theirs in ((mx, tx), (mw, tw), (mb, tb)):
        np.testing.assert_allclose(host(ours.grad), theirs.grad.numpy(), rtol=1e-12)


@st.composite
def batch_norm_inputs(draw):
    """x of shape (N, C) or (N, C, H, W) with a spread in every channel, and w, b of (C,)."""
    n, c = draw(st.integers(2, 4)), draw(st.integers(1, 3))
    shape = (n, c) + draw(st.sampled_from([(), (2, 1), (2, 3)]))
    # a per-sample offset keeps each channel's variance away from 0, where 1/√(σ² + ε)
    # curves too fast for finite differences
    offset = np.linspace(-2, 2, n).reshape((n,) + (1,) * (len(shape) - 1))
    x = draw(arrays(shape)) + offset
    assume(np.all(x.var(axis=(0,) + tuple(range(2, len(shape)))) > 0.1))
    w, b = draw(arrays((c,))), draw(arrays((c,)))
    return [mg.tensor(a, requires_grad=True) for a in (x, w, b)]


@given(inputs=batch_norm_inputs())
def test_batch_norm_ops_match_the_formula_and_finite_differences(float64, inputs):
    x, w, b = (t.numpy() for t in inputs)
    axes = (0,) + tuple(range(2, x.ndim))
    shape = (1, -1) + (1,) * (x.ndim - 2)
    mean, var = x.mean(axis=axes), x.var(axis=axes)
    y, batch_mean, batch_var = F.batch_norm_train(*inputs, 1e-5)
    expected = ((x - mean.reshape(shape)) / np.sqrt(var.reshape(shape) + 1e-5)
                * w.reshape(shape) + b.reshape(shape))
    np.testing.assert_allclose(y.numpy(), expected, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(host(batch_mean), mean, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(host(batch_var), var, rtol=1e-10)
    assert mg.gradcheck(lambda *t: F.batch_norm_train(*t, 1e-5)[0], inputs)
    # eval form: the statistics are constants
    constant_mean, constant_inv_std = mean + 0.3, 1 / np.sqrt(var + 0.5)
    running_mean = mg.backend.to_device(constant_mean)
    inv_std = mg.backend.to_device(constant_inv_std)
    np.testing.assert_allclose(F.batch_norm(*inputs, running_mean, inv_std).numpy(),
                               (x - constant_mean.reshape(shape)) * constant_inv_std.reshape(shape)
                               * w.reshape(shape) + b.reshape(shape), rtol=1e-10, atol=1e-12)
    assert mg.gradcheck(lambda *t: F.batch_norm(*t, running_mean, inv_std), inputs)
