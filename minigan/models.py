"""The networks the trainer builds for each dataset: the generator G_θ(z) and the critic
V_w(x), whose output the divergence's activation turns into T_w(x) = g_f(V_w(x)).

- 2D data: MLPs, the generator with ReLU (2 × 128 as in the PacGAN setup), the critic with
  LeakyReLU; the critic reads ``pack`` samples at once (PacGAN).
- mixture1d: optionally the linear generator G(z) = μ + σz of the f-GAN paper's
  Gaussian-fit experiment, so Q_θ = N(μ, σ²) exactly.
- mnist: a small DCGAN (transposed convolutions with BatchNorm, tanh output in [−1, 1]).
"""

from __future__ import annotations

from . import backend as B
from . import nn
from .nn import Parameter


class Scale(nn.Module):
    """Multiply by a constant: puts data of extent s in and out of the networks' O(1)
    range."""

    def __init__(self, factor):
        super().__init__()
        self.factor = float(factor)

    def forward(self, x):
        return x * self.factor

    def extra_repr(self):
        return f"{self.factor:g}"


class LinearGenerator(nn.Module):
    """G(z) = μ + σz with scalar μ and σ, so Q_θ = N(μ, σ²); starts at N(0, 1)."""

    def __init__(self):
        super().__init__()
        self.mu = Parameter(B.xp.zeros((1,), dtype=B.default_dtype))
        self.sigma = Parameter(B.xp.ones((1,), dtype=B.default_dtype))

    def forward(self, z):
        return self.mu + self.sigma * z

    def fitted(self):
        """(μ, σ) as floats; σ enters only as σ², so its sign is irrelevant."""
        return float(self.mu.data[0]), abs(float(self.sigma.data[0]))


def mlp(sizes, activation):
    """Linear layers of the given sizes with ``activation()`` between them."""
    layers = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(n_in, n_out))
        if i < len(sizes) - 2:
            layers.append(activation())
    return nn.Sequential(*layers)


def generator(dataset_shape, noise_dim, hidden=128, layers=2, kind="mlp", scale=1.0):
    """G_θ: noise of size ``noise_dim`` to one sample of ``dataset_shape``; an MLP's output
    is multiplied by ``scale``, the data's extent."""
    if kind == "linear":
        if tuple(dataset_shape) != (1,) or noise_dim != 1:
            raise ValueError("the linear generator μ + σz is for 1D data with noise_dim 1")
        return LinearGenerator()
    if len(dataset_shape) == 1:
        net = mlp([noise_dim] + [hidden] * layers + [dataset_shape[0]], nn.ReLU)
        return net if scale == 1 else nn.Sequential(net, Scale(scale))
    channels, height, width = dataset_shape
    if height % 4 or width % 4:
        raise ValueError(f"the DCGAN generator needs sides divisible by 4, got {dataset_shape}")
    return nn.Sequential(
        nn.Linear(noise_dim, 128 * (height // 4) * (width // 4)),
        nn.Unflatten(1, (128, height // 4, width // 4)),
        nn.BatchNorm2d(128), nn.ReLU(),
        nn.ConvTranspose2d(128, 64, 4, stride=2, padding=1), nn.BatchNorm2d(64), nn.ReLU(),
        nn.ConvTranspose2d(64, channels, 4, stride=2, padding=1), nn.Tanh(),
    )


def critic(dataset_shape, hidden=128, layers=2, pack=1, scale=1.0):
    """V_w: ``pack`` samples of ``dataset_shape`` (concatenated along the first feature
    axis) to one real number per packed input; an MLP first divides its input by
    ``scale``."""
    if len(dataset_shape) == 1:
        net = mlp([dataset_shape[0] * pack] + [hidden] * layers + [1],
                  lambda: nn.LeakyReLU(0.2))
        return net if scale == 1 else nn.Sequential(Scale(1 / scale), net)
    channels, height, width = dataset_shape
    features = 128 * (height // 4) * (width // 4)
    return nn.Sequential(
        nn.Conv2d(channels * pack, 64, 4, stride=2, padding=1), nn.LeakyReLU(0.2),
        nn.Conv2d(64, 128, 4, stride=2, padding=1), nn.BatchNorm2d(128), nn.LeakyReLU(0.2),
        nn.Flatten(), nn.Linear(features, 1),
    )
