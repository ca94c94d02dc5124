"""Layers: values and finite-difference gradients of every layer in train and eval mode,
BatchNorm's fused backward and running statistics, PyTorch's initialisation, Module's
parameter registration, state_dict round trips and errors, and PyTorch cross-checks."""

import math

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

import minigan as mg
import minigan.functional as F
from minigan import nn, stabilizers
from minigan.backend import to_numpy as host
from minigan.testing import arrays, check_module_gradients, default_dtype, randomize_parameters

# --- Linear and activations -------------------------------------------------------------


@given(data=st.data(), bias=st.booleans(), training=st.booleans())
def test_linear_values_and_gradients(float64, data, bias, training):
    n_in, n_out = data.draw(st.integers(1, 6)), data.draw(st.integers(1, 6))
    batch = data.draw(st.sampled_from([(1,), (4,), (2, 3)]))
    layer = nn.Linear(n_in, n_out, bias=bias).train(training)
    assert layer.weight.shape == (n_out, n_in) and layer.weight.dtype == np.float64
    x = data.draw(arrays(batch + (n_in,)))
    w = host(layer.weight.data)
    expected = x @ w.T + (host(layer.bias.data) if bias else 0.0)
    xt = mg.tensor(x, requires_grad=True)
    np.testing.assert_allclose(layer(xt).numpy(), expected, rtol=1e-12, atol=1e-12)
    assert check_module_gradients(layer, xt)


ACTIVATIONS = [
    (nn.ReLU(), lambda x: np.maximum(x, 0)),
    (nn.LeakyReLU(), lambda x: np.where(x > 0, x, 0.01 * x)),  # PyTorch's default slope
    (nn.LeakyReLU(0.2), lambda x: np.where(x > 0, x, 0.2 * x)),
    (nn.Tanh(), np.tanh),
    (nn.Sigmoid(), lambda x: 1 / (1 + np.exp(-x))),
]


@pytest.mark.parametrize("index", range(len(ACTIVATIONS)))
@given(data=st.data(), training=st.booleans())
def test_activation_modules(float64, index, data, training):
    layer, reference = ACTIVATIONS[index]
    layer.train(training)
    x = data.draw(arrays(data.draw(st.sampled_from([(3,), (2, 4), (2, 2, 2, 2)])),
                         kinks=(0.0,)))
    xt = mg.tensor(x, requires_grad=True)
    np.testing.assert_allclose(layer(xt).numpy(), reference(x), rtol=1e-12)
    assert list(layer.parameters()) == []
    assert check_module_gradients(layer, xt)


# --- BatchNorm --------------------------------------------------------------------------


def batch_norm_reference(x, w, b, mean, var, eps=1e-5):
    shape = (1, -1) + (1,) * (x.ndim - 2)
    return ((x - mean.reshape(shape)) / np.sqrt(var.reshape(shape) + eps) * w.reshape(shape)
            + b.reshape(shape))


def channel_axes(x):
    return (0,) + tuple(range(2, x.ndim))


