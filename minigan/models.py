"""The networks the trainer builds for each dataset: the generator G_θ(z) and the critic
V_w(x), whose output the divergence's activation turns into T_w(x) = g_f(V_w(x)).

- 2D data: MLPs, the generator with ReLU (2 × 128 as in the PacGAN setup), the critic with
  LeakyReLU; the critic reads ``pack`` samples at once (PacGAN).
- mixture1d: optionally the linear generator G(z) = μ + σz of the f-GAN paper's
  Gaussian-fit experiment, so Q_θ = N(μ, σ²) exactly.
- mnist: the DCGAN of Radford et al. (2016) for 1×28×28 (``dcgan_generator``,
  ``dcgan_critic``), its widths as arguments, optionally with the fully connected hidden
  layer of InfoGAN's MNIST networks (Chen et al. 2016) in each and a categorical code read
  off the generator's noise (``NoiseCode``).
"""

from __future__ import annotations

from . import backend as B
from . import functional as F
from . import nn
from .nn import Parameter
from .tensor import Tensor

DCGAN_WIDTH = 64  # the DCGAN's channels next to the image, doubled in the layer beyond


class Scale(nn.Module):
    """Multiply by a constant: puts data of extent s in and out of the networks' O(1)
    range."""

    samplewise = True

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


def generator(dataset_shape, noise_dim, hidden=128, layers=2, kind="mlp", scale=1.0,
              width=DCGAN_WIDTH, fc_width=0, code=0):
    """G_θ: noise of size ``noise_dim`` to one sample of ``dataset_shape``; an MLP's output
    is multiplied by ``scale``, the data's extent; images get the DCGAN of ``width`` (and
    ``fc_width``, ``code``)."""
    if kind == "linear":
        if tuple(dataset_shape) != (1,) or noise_dim != 1:
            raise ValueError("the linear generator μ + σz is for 1D data with noise_dim 1")
        return LinearGenerator()
    if len(dataset_shape) == 1:
        net = mlp([noise_dim] + [hidden] * layers + [dataset_shape[0]], nn.ReLU)
        return net if scale == 1 else nn.Sequential(net, Scale(scale))
    return dcgan_generator(dataset_shape, noise_dim, width, fc_width, code)


def critic(dataset_shape, hidden=128, layers=2, pack=1, scale=1.0, width=DCGAN_WIDTH,
           fc_width=0):
    """V_w: ``pack`` samples of ``dataset_shape`` (concatenated along the first feature
    axis) to one real number per packed input; an MLP first divides its input by
    ``scale``; images get the DCGAN critic of ``width`` (and ``fc_width``)."""
    if len(dataset_shape) == 1:
        net = mlp([dataset_shape[0] * pack] + [hidden] * layers + [1],
                  lambda: nn.LeakyReLU(0.2))
        return net if scale == 1 else nn.Sequential(Scale(1 / scale), net)
    return dcgan_critic(dataset_shape, width, pack, fc_width)


# --- the DCGAN for images (mnist) -------------------------------------------------------


def _image_shape(dataset_shape):
    channels, height, width = dataset_shape
    if height % 4 or width % 4:
        raise ValueError(f"the DCGAN needs sides divisible by 4, got {tuple(dataset_shape)}")
    return channels, height // 4, width // 4


class NoiseCode(nn.Module):
    """z ↦ (z, c) with c = one_hot(argmax(z_1..z_K)): a K-way categorical code, uniform
    since the z_i are i.i.d., read off the noise, so Q_θ stays G's image of N(0, I) while G
    may jump between K parts of its range (InfoGAN's categorical code, without its
    mutual-information term); c carries no gradient."""

    samplewise = True

    def __init__(self, k):
        super().__init__()
        self.k = int(k)

    def forward(self, z):
        xp = B.xp
        if z.ndim != 2 or z.shape[1] < self.k:
            raise ValueError(f"NoiseCode({self.k}) needs noise of shape (N, D) with D >= "
                             f"{self.k}, got shape {z.shape}")
        index = z.data[:, :self.k].argmax(axis=1)
        code = (index[:, None] == xp.arange(self.k)[None, :]).astype(z.dtype)
        return F.concat([z, Tensor(code)], axis=1)

    def extra_repr(self):
        return f"{self.k}"


def dcgan_generator(dataset_shape, noise_dim, width=DCGAN_WIDTH, fc_width=0, code=0):
    """G_θ of the DCGAN: z (N, noise_dim) -> images (N, C, H, W) in [−1, 1].

    z, with a ``code``-way ``NoiseCode`` appended where that is not 0, is projected to 2w
    channels at H/4 × W/4 (a Linear, which is ConvTranspose2d with an (H/4, W/4) kernel on
    a 1 × 1 input), through a hidden Linear of ``fc_width`` units first where that is not 0
    (InfoGAN's MNIST generator); then two ConvTranspose2d(4, stride 2, padding 1) each
    double the sides: BatchNorm + ReLU after every layer but the last, tanh on the output.
    Weights ~ N(0, 0.02²), BatchNorm scales ~ N(1, 0.02²) (``nn.init_dcgan_``)."""
    channels, h, w = _image_shape(dataset_shape)
    if not 0 <= code <= noise_dim:
        raise ValueError(f"the noise code must have 0 to noise_dim ({noise_dim}) classes, "
                         f"got {code}")
    inputs = noise_dim + code
    projection = [nn.Linear(inputs, 2 * width * h * w)]
    if fc_width:
        projection = [nn.Linear(inputs, fc_width), nn.BatchNorm1d(fc_width), nn.ReLU(),
                      nn.Linear(fc_width, 2 * width * h * w)]
    if code:
        projection.insert(0, NoiseCode(code))
    return nn.init_dcgan_(nn.Sequential(
        *projection, nn.Unflatten(1, (2 * width, h, w)),
        nn.BatchNorm2d(2 * width), nn.ReLU(),
        nn.ConvTranspose2d(2 * width, width, 4, stride=2, padding=1),
        nn.BatchNorm2d(width), nn.ReLU(),
        nn.ConvTranspose2d(width, channels, 4, stride=2, padding=1), nn.Tanh(),
    ))


def dcgan_critic(dataset_shape, width=DCGAN_WIDTH, pack=1, fc_width=0):
    """V_w of the DCGAN: ``pack`` images stacked on the channel axis (N, pack·C, H, W) -> one
    logit each. Two Conv2d(4, stride 2, padding 1) halve the sides (w, then 2w channels),
    each followed by LeakyReLU(0.2), BatchNorm on the second; then a Linear to one number,
    through a hidden Linear of ``fc_width`` units and LeakyReLU first where it is not 0
    (InfoGAN's MNIST discriminator, without its BatchNorm there). Initialised as the
    generator."""
    channels, h, w = _image_shape(dataset_shape)
    head = [nn.Linear(2 * width * h * w, 1)]
    if fc_width:
        head = [nn.Linear(2 * width * h * w, fc_width), nn.LeakyReLU(negative_slope=0.2),
                nn.Linear(fc_width, 1)]
    return nn.init_dcgan_(nn.Sequential(
        nn.Conv2d(channels * pack, width, 4, stride=2, padding=1),
        nn.LeakyReLU(negative_slope=0.2),
        nn.Conv2d(width, 2 * width, 4, stride=2, padding=1), nn.BatchNorm2d(2 * width),
        nn.LeakyReLU(negative_slope=0.2),
        nn.Flatten(), *head,
    ))
