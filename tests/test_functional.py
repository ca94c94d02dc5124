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


def softplus_reference(x, beta, threshold):
    """PyTorch's softplus: log(1 + e^(βx))/β, and x itself where βx > threshold."""
    return np.where(beta * x > threshold, x, np.logaddexp(0.0, beta * x) / beta)


ACTIVATIONS = {
    "relu": (F.relu, lambda x: np.maximum(x, 0), (0.0,)),
    "leaky_relu": (F.leaky_relu, lambda x: np.where(x > 0, x, 0.01 * x), (0.0,)),  # PyTorch's
    "leaky_relu_0.2": (lambda t: F.leaky_relu(t, 0.2), lambda x: np.where(x > 0, x, 0.2 * x),
                       (0.0,)),
    # slopes outside [0, 1] take leaky_relu's general path (max(x, slope·x) needs slope <= 1)
    "leaky_relu_1.5": (lambda t: F.leaky_relu(t, 1.5), lambda x: np.where(x > 0, x, 1.5 * x),
                       (0.0,)),
    "leaky_relu_-0.5": (lambda t: F.leaky_relu(t, -0.5), lambda x: np.where(x > 0, x, -0.5 * x),
                        (0.0,)),
    "sigmoid": (F.sigmoid, reference_sigmoid, ()),
    "tanh": (F.tanh, np.tanh, ()),
    "softplus": (F.softplus, lambda x: softplus_reference(x, 1.0, 20.0), ()),
    # beta and threshold (PyTorch's): x itself where beta·x > threshold; kinks at the switch
    "softplus_beta2_threshold3": (lambda t: F.softplus(t, beta=2.0, threshold=3.0),
                                  lambda x: softplus_reference(x, 2.0, 3.0), (1.5,)),
    "softplus_beta-1.5": (lambda t: F.softplus(t, beta=-1.5, threshold=4.0),
                          lambda x: softplus_reference(x, -1.5, 4.0), (-8 / 3,)),
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
    "concat_empty": lambda: F.concat([f32(0), f32(2, 3)], axis=1),
    "dropout": lambda: F.dropout(f32(4, 3), 0.3),
    "max_pool2d": lambda: F.max_pool2d(f32(2, 3, 5, 5), 3, stride=2, padding=1),
    "avg_pool2d": lambda: F.avg_pool2d(f32(3, 4, 4), 2),
    "batch_norm_no_affine": lambda: F.batch_norm(f32(4, 3), None, None, f32(3).data,
                                                 abs(f32(3).data) + 0.5),
    "batch_norm_train_no_affine": lambda: F.batch_norm_train(f32(4, 3, 2), None, None, 1e-5)[0],
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
    expected = {"leaky_relu_1.5": "leaky_relu", "linear_1d": "linear", "concat_empty": "concat",
                "batch_norm_no_affine": "batch_norm",
                "batch_norm_train_no_affine": "batch_norm_train"}.get(name, name)
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
    F.softplus(x).sum().backward()  # σ(x), and 1 beyond PyTorch's threshold x > 20
    np.testing.assert_allclose(host(x.grad), np.where(EXTREMES > 20, 1.0,
                                                      reference_sigmoid(EXTREMES)), rtol=1e-15)
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


@given(inputs=batch_norm_inputs(), affine=st.sampled_from(["none", "weight", "bias"]))
def test_batch_norm_ops_without_an_affine_weight_or_bias(float64, inputs, affine):
    """affine=False (as PyTorch): w = 1 and b = 0 where they are None."""
    x, w, b = inputs
    ones, zeros = (mg.tensor(f(w.shape)) for f in (np.ones, np.zeros))
    weight = w if affine == "weight" else None
    bias = b if affine == "bias" else None
    full = (x, weight or ones, bias or zeros)
    y = F.batch_norm_train(x, weight, bias, 1e-5)[0]
    np.testing.assert_allclose(y.numpy(), F.batch_norm_train(*full, 1e-5)[0].numpy(),
                               rtol=1e-12, atol=1e-12)
    given_inputs = [t for t in (x, weight, bias) if t is not None]
    assert len(y._parents) == len(given_inputs)

    def split(*ts):
        it = iter(ts[1:])
        return ts[0], (next(it) if weight is not None else None), (
            next(it) if bias is not None else None)

    assert mg.gradcheck(lambda *ts: F.batch_norm_train(*split(*ts), 1e-5)[0], given_inputs)
    mean = mg.backend.to_device(np.full(w.shape, 0.2))
    inv_std = mg.backend.to_device(np.full(w.shape, 1.3))
    np.testing.assert_allclose(F.batch_norm(x, weight, bias, mean, inv_std).numpy(),
                               F.batch_norm(*full, mean, inv_std).numpy(), rtol=1e-12,
                               atol=1e-12)
    assert mg.gradcheck(lambda *ts: F.batch_norm(*split(*ts), mean, inv_std), given_inputs)


# --- PyTorch's defaults and edges: leaky_relu, softplus, concat, dropout ----------------


def test_leaky_relu_defaults_to_pytorchs_slope():
    x = mg.tensor([-2.0, 3.0])
    np.testing.assert_allclose(F.leaky_relu(x).numpy(), [-0.02, 3.0], rtol=1e-6)


SOFTPLUS_CASES = [(1.0, 20.0), (2.0, 20.0), (0.5, 3.0), (-1.5, 4.0), (3.0, 1.0)]


@pytest.mark.parametrize("beta,threshold", SOFTPLUS_CASES)
def test_softplus_beta_and_threshold_match_torch(beta, threshold):
    torch = pytest.importorskip("torch")
    x = np.concatenate([np.linspace(-30, 30, 61), [threshold / beta + 1e-3,
                                                   threshold / beta - 1e-3]])
    g = np.random.default_rng(0).standard_normal(x.shape)
    tx = torch.tensor(x, requires_grad=True)
    expected = torch.nn.functional.softplus(tx, beta=beta, threshold=threshold)
    expected.backward(torch.tensor(g))
    mx = mg.tensor(x, requires_grad=True)
    ours = F.softplus(mx, beta=beta, threshold=threshold)
    ours.backward(g)
    np.testing.assert_allclose(ours.numpy(), expected.detach().numpy(), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(host(mx.grad), tx.grad.numpy(), rtol=1e-12, atol=1e-15)


@given(data=st.data(), case=st.sampled_from(SOFTPLUS_CASES))
def test_softplus_beta_and_threshold_gradients(float64, data, case):
    beta, threshold = case
    x = data.draw(shapes(max_dims=2).flatmap(
        lambda s: arrays(s, -6, 6, kinks=(threshold / beta,))))
    assert mg.gradcheck(lambda t: F.softplus(t, beta=beta, threshold=threshold),
                        [mg.tensor(x, requires_grad=True)])


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_concat_skips_an_empty_1d_tensor_as_torch_cat_does(axis):
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((2, 3, 4)), rng.standard_normal((2, 3, 4))
    parts = [mg.tensor(np.zeros(0), requires_grad=True), mg.tensor(a, requires_grad=True),
             mg.tensor(np.zeros(0), requires_grad=True), mg.tensor(b, requires_grad=True)]
    out = F.concat(parts, axis=axis)
    np.testing.assert_array_equal(out.numpy(), np.concatenate([a, b], axis=axis))
    out.backward(np.ones(out.shape))
    assert [host(p.grad).shape for p in parts] == [(0,), a.shape, (0,), b.shape]
    assert F.concat([mg.tensor(np.zeros(0)), mg.tensor(np.zeros(0))]).shape == (0,)
    torch = pytest.importorskip("torch")
    expected = torch.cat([torch.zeros(0), torch.tensor(a), torch.zeros(0), torch.tensor(b)],
                         dim=axis)
    np.testing.assert_array_equal(out.numpy(), expected.numpy())


def test_concat_of_other_ranks_is_a_clear_error():
    with pytest.raises(ValueError, match="one rank.*got 3 and 1"):
        F.concat([mg.tensor(np.ones((2, 3, 4))), mg.tensor(np.ones(1))])
    with pytest.raises(ValueError, match="one rank"):
        F.concat([mg.tensor(np.zeros((0, 3))), mg.tensor(np.ones((2, 3, 4)))])


def dropout_seeded(x, p, seed=3):
    mg.manual_seed(seed)  # the same mask on every call, so finite differences apply
    return F.dropout(x, p)


@given(data=st.data(), p=st.sampled_from([0.2, 0.5, 0.9]))
def test_dropout_gradient_is_the_scaled_mask(float64, data, p):
    x = mg.tensor(data.draw(shapes(min_dims=1, max_dims=3).flatmap(arrays)), requires_grad=True)
    y = dropout_seeded(x, p)
    kept = y.numpy() != 0
    np.testing.assert_allclose(y.numpy()[kept], x.numpy()[kept] / (1 - p), rtol=1e-12)
    assert mg.gradcheck(lambda t: dropout_seeded(t, p), [x])


def test_dropout_scales_by_the_keep_rate_repeats_with_the_seed_and_is_off_in_eval():
    x = mg.tensor(np.ones(20000))
    a, b = dropout_seeded(x, 0.3).numpy(), dropout_seeded(x, 0.3).numpy()
    np.testing.assert_array_equal(a, b)  # seeded by the backend's generator
    np.testing.assert_allclose(np.unique(a), [0.0, 1 / 0.7], rtol=1e-15)
    assert abs((a == 0).mean() - 0.3) < 0.02 and abs(a.mean() - 1) < 0.03
    assert not np.array_equal(a, F.dropout(x, 0.3).numpy())  # the next draw differs
    assert F.dropout(x, 0.3, training=False) is x and F.dropout(x, 0.0) is x
    np.testing.assert_array_equal(F.dropout(x, 1.0).numpy(), 0.0)
    for p in (-0.1, 1.5):
        with pytest.raises(ValueError, match="between 0 and 1"):
            F.dropout(x, p)