@st.composite
def batch_norm_cases(draw):
    """(layer class, input) with batch >= 2, 1-4 channels, and a spread in every channel."""
    cls = draw(st.sampled_from([nn.BatchNorm1d, nn.BatchNorm2d]))
    n, c = draw(st.integers(2, 5)), draw(st.integers(1, 4))
    if cls is nn.BatchNorm1d:
        shape = (n, c) + draw(st.sampled_from([(), (), (3,)]))
    else:
        shape = (n, c, draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    x = draw(arrays(shape))
    # a per-sample offset keeps the channel variances away from 0, where
    # 1/sqrt(var + eps) curves too fast for finite differences
    x = x + np.linspace(-2, 2, n).reshape((n,) + (1,) * (len(shape) - 1))
    assume(np.all(x.var(axis=channel_axes(x)) > 0.1))
    return cls, x


@given(case=batch_norm_cases(), training=st.booleans())
def test_batch_norm_values_and_gradients(float64, case, training):
    cls, x = case
    layer = cls(x.shape[1]).train(training)
    randomize_parameters(layer, seed=x.size)
    w, b = host(layer.weight.data), host(layer.bias.data)
    if training:
        mean, var = x.mean(axis=channel_axes(x)), x.var(axis=channel_axes(x))
    else:
        mean, var = host(layer.running_mean).copy(), host(layer.running_var).copy()
    xt = mg.tensor(x, requires_grad=True)
    y = layer(xt)
    np.testing.assert_allclose(y.numpy(), batch_norm_reference(x, w, b, mean, var),
                               rtol=1e-10, atol=1e-12)
    # fused: the whole normalisation is one graph node over (x, weight, bias)
    assert y._parents == (xt, layer.weight, layer.bias)
    assert y.op_name == ("batch_norm_train" if training else "batch_norm")
    assert check_module_gradients(layer, xt)


def test_batch_norm_backward_is_the_closed_form(float64):
    rng = np.random.default_rng(3)
    x, g = rng.standard_normal((6, 3, 2, 2)), rng.standard_normal((6, 3, 2, 2))
    layer = nn.BatchNorm2d(3)
    randomize_parameters(layer, rng)
    w = host(layer.weight.data).reshape(1, 3, 1, 1)
    xt = mg.tensor(x, requires_grad=True)
    layer(xt).backward(g)
    m = x.size // 3
    mean, var = x.mean(axis=(0, 2, 3), keepdims=True), x.var(axis=(0, 2, 3), keepdims=True)
    xhat = (x - mean) / np.sqrt(var + 1e-5)
    gb, gw = g.sum(axis=(0, 2, 3), keepdims=True), (g * xhat).sum(axis=(0, 2, 3), keepdims=True)
    gx = w / np.sqrt(var + 1e-5) / m * (m * g - gb - xhat * gw)
    np.testing.assert_allclose(host(xt.grad), gx, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(host(layer.weight.grad), gw.ravel(), rtol=1e-12)
    np.testing.assert_allclose(host(layer.bias.grad), gb.ravel(), rtol=1e-12)


def test_a_wrong_batch_norm_backward_is_caught(float64, monkeypatch):
    """The gradient check above bites: forgetting the −Σg/M term of dL/dx is detected."""
    real = F.batch_norm_train

    def without_mean_term(x, weight, bias, eps, **options):
        out, mean, var = real(x, weight, bias, eps, **options)
        inner = out._backward

        def backward(g):
            gx, gw, gb = inner(g)
            return gx + weight.data * (1 / (var + eps) ** 0.5) * g.mean(axis=0), gw, gb

        out._backward = backward
        return out, mean, var

    monkeypatch.setattr(F, "batch_norm_train", without_mean_term)
    x = mg.tensor(np.random.default_rng(0).standard_normal((4, 3)), requires_grad=True)
    # the error names the layer and which input is which
    with pytest.raises(mg.GradcheckError, match=r"BatchNorm1d: input 0 .*input 0: module "
                                                r"input 0; input 1: weight; input 2: bias"):
        check_module_gradients(nn.BatchNorm1d(3), x)


def test_randomize_parameters_writes_in_place_from_its_own_seed():
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
    arrays = [p.data for p in model.parameters()] + [model[1].running_mean,
                                                     model[1].running_var]
    mg.manual_seed(1)
    expected_global_draw = mg.randn(3).numpy()
    mg.manual_seed(1)
    assert randomize_parameters(model, seed=5) is model
    np.testing.assert_array_equal(mg.randn(3).numpy(), expected_global_draw)  # seed untouched
    assert all(p.data is a for p, a in zip(model.parameters(), arrays))  # in place
    values = [host(a).copy() for a in arrays]
    assert all(np.abs(v).max() <= 1.5 and v.std() > 0 for v in values[:4])
    assert np.all(np.abs(values[4]) <= 1) and np.all((values[5] >= 0.3) & (values[5] <= 2))
    randomize_parameters(model, seed=5)
    for before, after in zip(values, arrays):
        np.testing.assert_array_equal(before, host(after))


@pytest.mark.parametrize("momentum", [0.1, 0.3, None])
def test_running_statistics_follow_pytorchs_formula(momentum):
    rng = np.random.default_rng(5)
    layer = nn.BatchNorm2d(3, momentum=momentum)
    mean, var = np.zeros(3), np.ones(3)
    for t in range(1, 4):
        x = rng.standard_normal((4, 3, 2, 5)) * (t + 1) + t
        layer(mg.tensor(x.astype(np.float32)))
        factor = 1 / t if momentum is None else momentum
        mean = (1 - factor) * mean + factor * x.mean(axis=(0, 2, 3))
        var = (1 - factor) * var + factor * x.var(axis=(0, 2, 3), ddof=1)  # unbiased
        np.testing.assert_allclose(host(layer.running_mean), mean, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(host(layer.running_var), var, rtol=1e-5)
        assert int(layer.num_batches_tracked) == t
    assert layer.running_mean.dtype == np.float32 and layer.running_var.dtype == np.float32


def test_eval_uses_running_statistics_and_leaves_them_alone():
    rng = np.random.default_rng(6)
    layer = nn.BatchNorm1d(2)
    randomize_parameters(layer, rng)
    before = host(layer.running_mean).copy(), host(layer.running_var).copy()
    layer.eval()
    x = rng.standard_normal((5, 2)).astype(np.float32)
    y = layer(mg.tensor(x)).numpy()
    # each row is normalised on its own: the same with a batch of one
    np.testing.assert_allclose(layer(mg.tensor(x[:1])).numpy(), y[:1], rtol=1e-6)
    np.testing.assert_allclose(y, batch_norm_reference(x, host(layer.weight.data),
                                                       host(layer.bias.data), *before),
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(host(layer.running_mean), before[0])
    np.testing.assert_array_equal(host(layer.running_var), before[1])
    assert int(layer.num_batches_tracked) == 0
    layer.train()
    layer(mg.tensor(x))
    assert not np.allclose(host(layer.running_mean), before[0])


def test_batch_norm_rejects_bad_inputs():
    with pytest.raises(ValueError, match="more than one value per channel"):
        nn.BatchNorm1d(3)(mg.tensor(np.ones((1, 3))))
    with pytest.raises(ValueError, match="3 channels"):
        nn.BatchNorm1d(3)(mg.tensor(np.ones((4, 2))))
    with pytest.raises(ValueError, match="4 dimensions"):
        nn.BatchNorm2d(3)(mg.tensor(np.ones((4, 3))))
    nn.BatchNorm2d(3).eval()(mg.tensor(np.ones((1, 3, 1, 1))))  # one value is fine in eval


def test_batch_norm_keeps_float32():
    layer = nn.BatchNorm2d(2)
    x = mg.tensor(np.random.default_rng(0).standard_normal((3, 2, 2, 2)).astype(np.float32),
                  requires_grad=True)
    y = layer(x)
    y.sum().backward()
    assert y.dtype == np.float32 and x.grad.dtype == np.float32
    assert layer.weight.grad.dtype == np.float32


# --- an MLP as a whole ------------------------------------------------------------------


@given(data=st.data(), training=st.booleans())
def test_mlp_with_batch_norm_gradients(float64, data, training):
    n_in, hidden = data.draw(st.integers(1, 4)), data.draw(st.integers(1, 5))
    model = nn.Sequential(nn.Linear(n_in, hidden), nn.BatchNorm1d(hidden), nn.LeakyReLU(),
                          nn.Linear(hidden, 2), nn.Tanh()).train(training)
    randomize_parameters(model, seed=hidden)
    x = data.draw(arrays((data.draw(st.integers(2, 5)), n_in)))
    x = x + np.linspace(-2, 2, len(x))[:, None]
    assume(np.all(x.var(axis=0) > 0.1))
    # the leaky relu's kink: keep its inputs off 0 for central differences
    with mg.no_grad():
        pre_activation = model[1](model[0](mg.tensor(x))).numpy()
    assume(np.abs(pre_activation).min() > 1e-3)
    assert check_module_gradients(model, mg.tensor(x, requires_grad=True))


# --- initialisation ---------------------------------------------------------------------


def assert_uniform(array, bound):
    """U(-bound, bound): within the bounds, and for many values, mean 0, variance bound²/3
    and a largest magnitude near the bound (5-sigma tolerances)."""
    values = host(array).ravel().astype(np.float64)
    n = values.size
    assert np.abs(values).max() <= bound
    assert abs(values.mean()) < 5 * bound / math.sqrt(3 * n)
    if n >= 200:
        assert np.abs(values).max() > 0.97 * bound  # not a narrower law
        np.testing.assert_allclose(values.var(), bound**2 / 3, rtol=5 * math.sqrt(0.8 / n))


def test_default_initialisation_is_pytorchs():
    linear = nn.Linear(50, 400)
    assert_uniform(linear.weight.data, 1 / math.sqrt(50))
    assert_uniform(linear.bias.data, 1 / math.sqrt(50))
    conv = nn.Conv2d(6, 300, 3)
    assert conv.weight.shape == (300, 6, 3, 3) and conv.bias.shape == (300,)
    assert_uniform(conv.weight.data, 1 / math.sqrt(6 * 9))
    assert_uniform(conv.bias.data, 1 / math.sqrt(6 * 9))
    # transposed: weight (in, out, kh, kw) and fan_in from dimension 1, the OUTPUT channels
    deconv = nn.ConvTranspose2d(60, 5, (4, 2))
    assert deconv.weight.shape == (60, 5, 4, 2) and deconv.bias.shape == (5,)
    assert_uniform(deconv.weight.data, 1 / math.sqrt(5 * 8))
    assert_uniform(deconv.bias.data, 1 / math.sqrt(5 * 8))
    bn = nn.BatchNorm2d(7)
    for array, value in ((bn.weight.data, 1), (bn.bias.data, 0), (bn.running_mean, 0),
                         (bn.running_var, 1)):
        np.testing.assert_array_equal(host(array), np.full(7, value, np.float32))
    for p in (*linear.parameters(), *conv.parameters(), *bn.parameters()):
        assert p.dtype == np.float32 and p.requires_grad and isinstance(p, nn.Parameter)
    assert nn.Linear(3, 2, bias=False).bias is None
    t = mg.zeros(2)
    assert nn.Parameter(t).data is t.data and nn.Parameter(t).requires_grad


def test_initialisation_agrees_with_torch():
    """Both libraries' parameters pass the same uniform test with the same bound (the
    transposed layer is built so that fan_in from the wrong dimension would differ 25×)."""
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    for layer, args, fan_in in (("Linear", (50, 400), 50), ("Conv2d", (6, 300, 3), 54),
                                ("ConvTranspose2d", (500, 20, (2, 2)), 80)):
        ours, theirs = getattr(nn, layer)(*args), getattr(torch.nn, layer)(*args)
        for name, p in ours.named_parameters():
            theirs_p = getattr(theirs, name).detach().numpy()
            assert p.shape == theirs_p.shape
            assert_uniform(p.data, 1 / math.sqrt(fan_in))
            assert_uniform(theirs_p, 1 / math.sqrt(fan_in))


def test_initialisation_is_seeded_and_follows_the_default_dtype():
    with default_dtype("float64"):
        mg.manual_seed(7)
        a = nn.Linear(4, 3)
        mg.manual_seed(7)
        b = nn.Linear(4, 3)
        c = nn.Linear(4, 3)
        assert nn.BatchNorm1d(2).running_var.dtype == np.float64
    np.testing.assert_array_equal(host(a.weight.data), host(b.weight.data))
    assert not np.array_equal(host(a.weight.data), host(c.weight.data))
    assert a.weight.dtype == np.float64 and nn.Linear(4, 3).weight.dtype == np.float32


def test_dcgan_initialisation():
    model = nn.Sequential(nn.Linear(100, 200), nn.BatchNorm1d(200), nn.ReLU(),
                          nn.ConvTranspose2d(40, 50, 4), nn.Conv2d(50, 40, 3))
    weights = {id(m.weight) for m in model.modules() if hasattr(m, "weight")}
    views = {id(p): p.data for p in model.parameters()}
    assert nn.init_dcgan_(model) is model
    for name, p in model.named_parameters():
        values = host(p.data)
        assert p.data is views[id(p)], "must write in place"
        if name.endswith("bias"):
            np.testing.assert_array_equal(values, 0)
        elif isinstance(model[int(name.split(".")[0])], nn.BatchNorm1d):
            assert abs(values.mean() - 1) < 0.01 and 0.015 < values.std() < 0.025
        else:
            assert id(p) in weights
            assert abs(values.mean()) < 0.002 and 0.019 < values.std() < 0.021


# --- Module: registration, traversal, modes, gradients, dtype ---------------------------


class Pair(nn.Module):
    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(mg.tensor([2.0]).data)
        self.first = nn.Linear(2, 3)
        self.second = nn.Sequential(nn.Linear(3, 3), nn.BatchNorm1d(3))
        self.tied = self.first  # a shared submodule
        self.alias = self.scale  # a shared parameter
        self.not_a_parameter = mg.tensor([1.0], requires_grad=True)

    def forward(self, x):
        return self.second(self.tied(x)) * self.alias


def test_named_parameters_order_and_deduplication():
    model = Pair()
    names = [name for name, _ in model.named_parameters()]
    assert names == ["scale", "first.weight", "first.bias", "second.0.weight", "second.0.bias",
                     "second.1.weight", "second.1.bias"]
    assert [id(p) for p in model.parameters()] == [id(p) for _, p in model.named_parameters()]
    assert len({id(p) for p in model.parameters()}) == len(names)
    assert [n for n, _ in model.named_modules()] == ["", "first", "second", "second.0",
                                                     "second.1"]
    assert [n for n, _ in model.named_buffers()] == ["second.1.running_mean",
                                                     "second.1.running_var",
                                                     "second.1.num_batches_tracked"]
    # reassigning an attribute unregisters what it held
    model.first.bias = None
    model.scale = 3.0
    assert "first.bias" not in dict(model.named_parameters())
    assert "scale" not in dict(model.named_parameters())
    assert "alias" in dict(model.named_parameters())  # still held under its other name
    del model.second
    assert [n for n, _ in model.named_parameters()] == ["alias", "first.weight"]


def test_a_module_that_skips_init_gets_a_clear_error():
    class Broken(nn.Module):
        def __init__(self):
            self.layer = nn.Linear(1, 1)

    with pytest.raises(AttributeError, match="super"):
        Broken()


def test_train_eval_are_recursive_and_zero_grad_keeps_the_arrays():
    model = Pair()
    assert model.eval() is model
    assert all(not m.training for m in model.modules())
    model.train()
    assert all(m.training for m in model.modules())
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 2)).astype(np.float32)
    model(mg.tensor(x)).backward(rng.standard_normal((4, 3)).astype(np.float32))
    grads = {id(p): p.grad for p in model.parameters()}
    assert all(g is not None and np.abs(host(g)).sum() > 0 for g in grads.values())
    model.zero_grad()
    for p in model.parameters():
        assert p.grad is grads[id(p)] and not host(p.grad).any()


def test_to_double_converts_parameters_and_float_buffers():
    model = Pair().double()
    assert all(p.dtype == np.float64 for p in model.parameters())
    bn = model.second[1]
    assert bn.running_mean.dtype == np.float64 and bn.num_batches_tracked.dtype == np.int64
    assert model(mg.tensor(np.ones((3, 2)))).dtype == np.float64
    assert all(p.dtype == np.float32 for p in model.float().parameters())


def test_sequential_indexing_and_type_checks():
    layers = [nn.Linear(2, 2), nn.ReLU(), nn.Linear(2, 1)]
    model = nn.Sequential(*layers)
    assert len(model) == 3 and model[0] is layers[0] and model[-1] is layers[2]
    assert list(model) == layers and list(model[1:]) == layers[1:]
    with pytest.raises(TypeError, match="argument 1"):
        nn.Sequential(nn.ReLU(), lambda x: x)


# --- a layer and its activation as one node ---------------------------------------------

FUSING_LAYERS = {  # a layer that takes the activation after it, and its input's shape
    "linear": (lambda: nn.Linear(5, 4), (5,)),
    "linear_no_bias": (lambda: nn.Linear(5, 4, bias=False), (5,)),
    "conv2d": (lambda: nn.Conv2d(2, 3, 4, stride=2, padding=1), (2, 6, 6)),
    "conv_transpose2d": (lambda: nn.ConvTranspose2d(3, 2, 4, stride=2, padding=1), (3, 3, 3)),
    "batch_norm1d": (lambda: nn.BatchNorm1d(4), (4,)),
    "batch_norm2d": (lambda: nn.BatchNorm2d(3), (3, 2, 2)),
    "batch_norm2d_no_affine": (lambda: nn.BatchNorm2d(3, affine=False), (3, 2, 2)),
}
FUSED_ACTIVATIONS = {"relu": nn.ReLU, "leaky_relu_0.2": lambda: nn.LeakyReLU(0.2),
                     "leaky_relu_1": lambda: nn.LeakyReLU(1.0)}


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("activation", sorted(FUSED_ACTIVATIONS))
@pytest.mark.parametrize("name", sorted(FUSING_LAYERS))
def test_a_layer_and_its_activation_are_one_node_with_the_numbers_of_two(name, activation,
                                                                          training):
    build, shape = FUSING_LAYERS[name]
    layer = randomize_parameters(build()).train(training)
    act = FUSED_ACTIVATIONS[activation]()
    model = nn.Sequential(layer, act)
    rng = np.random.default_rng(1)
    data = rng.standard_normal((6, *shape)).astype(np.float32)
    g = rng.standard_normal(model(mg.tensor(data)).shape).astype(np.float32)
    results = []
    for fused in (True, False):
        x = mg.tensor(data, requires_grad=True)
        y = model(x) if fused else act(layer(x))
        assert (y.parents[0] is x) == fused  # one node, or the layer's node before the act's
        layer.zero_grad()
        y.backward(g)
        results.append([y.numpy(), host(x.grad)] + [host(p.grad) for p in layer.parameters()])
    for ours, theirs in zip(*results):  # bit for bit
        np.testing.assert_array_equal(ours, theirs)
    kind = "relu" if activation == "relu" else "leaky_relu"
    assert model(mg.tensor(data, requires_grad=True)).op_name.endswith("+" + kind)


@given(data=st.data(), slope=st.sampled_from([0.0, 0.2, 1.0]))
def test_the_layer_with_its_activation_passes_gradcheck(float64, data, slope):
    """F.linear with relu_slope against central differences, the pre-activations kept 0.1
    away from the kink."""
    x = data.draw(arrays((3, 4)))
    w, b = data.draw(arrays((2, 4))), data.draw(arrays((2,)))
    assume(np.all(np.abs(x @ w.T + b) > 0.1))
    tensors = [mg.tensor(a, requires_grad=True) for a in (x, w, b)]
    z = x @ w.T + b
    y = F.linear(*tensors, relu_slope=slope)
    np.testing.assert_allclose(y.numpy(), np.maximum(z, slope * z), rtol=1e-12)
    assert mg.gradcheck(lambda *t: F.linear(*t, relu_slope=slope), tensors)


def test_sequential_fuses_only_the_layers_and_activations_it_knows():
    class MyReLU(nn.ReLU):
        pass

    x = mg.tensor(np.random.default_rng(0).standard_normal((3, 2)), requires_grad=True)
    for act, name in ((MyReLU(), "relu"), (nn.LeakyReLU(1.5), "leaky_relu"),
                      (nn.Tanh(), "tanh")):
        y = nn.Sequential(nn.Linear(2, 3), act)(x)
        assert y.op_name == name and y.parents[0].op_name == "linear"
    y = nn.Sequential(nn.ReLU(), nn.Linear(2, 3))(x)  # an activation before a layer
    assert y.op_name == "linear" and y.parents[0].op_name == "relu"
    y = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.ReLU())(x)
    assert y.op_name == "relu" and y.parents[0].op_name == "linear+relu"


@pytest.mark.parametrize("slope", [-0.1, 1.5, float("nan")])
def test_a_relu_slope_outside_0_1_is_refused(slope):
    x, w = mg.tensor(np.ones((2, 3))), mg.tensor(np.ones((4, 3)))
    image, kernel = mg.tensor(np.ones((1, 1, 4, 4))), mg.tensor(np.ones((1, 1, 2, 2)))
    for call in (lambda: F.linear(x, w, relu_slope=slope),
                 lambda: F.conv2d(image, kernel, relu_slope=slope),
                 lambda: F.conv_transpose2d(image, kernel, relu_slope=slope),
                 lambda: F.batch_norm_train(x, None, None, 1e-5, relu_slope=slope)):
        with pytest.raises(ValueError, match="relu_slope must lie in"):
            call()


# --- state_dict -------------------------------------------------------------------------


def make_model():
    return nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.LeakyReLU(), nn.Linear(4, 2))


