"""Spectral normalisation (Miyato et al. 2018): the op W/σ with σ = uᵀWv gradient-checked
with u, v fixed and at a converged power iteration, a wrong backward caught, the power
iteration against the SVD, the layer wrapper (train/eval, state, Linear and Conv2d), the
Lipschitz bound it buys, and wrapping a model."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import minigan as mg
from minigan import backend as B
from minigan import nn, stabilizers
from minigan.testing import arrays, check_module_gradients, default_dtype

MATRIX_SHAPES = st.sampled_from([(3, 4), (5, 2), (1, 3), (4, 1), (2, 3, 2, 2), (3, 1, 3, 1)])


def unit(x):
    return x / np.linalg.norm(x)


def wrong_spectral_normalized(weight, u, v):
    """W/σ with the σ term of the backward dropped: a planted mistake."""
    sigma = float(u @ weight.data.reshape(len(u), -1) @ v)
    return mg.op(weight.data / sigma, (weight,), lambda g: (g / sigma,), name="wrong")


@given(data=st.data())
def test_spectral_normalized_gradient_with_u_and_v_fixed(float64, data):
    shape = data.draw(MATRIX_SHAPES)
    rows, cols = shape[0], int(np.prod(shape[1:]))
    w = mg.tensor(data.draw(arrays(shape, -2.0, 2.0)), requires_grad=True)
    u = unit(data.draw(arrays((rows,), 0.2, 1.0)))
    v = unit(data.draw(arrays((cols,), 0.2, 1.0)))
    # σ = uᵀWv away from 0 (positive u, v and a shifted W)
    w.data += 3.0
    assert mg.gradcheck(lambda t: stabilizers.spectral_normalized(t, u, v), [w])
    with pytest.raises(mg.GradcheckError):
        mg.gradcheck(lambda t: wrong_spectral_normalized(t, u, v), [w])


def converged(w, iterations=500):
    """ũ, ṽ of the power iteration on W (read as a matrix), run to convergence."""
    matrix = w.reshape(w.shape[0], -1)
    u = unit(np.ones(matrix.shape[0]))
    for _ in range(iterations):
        v = unit(matrix.T @ u)
        u = unit(matrix @ v)
    return u, v


@settings(max_examples=10)
@given(data=st.data())
def test_at_a_converged_power_iteration_the_gradient_is_that_of_w_over_its_norm(float64, data):
    """With ũ, ṽ the top singular vectors, W/(ũᵀWṽ) is W/σ_max(W), and ignoring ũ, ṽ's own
    dependence on W is exact (∂σ_max/∂W = u₁v₁ᵀ): the finite differences re-run the power
    iteration at every perturbed W."""
    shape = data.draw(MATRIX_SHAPES)
    w0 = data.draw(arrays(shape, -2.0, 2.0))
    singular = np.linalg.svd(w0.reshape(shape[0], -1), compute_uv=False)
    if len(singular) > 1 and singular[0] < 1.2 * singular[1] or singular[0] < 0.1:
        return  # a near-tie: the power iteration converges too slowly to resolve it
    w = mg.tensor(w0, requires_grad=True)

    def normalized(t):
        return stabilizers.spectral_normalized(t, *converged(B.to_numpy(t.data)))

    assert mg.gradcheck(normalized, [w])
    u, v = converged(w0)
    np.testing.assert_allclose(u @ w0.reshape(shape[0], -1) @ v, singular[0], rtol=1e-10)


def test_one_power_iteration_per_training_forward_none_in_eval(float64):
    with default_dtype("float64"):
        mg.manual_seed(1)
        layer = stabilizers.SpectralNorm(nn.Linear(6, 4))
    x = mg.tensor(np.random.default_rng(0).normal(size=(5, 6)))
    w = B.to_numpy(layer.layer.weight.data)
    u0 = B.to_numpy(layer.u).copy()
    y = layer(x)
    # the forward used ũ, ṽ after exactly one step of Algorithm 1 from ũ0
    v1 = unit(w.T @ u0)
    u1 = unit(w @ v1)
    np.testing.assert_allclose(B.to_numpy(layer.v), v1, rtol=1e-12)
    np.testing.assert_allclose(B.to_numpy(layer.u), u1, rtol=1e-12)
    sigma = u1 @ w @ v1
    expected = B.to_numpy(x.data) @ (w / sigma).T + B.to_numpy(layer.layer.bias.data)
    np.testing.assert_allclose(y.numpy(), expected, rtol=1e-12)
    assert layer.sigma() == pytest.approx(sigma, rel=1e-12)
    layer.eval()
    before = B.to_numpy(layer.u).copy()
    np.testing.assert_allclose(layer(x).numpy(), expected, rtol=1e-12)
    np.testing.assert_array_equal(B.to_numpy(layer.u), before)
    # many training forwards converge to the largest singular value
    layer.train()
    for _ in range(300):
        layer(x)
    assert layer.sigma() == pytest.approx(np.linalg.svd(w, compute_uv=False)[0], rel=1e-9)


@pytest.mark.parametrize("make, shape", [(lambda: nn.Linear(5, 3), (4, 5)),
                                         (lambda: nn.Conv2d(2, 3, 3, padding=1), (2, 2, 5, 5))])
def test_the_wrapped_layer_is_gradient_checked(float64, make, shape):
    with default_dtype("float64"):
        mg.manual_seed(2)
        layer = stabilizers.SpectralNorm(make())
    layer.eval()  # ũ, ṽ fixed during the check (a training forward would move them)
    x = mg.tensor(np.random.default_rng(1).normal(size=shape), requires_grad=True)
    assert check_module_gradients(layer, x)
    assert set(dict(layer.named_buffers())) == {"u", "v"}
    assert set(layer.state_dict()) == {"layer.weight", "layer.bias", "u", "v"}


def test_a_spectrally_normalized_critic_is_1_lipschitz(float64):
    """Every layer of spectral norm 1 and LeakyReLU between: |V(x) − V(y)| <= ‖x − y‖,
    whatever the weights (here scaled up 100 times)."""
    with default_dtype("float64"):
        mg.manual_seed(3)
        critic = mg.models.critic((2,), hidden=32, layers=2)
        for p in critic.parameters():
            p.data *= 100
        critic = stabilizers.spectral_norm(critic)
    x = mg.tensor(np.random.default_rng(2).normal(size=(200, 2)))
    for _ in range(200):  # converge the power iterations
        critic(x)
    critic.eval()
    rng = np.random.default_rng(3)
    a, b = rng.normal(size=(500, 2)), rng.normal(size=(500, 2))
    va, vb = (critic(mg.tensor(z)).numpy()[:, 0] for z in (a, b))
    assert (np.abs(va - vb) <= np.linalg.norm(a - b, axis=1) * (1 + 1e-6)).all()


def test_spectral_norm_wraps_every_layer_of_nested_sequentials():
    inner = nn.Sequential(nn.Linear(3, 4), nn.LeakyReLU(0.2), nn.Linear(4, 4))
    model = nn.Sequential(mg.models.Scale(0.5), inner, nn.Linear(4, 1))
    params = model.parameters()
    wrapped = stabilizers.spectral_norm(model)
    layers = [m for m in wrapped.modules() if isinstance(m, stabilizers.SpectralNorm)]
    assert len(layers) == 3
    assert all(a is b for a, b in zip(wrapped.parameters(), params))  # the same Parameters
    assert wrapped(mg.tensor(np.ones((2, 3), np.float32))).shape == (2, 1)
    assert stabilizers.stabilize("none", model) is model
    with pytest.raises(ValueError, match="spectral_norm"):
        stabilizers.stabilize("r1", model)
    with pytest.raises(TypeError):
        stabilizers.SpectralNorm(nn.BatchNorm1d(3))

    class Custom(nn.Module):
        def __init__(self):
            super().__init__()
            self.inside = nn.Linear(2, 2)

    with pytest.raises(TypeError, match="inside"):
        stabilizers.spectral_norm(Custom())
