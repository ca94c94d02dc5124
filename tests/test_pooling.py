"""Pooling: max_pool2d and avg_pool2d (and their layers) against PyTorch and finite
differences, batched and unbatched, with strides, overlapping windows and padding."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minigan as mg
import minigan.functional as F
from minigan import nn
from minigan.backend import to_numpy as host
from minigan.testing import check_module_gradients


@st.composite
def pool_cases(draw):
    """(input, kernel, stride, padding) with windows that fit; the input's values are a
    shuffled grid 0.1 apart, so no window has two maxima within a finite difference."""
    kernel = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    stride = draw(st.sampled_from([None, 1, 2, (1, 2)]))
    padding = (draw(st.integers(0, kernel[0] // 2)), draw(st.integers(0, kernel[1] // 2)))
    h, w = kernel[0] + draw(st.integers(0, 3)), kernel[1] + draw(st.integers(0, 3))
    lead = draw(st.sampled_from([(2, 2), (1, 3), (2,)]))  # batched, or unbatched (C, H, W)
    size = int(np.prod(lead)) * h * w
    order = draw(st.permutations(range(size)))
    x = (np.array(order, dtype=np.float64) * 0.1 - size * 0.05).reshape(lead + (h, w))
    return x, kernel, stride, padding


@pytest.mark.parametrize("pool", [F.max_pool2d, F.avg_pool2d])
@given(case=pool_cases())
def test_pool_gradients(float64, pool, case):
    x, kernel, stride, padding = case
    assert mg.gradcheck(lambda t: pool(t, kernel, stride, padding),
                        [mg.tensor(x, requires_grad=True)])


def torch_pool(name):
    torch = pytest.importorskip("torch")
    return getattr(torch.nn.functional, name), torch


@pytest.mark.parametrize("name", ["max_pool2d", "avg_pool2d"])
@given(case=pool_cases())
def test_pools_match_torch(float64, name, case):
    pool, torch = torch_pool(name)
    x, kernel, stride, padding = case
    tx = torch.tensor(x, requires_grad=True)
    expected = pool(tx, kernel, stride, padding)
    g = np.random.default_rng(0).standard_normal(tuple(expected.shape))
    expected.backward(torch.tensor(g))
    mx = mg.tensor(x, requires_grad=True)
    ours = getattr(F, name)(mx, kernel, stride, padding)
    ours.backward(g)
    np.testing.assert_allclose(ours.numpy(), expected.detach().numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(host(mx.grad), tx.grad.numpy(), rtol=1e-12, atol=1e-12)


def test_max_pool_sends_a_tied_window_gradient_to_its_first_maximum_as_torch():
    pool, torch = torch_pool("max_pool2d")
    x = np.array([[[[1.0, 1.0], [1.0, 0.0]]]])
    tx = torch.tensor(x, requires_grad=True)
    pool(tx, 2).sum().backward()
    mx = mg.tensor(x, requires_grad=True)
    F.max_pool2d(mx, 2).sum().backward()
    np.testing.assert_array_equal(host(mx.grad), tx.grad.numpy())
    np.testing.assert_array_equal(host(mx.grad)[0, 0], [[1.0, 0.0], [0.0, 0.0]])


def test_a_wrong_pool_backward_is_caught(float64):
    xp = mg.backend.xp

    def spread_max(t):  # max pooling whose backward spreads g over each window: wrong
        out = F.max_pool2d(t, 2).data
        return mg.op(out, (t,), lambda g: (xp.repeat(xp.repeat(g, 2, axis=-1), 2, axis=-2) / 4,),
                     name="spread_max")

    x = mg.tensor(np.random.default_rng(1).permutation(16).reshape(1, 1, 4, 4) * 0.1,
                  requires_grad=True)
    with pytest.raises(mg.GradcheckError):
        mg.gradcheck(spread_max, [x])


@pytest.mark.parametrize("layer,name", [(nn.MaxPool2d, "MaxPool2d"), (nn.AvgPool2d, "AvgPool2d")])
def test_pool_layers_have_torchs_signature_and_values(float64, layer, name):
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(2).permutation(2 * 3 * 7 * 6).reshape(2, 3, 7, 6) * 0.1
    for args, kwargs in (((2,), {}), ((3,), {"stride": 2, "padding": 1}),
                         (((3, 2),), {"stride": (1, 2), "padding": (1, 0)})):
        ours, theirs = layer(*args, **kwargs), getattr(torch.nn, name)(*args, **kwargs)
        assert ours.stride == theirs.stride  # stride defaults to kernel_size
        np.testing.assert_allclose(ours(mg.tensor(x)).numpy(),
                                   theirs(torch.tensor(x)).numpy(), rtol=1e-12)
        assert check_module_gradients(ours, mg.tensor(x[:1, :2], requires_grad=True))
    assert "kernel_size=2, stride=2, padding=0" in repr(layer(2))


@pytest.mark.parametrize("pool", [F.max_pool2d, F.avg_pool2d])
def test_pools_refuse_what_torch_refuses(pool):
    x = mg.tensor(np.ones((1, 1, 4, 4)))
    with pytest.raises(ValueError, match="at most half of the kernel size"):
        pool(x, 2, padding=2)
    with pytest.raises(ValueError, match="too small"):
        pool(x, 5)
    with pytest.raises(ValueError, match="4-D .* or 3-D"):
        pool(mg.tensor(np.ones((4, 4))), 2)
    with pytest.raises(ValueError, match="kernel_size"):
        pool(x, 0)


def test_pools_keep_float32_and_padding_never_wins_a_max():
    x = mg.tensor(-np.ones((1, 1, 3, 3), np.float32) * 5, requires_grad=True)
    y = F.max_pool2d(x, 3, stride=1, padding=1)  # padding counts as −∞, not 0
    assert y.dtype == np.float32 and (y.numpy() == -5).all()
    y.sum().backward()
    assert x.grad.dtype == np.float32 and host(x.grad).sum() == 9
    z = F.avg_pool2d(x, 3, stride=1, padding=1)  # zeros counted: PyTorch's default
    np.testing.assert_allclose(z.numpy()[0, 0, 0, 0], -5 * 4 / 9, rtol=1e-6)


@pytest.mark.parametrize("layer", [nn.MaxPool2d, nn.AvgPool2d])
@given(case=pool_cases())
def test_pool_layers_gradients(float64, layer, case):
    x, kernel, stride, padding = case
    assert check_module_gradients(layer(kernel, stride, padding),
                                  mg.tensor(x, requires_grad=True))