def test_state_dict_round_trip_in_place_and_from_host_arrays():
    source, target = make_model(), make_model()
    x = mg.tensor(np.random.default_rng(0).standard_normal((5, 3)).astype(np.float32))
    source(x)  # moves the running statistics
    state = source.state_dict()
    assert list(state) == ["0.weight", "0.bias", "1.weight", "1.bias", "1.running_mean",
                           "1.running_var", "1.num_batches_tracked", "3.weight", "3.bias"]
    arrays_before = {name: p.data for name, p in target.named_parameters()}
    target.load_state_dict({k: host(v).copy() for k, v in state.items()})  # as from a file
    for name, p in target.named_parameters():
        assert p.data is arrays_before[name]  # copied into, not rebound
    for key, value in target.state_dict().items():
        np.testing.assert_array_equal(host(value), host(state[key]))
    source.eval(), target.eval()
    np.testing.assert_array_equal(source(x).numpy(), target(x).numpy())
    # the state dict holds copies
    state["0.weight"][...] = 0
    assert host(source[0].weight.data).any()


def test_load_state_dict_errors_name_the_keys_and_shapes_and_change_nothing():
    model = make_model()
    state = {k: host(v).copy() for k, v in make_model().state_dict().items()}
    before = {k: host(v).copy() for k, v in model.state_dict().items()}
    missing = dict(state)
    del missing["1.running_var"]
    with pytest.raises(ValueError, match=r"missing keys \['1.running_var'\]"):
        model.load_state_dict(missing)
    with pytest.raises(ValueError, match=r"unexpected keys \['extra'\]"):
        model.load_state_dict({**state, "extra": np.zeros(1)})
    wrong = {**state, "3.weight": np.zeros((4, 2), np.float32)}
    with pytest.raises(ValueError, match=r"'3.weight' has shape \(4, 2\).*\(2, 4\)"):
        model.load_state_dict(wrong)
    for key, value in model.state_dict().items():
        np.testing.assert_array_equal(host(value), before[key])


