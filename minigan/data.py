"""Datasets: the 2D mode-collapse benchmarks (ring, grid), a 1D Gaussian mixture, and MNIST
from a local file.

``sample(n)`` draws on the host from the one seeded host generator
(``backend.generator()``): reference samples, figures. ``Dataset.batch`` draws a training
batch where the arrays live, from the backend's generators (``backend.integers``,
``backend.randn``: on the device under cupy, nothing copied per step), with the same
sequence of draws, so on the numpy backend a batch is exactly ``sample``'s. Definitions
follow fgan-reference.md ("Mode-collapse benchmarks").
"""

from __future__ import annotations

import gzip
import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy

from . import backend as B
from .tensor import Tensor

NAMES = ("ring", "grid", "mixture1d", "mnist")

# target of the f-GAN paper's Gaussian-fit experiment: 0.3·N(−1, 0.5²) + 0.7·N(1.5, 1²)
MIXTURE1D = ((0.3, -1.0, 0.5), (0.7, 1.5, 1.0))

MNIST_HELP = (
    "minigan does not download MNIST; get mnist.npz (the Keras file, with x_train) or the "
    "idx file train-images-idx3-ubyte[.gz] and pass its path (or its folder) with "
    "--data-path or the MINIGAN_MNIST environment variable"
)


def ring_centres(modes: int = 8, radius: float = 1.0) -> numpy.ndarray:
    """(cos 2πk/8, sin 2πk/8), k = 0..7: k/modes, never linspace(0, 2π, 8), which repeats
    the centre at angle 0."""
    angles = 2 * numpy.pi * numpy.arange(modes) / modes
    return radius * numpy.stack([numpy.cos(angles), numpy.sin(angles)], axis=1)


def grid_centres() -> numpy.ndarray:
    """The 25 centres {−4, −2, 0, 2, 4}²."""
    ticks = numpy.arange(-4.0, 5.0, 2.0)
    return numpy.stack(numpy.meshgrid(ticks, ticks, indexing="ij"), axis=-1).reshape(-1, 2)


def _rng(rng):
    return B.generator() if rng is None else rng


def sample_modes(centres, std, n, rng=None) -> numpy.ndarray:
    """n points: a centre picked uniformly at random plus N(0, std² I) noise."""
    rng = _rng(rng)
    picks = rng.integers(0, len(centres), n)
    return centres[picks] + std * rng.standard_normal((n, centres.shape[1]))


def ring(n: int, rng=None) -> numpy.ndarray:
    """8 Gaussians of std 0.01 on the unit circle; shape (n, 2), float64, on the host."""
    return sample_modes(ring_centres(), 0.01, n, rng)


def grid(n: int, rng=None) -> numpy.ndarray:
    """25 Gaussians of std 0.05 on {−4, −2, 0, 2, 4}²; shape (n, 2), float64, on the host."""
    return sample_modes(grid_centres(), 0.05, n, rng)


def mixture1d(n: int, rng=None) -> numpy.ndarray:
    """0.3·N(−1, 0.5²) + 0.7·N(1.5, 1²); shape (n, 1), float64, on the host."""
    rng = _rng(rng)
    (w0, m0, s0), (_, m1, s1) = MIXTURE1D
    first = rng.random(n) < w0
    noise = rng.standard_normal(n)
    return numpy.where(first, m0 + s0 * noise, m1 + s1 * noise)[:, None]


def save_samples(path, samples) -> None:
    """Write generated samples as .npy: 1D/2D points in float64, images in float32 (2500
    of them are large enough)."""
    samples = numpy.asarray(samples)
    numpy.save(path, samples.astype(numpy.float64 if samples.ndim == 2 else numpy.float32))


def mixture1d_density(x) -> numpy.ndarray:
    """The mixture's density p(x), for plots and quadrature."""
    x = numpy.asarray(x, dtype=numpy.float64)
    return sum(w * numpy.exp(-0.5 * ((x - m) / s) ** 2) / (s * numpy.sqrt(2 * numpy.pi))
               for w, m, s in MIXTURE1D)


# --- MNIST from a local file ------------------------------------------------------------


def _read_idx_images(path: Path) -> numpy.ndarray:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as handle:
        raw = handle.read()
    if len(raw) < 16 or int.from_bytes(raw[:4], "big") != 2051:
        raise ValueError(f"{path} is not an idx image file (magic number 2051 expected)")
    count, rows, cols = (int.from_bytes(raw[i:i + 4], "big") for i in (4, 8, 12))
    if len(raw) != 16 + count * rows * cols:
        raise ValueError(f"{path} is truncated: {len(raw) - 16} pixel bytes for "
                         f"{count} images of {rows}x{cols}")
    return numpy.frombuffer(raw, dtype=numpy.uint8, offset=16).reshape(count, rows, cols)


