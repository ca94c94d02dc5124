"""Stabilisers for the critic: spectral normalisation (Miyato, Kataoka, Koyama, Yoshida,
"Spectral Normalization for Generative Adversarial Networks", ICLR 2018).

Each Linear and Conv2d layer of the critic uses W_SN = W / σ(W) (the paper's equation 8),
σ(W) the largest singular value of W, the weight (out, in, kh, kw) of a convolution read as
the matrix (out, in·kh·kw) as in the paper. σ comes from one power iteration per training
forward (the paper's Algorithm 1), from a vector ũ kept as a buffer between steps:

    ṽ ← Wᵀũ / ‖Wᵀũ‖,   ũ ← Wṽ / ‖Wṽ‖,   σ(W) ≈ ũᵀ W ṽ,

with no gradient through ũ and ṽ. With every layer's spectral norm 1 and 1-Lipschitz
activations (LeakyReLU), the critic's logit V is 1-Lipschitz in its input: it cannot grow
without bound on the generated samples (reverse_kl, neyman: T → −∞) nor saturate
everywhere (total_variation's ½ tanh), which is what kills those runs without it.

Why not R1 (Mescheder, Geiger, Nowozin 2018), the gradient penalty ‖∇ₓV(x)‖² on real data:
its gradient needs ∇_w ∇ₓ V, i.e. differentiating through backward, which this engine does
not do (its backward builds no graph). Spectral normalisation needs first derivatives only,
costs two matrix-vector products per layer and step, and constrains the same quantity
(the critic's slope in x) for every sample instead of penalising it on a batch.
"""

from __future__ import annotations

from . import backend as B
from . import functional as F
from . import nn
from .module import Module
from .tensor import Tensor, no_grad, op

NAMES = ("none", "spectral_norm")


def spectral_normalized(weight, u, v):
    """W / σ with σ = uᵀ W v for fixed vectors u, v (W read as a matrix (out, rest)): one
    graph node. dL/dW = G/σ − (⟨G, W⟩/σ²) u vᵀ for the output gradient G (u and v are
    constants: the paper's gradient, equation 12, with ũ, ṽ from the power iteration)."""
    xp = B.xp
    w = weight.data
    matrix = w.reshape(w.shape[0], -1)
    u, v = (x.data if isinstance(x, Tensor) else x for x in (u, v))
    sigma = xp.dot(u, xp.dot(matrix, v))
    out = w / sigma

    def backward(g):
        g2 = g.reshape(matrix.shape)
        coefficient = xp.vdot(g2, matrix) / (sigma * sigma)
        return ((g2 / sigma - coefficient * xp.outer(u, v)).reshape(w.shape),)

    return op(out, (weight,), backward, name="spectral_norm")


def _unit(x, eps=1e-12):
    """x/‖x‖ (no host sync)."""
    return x / B.xp.maximum(B.xp.linalg.norm(x), eps)


class SpectralNorm(Module):
    """A Linear or Conv2d layer whose weight is divided by its spectral norm, σ estimated by
    one power iteration per forward in training mode (none in eval mode, which reuses the
    last ũ, ṽ). Buffers ``u`` (out,) and ``v`` (in·kh·kw,) are saved with the state, so a
    resumed run continues the same iteration."""

    def __init__(self, layer):
        super().__init__()
        if not isinstance(layer, (nn.Linear, nn.Conv2d)):
            raise TypeError(f"spectral normalisation is for Linear and Conv2d layers, not "
                            f"{type(layer).__name__}")
        self.layer = layer
        matrix = self.matrix()
        self.register_buffer("u", _unit(B.randn(matrix.shape[0], dtype=matrix.dtype)))
        self.register_buffer("v", _unit(B.xp.dot(matrix.T, self.u)))

    def matrix(self):
        w = self.layer.weight.data
        return w.reshape(w.shape[0], -1)

    @no_grad()
    def power_iteration(self):
        """One step of Algorithm 1, in place on the buffers: ṽ ← Wᵀũ/‖·‖, ũ ← Wṽ/‖·‖."""
        matrix = self.matrix()
        self.v[...] = _unit(B.xp.dot(matrix.T, self.u))
        self.u[...] = _unit(B.xp.dot(matrix, self.v))

    def sigma(self):
        """σ(W) ≈ ũᵀ W ṽ with the current buffers (a host float)."""
        return float(B.xp.dot(self.u, B.xp.dot(self.matrix(), self.v)))

    def weight(self):
        """W_SN = W / σ(W) as a graph node (after this forward's power iteration)."""
        if self.training:
            self.power_iteration()
        return spectral_normalized(self.layer.weight, self.u, self.v)

    def forward(self, x):
        layer = self.layer
        if isinstance(layer, nn.Conv2d):
            return F.conv2d(x, self.weight(), layer.bias, stride=layer.stride,
                               padding=layer.padding)
        return F.linear(x, self.weight(), layer.bias)

    def extra_repr(self):
        return repr(self.layer)


def spectral_norm(model):
    """``model`` with every Linear and Conv2d layer wrapped in ``SpectralNorm`` (the same
    Parameter objects, so build the optimizer before or after alike). Layers are found in
    nested ``Sequential`` containers; a layer inside any other container raises TypeError
    rather than being left unnormalised."""
    if isinstance(model, (nn.Linear, nn.Conv2d)):
        return SpectralNorm(model)
    if isinstance(model, nn.Sequential):
        return nn.Sequential(*(spectral_norm(child) for child in model.children()))
    for name, module in model.named_modules():
        if isinstance(module, (nn.Linear, nn.Conv2d)):
            raise TypeError(f"spectral_norm: cannot wrap the layer {name!r} inside a "
                            f"{type(model).__name__}; only Sequential containers are walked")
    return model


def stabilize(name, critic):
    """The critic with the stabiliser ``name`` (one of NAMES) applied."""
    if name == "spectral_norm":
        return spectral_norm(critic)
    if name != "none":
        raise ValueError(f"unknown stabilizer {name!r}; choose one of {', '.join(NAMES)}")
    return critic