# --- cross-checks against torch.nn ------------------------------------------------------


def copy_to_torch(ours, theirs, torch):
    with torch.no_grad():
        for name, value in ours.state_dict().items():
            target = theirs.state_dict()[name]
            target.copy_(torch.tensor(host(value)))


@pytest.mark.parametrize("training", [True, False])
def test_mlp_matches_torch(training):
    torch = pytest.importorskip("torch")
    ours = nn.Sequential(nn.Linear(3, 8), nn.BatchNorm1d(8), nn.LeakyReLU(0.2), nn.Linear(8, 4),
                         nn.BatchNorm1d(4), nn.Tanh(), nn.Linear(4, 1), nn.Sigmoid()).double()
    randomize_parameters(ours, seed=2)
    theirs = torch.nn.Sequential(torch.nn.Linear(3, 8), torch.nn.BatchNorm1d(8),
                                 torch.nn.LeakyReLU(0.2), torch.nn.Linear(8, 4),
                                 torch.nn.BatchNorm1d(4), torch.nn.Tanh(), torch.nn.Linear(4, 1),
                                 torch.nn.Sigmoid()).double()
    copy_to_torch(ours, theirs, torch)
    ours.train(training), theirs.train(training)
    rng = np.random.default_rng(3)
    for _ in range(2):  # twice: the running statistics move in training
        x, g = rng.standard_normal((16, 3)), rng.standard_normal((16, 1))
        xt, tx = mg.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
        y = ours(xt)
        y.backward(g)
        out = theirs(tx)
        out.backward(torch.tensor(g))
        np.testing.assert_allclose(y.numpy(), out.detach().numpy(), rtol=1e-10)
        np.testing.assert_allclose(host(xt.grad), tx.grad.numpy(), rtol=1e-9, atol=1e-12)
    their_state = theirs.state_dict()
    for name, value in ours.state_dict().items():
        np.testing.assert_allclose(host(value), their_state[name].numpy(), rtol=1e-9)
    their_params = dict(theirs.named_parameters())
    for name, p in ours.named_parameters():
        np.testing.assert_allclose(host(p.grad), their_params[name].grad.numpy(), rtol=1e-8,
                                   atol=1e-12)