def _find_mnist(path) -> Path:
    if path is None:
        path = os.environ.get("MINIGAN_MNIST")
    if not path:
        raise FileNotFoundError(f"no MNIST file given; {MNIST_HELP}")
    path = Path(path).expanduser()
    if path.is_dir():
        for name in ("mnist.npz", "train-images-idx3-ubyte", "train-images-idx3-ubyte.gz",
                     "train-images.idx3-ubyte"):
            if (path / name).is_file():
                return path / name
        raise FileNotFoundError(f"no MNIST file in {path}; {MNIST_HELP}")
    if not path.is_file():
        raise FileNotFoundError(f"MNIST file {path} does not exist; {MNIST_HELP}")
    return path


def load_mnist(path=None) -> numpy.ndarray:
    """The MNIST training images as float32 of shape (N, 1, 28, 28) scaled to [−1, 1] (the
    range of a tanh generator). ``path`` is mnist.npz, an idx image file (optionally .gz),
    or a folder holding one; None reads $MINIGAN_MNIST."""
    path = _find_mnist(path)
    try:
        if path.suffix == ".npz":
            archive = numpy.load(path, allow_pickle=False)
            if not isinstance(archive, numpy.lib.npyio.NpzFile):
                raise ValueError(f"{path} holds one bare array, not an .npz with x_train")
            with archive:
                if "x_train" not in archive:
                    raise ValueError(f"{path} has no 'x_train' array (keys: "
                                     f"{', '.join(archive.files)})")
                images = archive["x_train"]
        else:
            images = _read_idx_images(path)
    except (OSError, EOFError, zipfile.BadZipFile) as err:  # truncated or not what it says
        raise ValueError(f"{path} is not a readable MNIST file ({err})") from None
    if images.ndim != 3 or images.shape[0] == 0:
        raise ValueError(f"{path}: expected images of shape (N, rows, cols), got {images.shape}")
    return (images.astype(numpy.float32) / 127.5 - 1.0)[:, None]


# --- one interface for the trainer ------------------------------------------------------


class DeviceCopy:
    """A host array's copy on the active backend, made once per backend."""

    def __init__(self, host):
        self.host, self.copies = host, {}

    def __call__(self):
        key = B.get_backend()
        if key not in self.copies:
            self.copies[key] = B.to_device(self.host)
        return self.copies[key]


def modes_draw(centres, std):
    """``sample_modes`` on the active backend: n -> a backend float64 array."""
    on_device = DeviceCopy(centres)

    def draw(n):
        picks = B.integers(0, len(centres), (n,))
        return on_device()[picks] + std * B.randn(n, centres.shape[1], dtype=numpy.float64)

    return draw


def mixture1d_draw(n):
    """``mixture1d`` on the active backend, as a backend float64 array."""
    (w0, m0, s0), (_, m1, s1) = MIXTURE1D
    first = B.random((n,)) < w0
    noise = B.randn(n, dtype=numpy.float64)
    return B.xp.where(first, m0 + s0 * noise, m1 + s1 * noise)[:, None]



@dataclass
class Dataset:
    """A named data distribution p_x: ``sample(n)`` on the host, ``batch(n)`` on the device.

    ``centres``/``std`` describe the modes of the 2D benchmarks (None otherwise);
    ``bounds`` is the (low, high) box of each axis used for plots; ``scale`` is the data's
    extent, by which the models divide their inputs (critic) and multiply their outputs
    (generator) so that the networks work on numbers of order 1.
    """

    name: str
    shape: tuple
    sample: callable
    centres: numpy.ndarray | None = None
    std: float | None = None
    bounds: tuple = field(default=(-1.0, 1.0))
    scale: float = 1.0
    draw: callable = None  # n -> a backend array drawn on the device; None: sample + copy

    def batch(self, n: int) -> Tensor:
        """x_1..x_n ~ p_x as a device tensor of the default dtype (no gradient), drawn on
        the device (``draw``), or on the host and copied where the dataset has no ``draw``."""
        if self.draw is None:
            host = numpy.ascontiguousarray(self.sample(n), dtype=B.default_dtype)
            return Tensor(B.to_device(host))
        return Tensor(self.draw(n).astype(B.default_dtype, copy=False))


def get(name: str, data_path=None) -> Dataset:
    """The dataset called ``name`` (one of NAMES); mnist reads ``data_path``."""
    if name == "ring":
        return Dataset("ring", (2,), ring, ring_centres(), 0.01, (-1.5, 1.5),
                       draw=modes_draw(ring_centres(), 0.01))
    if name == "grid":
        return Dataset("grid", (2,), grid, grid_centres(), 0.05, (-5.5, 5.5), 4.0,
                       draw=modes_draw(grid_centres(), 0.05))
    if name == "mixture1d":
        return Dataset("mixture1d", (1,), mixture1d, bounds=(-4.0, 6.0), draw=mixture1d_draw)
    if name == "mnist":
        images = load_mnist(data_path)
        on_device = DeviceCopy(images)

        def sample(n, rng=None):
            return images[_rng(rng).integers(0, len(images), n)]

        def draw(n):
            return on_device()[B.integers(0, len(images), (n,))]

        return Dataset("mnist", images.shape[1:], sample, bounds=(-1.0, 1.0), draw=draw)
    raise ValueError(f"unknown dataset {name!r}; choose one of {', '.join(NAMES)}")