@pytest.mark.parametrize("training", [True, False])
def test_batch_norm_2d_matches_torch_in_float32(training):
    torch = pytest.importorskip("torch")
    ours, theirs = nn.BatchNorm2d(3), torch.nn.BatchNorm2d(3)
    randomize_parameters(ours, seed=4)
    copy_to_torch(ours, theirs, torch)
    ours.train(training), theirs.train(training)
    rng = np.random.default_rng(5)
    x = (rng.standard_normal((8, 3, 5, 4)) * 3 + 1).astype(np.float32)
    g = rng.standard_normal(x.shape).astype(np.float32)
    xt, tx = mg.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    y = ours(xt)
    y.backward(g)
    out = theirs(tx)
    out.backward(torch.tensor(g))
    np.testing.assert_allclose(y.numpy(), out.detach().numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(host(xt.grad), tx.grad.numpy(), rtol=1e-4, atol=1e-5)
    for name in ("running_mean", "running_var"):
        np.testing.assert_allclose(host(getattr(ours, name)),
                                   getattr(theirs, name).numpy(), rtol=1e-5)


# --- convolutions -----------------------------------------------------------------------


@st.composite
def conv_cases(draw):
    """(layer, input) for Conv2d or ConvTranspose2d with valid, small geometry."""
    transposed = draw(st.booleans())
    c_in, c_out = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    kernel = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    stride, padding = draw(st.integers(1, 2)), draw(st.integers(0, 1))
    bias = draw(st.booleans())
    if transposed:
        output_padding = draw(st.integers(0, stride - 1))
        layer = nn.ConvTranspose2d(c_in, c_out, kernel, stride, padding, output_padding, bias=bias)
        # smallest input side whose output side (H − 1)s − 2p + k + op is at least 1
        lows = [1 + max(0, -(-(1 + 2 * padding - k - output_padding) // stride))
                for k in kernel]
    else:
        layer = nn.Conv2d(c_in, c_out, kernel, stride, padding, bias=bias)
        lows = [max(1, k - 2 * padding) for k in kernel]  # (H + 2p − k)//s + 1 >= 1
    side = tuple(draw(st.integers(low, low + 3)) for low in lows)
    x = draw(arrays((draw(st.integers(1, 2)), c_in) + side))
    return layer.train(draw(st.booleans())), x


@pytest.mark.parametrize("kernel_size", [0, (2,), 2.5, (3, -1)])
@pytest.mark.parametrize("layer", [nn.Conv2d, nn.ConvTranspose2d])
def test_conv_layers_reject_bad_kernel_sizes(layer, kernel_size):
    with pytest.raises(ValueError, match="kernel_size"):
        layer(1, 1, kernel_size)


def conv_output_side(layer, side, axis):
    k, s, p = layer.kernel_size[axis], layer.stride[axis], layer.padding[axis]
    if isinstance(layer, nn.Conv2d):
        return (side + 2 * p - k) // s + 1
    return (side - 1) * s - 2 * p + k + layer.output_padding[axis]


@given(case=conv_cases())
def test_conv_layers_shapes_and_gradients(float64, case):
    layer, x = case
    assert layer.weight.shape == ((layer.out_channels, layer.in_channels)
                                  if isinstance(layer, nn.Conv2d)
                                  else (layer.in_channels, layer.out_channels)) + layer.kernel_size
    xt = mg.tensor(x, requires_grad=True)
    y = layer(xt)
    assert y.shape == (x.shape[0], layer.out_channels, conv_output_side(layer, x.shape[2], 0),
                       conv_output_side(layer, x.shape[3], 1))
    assert check_module_gradients(layer, xt)


@pytest.mark.parametrize("transposed", [False, True])
def test_conv_layers_match_torch(transposed):
    torch = pytest.importorskip("torch")
    name, args = ("ConvTranspose2d", (3, 4, (3, 2), 2, 1, 1)) if transposed else \
        ("Conv2d", (3, 4, (3, 2), 2, 1))
    ours, theirs = getattr(nn, name)(*args).double(), getattr(torch.nn, name)(*args).double()
    copy_to_torch(ours, theirs, torch)
    rng = np.random.default_rng(7)
    x = rng.standard_normal((2, 3, 5, 6))
    xt, tx = mg.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    y, out = ours(xt), theirs(tx)
    g = rng.standard_normal(y.shape)
    y.backward(g)
    out.backward(torch.tensor(g))
    np.testing.assert_allclose(y.numpy(), out.detach().numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(host(xt.grad), tx.grad.numpy(), rtol=1e-12, atol=1e-12)
    their_params = dict(theirs.named_parameters())
    for pname, p in ours.named_parameters():
        np.testing.assert_allclose(host(p.grad), their_params[pname].grad.numpy(), rtol=1e-12,
                                   atol=1e-12)


def test_dcgan_generator_matches_torch_in_training():
    """ConvTranspose2d → BatchNorm2d → ReLU → ConvTranspose2d → Tanh, two steps of
    running statistics, in float32."""
    torch = pytest.importorskip("torch")

    def build(lib):
        return lib.Sequential(lib.ConvTranspose2d(8, 6, 4, 1, 0), lib.BatchNorm2d(6), lib.ReLU(),
                              lib.ConvTranspose2d(6, 1, 4, 2, 1), lib.Tanh())

    ours, theirs = nn.init_dcgan_(build(nn)), build(torch.nn)
    copy_to_torch(ours, theirs, torch)
    rng = np.random.default_rng(8)
    for _ in range(2):
        z = rng.standard_normal((5, 8, 1, 1)).astype(np.float32)
        zt, tz = mg.tensor(z, requires_grad=True), torch.tensor(z, requires_grad=True)
        y, out = ours(zt), theirs(tz)
        assert y.shape == (5, 1, 8, 8) and y.dtype == np.float32
        g = rng.standard_normal(y.shape).astype(np.float32)
        y.backward(g)
        out.backward(torch.tensor(g))
        np.testing.assert_allclose(y.numpy(), out.detach().numpy(), rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(host(zt.grad), tz.grad.numpy(), rtol=1e-3, atol=1e-4)
    their_state = theirs.state_dict()
    for key, value in ours.state_dict().items():
        np.testing.assert_allclose(host(value), their_state[key].numpy(), rtol=1e-4, atol=1e-6)


# --- layers for PyTorch ports: Flatten, Unflatten, Dropout, requires_grad_, affine=False ---


@pytest.mark.parametrize("start,end", [(1, -1), (0, -1), (1, 2), (-2, -1), (2, 2)])
def test_flatten_matches_torch_and_its_gradient(float64, start, end):
    x = np.random.default_rng(0).standard_normal((2, 3, 4, 5))
    layer = nn.Flatten(start, end)
    torch = pytest.importorskip("torch")
    expected = torch.nn.Flatten(start, end)(torch.tensor(x)).numpy()
    np.testing.assert_array_equal(layer(mg.tensor(x)).numpy(), expected)
    assert check_module_gradients(layer, mg.tensor(x, requires_grad=True))
    assert nn.Flatten()(mg.tensor(x)).shape == (2, 60)  # PyTorch's defaults: start_dim=1


@pytest.mark.parametrize("dim,sizes", [(1, (3, 4)), (-1, (2, -1)), (0, (1, 2)), (1, (-1, 6))])
def test_unflatten_matches_torch_and_its_gradient(float64, dim, sizes):
    x = np.random.default_rng(0).standard_normal((2, 12))
    layer = nn.Unflatten(dim, sizes)
    torch = pytest.importorskip("torch")
    expected = torch.nn.Unflatten(dim, sizes)(torch.tensor(x)).numpy()
    np.testing.assert_array_equal(layer(mg.tensor(x)).numpy(), expected)
    assert check_module_gradients(layer, mg.tensor(x, requires_grad=True))


def test_flatten_and_unflatten_errors_are_clear():
    x = mg.tensor(np.ones((2, 12)))
    with pytest.raises(ValueError, match="do not multiply up to the size of dim 1 \\(12\\)"):
        nn.Unflatten(1, (5, 2))(x)
    with pytest.raises(ValueError, match="do not multiply"):
        nn.Unflatten(1, (-1, -1))(x)
    with pytest.raises(ValueError, match="start_dim 1 comes after end_dim 0"):
        nn.Flatten(1, 0)(x)
    with pytest.raises(ValueError, match="out of range"):
        nn.Flatten(2)(x)
    assert repr(nn.Unflatten(1, (3, 4))) == "Unflatten(dim=1, unflattened_size=(3, 4))"


def test_dropout_layer_follows_train_and_eval_and_repeats_with_the_seed():
    x = mg.tensor(np.ones((50, 40)), requires_grad=True)
    layer = nn.Dropout(0.25)
    assert repr(layer) == "Dropout(p=0.25)" and nn.Dropout().p == 0.5  # PyTorch's default
    mg.manual_seed(4)
    a = layer(x).numpy()
    mg.manual_seed(4)
    np.testing.assert_array_equal(layer(x).numpy(), a)
    assert 0.2 < (a == 0).mean() < 0.3 and set(np.unique(a)) == {0.0, 1 / 0.75}
    layer.eval()
    assert layer(x) is x
    with pytest.raises(ValueError, match="between 0 and 1"):
        nn.Dropout(1.2)
    model = nn.Sequential(nn.Linear(40, 3), nn.Dropout(0.5)).eval()
    assert check_module_gradients(model.double(), mg.tensor(np.ones((2, 40)), requires_grad=True))


def test_requires_grad_holds_a_module_fixed_and_returns_it():
    generator, critic = nn.Linear(2, 3), nn.Linear(3, 1)
    assert critic.requires_grad_(False) is critic
    assert all(not p.requires_grad for p in critic.parameters())
    z = mg.tensor(np.ones((4, 2)))
    critic(generator(z)).sum().backward()  # the gradient passes through the fixed critic
    assert all(p.grad is None for p in critic.parameters())
    assert all(p.grad is not None for p in generator.parameters())
    assert critic.requires_grad_() is critic and all(p.requires_grad for p in critic.parameters())


@pytest.mark.parametrize("cls", [nn.BatchNorm1d, nn.BatchNorm2d])
@pytest.mark.parametrize("training", [True, False])
def test_batch_norm_without_affine_matches_torch(cls, training):
    torch = pytest.importorskip("torch")
    shape = (6, 3) if cls is nn.BatchNorm1d else (4, 3, 2, 3)
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    ours = cls(3, affine=False).train(training)
    theirs = getattr(torch.nn, cls.__name__)(3, affine=False).train(training)
    assert ours.parameters() == [] and ours.weight is None and ours.bias is None
    assert list(ours.state_dict()) == list(theirs.state_dict())
    for _ in range(2):
        np.testing.assert_allclose(ours(mg.tensor(x)).numpy(),
                                   theirs(torch.tensor(x)).detach().numpy(), rtol=1e-5,
                                   atol=1e-6)
    np.testing.assert_allclose(host(ours.running_var), theirs.running_var.numpy(), rtol=1e-6)
    assert "affine=False" in repr(ours)
    nn.init_dcgan_(ours)  # nothing to initialise, and no error


@given(case=batch_norm_cases(), training=st.booleans())
def test_batch_norm_without_affine_gradients(float64, case, training):
    cls, x = case
    layer = randomize_parameters(cls(x.shape[1], affine=False)).train(training)
    assert check_module_gradients(layer, mg.tensor(x, requires_grad=True))


def test_leaky_relu_layer_defaults_to_torchs_slope():
    torch = pytest.importorskip("torch")
    assert nn.LeakyReLU().negative_slope == torch.nn.LeakyReLU().negative_slope == 0.01


@st.composite
def flatten_cases(draw):
    shape = draw(st.lists(st.integers(1, 4), min_size=2, max_size=4).map(tuple))
    start = draw(st.integers(-len(shape), len(shape) - 1))
    end = draw(st.integers(start % len(shape), len(shape) - 1))
    return shape, start, end


@given(case=flatten_cases(), data=st.data())
def test_flatten_then_unflatten_is_the_identity_and_both_check(float64, case, data):
    shape, start, end = case
    x = mg.tensor(data.draw(arrays(shape)), requires_grad=True)
    flat = nn.Flatten(start, end)
    assert check_module_gradients(flat, x)
    s = start % len(shape)
    back = nn.Unflatten(s, shape[s:end + 1])
    np.testing.assert_array_equal(back(flat(x)).numpy(), x.numpy())
    assert check_module_gradients(nn.Sequential(flat, back), x)


# --- samplewise: which layers a trainer may run on two batches at once -------------------

SAMPLEWISE = {
    "linear": (lambda: nn.Linear(6, 3), (6,)),
    "conv2d": (lambda: nn.Conv2d(2, 3, 3, stride=2, padding=1), (2, 5, 5)),
    "conv_transpose2d": (lambda: nn.ConvTranspose2d(2, 3, 4, stride=2, padding=1), (2, 3, 3)),
    "relu": (nn.ReLU, (6,)),
    "leaky_relu": (lambda: nn.LeakyReLU(0.2), (6,)),
    "tanh": (nn.Tanh, (6,)),
    "sigmoid": (nn.Sigmoid, (6,)),
    "max_pool2d": (lambda: nn.MaxPool2d(2), (2, 4, 4)),
    "avg_pool2d": (lambda: nn.AvgPool2d(2), (2, 4, 4)),
    "flatten": (nn.Flatten, (2, 3, 3)),
    "unflatten": (lambda: nn.Unflatten(1, (2, 3)), (6,)),
    "sequential": (lambda: nn.Sequential(nn.Linear(6, 4), nn.LeakyReLU(0.2)), (6,)),
    "scale": (lambda: mg.models.Scale(0.5), (6,)),
}


@pytest.mark.parametrize("name", sorted(SAMPLEWISE))
def test_a_samplewise_layer_maps_a_concatenation_to_the_concatenation(name):
    build, shape = SAMPLEWISE[name]
    layer = build()
    assert layer.samplewise
    rng = np.random.default_rng(0)
    a, b = (mg.tensor(rng.standard_normal((n, *shape))) for n in (3, 2))
    joint = layer(F.concat([a, b])).numpy()
    apart = np.concatenate([layer(a).numpy(), layer(b).numpy()])
    np.testing.assert_allclose(joint, apart, rtol=1e-6, atol=1e-7)


def test_layers_with_batch_statistics_or_unknown_forwards_are_not_samplewise():
    class Custom(nn.Module):
        def forward(self, x):
            return x - x.mean(axis=0)

    # Dropout: one mask drawn over 5 rows need not be the two drawn over 3 and 2 (CuPy's
    # generator is reseeded for every draw)
    layers = [nn.BatchNorm1d(3), nn.BatchNorm2d(3), nn.Dropout(), Custom(), nn.Flatten(0),
              nn.Flatten(-3), nn.Unflatten(0, (1, -1)),
              stabilizers.SpectralNorm(nn.Linear(3, 2))]
    assert not any(layer.samplewise for layer in layers)
    x = mg.tensor(np.random.default_rng(0).standard_normal((5, 3)))
    norm = nn.BatchNorm1d(3)
    assert not np.allclose(norm(x).numpy()[:3], norm(x[:3]).numpy())  # why BatchNorm is not
